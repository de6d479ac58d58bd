package store

import (
	"slices"

	"github.com/daxkv/daxkv/store/internal/btree"
)

// Leaf directories (btree.Dir) are DRAM copies of a branch tree's routing,
// so a point read costs one node read instead of one per level. A
// background goroutine builds one for each branch root that lacks it after
// every new version; versions carry the directories of roots they share
// with their predecessor. Reads that find none descend the tree as before,
// so a directory only ever changes speed. Snapshots get none: their reads
// are rarer and a directory costs about a byte per key.

// dir returns the directory of the tree at root, if one was built.
func (v *version) dir(root int64) *btree.Dir {
	if p := v.dirs.Load(); p != nil {
		for _, d := range *p {
			if d.Root() == root {
				return d
			}
		}
	}
	return nil
}

// addDir publishes d on v. Versions are shared by readers: the list is
// replaced, never modified.
func (v *version) addDir(d *btree.Dir) {
	for {
		old := v.dirs.Load()
		var next []*btree.Dir
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, d)
		if v.dirs.CompareAndSwap(old, &next) {
			return
		}
	}
}

// inheritDirs gives next the directories of prev whose roots it still has.
// Called before next is published, while prev is current, so those roots
// are the same trees.
func (next *version) inheritDirs(prev *version) {
	p := prev.dirs.Load()
	if p == nil {
		return
	}
	var keep []*btree.Dir
	for _, d := range *p {
		if next.hasRoot(d.Root()) {
			keep = append(keep, d)
		}
	}
	if keep != nil {
		next.dirs.Store(&keep)
	}
}

// hasRoot reports whether some ref's tree is at root.
func (v *version) hasRoot(root int64) bool {
	for i := range v.cat.Refs {
		if v.cat.Refs[i].Root == root {
			return true
		}
	}
	return false
}

// dirBuilder builds missing branch directories whenever kicked.
func (db *DB) dirBuilder() {
	defer db.bg.Done()
	for {
		select {
		case <-db.stop:
			return
		case <-db.dirKick:
			db.buildDirs()
		}
	}
}

func (db *DB) kickDirs() {
	select {
	case db.dirKick <- struct{}{}:
	default:
	}
}

// buildDirs builds the directories the current version's branches lack.
// The pinned version keeps their trees allocated while they are read.
func (db *DB) buildDirs() {
	v := db.vers.acquire()
	defer db.vers.unref(v)
	for i := range v.cat.Refs {
		r := &v.cat.Refs[i]
		if _, branch := v.active[r.ID]; !branch || v.dir(r.Root) != nil {
			continue
		}
		var d *btree.Dir
		err := db.guard(func() error {
			var err error
			d, err = db.tree.BuildDir(r.Root)
			return err
		})
		if err != nil {
			// The same fault or corruption shows on the read that would
			// have used it; reads just keep descending the tree.
			db.log.Warn("daxkv: leaf directory not built", "ref", r.Name, "err", err)
			continue
		}
		v.addDir(d)
	}
}

// treeGet looks key up in the tree at root, through its directory when v
// has one.
func (db *DB) treeGet(v *version, root int64, key []byte) (btree.Value, bool, error) {
	if d := v.dir(root); d != nil {
		return db.tree.GetDir(d, key)
	}
	return db.tree.Get(root, key)
}
