package bench

import (
	"errors"
	"path/filepath"

	"github.com/daxkv/daxkv/store"
)

// errStopScan ends a daxkv scan early; it never leaves Scan.
var errStopScan = errors.New("stop scan")

type daxkvStore struct {
	db     *store.DB
	name   string
	nosync bool
}

func daxkvPeer(nosync bool) Peer {
	p := Peer{
		Name:    "daxkv",
		Durable: true,
		Options: "store.Options{Size: region size}, defaults otherwise: a write returns after its WAL record is flushed and fenced (group commit)",
	}
	if nosync {
		p.Name, p.Durable = "daxkv-nosync", false
		p.Options = "as daxkv, with NoSync: true: a write returns before its fence completes"
	}
	p.Open = func(o OpenOptions) (Store, error) {
		db, err := store.Open(filepath.Join(o.Dir, "daxkv.region"), &store.Options{Size: o.RegionSize, NoSync: nosync, Flush: o.Flush})
		if err != nil {
			return nil, err
		}
		return &daxkvStore{db: db, name: p.Name, nosync: nosync}, nil
	}
	return p
}

func (s *daxkvStore) Name() string  { return s.name }
func (s *daxkvStore) Durable() bool { return !s.nosync }
func (s *daxkvStore) Caps() Caps    { return Caps{Reads: true, Ordered: true} }

func (s *daxkvStore) Put(key, value []byte) error { return s.db.Put(key, value) }
func (s *daxkvStore) Delete(key []byte) error     { return s.db.Delete(key) }

// Get copies the value into dst (GetAppend), as the bbolt peer does in
// its read transaction: DB.Get would allocate a fresh copy per call.
func (s *daxkvStore) Get(key, dst []byte) ([]byte, error) {
	dst, err := s.db.GetAppend(dst[:0], key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return dst, err
}

func (s *daxkvStore) Scan(start []byte, limit int, fn func(key, value []byte) bool) error {
	n := 0
	err := s.db.View(func(v *store.View) error {
		return v.Scan(start, nil, func(k, val []byte) error {
			if n >= limit || !fn(k, val) {
				return errStopScan
			}
			n++
			if n >= limit {
				return errStopScan
			}
			return nil
		})
	})
	if errors.Is(err, errStopScan) {
		return nil
	}
	return err
}

func (s *daxkvStore) Batch(ops []Op) error {
	return s.db.Update(func(tx *store.Tx) error {
		for _, op := range ops {
			var err error
			if op.Delete {
				err = tx.Delete(op.Key)
			} else {
				err = tx.Put(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *daxkvStore) Close() error { return s.db.Close() }

// Stats exposes the store's figures (region use) to the runner.
func (s *daxkvStore) Stats() store.Stats { return s.db.Stats() }
