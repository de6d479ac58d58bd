package store

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
	"github.com/daxkv/daxkv/store/internal/wal"
)

// checkpointer runs checkpoints in the background when writers kick it
// (the WAL passed its trigger) and when writes pause with many keys
// buffered (idle checkpoints, below).
func (db *DB) checkpointer() {
	defer db.bg.Done()
	var idleTick <-chan time.Time
	if every := db.idleCheckpointAfter(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		idleTick = t.C
	}
	lastSeq := db.applied.Load()
	failedSeq := ^uint64(0) // an idle checkpoint failed with nothing applied since
	for {
		select {
		case <-db.stop:
			return
		case <-db.ckptKick:
			if db.wal.Used() < db.ckptAt {
				// Writers kick while the running checkpoint's records
				// still count; once it freed them, the next waits for
				// the trigger rather than draining a small memtable.
				continue
			}
			if err := db.checkpoint(); err != nil {
				db.log.Error("daxkv: background checkpoint failed", "err", err)
			}
		case <-idleTick:
			// No batch applied for a whole tick: writes have paused.
			seq := db.applied.Load()
			if seq == lastSeq && seq != failedSeq && db.broken.Load() == nil {
				if n := db.buffered(); n >= idleCheckpointKeys {
					db.log.Debug("daxkv: idle checkpoint", "keys", n)
					if err := db.checkpoint(); err != nil {
						// Not again until a write: the log would repeat it every period.
						failedSeq = seq
						db.log.Error("daxkv: idle checkpoint failed", "err", err)
					}
				}
			}
			lastSeq = seq
		}
	}
}

// Idle checkpoints (DECISIONS): once writes pause, the memtables are
// drained into the tree. A read of a key that is only in the tree probes
// every non-empty memtable first, and a probe of a large one costs its own
// cache miss (its hash index cell; with 300K keys in front, a read of a
// tree key took 1.2–1.3 µs against ~0.6 µs for the tree alone).
// A memtable under idleCheckpointKeys (about 4 MiB of it) is left alone:
// its probe costs less, and a checkpoint of few keys rewrites about a leaf
// for each, where a larger one shares leaves among its keys.
const (
	defaultIdleCheckpoint = 250 * time.Millisecond
	// minIdleCheckpoint bounds the period from below: a tiny one would wake
	// the checkpointer constantly and take any gap between batches for a
	// pause.
	minIdleCheckpoint  = 10 * time.Millisecond
	idleCheckpointKeys = 64 << 10
)

// idleCheckpointAfter is the idle checkpoint period, or 0 when off.
func (db *DB) idleCheckpointAfter() time.Duration {
	switch d := db.opts.IdleCheckpoint; {
	case db.opts.manualCheckpoints || d < 0:
		return 0
	case d == 0:
		return defaultIdleCheckpoint
	default:
		return max(d, minIdleCheckpoint)
	}
}

func (db *DB) kickCheckpoint() {
	select {
	case db.ckptKick <- struct{}{}:
	default:
	}
}

// waitWALSpace is called by a writer that found the WAL full. When a
// checkpoint is running, its end frees the records it drained, so the
// writer waits for it instead of running another on its own core right
// after; when none was, or its end freed nothing, it runs one.
func (db *DB) waitWALSpace() error {
	before := db.wal.Used()
	db.ckptMu.Lock()
	freed := db.wal.Used() < before
	db.ckptMu.Unlock()
	if err := db.writesStopped(); err != nil {
		return err
	}
	if freed {
		return nil
	}
	return db.waitCheckpoint()
}

// waitCheckpoint is called by a writer that found the WAL full (through
// waitWALSpace): it runs a checkpoint itself, then waits until readers
// release enough old versions for the WAL space to come back.
func (db *DB) waitCheckpoint() error {
	before := db.wal.Used()
	if err := db.checkpoint(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for db.wal.Used() >= before && db.vers.pinned() > 1 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: WAL full and a reader has held an old version for 30s", ErrNoSpace)
		}
		time.Sleep(50 * time.Microsecond)
	}
	return nil
}

// checkpoint applies every branch's memtable to its copy-on-write tree and
// commits the new roots.
func (db *DB) checkpoint() error { return db.commitEdit(nil) }

// commitEdit commits the catalog edit plan returns (a nil plan: a plain
// checkpoint). plan runs under ckptMu before anything is frozen, against
// the committed catalog: names and kinds only change under ckptMu, so what
// it validates holds until the commit.
func (db *DB) commitEdit(plan func(cat *format.Catalog) (*catalogEdit, error)) error {
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	if e := db.broken.Load(); e != nil {
		return *e
	}
	if db.vers.cur.Load().frozen != nil {
		// The last checkpoint failed and left its frozen memtables: commit
		// them first, so that nothing is lost and an edit sees every write
		// acknowledged before it.
		if err := db.runCheckpoint(nil); err != nil {
			return err
		}
	}
	if plan == nil {
		return db.runCheckpoint(nil)
	}
	edit, err := plan(db.vers.cur.Load().cat)
	if err != nil {
		return err
	}
	if edit.flush {
		return db.runCheckpoint(edit)
	}
	return db.editCatalog(edit)
}

// runCheckpoint commits one checkpoint, with edit when it is set:
//
//  1. freeze: with the commit gate held, the live memtables become frozen
//     and fresh ones take new writes; the WAL position there is where the
//     next replay will start. A version left frozen by a failed checkpoint
//     is retried as it is;
//  2. apply each frozen table to its branch's tree (new nodes are written
//     and flushed, never drained one by one), then the edit;
//  3. write the new catalog, drain once, then switch the commit slot;
//  4. install the new version: what the old one alone reached (old nodes,
//     replaced values, WAL space) is freed when no reader can see it.
//
// Until the slot switch a failure changes nothing (ckpt.rollback): the
// frozen tables stay, and the next checkpoint retries them. The one
// exception is an edit failing after the last Apply: the trees then commit
// without it, which changes no data. A failed slot write stops writes,
// since durability can no longer be promised.
func (db *DB) runCheckpoint(edit *catalogEdit) error {
	start := time.Now()
	db.gate.Lock()
	v := db.vers.cur.Load()
	if v.frozen == nil {
		if edit == nil && allEmpty(v.active) {
			db.gate.Unlock()
			return nil
		}
		v = &version{cat: v.cat, active: make(map[uint32]*memtable.Table, len(v.active)), frozen: v.active, upTo: db.wal.End()}
		for id, t := range v.frozen {
			t.Freeze()
			v.active[id] = memtable.NewAfter(t)
		}
		db.vers.install(v, garbage{})
	}
	db.gate.Unlock()

	c := &ckpt{db: db, v: v, edit: edit, seq: v.upTo.Seq - 1, applied: map[uint32]bool{}}
	err := c.prepare()
	if err == nil {
		err = db.guard(c.applyTrees)
	}
	if err != nil {
		return c.undo(err)
	}
	var editErr error
	if err := db.guard(c.applyEdit); err != nil {
		if c.undoable() {
			return c.undo(err)
		}
		// The last Apply cannot be undone (see applyTrees): the trees
		// commit without the edit, which changes no data.
		editErr = fmt.Errorf("%w (the checkpoint before it committed)", err)
		if err := c.dropEdit(); err != nil {
			db.fail(err)
			return errors.Join(editErr, err)
		}
	}
	oldCat := db.slot.Catalog
	if err := db.commitCatalog(c.cat, c.catOffs, c.catLen, v.upTo); err != nil {
		db.fail(err)
		return err
	}
	zombies := c.finish(oldCat)
	next := &version{cat: c.cat, active: make(map[uint32]*memtable.Table, len(v.active)+1)}
	for _, r := range c.cat.Refs {
		if r.Kind != format.KindBranch {
			continue
		}
		if next.active[r.ID] = v.active[r.ID]; next.active[r.ID] == nil {
			next.active[r.ID] = memtable.New() // a new branch
		}
	}
	// Counted before it is visible: whoever sees the drained memtable
	// sees the checkpoint counted too.
	db.stats.checkpoints.Add(1)
	db.stats.lastCkptNanos.Store(int64(time.Since(start)))
	db.vers.install(next, garbage{zombies: zombies, walTruncate: true, walUpTo: v.upTo})
	db.log.Debug("daxkv: checkpoint", "gen", c.cat.Gen, "took", time.Since(start), "freed", len(zombies))
	return editErr
}

// editCatalog commits an edit that applies no memtable: deleting a ref,
// restoring a branch, branching a snapshot. Nothing is frozen and the WAL
// position stays where it is; a restored branch's Seq makes replay skip
// the records it discards. Writers wait only while the catalog commits:
// the gate is held from reading the WAL's end to the install, so no write
// falls between the state discarded and the new one. Releasing what the
// old state alone held comes after, handed over as garbage by a second
// install of the same state.
func (db *DB) editCatalog(edit *catalogEdit) error {
	db.gate.Lock()
	v := db.vers.cur.Load()
	if v.frozen != nil { // commitEdit retried them
		db.gate.Unlock()
		return fmt.Errorf("%w: catalog edit over frozen memtables", ErrInvalid)
	}
	c := &ckpt{db: db, v: v, edit: edit, seq: db.wal.End().Seq - 1}
	err := c.prepare()
	if err == nil {
		err = db.guard(c.applyEdit)
	}
	if err != nil {
		db.gate.Unlock()
		return c.undo(err)
	}
	oldCat := db.slot.Catalog
	if err := db.commitCatalog(c.cat, c.catOffs, c.catLen, wal.Position{Off: db.slot.WALOff, Seq: db.slot.WALSeq}); err != nil {
		db.gate.Unlock()
		db.fail(err)
		return err
	}
	next := &version{cat: c.cat, active: make(map[uint32]*memtable.Table, len(v.active)+1)}
	var dropped []*memtable.Table
	for id, t := range v.active {
		if id == edit.remove || id == edit.target {
			dropped = append(dropped, t)
		} else {
			next.active[id] = t
		}
	}
	if edit.target != 0 {
		next.active[edit.target] = memtable.New()
	}
	if edit.add != nil && edit.add.Kind == format.KindBranch {
		next.active[edit.add.ID] = memtable.New()
	}
	db.vers.install(next, garbage{})
	db.gate.Unlock()

	// No writer reaches the dropped tables now, and no reader of next
	// reaches anything released here.
	zombies := c.finish(oldCat)
	for _, t := range dropped {
		zombies = db.dropTable(zombies, t)
	}
	db.vers.install(&version{cat: next.cat, active: next.active}, garbage{zombies: zombies})
	return nil
}

func allEmpty(tables map[uint32]*memtable.Table) bool {
	for _, t := range tables {
		if t.Len() > 0 {
			return false
		}
	}
	return true
}

// A catalogEdit is a change to the refs, committed with a checkpoint
// (flush) or on its own (editCatalog). It does one of: add a ref (a
// snapshot or branch of from), remove one, or restore a branch (target)
// to a snapshot (source).
type catalogEdit struct {
	add            *format.Ref // ID, kind, name, time and parent; the root is from's
	from           uint32
	remove         uint32
	target, source uint32
	// flush: from is a branch, whose memtable the new ref must include.
	flush bool
}

// ckpt is one catalog commit in progress: what it changed so far, so that
// it can be finished after the commit or rolled back before it.
type ckpt struct {
	db      *DB
	v       *version // the frozen version (a checkpoint) or the current one
	edit    *catalogEdit
	seq     uint64          // the WAL seq the committed trees are up to
	cat     *format.Catalog // to commit
	catOffs [2]int64
	catLen  int64
	trees   []appliedTree
	applied map[uint32]bool // refs whose frozen table went into their tree
	refd    []int64         // roots the edit took a reference to
	release []int64         // roots to release once the commit is durable
}

type appliedTree struct {
	old, new int64
	muts     []btree.Mutation
	zombies  []int64
	// kept: old got one more reference before Apply, so it stays whole
	// until the commit and the Apply can be undone.
	kept bool
}

// prepare builds the catalog to commit (roots still to be set) and
// allocates its extents: roots do not change its size, and allocating
// first leaves no failure after the last Apply.
func (c *ckpt) prepare() error {
	c.cat = cloneCatalog(c.v.cat)
	c.cat.Gen++
	if e := c.edit; e != nil {
		if e.remove != 0 {
			c.cat.Refs = slices.DeleteFunc(c.cat.Refs, func(r format.Ref) bool { return r.ID == e.remove })
		}
		if e.add != nil {
			c.cat.Refs = append(c.cat.Refs, *e.add)
			c.cat.NextID = e.add.ID + 1
		}
	}
	c.catLen = int64(c.cat.EncodedLen())
	var err error
	c.catOffs, err = allocCatalog(c.db.alloc, c.catLen)
	return err
}

// undo rolls back after err; a rollback that fails stops writes.
func (c *ckpt) undo(err error) error {
	if rerr := c.rollback(); rerr != nil {
		err = fmt.Errorf("%w; undoing it failed: %w", err, rerr)
		c.db.fail(err)
	}
	return err
}

// pending returns the frozen table a ref's tree takes in this checkpoint.
func (c *ckpt) pending(r *format.Ref) *memtable.Table {
	if t := c.v.frozen[r.ID]; t != nil && t.Len() > 0 {
		return t
	}
	return nil
}

func (c *ckpt) applyTrees() error {
	db := c.db
	last := -1
	for i := range c.cat.Refs {
		if c.pending(&c.cat.Refs[i]) != nil {
			last = i
		}
	}
	for i := range c.cat.Refs {
		ref := &c.cat.Refs[i]
		t := c.pending(ref)
		if t == nil {
			continue
		}
		// All or nothing: one more reference keeps the old tree whole
		// until the commit, so a later failure can undo this Apply. The
		// last Apply needs none: after it only the edit can fail (taking
		// a reference to a root), and then the trees commit without the
		// edit. The extra reference is not free: it makes the old root
		// shared, so the Apply pushes a reference down to every child of
		// every node it copies (Rodeh), and the release undoes them all.
		a := appliedTree{old: ref.Root, muts: db.mutations(t), kept: i != last}
		if a.kept {
			if err := db.tree.Ref(a.old); err != nil {
				return fmt.Errorf("checkpoint of %s %q: %w", ref.Kind, ref.Name, err)
			}
		}
		root, z, err := db.tree.Apply(a.old, a.muts, c.cat.Gen)
		if err != nil {
			if a.kept {
				err = errors.Join(err, c.unref(a.old))
			}
			return fmt.Errorf("checkpoint of %s %q: %w", ref.Kind, ref.Name, err)
		}
		a.new, a.zombies = root, z
		c.trees = append(c.trees, a)
		c.applied[ref.ID] = true
		ref.Root, ref.Seq = root, c.seq
	}
	return nil
}

// applyEdit points the edited refs at their new roots, taking a reference
// to each (a snapshot or branch is one more reference to a root).
func (c *ckpt) applyEdit() error {
	e := c.edit
	if e == nil {
		return nil
	}
	find := func(cat *format.Catalog, id uint32) (*format.Ref, error) {
		for i := range cat.Refs {
			if cat.Refs[i].ID == id {
				return &cat.Refs[i], nil
			}
		}
		// Cannot happen: the edit was planned under ckptMu.
		return nil, fmt.Errorf("%w: ref %d vanished from the catalog", ErrNotFound, id)
	}
	switch {
	case e.add != nil:
		src, err := find(c.cat, e.from)
		if err != nil {
			return err
		}
		r, err := find(c.cat, e.add.ID)
		if err != nil {
			return err
		}
		if err := c.ref(src.Root); err != nil {
			return err
		}
		r.Root, r.Seq = src.Root, c.seq
		*e.add = *r // the caller reports it
	case e.target != 0:
		dst, err := find(c.cat, e.target)
		if err != nil {
			return err
		}
		src, err := find(c.cat, e.source)
		if err != nil {
			return err
		}
		if err := c.ref(src.Root); err != nil {
			return err
		}
		c.release = append(c.release, dst.Root)
		dst.Root, dst.Seq = src.Root, c.seq
	case e.remove != 0:
		r, err := find(c.v.cat, e.remove)
		if err != nil {
			return err
		}
		c.release = append(c.release, r.Root)
	}
	return nil
}

// undoable reports whether rollback can undo every Apply so far.
func (c *ckpt) undoable() bool {
	for _, a := range c.trees {
		if !a.kept {
			return false
		}
	}
	return true
}

// dropEdit takes a failed edit out of the commit: the references it took
// and the ref it added. Only an add reaches here (the edits of a
// checkpoint; the others commit through editCatalog).
func (c *ckpt) dropEdit() error {
	var errList []error
	for _, root := range c.refd {
		errList = append(errList, c.unref(root))
	}
	c.refd, c.release = nil, nil
	if add := c.edit.add; add != nil {
		c.cat.Refs = slices.DeleteFunc(c.cat.Refs, func(r format.Ref) bool { return r.ID == add.ID })
	}
	// c.catLen stays: it sizes the extents allocated for the catalog
	// (Check and the reverse map derive their length from it); the
	// shorter catalog says its own length and the tail is zeros.
	c.edit = nil
	return errors.Join(errList...)
}

func (c *ckpt) ref(root int64) error {
	if err := c.db.tree.Ref(root); err != nil {
		return err
	}
	c.refd = append(c.refd, root)
	return nil
}

// unref drops a reference that is not the last one.
func (c *ckpt) unref(root int64) error {
	z, err := c.db.tree.Release(root)
	if err == nil && len(z) > 0 {
		err = fmt.Errorf("%w: releasing an extra reference to root %#x freed %d extents", ErrCorrupt, root, len(z))
	}
	return err
}

// rollback undoes prepare, applyTrees and applyEdit: the allocator is as
// it was before, and the frozen tables still own their value extents.
func (c *ckpt) rollback() error {
	db := c.db
	var errList []error
	for _, root := range c.refd {
		errList = append(errList, c.unref(root))
	}
	for i := len(c.trees) - 1; i >= 0; i-- {
		a := &c.trees[i]
		if !a.kept || len(a.zombies) > 0 {
			errList = append(errList, fmt.Errorf("%w: an Apply that cannot be undone", ErrCorrupt))
			continue
		}
		// The new tree took over the table's references to its values:
		// give them back before releasing it. The nodes it alone holds
		// were never committed nor seen by a reader: free them now.
		for _, m := range a.muts {
			if !m.Delete && m.Value.Ext != 0 {
				errList = append(errList, db.alloc.Incref(m.Value.Ext))
			}
		}
		z, err := db.tree.Release(a.new)
		errList = append(errList, err)
		for _, off := range z {
			errList = append(errList, db.alloc.Free(off))
		}
	}
	for _, off := range c.catOffs {
		if off != 0 {
			freeNow(db.alloc, off)
		}
	}
	return errors.Join(errList...)
}

// finish runs once the commit is durable: it releases what the old
// version alone held and returns the extents that reached refcount 0.
func (c *ckpt) finish(oldCat [2]int64) []int64 {
	db := c.db
	var zombies []int64
	for _, off := range oldCat {
		zombies = db.decref(zombies, off)
	}
	for _, a := range c.trees {
		zombies = append(zombies, a.zombies...)
		if a.kept {
			zombies = c.releaseRoot(zombies, a.old)
		}
	}
	for _, root := range c.release {
		zombies = c.releaseRoot(zombies, root)
	}
	for id, t := range c.v.frozen {
		if c.applied[id] {
			for _, off := range t.Superseded() {
				zombies = db.decref(zombies, off)
			}
		} else {
			zombies = db.dropTable(zombies, t)
		}
	}
	return zombies
}

func (c *ckpt) releaseRoot(zombies []int64, root int64) []int64 {
	z, err := c.db.tree.Release(root)
	if err != nil {
		// The commit is durable; the old tree's space stays allocated
		// until a rebuild (Check reports it as a leak).
		c.db.log.Error("daxkv: releasing an old root failed", "root", root, "err", err)
	}
	return append(zombies, z...)
}

// dropTable releases a memtable that will never be applied: the value
// extents it owns and the ones it superseded.
func (db *DB) dropTable(zombies []int64, t *memtable.Table) []int64 {
	for _, e := range t.ValueExtents() {
		zombies = db.decref(zombies, e.Off)
	}
	for _, off := range t.Superseded() {
		zombies = db.decref(zombies, off)
	}
	return zombies
}

// commitCatalog writes cat into its extents, drains everything the
// checkpoint wrote, and switches the commit slot to it.
func (db *DB) commitCatalog(cat *format.Catalog, offs [2]int64, n int64, upTo wal.Position) error {
	return db.guard(func() error {
		fillCatalog(db.mem, db.p, cat, offs, n)
		if err := db.p.Drain(); err != nil {
			return err
		}
		return db.writeSlot(format.Slot{Catalog: offs, CatalogLen: n, WALOff: upTo.Off, WALSeq: upTo.Seq})
	})
}

// decref drops one reference and collects the extent when it reaches 0.
func (db *DB) decref(zombies []int64, off int64) []int64 {
	n, err := db.alloc.Decref(off)
	if err != nil {
		db.log.Error("daxkv: refcount error", "off", off, "err", err)
		return zombies
	}
	if n == 0 {
		zombies = append(zombies, off)
	}
	return zombies
}

// mutations turns a frozen memtable into the sorted batch the tree applies.
func (db *DB) mutations(t *memtable.Table) []btree.Mutation {
	snap := t.Clone()
	muts := make([]btree.Mutation, 0, snap.Len())
	snap.Ascend(func(e *memtable.Entry) bool {
		m := btree.Mutation{Key: e.Key}
		switch e.Kind {
		case memtable.Put:
			m.Value = btree.Value{Inline: db.mem[e.Off : e.Off+e.Len : e.Off+e.Len], Len: e.Len}
		case memtable.PutExt:
			m.Value = btree.Value{Ext: e.Off, Len: e.Len}
		case memtable.Delete:
			m.Delete = true
		}
		muts = append(muts, m)
		return true
	})
	return muts
}

func cloneCatalog(c *format.Catalog) *format.Catalog {
	n := *c
	n.Refs = slices.Clone(c.Refs)
	return &n
}

// releaseGarbage runs when no reader can see g any more.
func (db *DB) releaseGarbage(g *garbage) {
	for _, off := range g.zombies {
		if err := db.alloc.Free(off); err != nil {
			db.log.Error("daxkv: free failed", "off", off, "err", err)
		}
	}
	if g.walTruncate {
		db.wal.Truncate(g.walUpTo)
	}
}
