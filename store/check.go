package store

import (
	"context"
	"fmt"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
)

// CheckReport is the result of Check.
type CheckReport struct {
	Refs     int      // branches and snapshots checked
	Nodes    int      // distinct tree nodes
	Values   int      // distinct value extents (trees and memtables)
	Extents  int      // live extents in the allocator
	Bytes    int64    // bytes those extents hold
	Problems []string // empty when the store is consistent
}

// maxProblems bounds the report on a badly damaged store.
const maxProblems = 1000

// Check verifies the store the way `bbolt check` does: every tree is
// structurally sound with valid checksums, every value extent's header and
// checksum match the key that names it, every reachable extent is
// allocated with a refcount equal to a recount of its references, and
// the allocator's own bookkeeping (no overlaps, free space) is consistent.
// Writers and checkpoints pause while it runs. The error is only for a
// check that could not run; problems found go in the report.
func (db *DB) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	if err := db.begin(); err != nil {
		return rep, err
	}
	defer db.end()
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	db.gate.Lock()
	defer db.gate.Unlock()

	problem := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	type count struct {
		len  int64
		refs uint32
		what string
	}
	counts := map[int64]*count{}
	ref := func(off, n int64, what string) {
		c := counts[off]
		if c == nil {
			counts[off] = &count{len: n, refs: 1, what: what}
			return
		}
		if c.len != n {
			problem("extent %#x referenced as %s of %d bytes and as %s of %d bytes", off, c.what, c.len, what, n)
		}
		c.refs++
	}

	v := db.vers.cur.Load()
	for _, off := range db.slot.Catalog {
		ref(off, unitsOf(db.slot.CatalogLen), "catalog")
	}
	// A read-only open does not consume the allocator image, so its
	// extent is still live.
	if db.slot.AllocOff != 0 {
		if n, ok := db.alloc.Len(db.slot.AllocOff); ok {
			ref(db.slot.AllocOff, n, "allocator image")
		}
	}
	w := db.tree.NewWalker()
	for _, r := range v.cat.Refs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Refs++
		if r.Root == 0 {
			continue
		}
		var errs []error
		err := db.guard(func() error {
			errs = db.tree.Check(r.Root, btree.MaxErrors(50))
			return w.Walk(r.Root, func(e btree.Extent, first bool) error {
				what := fmt.Sprintf("%s of %s %q", e.Kind, r.Kind, r.Name)
				ref(e.Off, extentLen(&e), what)
				if !first {
					return nil
				}
				if e.Kind == btree.KindNode {
					rep.Nodes++
					return nil
				}
				rep.Values++
				if _, err := db.verifyExtValue(e.Off, e.Len, e.Lo); err != nil {
					problem("%s: %v", what, err)
				}
				return nil
			})
		})
		for _, e := range errs {
			problem("%s %q: %v", r.Kind, r.Name, e)
		}
		if err != nil {
			problem("walking %s %q: %v", r.Kind, r.Name, err)
		}
	}
	// Memtables own the value extents of writes not yet checkpointed, and
	// keep the ones they superseded until their checkpoint is durable.
	for _, m := range []map[uint32]*memtable.Table{v.active, v.frozen} {
		for id, t := range m {
			err := db.guard(func() error {
				for _, e := range t.ValueExtents() {
					rep.Values++
					ref(e.Off, format.ValueExtentLen(len(e.Key), e.Len), fmt.Sprintf("unflushed value of ref %d", id))
					if _, err := db.verifyExtValue(e.Off, e.Len, e.Key); err != nil {
						problem("unflushed value of key %q: %v", e.Key, err)
					}
				}
				return nil
			})
			if err != nil {
				problem("memtable of ref %d: %v", id, err)
			}
			for _, off := range t.Superseded() {
				if n, ok := db.alloc.Len(off); ok {
					ref(off, n, "superseded value")
				} else {
					problem("superseded value %#x is not allocated", off)
				}
			}
		}
	}
	// Zombies wait in version garbage until no reader can see them.
	zombies := map[int64]bool{}
	db.vers.mu.Lock()
	for _, old := range db.vers.live {
		for _, off := range old.garbage.zombies {
			zombies[off] = true
		}
	}
	db.vers.mu.Unlock()

	db.alloc.Extents(func(off, length int64, refs uint32) bool {
		rep.Extents++
		rep.Bytes += length
		c := counts[off]
		switch {
		case c == nil && refs == 0 && zombies[off]:
		case c == nil:
			problem("extent %#x (%d bytes, refcount %d) is allocated but unreachable (leak)", off, length, refs)
		case c.len != length:
			problem("extent %#x: allocator length %d, %s needs %d", off, length, c.what, c.len)
		case c.refs != refs:
			problem("extent %#x (%s): refcount %d, recount %d", off, c.what, refs, c.refs)
		}
		delete(counts, off)
		return true
	})
	for off, c := range counts {
		problem("extent %#x (%s) is referenced %d times but not allocated", off, c.what, c.refs)
	}
	if err := db.alloc.Check(); err != nil {
		problem("allocator: %v", err)
	}
	return rep, nil
}
