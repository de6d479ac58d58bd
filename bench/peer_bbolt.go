package bench

import (
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var bboltBucket = []byte("bench")

type bboltStore struct{ db *bolt.DB }

func bboltPeer() Peer {
	return Peer{
		Name:    "bbolt",
		Durable: true,
		Options: "bolt.Open(path, 0600, nil): defaults, every Update commits with fdatasync; one bucket",
		Open: func(o OpenOptions) (Store, error) {
			db, err := bolt.Open(filepath.Join(o.Dir, "bbolt.db"), 0o600, nil)
			if err != nil {
				return nil, err
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucketIfNotExists(bboltBucket)
				return err
			}); err != nil {
				db.Close()
				return nil, err
			}
			return &bboltStore{db: db}, nil
		},
	}
}

func (s *bboltStore) Name() string  { return "bbolt" }
func (s *bboltStore) Durable() bool { return !s.db.NoSync }
func (s *bboltStore) Caps() Caps    { return Caps{Reads: true, Ordered: true} }

func (s *bboltStore) Put(key, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bboltBucket).Put(key, value) })
}

func (s *bboltStore) Delete(key []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bboltBucket).Delete(key) })
}

func (s *bboltStore) Get(key, dst []byte) ([]byte, error) {
	dst = dst[:0]
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bboltBucket).Get(key)
		if v == nil {
			return ErrNotFound
		}
		dst = append(dst, v...)
		return nil
	})
	return dst, err
}

func (s *bboltStore) Scan(start []byte, limit int, fn func(key, value []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		n := 0
		for k, v := c.Seek(start); k != nil && n < limit; k, v = c.Next() {
			n++
			if !fn(k, v) {
				break
			}
		}
		return nil
	})
}

func (s *bboltStore) Batch(ops []Op) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bboltBucket)
		for _, op := range ops {
			var err error
			if op.Delete {
				err = b.Delete(op.Key)
			} else {
				err = b.Put(op.Key, op.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *bboltStore) Close() error { return s.db.Close() }
