package store

import (
	"github.com/daxkv/daxkv/store/internal/format"
)

// refHandle addresses one branch or snapshot by its catalog ID. The data
// methods of DB, Branch and Snapshot are all implemented on it.
type refHandle struct {
	db   *DB
	id   uint32
	name string
	kind format.RefKind
}

// mainRef is the handle of the main branch.
func (db *DB) mainRef() *refHandle {
	return &refHandle{db: db, id: db.mainID(), name: MainBranch, kind: format.KindBranch}
}

// mainID finds main's catalog ID. It is 1 in every region this version
// formats; looking it up keeps that an implementation detail.
func (db *DB) mainID() uint32 {
	if v := db.vers.cur.Load(); v != nil {
		for _, r := range v.cat.Refs {
			if r.Name == MainBranch {
				return r.ID
			}
		}
	}
	return 1
}

func (r *refHandle) put(key, value []byte) error { return r.write(key, value, false) }

func (r *refHandle) del(key []byte) error { return r.write(key, nil, true) }

// write is the single-op path of Put and Delete: no transaction state.
func (r *refHandle) write(key, value []byte, del bool) error {
	db := r.db
	if err := db.beginWrite(); err != nil {
		return err
	}
	defer db.end()
	b := getBatch(r.id)
	defer putBatch(b)
	if err := db.addOp(b, key, value, del); err != nil {
		return err
	}
	return db.commit(r, b)
}

func (r *refHandle) update(fn func(tx *Tx) error) (err error) {
	db := r.db
	if err := db.beginWrite(); err != nil {
		return err
	}
	defer db.end()
	b := getBatch(r.id)
	defer putBatch(b)
	tx := &Tx{r: r, b: b}
	committed := false
	defer func() {
		if !committed {
			db.abort(b) // fn failed or panicked: free its value extents
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	return db.commit(r, b)
}
