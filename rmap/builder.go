package rmap

import (
	"bytes"
	"math"
	"slices"
)

// rec is one extent: 32 bytes, so a million extents cost 32 MB plus keys.
type rec struct {
	off   int64
	n     int64  // length, >= 0
	lo    uint32 // low 32 bits of the Lo key position (0: nil)
	hi    uint32 // low 32 bits of the Hi key position (0: nil)
	set   uint32 // ref-set ID
	kind  Kind
	level int8
	loX   uint8 // bits 32..39 of the Lo key position
	hiX   uint8 // bits 32..39 of the Hi key position
}

func (r *rec) end() int64     { return r.off + r.n } // Add clamps n so this cannot overflow
func (r *rec) loPos() uint64  { return uint64(r.loX)<<32 | uint64(r.lo) }
func (r *rec) hiPos() uint64  { return uint64(r.hiX)<<32 | uint64(r.hi) }
func (r *rec) setLo(p uint64) { r.lo, r.loX = uint32(p), uint8(p>>32) }
func (r *rec) setHi(p uint64) { r.hi, r.hiX = uint32(p), uint8(p>>32) }

// none marks a missing record index.
const none = math.MaxUint32

// maxLevel is the highest level a Builder tracks parents for; levels are
// kept in an int8, and a B+tree of fanout 2 over 2^63 keys is 63 levels.
const maxLevel = math.MaxInt8

// edge says that parent points at child (record indexes).
type edge struct{ parent, child uint32 }

// Builder collects the extents of a region and who reaches them. It is for
// one goroutine; Finish turns it into a Map. The zero value is an empty
// Builder.
//
// Every report is appended to a log, with no lookup; compact merges the
// repeats in bulk when the log has doubled, and at Finish (see the package
// documentation).
type Builder struct {
	// recs[:sorted] are by offset and distinct, the rest is the log since.
	// Edges and the path name records by index, which compact renumbers.
	recs  []rec
	edges []edge
	keys  keyArena
	sets  refSets

	sorted    int
	compactAt int   // compact when the log reaches this length
	garbage   int64 // estimated bytes of keys no record uses any more

	// The walk in progress: its ref, and the last node visited at each
	// level, whose children the next Visits at the level below are.
	ref    uint32
	inWalk bool
	path   [maxLevel + 1]uint32
}

// minCompact is the shortest log compacted before Finish.
var minCompact = 1 << 16 // a variable so tests can compact often

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	b := &Builder{}
	b.reset()
	return b
}

func (b *Builder) reset() {
	*b = Builder{keys: newKeyArena(), sets: newRefSets(), compactAt: minCompact}
	b.forgetBelow(len(b.path))
}

// forgetBelow forgets the nodes visited at the levels below level.
func (b *Builder) forgetBelow(level int) {
	for l := range b.path[:level] {
		b.path[l] = none
	}
}

// Add records that ref reaches the extent [off, off+length), which holds
// kind: for a Node, the keys [lo, hi) at level; for a Value, the key lo
// (pass it as hi too; level 0). Call it once per (extent, ref) pair; adding
// the same extent for several refs unions them. lo and hi are copied, so
// they may alias memory that is only valid during the call.
//
// Add never fails: a negative length counts as 0 (such an extent overlaps
// nothing), and a length running past the largest offset is cut there.
func (b *Builder) Add(off, length int64, kind Kind, level int, lo, hi []byte, ref uint32) {
	x := b.record(off, length, kind, level, lo, hi)
	b.recs[x].set = b.sets.of(ref)
}

// AddFixed records a metadata area (superblock, commit slot, WAL, catalog
// copy, allocator image). It belongs to the store, so it has no refs and no
// keys.
func (b *Builder) AddFixed(off, length int64, kind Kind) {
	b.record(off, length, kind, 0, nil, nil)
}

// StartWalk begins the reports of one walk from one root of ref: the
// Visits that follow, until the next StartWalk or Finish, belong to it.
// Call it before every root, even for the same ref again.
func (b *Builder) StartWalk(ref uint32) {
	if b.compactAt == 0 {
		b.reset()
	}
	b.ref, b.inWalk = ref, true
	b.forgetBelow(len(b.path))
}

// Visit records one report of the store's btree Walker, in the order the
// Walker makes them: depth-first, a node before its children, a node's
// subtree finished before its next sibling, and a leaf's value extents
// right after the leaf. The arguments are those of Add (lo and hi are
// copied). Report every reference, first visit or not.
//
// From that order the parent of a report is known without being told: it
// is the last node visited at the level above (for a value, the last leaf).
// The walk's root, and any report whose parent cannot be found that way, is
// given the walk's ref directly; every other report only records the edge
// from its parent, and Finish hands each extent the union of its parents'
// refs. So a shared subtree that the Walker does not descend into again
// still gets every ref that reaches it.
//
// Visit before any StartWalk records the extent and its edges but gives no
// ref to a root.
func (b *Builder) Visit(off, length int64, kind Kind, level int, lo, hi []byte) {
	x := b.record(off, length, kind, level, lo, hi)
	parent := uint32(none)
	switch {
	case kind == Value:
		parent = b.path[0]
	case kind == Node && level >= 0 && level < maxLevel:
		parent = b.path[level+1]
	}
	if parent != none {
		b.edges = appendDoubling(b.edges, edge{parent, x})
	} else if b.inWalk {
		b.recs[x].set = b.sets.of(b.ref)
	}
	if kind == Node && level >= 0 && level <= maxLevel {
		// Whatever was below this level belonged to an earlier subtree.
		b.forgetBelow(level)
		b.path[level] = x
	}
}

// record logs one report of the extent and returns its index. Repeats of
// an extent are merged by compact.
func (b *Builder) record(off, length int64, kind Kind, level int, lo, hi []byte) uint32 {
	if b.compactAt == 0 {
		b.reset()
	}
	if len(b.recs) >= b.compactAt {
		b.compact()
		b.compactAt = max(2*len(b.recs), minCompact)
	}
	if uint64(len(b.recs)) >= none {
		panic("rmap: more than 2^32-1 reports pending")
	}
	length = max(length, 0)
	if off > 0 && length > math.MaxInt64-off {
		length = math.MaxInt64 - off
	}
	r := rec{off: off, n: length, kind: kind, level: int8(min(max(level, math.MinInt8), math.MaxInt8))}
	r.setLo(b.keys.put(lo))
	if hi != nil && lo != nil && bytes.Equal(lo, hi) {
		r.setHi(r.loPos())
	} else {
		r.setHi(b.keys.put(hi))
	}
	b.recs = appendDoubling(b.recs, r)
	return uint32(len(b.recs) - 1)
}

// widen makes r's bounds cover those of o, nil being unbounded on either
// side; both are in b's arena, so this moves positions, not keys.
func (b *Builder) widen(r, o *rec) {
	if cur, lo := r.loPos(), o.loPos(); cur != 0 && lo != cur {
		if lo == 0 || bytes.Compare(b.keys.get(lo), b.keys.get(cur)) < 0 {
			r.setLo(lo)
		}
	}
	if cur, hi := r.hiPos(), o.hiPos(); cur != 0 && hi != cur {
		if hi == 0 || bytes.Compare(b.keys.get(hi), b.keys.get(cur)) > 0 {
			r.setHi(hi)
		}
	}
}

// appendDoubling is append that doubles a full slice. Plain append grows
// big slices by a quarter, copying each element about four times over a
// build; doubling copies it about once.
func appendDoubling[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 1024))
	}
	return append(s, v)
}
