package rmap

import (
	"iter"
	"math"
	"math/bits"
	"sort"
	"unsafe"
)

// Map is a finished reverse map. It never changes, so any number of
// goroutines may query it at once.
type Map struct {
	recs []rec // by offset; every length >= 1
	keys keyArena
	sets refSets
	// maxEnd is nil when no two records overlap. Otherwise it is an
	// implicit interval tree over recs: record i is a node at level
	// trailing-ones(i), its subtree is the records i-(2^level-1) through
	// i+(2^level-1), and maxEnd[i] is the largest end among them.
	maxEnd []int64
}

// Len is the number of extents in the map.
func (m *Map) Len() int { return len(m.recs) }

// MemoryBytes is the heap the map holds.
func (m *Map) MemoryBytes() int64 {
	return int64(unsafe.Sizeof(*m)) +
		int64(cap(m.recs))*int64(unsafe.Sizeof(rec{})) +
		int64(cap(m.keys.buf)) +
		int64(cap(m.sets.start)+cap(m.sets.data))*4 +
		int64(cap(m.maxEnd))*8
}

// Lookup returns every owner overlapping [off, off+length), by ascending
// offset (owners at the same offset in the order they were first added).
// The result is the caller's. A length <= 0 is an empty range and overlaps
// nothing; a range running past the largest offset is cut there.
func (m *Map) Lookup(off, length int64) []Owner {
	var out []Owner
	for o := range m.Overlapping(off, length) {
		o.Lo, o.Hi, o.Refs = clone(o.Lo), clone(o.Hi), clone(o.Refs)
		out = append(out, o)
	}
	return out
}

// clone copies x, keeping nil and empty apart.
func clone[T any](x []T) []T {
	if x == nil {
		return nil
	}
	return append(make([]T, 0, len(x)), x...)
}

// Overlapping yields the owners Lookup returns without copying them: their
// Lo, Hi and Refs share the map's memory and must not be modified. It
// allocates nothing.
func (m *Map) Overlapping(off, length int64) iter.Seq[Owner] {
	return func(yield func(Owner) bool) {
		if length <= 0 || len(m.recs) == 0 {
			return
		}
		end := int64(math.MaxInt64)
		if off < 0 || length <= math.MaxInt64-off {
			end = off + length
		}
		each := func(i int) bool { return yield(m.owner(i)) }
		if m.maxEnd == nil {
			m.scan(off, end, each)
		} else {
			top := bits.Len(uint(len(m.recs))) - 1
			m.descend(1<<top-1, top, off, end, each)
		}
	}
}

// All yields every owner in the map, by ascending offset, like Overlapping.
func (m *Map) All() iter.Seq[Owner] {
	return func(yield func(Owner) bool) {
		for i := range m.recs {
			if !yield(m.owner(i)) {
				return
			}
		}
	}
}

// scan calls fn for each record overlapping [lo, hi) while it returns true,
// when no two records overlap: then ends ascend with offsets.
func (m *Map) scan(lo, hi int64, fn func(int) bool) {
	i := sort.Search(len(m.recs), func(i int) bool { return m.recs[i].end() > lo })
	for ; i < len(m.recs) && m.recs[i].off < hi; i++ {
		if !fn(i) {
			return
		}
	}
}

// descend calls fn, in order, for each record overlapping [lo, hi) in the
// subtree of node i at level k, while fn returns true; it reports whether
// to go on. Node i may lie past the last record: the tree is complete, the
// array is not.
func (m *Map) descend(i, k int, lo, hi int64, fn func(int) bool) bool {
	half := 1 << k >> 1 // distance to the children; 0 at a leaf
	if i >= len(m.recs) {
		// Only its left subtree can hold records.
		return k == 0 || m.descend(i-half, k-1, lo, hi, fn)
	}
	if m.maxEnd[i] <= lo {
		return true // everything here ends before the range
	}
	if k > 0 && !m.descend(i-half, k-1, lo, hi, fn) {
		return false
	}
	r := &m.recs[i]
	if r.off >= hi {
		return true // this one and its right subtree start after the range
	}
	if r.end() > lo && !fn(i) {
		return false
	}
	return k == 0 || m.descend(i+half, k-1, lo, hi, fn)
}

// index builds maxEnd if any two records overlap.
func (m *Map) index() {
	n := len(m.recs)
	overlap := false
	for i := 1; i < n && !overlap; i++ {
		overlap = m.recs[i-1].end() > m.recs[i].off
	}
	if !overlap {
		return
	}
	me := make([]int64, n)
	for i := range m.recs {
		me[i] = m.recs[i].end()
	}
	// subtree is the largest end in the subtree of node i at level k,
	// which for a node past the end is its left subtree's (or nothing).
	subtree := func(i, k int) int64 {
		for i >= n {
			if k == 0 {
				return math.MinInt64
			}
			i -= 1 << k >> 1
			k--
		}
		return me[i]
	}
	for k := 1; 1<<k <= n; k++ {
		half := 1 << k >> 1
		for i := 1<<k - 1; i < n; i += 1 << (k + 1) {
			me[i] = max(me[i], me[i-half], subtree(i+half, k-1))
		}
	}
	m.maxEnd = me
}

// owner describes record i; its slices alias the map.
func (m *Map) owner(i int) Owner {
	r := &m.recs[i]
	o := Owner{Off: r.off, Len: r.n, Kind: r.kind, Level: int(r.level),
		Lo: m.keys.get(r.loPos()), Hi: m.keys.get(r.hiPos())}
	if r.set != emptySet {
		o.Refs = m.sets.get(r.set)
	}
	return o
}
