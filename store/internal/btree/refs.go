package btree

import (
	"errors"
	"fmt"
	"slices"

	"github.com/daxkv/daxkv/internal/errs"
)

// Ref takes one more reference to root: a snapshot or branch made from it
// is O(1). Root 0 (the empty tree) needs none.
func (t *Tree) Ref(root int64) error {
	if root == 0 {
		return nil
	}
	if err := t.writable(); err != nil {
		return err
	}
	if root < 0 || root%NodeSize != 0 || root > int64(len(t.mem))-NodeSize {
		return fmt.Errorf("btree: root %#x is not a node offset: %w", root, errs.Invalid)
	}
	if err := t.ext.Incref(root); err != nil {
		return fmt.Errorf("btree: ref root %#x: %w", root, err)
	}
	return nil
}

// Release drops one reference to root. Where a count reaches zero it
// recurses into the node's children and value extents; shared subtrees are
// not visited. It returns every extent whose count reached zero, for the
// caller to free once no reader can see them. On error (a corrupt node on
// the way) nothing has changed.
func (t *Tree) Release(root int64) (zombies []int64, err error) {
	if root == 0 {
		return nil, nil
	}
	if err := t.writable(); err != nil {
		return nil, err
	}
	p := newRefPlan(t)
	if err := p.release(root, true, -1); err != nil {
		return nil, err
	}
	return p.execute()
}

// refPlan collects refcount changes as deltas so that they can be checked
// before any is made and undone if one fails: the tree's writers plan
// everything while reading, then execute.
type refPlan struct {
	t     *Tree
	delta map[int64]int64
}

func newRefPlan(t *Tree) refPlan { return refPlan{t: t, delta: make(map[int64]int64)} }

// refs returns an extent's refcount as it will be after the planned changes.
func (p *refPlan) refs(off int64) (int64, error) {
	r, ok := p.t.ext.Refs(off)
	if !ok {
		return 0, fmt.Errorf("btree: extent %#x is referenced but not allocated: %w", off, errs.Corrupt)
	}
	return int64(r) + p.delta[off], nil
}

// shadow plans replacing node n by a copy that owns one reference to each
// of n's children. Unshared, n's references move to the copy and n drops
// to zero (a zombie, no recursion); shared, the copy takes new references
// and n loses the one its parent or root held (Rodeh).
func (p *refPlan) shadow(n *node, shared bool) error {
	r, err := p.refs(n.off)
	if err != nil {
		return err
	}
	if r < 1 {
		return corruptf(n.off, "refcount underflow (node reached twice?)")
	}
	p.delta[n.off]--
	if !shared {
		return nil
	}
	return n.refs(func(c int64) error {
		p.delta[c]++
		return nil
	})
}

// release plans dropping one reference to an extent; a node whose count
// reaches zero releases its own references in turn. level is the node's
// expected level (-1: any).
func (p *refPlan) release(off int64, isNode bool, level int) error {
	r, err := p.refs(off)
	if err != nil {
		return err
	}
	if r < 1 {
		return fmt.Errorf("btree: extent %#x: refcount underflow: %w", off, errs.Corrupt)
	}
	p.delta[off]--
	if r > 1 || !isNode {
		return nil
	}
	n, err := p.t.readNode(off, level)
	if err != nil {
		return err
	}
	return n.refs(func(c int64) error { return p.release(c, !n.leaf(), n.level-1) })
}

// execute makes the planned changes, increfs before decrefs so that no
// count touches zero on its way to a positive value, and returns the
// extents left at zero. If the allocator refuses one, the ones made are
// undone.
func (p *refPlan) execute() ([]int64, error) {
	offs := make([]int64, 0, len(p.delta))
	for off, d := range p.delta {
		if d == 0 {
			continue
		}
		r, ok := p.t.ext.Refs(off)
		if !ok || int64(r)+d < 0 {
			return nil, fmt.Errorf("btree: extent %#x: refcount %d cannot change by %d: %w", off, r, d, errs.Corrupt)
		}
		offs = append(offs, off)
	}
	slices.Sort(offs)

	type op struct {
		off int64
		inc bool
	}
	var done []op
	undo := func(err error) error {
		var errList []error
		for i := len(done) - 1; i >= 0; i-- {
			o := done[i]
			if o.inc {
				_, e := p.t.ext.Decref(o.off)
				errList = append(errList, e)
			} else {
				errList = append(errList, p.t.ext.Incref(o.off))
			}
		}
		return errors.Join(append([]error{err}, errList...)...)
	}
	for _, off := range offs {
		for d := p.delta[off]; d > 0; d-- {
			if err := p.t.ext.Incref(off); err != nil {
				return nil, undo(fmt.Errorf("btree: incref %#x: %w", off, err))
			}
			done = append(done, op{off, true})
		}
	}
	var zombies []int64
	for _, off := range offs {
		for d := p.delta[off]; d < 0; d++ {
			left, err := p.t.ext.Decref(off)
			if err != nil {
				return nil, undo(fmt.Errorf("btree: decref %#x: %w", off, err))
			}
			done = append(done, op{off, false})
			if left == 0 {
				zombies = append(zombies, off)
			}
		}
	}
	return zombies, nil
}

// ExtentKind tells what an Extent reported by Walk holds.
type ExtentKind uint8

const (
	// KindNode is a tree node (NodeSize bytes).
	KindNode ExtentKind = iota + 1
	// KindValue is a value extent written by the store.
	KindValue
)

func (k ExtentKind) String() string {
	switch k {
	case KindNode:
		return "node"
	case KindValue:
		return "value"
	}
	return fmt.Sprintf("ExtentKind(%d)", uint8(k))
}

// Extent is one reference found by Walk.
type Extent struct {
	Off int64
	// Len is NodeSize for a node; for a value extent it is the value
	// length stored in the leaf (the store adds its extent header).
	Len   int64
	Kind  ExtentKind
	Level int // node level (-1 for an unreadable root); 0 for values
	// Lo and Hi bound the keys under a node, [Lo, Hi) with nil meaning
	// unbounded; for a value both are its key. They alias the mapping
	// and are valid during the visit.
	Lo, Hi []byte
}

// Walker walks trees and remembers what it has seen, so that walking many
// roots (every branch and snapshot) reports each reference once and reads
// each shared subtree once. It is not safe for concurrent use.
type Walker struct {
	t    *Tree
	seen sparseSet
	// OnCorrupt, if set, is called for a node that cannot be read (after
	// it was reported to visit). Returning nil skips its subtree and goes
	// on; otherwise the walk stops with that error. Unset, a corrupt node
	// stops the walk.
	OnCorrupt func(e Extent, err error) error
}

// NewWalker returns a Walker with nothing seen.
func (t *Tree) NewWalker() *Walker { return &Walker{t: t, seen: sparseSet{}} }

// Walk calls visit for every node and value extent reachable from root,
// once per reference (a rebuild counts references: one alloc Builder.Ref
// per report). It descends into a node only on its first visit.
func (t *Tree) Walk(root int64, visit func(e Extent, firstVisit bool) error) error {
	return t.NewWalker().Walk(root, visit)
}

// Walk reports root's references to visit; see Tree.Walk. Nodes and
// extents seen in earlier calls on w are reported with firstVisit false
// and not descended into.
func (w *Walker) Walk(root int64, visit func(e Extent, firstVisit bool) error) error {
	if root == 0 {
		return nil
	}
	return w.node(Extent{Off: root, Len: NodeSize, Kind: KindNode, Level: -1}, visit)
}

func (w *Walker) node(e Extent, visit func(Extent, bool) error) error {
	first := w.seen.add(e.Off)
	// Read the node even when seen before: its level must match this
	// reference too (after the first read that is a header check), or a
	// pointer up the tree would go unnoticed.
	n, err := w.t.readNode(e.Off, e.Level)
	if err == nil {
		e.Level = n.level
	}
	if verr := visit(e, first); verr != nil {
		return verr
	}
	if err != nil {
		if w.OnCorrupt != nil {
			return w.OnCorrupt(e, err)
		}
		return err
	}
	if !first {
		return nil
	}
	// readNode validated every entry, so the accessors below cannot fail.
	for i := 0; i < n.count; i++ {
		k, _ := n.key(i)
		if n.leaf() {
			v, _ := n.value(i)
			if v.Ext == 0 {
				continue
			}
			ve := Extent{Off: v.Ext, Len: v.Len, Kind: KindValue, Lo: k, Hi: k}
			if err := visit(ve, w.seen.add(v.Ext)); err != nil {
				return err
			}
			continue
		}
		c, _ := n.child(i)
		ce := Extent{Off: c, Len: NodeSize, Kind: KindNode, Level: n.level - 1, Lo: e.Lo, Hi: e.Hi}
		if i > 0 {
			ce.Lo = k
		}
		if i+1 < n.count {
			ce.Hi, _ = n.key(i + 1)
		}
		if err := w.node(ce, visit); err != nil {
			return err
		}
	}
	return nil
}

// sparseSet is a set of extent offsets (multiples of UnitSize) as a bitmap
// in chunks of 1 MiB of region, allocated where something was seen.
type sparseSet map[int64]*[64]uint64

// add inserts off and reports whether it was new.
func (s sparseSet) add(off int64) bool {
	u := off / UnitSize
	c := s[u>>12]
	if c == nil {
		c = new([64]uint64)
		s[u>>12] = c
	}
	w, bit := &c[(u>>6)&63], uint64(1)<<(u&63)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}
