package store

import (
	"fmt"

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

// deleted is the error of a handle whose ref no longer exists.
func (r *refHandle) deleted() error {
	return fmt.Errorf("%w: %s %q was deleted", ErrNotFound, r.kind, r.name)
}

// live fails once the branch is gone, before a write costs anything. A
// deletion that races past it is caught when the batch is applied.
func (r *refHandle) live() error {
	if _, ok := r.db.vers.cur.Load().active[r.id]; !ok {
		return r.deleted()
	}
	return nil
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

// Branch is a writable branch: the data methods of DB, on another tree.
// It shares every node and value with the ref it was made from until one
// side writes. Once the branch is deleted its methods return ErrNotFound.
type Branch struct{ r *refHandle }

// Name is the branch's name.
func (b *Branch) Name() string { return b.r.name }

// Get returns a copy of the value stored under key, or an error wrapping
// ErrNotFound.
func (b *Branch) Get(key []byte) ([]byte, error) { return b.r.get(key) }

// GetAppend is Get appending the value to dst (see DB.GetAppend).
func (b *Branch) GetAppend(dst, key []byte) ([]byte, error) { return b.r.appendGet(dst, key) }

// Put stores value under key.
func (b *Branch) Put(key, value []byte) error {
	if err := b.r.live(); err != nil {
		return err
	}
	return b.r.put(key, value)
}

// Delete removes key; a missing key is not an error.
func (b *Branch) Delete(key []byte) error {
	if err := b.r.live(); err != nil {
		return err
	}
	return b.r.del(key)
}

// Update runs fn in a read-write transaction and commits its writes as one
// atomic batch; fn's error aborts it.
func (b *Branch) Update(fn func(tx *Tx) error) error {
	if err := b.r.live(); err != nil {
		return err
	}
	return b.r.update(fn)
}

// View runs fn with a consistent read-only view of the branch.
func (b *Branch) View(fn func(v *View) error) error { return b.r.view(fn) }

// Snapshot is a read-only, unchanging view of a branch at the moment it
// was taken. Once the snapshot is deleted its methods return ErrNotFound.
type Snapshot struct{ r *refHandle }

// Name is the snapshot's name.
func (s *Snapshot) Name() string { return s.r.name }

// Get returns a copy of the value stored under key, or an error wrapping
// ErrNotFound.
func (s *Snapshot) Get(key []byte) ([]byte, error) { return s.r.get(key) }

// GetAppend is Get appending the value to dst (see DB.GetAppend).
func (s *Snapshot) GetAppend(dst, key []byte) ([]byte, error) { return s.r.appendGet(dst, key) }

// View runs fn with a read-only view of the snapshot. Values alias the
// mapped region and are valid only until fn returns.
func (s *Snapshot) View(fn func(v *View) error) error { return s.r.view(fn) }
