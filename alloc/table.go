package alloc

import "math"

// The extent table maps an extent's first unit to its length and refcount.
//
// It is the allocator's biggest structure (one entry per extent, millions of
// them), so it is laid out for a small Go heap rather than generality: the
// unit space is cut into chunks of chunkUnits units, and each chunk holds a
// sorted slice of 8-byte entries keyed by the unit offset inside the chunk.
// There are no per-entry pointers for the garbage collector to scan, lookups
// are one index plus a binary search over a few KiB, and inserts shift at most
// one chunk. A Go map of the same data costs 2-4 times as much (see
// BenchmarkHeapPerExtent).
const (
	chunkShift = 12 // 4096 units = 1 MiB of region per chunk
	chunkUnits = 1 << chunkShift
	chunkMask  = chunkUnits - 1

	// refsInMap in entry.refs means the count does not fit in 16 bits and
	// lives in table.bigRefs. Counts that high need that many snapshots
	// sharing one node, so the map is almost always empty.
	refsInMap = math.MaxUint16

	maxExtentUnits = math.MaxUint32
)

type entry struct {
	key   uint16 // unit offset inside the chunk
	refs  uint16 // refcount, or refsInMap
	units uint32 // length
}

type table struct {
	chunks  [][]entry
	bigRefs map[int64]uint32 // unit -> refcount, for entries with refs == refsInMap
	count   int
	// longest bounds the length of every extent in the table (it never
	// shrinks), so a search for the extent covering a unit need not look
	// further back than that.
	longest int64
}

func newTable(sizeU int64) table {
	return table{chunks: make([][]entry, (sizeU+chunkUnits-1)>>chunkShift)}
}

// search finds unit u: its chunk, and the index of the first entry at or
// after it within that chunk.
func (t *table) search(u int64) (c, i int, found bool) {
	c = int(u >> chunkShift)
	k := uint16(u & chunkMask)
	es := t.chunks[c]
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if es[m].key < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return c, lo, lo < len(es) && es[lo].key == k
}

func (t *table) refsAt(c, i int) uint32 {
	e := t.chunks[c][i]
	if e.refs != refsInMap {
		return uint32(e.refs)
	}
	return t.bigRefs[int64(c)<<chunkShift|int64(e.key)]
}

func (t *table) setRefsAt(c, i int, refs uint32) {
	e := &t.chunks[c][i]
	u := int64(c)<<chunkShift | int64(e.key)
	if refs < refsInMap {
		if e.refs == refsInMap {
			delete(t.bigRefs, u)
		}
		e.refs = uint16(refs)
		return
	}
	if t.bigRefs == nil {
		t.bigRefs = make(map[int64]uint32)
	}
	e.refs = refsInMap
	t.bigRefs[u] = refs
}

func (t *table) get(u int64) (units int64, refs uint32, ok bool) {
	c, i, ok := t.search(u)
	if !ok {
		return 0, 0, false
	}
	return int64(t.chunks[c][i].units), t.refsAt(c, i), true
}

// insertAt adds an extent at unit u, where search(u) returned c, i and not
// found.
func (t *table) insertAt(c, i int, u, units int64, refs uint32) {
	es := append(t.chunks[c], entry{})
	copy(es[i+1:], es[i:])
	es[i] = entry{key: uint16(u & chunkMask), units: uint32(units)}
	t.chunks[c] = es
	t.setRefsAt(c, i, refs)
	t.count++
	t.longest = max(t.longest, units)
}

func (t *table) removeAt(c, i int) {
	t.setRefsAt(c, i, 0) // drops a bigRefs entry
	es := t.chunks[c]
	copy(es[i:], es[i+1:])
	es = es[:len(es)-1]
	// Give memory back after mass frees; the factor 4 keeps an
	// alloc/free cycle at the boundary from copying every time.
	if cap(es) > 32 && len(es) < cap(es)/4 {
		es = append(make([]entry, 0, 2*len(es)), es...)
	}
	t.chunks[c] = es
	t.count--
}

// ascend calls fn for every extent starting at or after unit from, in order,
// until fn returns false.
func (t *table) ascend(from int64, fn func(u, units int64, refs uint32) bool) {
	if from >= int64(len(t.chunks))<<chunkShift {
		return
	}
	c0, i0, _ := t.search(max(from, 0))
	for c := c0; c < len(t.chunks); c++ {
		es := t.chunks[c]
		i := 0
		if c == c0 {
			i = i0
		}
		for ; i < len(es); i++ {
			u := int64(c)<<chunkShift | int64(es[i].key)
			if !fn(u, int64(es[i].units), t.refsAt(c, i)) {
				return
			}
		}
	}
}

// before returns the extent with the greatest start below unit u, if it can
// reach u or beyond; extents that end before u are of no interest.
func (t *table) before(u int64) (start, units int64, ok bool) {
	c, i, _ := t.search(u)
	lowest := max(0, (u-t.longest)>>chunkShift)
	for {
		if i > 0 {
			e := t.chunks[c][i-1]
			start = int64(c)<<chunkShift | int64(e.key)
			return start, int64(e.units), start+int64(e.units) > u
		}
		if c--; int64(c) < lowest {
			return 0, 0, false
		}
		i = len(t.chunks[c])
	}
}

// after returns the extent with the smallest start above unit u, if it
// starts below limit.
func (t *table) after(u, limit int64) (start, units int64, ok bool) {
	c, i, found := t.search(u)
	if found {
		i++
	}
	for int64(c)<<chunkShift < limit {
		if es := t.chunks[c]; i < len(es) {
			start = int64(c)<<chunkShift | int64(es[i].key)
			return start, int64(es[i].units), start < limit
		}
		if c++; c >= len(t.chunks) {
			break
		}
		i = 0
	}
	return 0, 0, false
}
