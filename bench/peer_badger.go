package bench

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

type badgerStore struct {
	db   *badger.DB
	name string
	sync bool
}

func badgerPeer(sync bool) Peer {
	p := Peer{
		Name:    "badger-sync",
		Durable: true,
		Options: "badger.DefaultOptions(dir) (64 MiB memtables, 256 MiB block cache, Snappy) with SyncWrites(true): value log fsynced per commit",
	}
	if !sync {
		p.Name, p.Durable = "badger-nosync", false
		p.Options = "badger.DefaultOptions(dir) with SyncWrites(false), Badger's default: value log written, not fsynced"
	}
	p.Open = func(o OpenOptions) (Store, error) {
		opts := badger.DefaultOptions(o.Dir).WithSyncWrites(sync).WithLogger(nil)
		db, err := badger.Open(opts)
		if err != nil {
			return nil, err
		}
		return &badgerStore{db: db, name: p.Name, sync: sync}, nil
	}
	return p
}

func (s *badgerStore) Name() string  { return s.name }
func (s *badgerStore) Durable() bool { return s.sync }
func (s *badgerStore) Caps() Caps    { return Caps{Reads: true, Ordered: true} }

func (s *badgerStore) Put(key, value []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

func (s *badgerStore) Delete(key []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

func (s *badgerStore) Get(key, dst []byte) ([]byte, error) {
	dst = dst[:0]
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		dst, err = item.ValueCopy(dst)
		return err
	})
	return dst, err
}

func (s *badgerStore) Scan(start []byte, limit int, fn func(key, value []byte) bool) error {
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		// Prefetching more values than the scan will use is wasted work
		// that a user would not ask for.
		opts.PrefetchSize = max(1, min(limit, opts.PrefetchSize))
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Seek(start); it.Valid() && n < limit; it.Next() {
			item := it.Item()
			keep := true
			err := item.Value(func(v []byte) error {
				keep = fn(item.Key(), v)
				return nil
			})
			if err != nil {
				return err
			}
			n++
			if !keep {
				break
			}
		}
		return nil
	})
}

func (s *badgerStore) Batch(ops []Op) error {
	return s.db.Update(func(txn *badger.Txn) error {
		for _, op := range ops {
			var err error
			if op.Delete {
				err = txn.Delete(op.Key)
			} else {
				err = txn.Set(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *badgerStore) Close() error { return s.db.Close() }
