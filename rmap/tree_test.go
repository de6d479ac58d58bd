package rmap

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// This file models the store's copy-on-write B+tree closely enough to drive
// a Builder the way the store does: a region of nodes by offset, refs that
// share subtrees, and a walker that reports exactly as btree.Walker does.

const nodeSize = 4096

type tnode struct {
	level int
	keys  []int   // entry keys (key indexes); a child's lower bound, or a leaf key
	kids  []int64 // internal: child offsets
	vals  []int64 // leaf: value extent offsets, 0 for an inline value
}

type forest struct {
	nodes map[int64]*tnode // the region; a missing offset is unreadable
	roots map[uint32]int64 // ref -> root
	next  int64            // next free offset
	r     *rand.Rand
}

// key returns the key with index i; noKey stands for nil (unbounded).
func key(i int) []byte {
	if i == noKey {
		return nil
	}
	return fmt.Appendf(nil, "k%07d", i)
}

const noKey = -1

func (f *forest) alloc(n int64) int64 {
	off := f.next
	f.next += (n + 255) &^ 255
	return off
}

func valueLen(k int) int64 { return 300 + int64(k%7)*100 }

// newForest builds ref 1 as a tree over keys 0, 2, 4, ... (odd keys are left
// free for separators that move), fanout up to fan, with every valuePct
// percent of values in their own extents.
func newForest(seed uint64, nkeys, fan, valuePct int) *forest {
	f := &forest{nodes: map[int64]*tnode{}, roots: map[uint32]int64{}, next: 1 << 20,
		r: rand.New(rand.NewPCG(seed, 0))}
	var level []int64
	var lows []int
	for i := 0; i < nkeys; i += fan {
		n := &tnode{level: 0}
		for k := i; k < min(i+fan, nkeys); k++ {
			n.keys = append(n.keys, 2*k)
			v := int64(0)
			if f.r.IntN(100) < valuePct {
				v = f.alloc(valueLen(2 * k))
			}
			n.vals = append(n.vals, v)
		}
		off := f.alloc(nodeSize)
		f.nodes[off] = n
		level, lows = append(level, off), append(lows, 2*i)
	}
	for lv := 1; len(level) > 1; lv++ {
		var up []int64
		var upLows []int
		for i := 0; i < len(level); i += fan {
			n := &tnode{level: lv}
			for j := i; j < min(i+fan, len(level)); j++ {
				n.keys = append(n.keys, lows[j])
				n.kids = append(n.kids, level[j])
			}
			off := f.alloc(nodeSize)
			f.nodes[off] = n
			up, upLows = append(up, off), append(upLows, lows[i])
		}
		level, lows = up, upLows
	}
	f.roots[1] = level[0]
	return f
}

// shadow writes a copy of the node at off and returns the copy's offset.
func (f *forest) shadow(off int64) int64 {
	n := f.nodes[off]
	c := &tnode{level: n.level, keys: slices.Clone(n.keys), kids: slices.Clone(n.kids), vals: slices.Clone(n.vals)}
	o := f.alloc(nodeSize)
	f.nodes[o] = c
	return o
}

// clone makes ref a snapshot or branch of from: O(1), the root is shared.
func (f *forest) clone(ref, from uint32) { f.roots[ref] = f.roots[from] }

// update rewrites one random key of ref copy-on-write: every node on the
// path is shadowed, the value gets a new extent (or goes inline). With
// moveSep, a separator in a shadowed parent moves within its gap, so the
// shared child below it is reached with other bounds than in other refs.
func (f *forest) update(ref uint32, moveSep bool) {
	off := f.shadow(f.roots[ref])
	f.roots[ref] = off
	for {
		n := f.nodes[off]
		i := f.r.IntN(len(n.keys))
		if n.level == 0 {
			n.vals[i] = 0
			if f.r.IntN(4) > 0 {
				n.vals[i] = f.alloc(valueLen(n.keys[i]))
			}
			return
		}
		if moveSep && i > 0 && n.keys[i]%2 == 0 && n.keys[i]-1 > n.keys[i-1] {
			n.keys[i]-- // still above every key of the left sibling
		}
		c, ok := f.nodes[n.kids[i]]
		if !ok || c.level != n.level-1 {
			return // a corrupted pointer: nothing to descend into
		}
		n.kids[i] = f.shadow(n.kids[i])
		off = n.kids[i]
	}
}

// corrupt points a few children of ref's nodes (shadowed first, so other
// refs keep theirs) at random nodes of any level, at garbage, or makes a
// value point at a node.
func (f *forest) corrupt(ref uint32, count int) {
	offs := make([]int64, 0, len(f.nodes))
	for off := range f.nodes {
		offs = append(offs, off)
	}
	slices.Sort(offs)
	for range count {
		off := f.shadow(f.roots[ref])
		f.roots[ref] = off
		n := f.nodes[off]
		for n.level > 0 && f.r.IntN(3) > 0 {
			i := f.r.IntN(len(n.kids))
			c, ok := f.nodes[n.kids[i]]
			if !ok || c.level != n.level-1 {
				break
			}
			n.kids[i] = f.shadow(n.kids[i])
			n = f.nodes[n.kids[i]]
		}
		i := f.r.IntN(len(n.keys))
		switch {
		case n.level == 0:
			n.vals[i] = offs[f.r.IntN(len(offs))]
		case f.r.IntN(4) == 0:
			n.kids[i] = f.alloc(nodeSize) // nothing written there
		default:
			n.kids[i] = offs[f.r.IntN(len(offs))]
		}
	}
}

// report is one reference as btree.Walker reports it, plus what the
// walker knows and the Builder must infer: the report's parent.
type report struct {
	off, n   int64
	kind     Kind
	level    int
	loK, hiK int // key indexes of the bounds, or noKey
	first    bool
	parent   int64 // offset of the node whose entry this is; -1 for a root
}

func (r report) bounds() (lo, hi []byte) { return key(r.loK), key(r.hiK) }

// walker mirrors btree.Walker: one seen-set over node and value offsets,
// a node is reported before it is read, read with the level its parent
// implies (-1 at the root: any), and descended into only on its first visit
// and when readable.
type walker struct {
	f    *forest
	seen map[int64]bool
}

func (f *forest) walker() *walker { return &walker{f: f, seen: map[int64]bool{}} }

func (w *walker) walk(root int64, visit func(report)) {
	w.node(root, -1, noKey, noKey, -1, visit)
}

func (w *walker) node(off int64, level int, lo, hi int, parent int64, visit func(report)) {
	first := !w.seen[off]
	w.seen[off] = true
	n, ok := w.f.nodes[off]
	readable := ok && (level == -1 || n.level == level)
	if readable {
		level = n.level
	}
	visit(report{off, nodeSize, Node, level, lo, hi, first, parent})
	if !readable || !first {
		return
	}
	for i, k := range n.keys {
		if n.level == 0 {
			if n.vals[i] == 0 {
				continue
			}
			v := n.vals[i]
			first := !w.seen[v]
			w.seen[v] = true
			visit(report{v, valueLen(k), Value, 0, k, k, first, off})
			continue
		}
		clo, chi := lo, hi
		if i > 0 {
			clo = k
		}
		if i+1 < len(n.keys) {
			chi = n.keys[i+1]
		}
		w.node(n.kids[i], n.level-1, clo, chi, off, visit)
	}
}

// refIDs returns the forest's refs in ascending order.
func (f *forest) refIDs() []uint32 {
	var ids []uint32
	for id := range f.roots {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
