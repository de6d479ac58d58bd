package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
)

// RefSpace is the space one branch or snapshot accounts for, the way
// `zfs list` shows USED and REFER.
type RefSpace struct {
	RefInfo
	// Unique is the bytes only this ref holds: what deleting it frees.
	Unique int64
	// Refer is the bytes of everything it reaches, shared extents
	// included: the size of its data on its own.
	Refer int64
}

// RefSpace reports the space of every branch and snapshot, branches first,
// each oldest first. Extents count whole (nodes, value extents with their
// headers); a branch also owns the value extents its memtables hold.
//
// An extent belongs to one ref alone when it and every node above it on
// the way from that ref's root have refcount 1: that is exactly what
// releasing the root frees. Every tree is walked once, and a subtree that
// refs share is read once, whatever the number of refs sharing it.
// Checkpoints wait while it runs, since they change refcounts (writers
// carry on until the WAL fills); expect about a second per few million
// keys.
func (db *DB) RefSpace(ctx context.Context) ([]RefSpace, error) {
	if err := db.begin(); err != nil {
		return nil, err
	}
	defer db.end()
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	v := db.vers.acquire()
	defer db.vers.unref(v)

	s := spaceWalk{db: db, w: db.tree.NewWalker(), under: map[int64]int64{}}
	var out []RefSpace
	for _, kind := range []format.RefKind{format.KindBranch, format.KindSnapshot} {
		start := len(out)
		for i := range v.cat.Refs {
			r := &v.cat.Refs[i]
			if r.Kind != kind {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rs := RefSpace{RefInfo: refInfo(v.cat, r)}
			if err := db.guard(func() error { return s.walk(r.Root, &rs) }); err != nil {
				return nil, fmt.Errorf("space of %s %q: %w", r.Kind, r.Name, err)
			}
			for _, t := range []*memtable.Table{v.active[r.ID], v.frozen[r.ID]} {
				if t != nil {
					n := db.tableBytes(t)
					rs.Unique += n
					rs.Refer += n
				}
			}
			out = append(out, rs)
		}
		slices.SortFunc(out[start:], func(a, b RefSpace) int { return cmpRefs(a.RefInfo, b.RefInfo) })
	}
	return out, nil
}

// tableBytes is the extent space a memtable owns: values of its entries
// and the ones they superseded.
func (db *DB) tableBytes(t *memtable.Table) int64 {
	var n int64
	for _, e := range t.ValueExtents() {
		n += unitsOf(format.ValueExtentLen(len(e.Key), e.Len))
	}
	for _, off := range t.Superseded() {
		if l, ok := db.alloc.Len(off); ok {
			n += l
		}
	}
	return n
}

// spaceWalk sums extent sizes over the trees of several refs with one
// Walker. The walk comes in depth-first order with node levels, so a stack
// of open nodes rebuilds the tree shape: a node's parent is the nearest
// open node one level up.
type spaceWalk struct {
	db    *DB
	w     *btree.Walker
	under map[int64]int64 // node offset -> bytes of its subtree, itself included
}

type spaceFrame struct {
	off    int64
	level  int
	bytes  int64 // of the subtree so far
	unique bool  // this node and every one above it have refcount 1
}

func (s *spaceWalk) walk(root int64, rs *RefSpace) error {
	var stack []spaceFrame
	// add counts a subtree's bytes into the open node above it, or the
	// root's into the ref.
	add := func(n int64) {
		if len(stack) > 0 {
			stack[len(stack)-1].bytes += n
		} else {
			rs.Refer += n
		}
	}
	pop := func() {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		s.under[f.off] = f.bytes
		add(f.bytes)
	}
	sole := func(off int64) bool {
		refs, ok := s.db.alloc.Refs(off)
		return ok && refs == 1
	}
	err := s.w.Walk(root, func(e btree.Extent, first bool) error {
		size := unitsOf(extentLen(&e))
		if e.Kind == btree.KindValue {
			// Values are reported right after their leaf.
			leaf := &stack[len(stack)-1]
			leaf.bytes += size
			if leaf.unique && sole(e.Off) {
				rs.Unique += size
			}
			return nil
		}
		for len(stack) > 0 && stack[len(stack)-1].level <= e.Level {
			pop()
		}
		if !first {
			// Seen under an earlier ref: shared, and already summed.
			add(s.under[e.Off])
			return nil
		}
		unique := (len(stack) == 0 || stack[len(stack)-1].unique) && sole(e.Off)
		if unique {
			rs.Unique += size
		}
		stack = append(stack, spaceFrame{off: e.Off, level: e.Level, bytes: size, unique: unique})
		return nil
	})
	for err == nil && len(stack) > 0 {
		pop()
	}
	return err
}
