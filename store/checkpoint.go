package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
)

// checkpointer runs checkpoints in the background when writers kick it
// (the WAL passed its trigger).
func (db *DB) checkpointer() {
	defer db.bg.Done()
	for {
		select {
		case <-db.stop:
			return
		case <-db.ckptKick:
			if err := db.checkpoint(); err != nil {
				db.log.Error("daxkv: background checkpoint failed", "err", err)
			}
		}
	}
}

func (db *DB) kickCheckpoint() {
	select {
	case db.ckptKick <- struct{}{}:
	default:
	}
}

// waitCheckpoint is called by a writer that found the WAL full: it runs a
// checkpoint itself, then waits until readers release enough old versions
// for the WAL space to come back.
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
// commits the new roots:
//
//  1. freeze: with the commit gate held, the live memtables become frozen
//     and fresh ones take new writes; the WAL position there is where the
//     next replay will start;
//  2. apply each frozen table to its branch's tree (new nodes are written
//     and flushed, never drained one by one);
//  3. write the new catalog, drain once, then switch the commit slot;
//  4. install the new version: what the old one alone reached (old nodes,
//     replaced values, WAL space) is released when no reader can see it.
func (db *DB) checkpoint() error {
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	if e := db.broken.Load(); e != nil {
		return *e
	}
	start := time.Now()

	db.gate.Lock()
	cur := db.vers.cur.Load()
	empty := true
	for _, t := range cur.active {
		if t.Len() > 0 {
			empty = false
			break
		}
	}
	if empty {
		db.gate.Unlock()
		return nil
	}
	upTo := db.wal.End()
	frozen := &version{cat: cur.cat, active: make(map[uint32]*memtable.Table, len(cur.active)), frozen: cur.active}
	for id := range cur.active {
		frozen.active[id] = memtable.New()
	}
	db.vers.install(frozen, garbage{})
	db.gate.Unlock()

	cat := cloneCatalog(frozen.cat)
	cat.Gen++
	var zombies []int64
	err := db.guard(func() error {
		for i := range cat.Refs {
			ref := &cat.Refs[i]
			t := frozen.frozen[ref.ID]
			if t == nil || t.Len() == 0 {
				continue
			}
			root, z, err := db.tree.Apply(ref.Root, db.mutations(t), cat.Gen)
			if err != nil {
				return fmt.Errorf("checkpoint of %s %q: %w", ref.Kind, ref.Name, err)
			}
			ref.Root, ref.Seq = root, upTo.Seq-1
			zombies = append(zombies, z...)
		}
		return nil
	})
	if err != nil {
		// New nodes may already hold references moved from old ones, so
		// the allocator cannot simply be rolled back: stop taking writes.
		// Reads keep working from the frozen tables and the old roots, and
		// the next open rebuilds the allocator from the durable state.
		db.fail(err)
		return err
	}
	for _, t := range frozen.frozen {
		for _, off := range t.Superseded() {
			zombies = db.decref(zombies, off)
		}
	}
	if err := db.commitCatalog(cat, upTo.Off, upTo.Seq, &zombies); err != nil {
		db.fail(err)
		return err
	}
	db.vers.install(&version{cat: cat, active: frozen.active}, garbage{zombies: zombies, walTruncate: true, walUpTo: upTo})
	db.stats.checkpoints.Add(1)
	db.stats.lastCkptNanos.Store(int64(time.Since(start)))
	db.log.Debug("daxkv: checkpoint", "gen", cat.Gen, "took", time.Since(start), "freed", len(zombies))
	return nil
}

// commitCatalog writes cat, drains everything the checkpoint wrote, and
// switches the commit slot to it. The old catalog copies join zombies.
func (db *DB) commitCatalog(cat *format.Catalog, walOff, walSeq uint64, zombies *[]int64) error {
	return db.guard(func() error {
		offs, n, err := writeCatalog(db.mem, db.alloc, db.p, cat)
		if err != nil {
			return err
		}
		if err := db.p.Drain(); err != nil {
			return err
		}
		old := db.slot.Catalog
		s := format.Slot{Catalog: offs, CatalogLen: n, WALOff: walOff, WALSeq: walSeq}
		if err := db.writeSlot(s); err != nil {
			return err
		}
		for _, off := range old {
			*zombies = db.decref(*zombies, off)
		}
		return nil
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
