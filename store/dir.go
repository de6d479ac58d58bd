package store

import (
	"errors"
	"slices"
	"time"

	"github.com/daxkv/daxkv/store/internal/btree"
)

// Leaf directories (btree.Dir) are DRAM copies of a branch tree's routing
// and of its keys' fingerprints, so a point read costs one entry read
// instead of one node read per level. A background goroutine builds one
// for each branch root that lacks it after every new version; versions
// carry the directories of roots they share with their predecessor. Reads
// that find none descend the tree as before, so a directory only ever
// changes speed. Snapshots get none: their reads are rarer and a
// directory costs about 5 bytes per key.

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

// replaceDir publishes d in place of old on v, if v still has old. A
// version installed meanwhile may have inherited old: the install kicks
// the builder, which fingerprints it there too (cheaply: the tree is the
// same).
func (v *version) replaceDir(old, d *btree.Dir) {
	for {
		p := v.dirs.Load()
		if p == nil {
			return
		}
		i := slices.Index(*p, old)
		if i < 0 {
			return
		}
		next := slices.Clone(*p)
		next[i] = d
		if v.dirs.CompareAndSwap(p, &next) {
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

// dirBuilder builds missing branch directories whenever kicked, and
// retries fingerprints it put off while a checkpoint ran: the lock may be
// held by more than checkpoints (Check, RefSpace, a close), and the
// install that kicked it may still hold it.
func (db *DB) dirBuilder() {
	defer db.bg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-db.stop:
			return
		case <-db.dirKick:
		case <-retry:
		}
		retry = nil
		if !db.buildDirs() {
			retry = time.After(fingerprintRetry)
		}
	}
}

// fingerprintRetry is how soon the builder tries again after finding a
// checkpoint running.
const fingerprintRetry = 20 * time.Millisecond

func (db *DB) kickDirs() {
	select {
	case db.dirKick <- struct{}{}:
	default:
	}
}

// buildDirs builds the directories the current version's branches lack,
// in two steps: the routing first (internal nodes only, quick), published
// at once, then the leaf fingerprints, which read the leaves the branch's
// previous directory did not cover. The pinned version keeps their trees
// allocated while they are read. It returns false when it put off some
// fingerprints because a checkpoint was running.
func (db *DB) buildDirs() (done bool) {
	v := db.vers.acquire()
	defer db.vers.unref(v)
	done = true
	live := map[uint32]bool{}
	for i := range v.cat.Refs {
		r := &v.cat.Refs[i]
		if _, branch := v.active[r.ID]; !branch {
			continue
		}
		live[r.ID] = true
		d := v.dir(r.Root)
		if d != nil && d.Fingerprinted() {
			continue
		}
		if d == nil {
			err := db.guard(func() error {
				var err error
				d, err = db.tree.BuildDir(r.Root)
				return err
			})
			if err != nil {
				// The same fault or corruption shows on the read that
				// would have used it; reads just keep descending the tree.
				db.log.Warn("daxkv: leaf directory not built", "ref", r.Name, "err", err)
				continue
			}
			v.addDir(d)
		}
		if !db.checkpointIdle() {
			// Under sustained writes the tree changes with every
			// checkpoint and a fingerprint pass (37 ms per 1M keys)
			// would compete with them for the CPU. The routing alone
			// serves meanwhile.
			done = false
			continue
		}
		var fd *btree.Dir
		err := db.guard(func() error {
			var err error
			fd, _, err = db.tree.Fingerprint(d, db.fpPrev[r.ID], db.stop)
			return err
		})
		if errors.Is(err, btree.ErrStopped) {
			return true // closing
		}
		if err != nil {
			db.log.Warn("daxkv: leaf fingerprints not built", "ref", r.Name, "err", err)
			continue
		}
		v.replaceDir(d, fd)
		db.fpPrev[r.ID] = fd
	}
	for id := range db.fpPrev {
		if !live[id] {
			delete(db.fpPrev, id) // a deleted branch
		}
	}
	return done
}

// checkpointIdle reports whether no checkpoint (or other catalog edit)
// is running at this moment.
func (db *DB) checkpointIdle() bool {
	if !db.ckptMu.TryLock() {
		return false
	}
	db.ckptMu.Unlock()
	return true
}

// treeFind looks key up in the tree at root, through its directory when v
// has one.
func (db *DB) treeFind(v *version, root int64, key []byte) (btree.Loc, bool, error) {
	if d := v.dir(root); d != nil {
		return db.tree.FindDir(d, key)
	}
	return db.tree.Find(root, key)
}
