package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/memtable"
)

// Change is how a key differs between two refs, as Diff reports it.
type Change int

const (
	Added    Change = iota + 1 // only in the second ref
	Removed                    // only in the first ref
	Modified                   // in both, with different values
)

func (c Change) String() string {
	switch c {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Modified:
		return "modified"
	}
	return fmt.Sprintf("Change(%d)", int(c))
}

// Diff calls fn for every key whose value differs between the refs from
// and to (branches or snapshots), in ascending key order. The two trees
// are walked together and subtrees they share are skipped unread, so the
// cost follows the number of changes, not the size of the store. Writes
// not yet checkpointed count: keys in either branch's memtables are
// compared one by one, so Diff never writes. Both refs are read at one
// instant. key is valid only during the call; an error from fn stops the
// walk and is returned.
func (db *DB) Diff(from, to string, fn func(key []byte, c Change) error) error {
	_, err := db.diff(from, to, fn)
	return err
}

// diff is Diff, also returning the number of tree nodes it read.
func (db *DB) diff(from, to string, fn func(key []byte, c Change) error) (visited int, err error) {
	if err := checkNames(from, to); err != nil {
		return 0, err
	}
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.end()
	v := db.vers.acquire()
	defer db.vers.unref(v)
	var views [2]*View
	for i, name := range []string{from, to} {
		r, err := findRef(v.cat, name)
		if err != nil {
			return 0, err
		}
		views[i] = db.viewOf(v, r.ID)
	}
	a, b := views[0], views[1]
	// Keys in memtables hide the trees' entries: compare those whole.
	pending := pendingKeys(a, b)
	next := 0
	// flush reports the pending keys below limit (all when limit is nil).
	flush := func(limit []byte) error {
		for ; next < len(pending) && (limit == nil || bytes.Compare(pending[next], limit) < 0); next++ {
			if err := db.diffKey(a, b, pending[next], fn); err != nil {
				return err
			}
		}
		return nil
	}
	err = db.guard(func() error {
		var err error
		visited, err = db.tree.Diff(a.root, b.root, func(key []byte, old, new *btree.Value) error {
			if err := flush(key); err != nil {
				return err
			}
			if next < len(pending) && bytes.Equal(pending[next], key) {
				return nil // reported by flush with the next key
			}
			switch {
			case old == nil:
				return fn(key, Added)
			case new == nil:
				return fn(key, Removed)
			}
			same, err := db.sameValue(key, old, new)
			if err != nil || same {
				return err
			}
			return fn(key, Modified)
		})
		if err != nil {
			return err
		}
		return flush(nil)
	})
	return visited, err
}

// viewOf is a view of ref id in the pinned version v.
func (db *DB) viewOf(v *version, id uint32) *View {
	vw := &View{db: db, v: v}
	vw.root, _ = v.root(id)
	vw.active, vw.frozen = snapshotOf(v.active[id]), snapshotOf(v.frozen[id])
	return vw
}

// snapshotOf is a snapshot of t, or nil when t is nil or empty: a View
// leaves empty memtables out, since every point read would probe them.
func snapshotOf(t *memtable.Table) *memtable.Snapshot {
	if t == nil {
		return nil
	}
	if s := t.Clone(); s.Len() > 0 {
		return s
	}
	return nil
}

// pendingKeys returns the sorted, distinct keys of the views' memtables.
func pendingKeys(views ...*View) [][]byte {
	var keys [][]byte
	for _, vw := range views {
		for _, s := range []*memtable.Snapshot{vw.active, vw.frozen} {
			if s != nil {
				s.Ascend(func(e *memtable.Entry) bool {
					keys = append(keys, e.Key)
					return true
				})
			}
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

// diffKey compares one key's full values (memtables, then tree) in a and b.
func (db *DB) diffKey(a, b *View, key []byte, fn func(key []byte, c Change) error) error {
	va, ea := a.Get(key)
	vb, eb := b.Get(key)
	for _, err := range []error{ea, eb} {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	switch {
	case ea != nil && eb != nil:
		return nil
	case ea != nil:
		return fn(key, Added)
	case eb != nil:
		return fn(key, Removed)
	case !bytes.Equal(va, vb):
		return fn(key, Modified)
	}
	return nil
}

// sameValue compares two tree values by content: a key written again with
// the same bytes gets a new extent, and that is no change.
func (db *DB) sameValue(key []byte, a, b *btree.Value) (bool, error) {
	if a.Len != b.Len {
		return false, nil
	}
	if a.Ext == b.Ext && a.Ext != 0 {
		return true, nil
	}
	va, err := db.treeValue(a, key)
	if err != nil {
		return false, err
	}
	vb, err := db.treeValue(b, key)
	if err != nil {
		return false, err
	}
	return bytes.Equal(va, vb), nil
}
