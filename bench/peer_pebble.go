package bench

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

type pebbleStore struct {
	db   *pebble.DB
	name string
	wo   *pebble.WriteOptions
}

func pebblePeer(sync bool) Peer {
	p := Peer{
		Name:    "pebble-sync",
		Durable: true,
		Options: "pebble.Options{} defaults (4 MiB memtable, 8 MiB block cache, Snappy blocks); writes with pebble.Sync (WAL fsync before return)",
	}
	if !sync {
		p.Name, p.Durable = "pebble-nosync", false
		p.Options = "pebble.Options{} defaults; writes with pebble.NoSync (WAL written, not fsynced)"
	}
	p.Open = func(o OpenOptions) (Store, error) {
		db, err := pebble.Open(o.Dir, &pebble.Options{Logger: quietPebbleLogger{}})
		if err != nil {
			return nil, err
		}
		wo := pebble.NoSync
		if sync {
			wo = pebble.Sync
		}
		return &pebbleStore{db: db, name: p.Name, wo: wo}, nil
	}
	return p
}

func (s *pebbleStore) Name() string  { return s.name }
func (s *pebbleStore) Durable() bool { return s.wo.Sync }
func (s *pebbleStore) Caps() Caps    { return Caps{Reads: true, Ordered: true} }

func (s *pebbleStore) Put(key, value []byte) error { return s.db.Set(key, value, s.wo) }
func (s *pebbleStore) Delete(key []byte) error     { return s.db.Delete(key, s.wo) }

func (s *pebbleStore) Get(key, dst []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst[:0], ErrNotFound
	}
	if err != nil {
		return dst[:0], err
	}
	dst = append(dst[:0], v...)
	return dst, closer.Close()
}

func (s *pebbleStore) Scan(start []byte, limit int, fn func(key, value []byte) bool) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	n := 0
	for ok := it.SeekGE(start); ok && n < limit; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		n++
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}

func (s *pebbleStore) Batch(ops []Op) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, op := range ops {
		var err error
		if op.Delete {
			err = b.Delete(op.Key, nil)
		} else {
			err = b.Set(op.Key, op.Value, nil)
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(s.wo)
}

func (s *pebbleStore) Close() error { return s.db.Close() }

// quietPebbleLogger drops Pebble's informational messages, which would
// interleave with the benchmark's progress, and keeps its errors.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any) {}
func (quietPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: fatal: "+format, args...))
}
