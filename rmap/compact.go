package rmap

import (
	"encoding/binary"
	"slices"
)

// compact sorts the log by offset and merges the reports of each extent
// into one record: ref sets unioned, bounds widened, the first report's
// level kept. Edges and the walk's path are renumbered to match.
func (b *Builder) compact() {
	n := len(b.recs)
	if b.sorted == n {
		return
	}
	order := byOffset(b.recs)
	remap := make([]uint32, n) // log index -> record index
	out := make([]rec, 0, n)
	var ids [][]uint32 // per record of the current offset: the sets to union
	for s := 0; s < n; {
		first := &b.recs[order[s]]
		e := s + 1
		for e < n && b.recs[order[e]].off == first.off {
			e++
		}
		if e == s+1 { // the common case: one report of one extent
			remap[order[s]] = uint32(len(out))
			out = append(out, *first)
			s = e
			continue
		}
		// Several reports at one offset: usually one extent reported again,
		// rarely other claims on the same offset (corrupt metadata).
		base := len(out)
		ids = ids[:0]
		for _, i := range order[s:e] {
			r := &b.recs[i]
			j := base
			for j < len(out) && (out[j].n != r.n || out[j].kind != r.kind) {
				j++
			}
			if j == len(out) {
				out = append(out, *r)
				ids = append(ids, []uint32{r.set})
			} else {
				b.widen(&out[j], r)
				ids[j-base] = append(ids[j-base], r.set)
				b.garbage += b.unused(&out[j], r)
			}
			remap[i] = uint32(j)
		}
		for j := range ids {
			out[base+j].set = b.sets.unionAll(ids[j])
		}
		s = e
	}

	for i := range b.edges {
		e := &b.edges[i]
		e.parent, e.child = remap[e.parent], remap[e.child]
	}
	if len(b.edges) > 2*len(out) {
		// Many more edges than extents: the same edges reported again
		// (every ref walked alone). Drop the repeats so that memory
		// follows the extents, not the reports.
		b.edges = dedupEdges(b.edges)
	}
	for l, x := range b.path {
		if x != none {
			b.path[l] = remap[x]
		}
	}
	if len(out) < cap(out)/2 {
		out = clipped(out)
	}
	b.recs, b.sorted = out, len(out)
	if b.garbage > int64(len(b.keys.buf))/2 {
		b.rebuildKeys()
	}
}

// unused estimates the key bytes of the merged report o that r does not
// use (others may share them through the arena's cache: an estimate).
func (b *Builder) unused(r, o *rec) int64 {
	var n int64
	if p := o.loPos(); p != 0 && p != r.loPos() && p != r.hiPos() {
		n += b.keys.size(p)
	}
	if p := o.hiPos(); p != 0 && p != o.loPos() && p != r.loPos() && p != r.hiPos() {
		n += b.keys.size(p)
	}
	return n
}

// rebuildKeys copies the keys the records use into a fresh arena.
func (b *Builder) rebuildKeys() {
	old := b.keys
	b.keys = newKeyArena()
	b.keys.buf = make([]byte, 1, max(int64(len(old.buf))-b.garbage, 1))
	for i := range b.recs {
		r := &b.recs[i]
		lo, hi := r.loPos(), r.hiPos()
		r.setLo(b.keys.put(old.get(lo)))
		if hi == lo {
			r.setHi(r.loPos())
		} else {
			r.setHi(b.keys.put(old.get(hi)))
		}
	}
	b.garbage = 0
}

// byOffset returns the indexes of recs ordered by offset, ties in index
// order. It is a least-significant-digit radix sort over the bytes of the
// offset that differ at all (not the low byte of aligned offsets, nor the
// high bytes of a small region): a few linear passes, where a comparison
// sort would take n log n steps.
func byOffset(recs []rec) []uint32 {
	type item struct {
		key uint64 // the offset with its sign bit flipped: negative ones (bogus input) first
		idx uint32
	}
	a := make([]item, len(recs))
	for i := range recs {
		a[i] = item{uint64(recs[i].off) ^ 1<<63, uint32(i)}
	}
	a = radixSort(a, func(it *item) uint64 { return it.key })
	order := make([]uint32, len(a))
	for i := range a {
		order[i] = a[i].idx
	}
	return order
}

// dedupEdges sorts edges and drops repeats.
func dedupEdges(edges []edge) []edge {
	edges = radixSort(edges, func(e *edge) uint64 { return uint64(e.child)<<32 | uint64(e.parent) })
	return slices.Compact(edges)
}

// radixSort sorts a stably by key and returns the sorted slice, which is a
// or a scratch slice of the same length.
func radixSort[T any](a []T, key func(*T) uint64) []T {
	n := len(a)
	if n < 2 {
		return a
	}
	var count [8][256]int
	for i := range a {
		var k [8]byte
		binary.LittleEndian.PutUint64(k[:], key(&a[i]))
		for d := range count {
			count[d][k[d]]++
		}
	}
	var buf []T
	for d := range count {
		c := &count[d]
		shift := 8 * d
		if c[byte(key(&a[0])>>shift)] == n {
			continue // every key has this byte
		}
		if buf == nil {
			buf = make([]T, n)
		}
		pos := 0
		for i, k := range c {
			c[i] = pos
			pos += k
		}
		for i := range a {
			dg := byte(key(&a[i]) >> shift)
			buf[c[dg]] = a[i]
			c[dg]++
		}
		a, buf = buf, a
	}
	return a
}
