package rmap

import (
	"encoding/binary"
	"math"
	"slices"
)

// emptySet is the ID of the empty ref set.
const emptySet = 0

// maxUnionMemo bounds the union cache. It is only a cache: with few
// distinct sets (the normal case) it never fills; with adversarial ones it
// is dropped and refilled rather than growing with every extent.
const maxUnionMemo = 1 << 18

// refSets interns sorted sets of ref IDs: each distinct set is stored once
// and named by a uint32 ID; set 0 is the empty set.
type refSets struct {
	start []uint32 // set i is data[start[i]:start[i+1]]
	data  []uint32

	index  map[string]uint32    // encoded set -> ID
	single map[uint32]uint32    // ref -> ID of {ref}
	unions map[[2]uint32]uint32 // (a, b), a < b -> ID of a ∪ b
	merged []uint32             // scratch for union
	key    []byte               // scratch for the index key
}

func newRefSets() refSets {
	return refSets{
		start:  []uint32{0, 0},
		index:  map[string]uint32{"": emptySet},
		single: map[uint32]uint32{},
		unions: map[[2]uint32]uint32{},
	}
}

func (s *refSets) get(id uint32) []uint32 {
	return s.data[s.start[id]:s.start[id+1]:s.start[id+1]]
}

func (s *refSets) count() int { return len(s.start) - 1 }

// intern returns the ID of the sorted, duplicate-free set refs.
func (s *refSets) intern(refs []uint32) uint32 {
	s.key = s.key[:0]
	for _, r := range refs {
		s.key = binary.LittleEndian.AppendUint32(s.key, r)
	}
	if id, ok := s.index[string(s.key)]; ok {
		return id
	}
	if uint64(s.count()) >= math.MaxUint32 || uint64(len(s.data)+len(refs)) > math.MaxUint32 {
		panic("rmap: too many distinct ref sets")
	}
	id := uint32(s.count())
	s.data = append(s.data, refs...)
	s.start = append(s.start, uint32(len(s.data)))
	s.index[string(s.key)] = id
	return id
}

// of returns the ID of {ref}.
func (s *refSets) of(ref uint32) uint32 {
	if id, ok := s.single[ref]; ok {
		return id
	}
	id := s.intern([]uint32{ref})
	s.single[ref] = id
	return id
}

// union returns the ID of a ∪ b.
func (s *refSets) union(a, b uint32) uint32 {
	switch {
	case a == b || b == emptySet:
		return a
	case a == emptySet:
		return b
	case a > b:
		a, b = b, a
	}
	if id, ok := s.unions[[2]uint32{a, b}]; ok {
		return id
	}
	x, y := s.get(a), s.get(b)
	m := s.merged[:0]
	for len(x) > 0 && len(y) > 0 {
		switch {
		case x[0] < y[0]:
			m, x = append(m, x[0]), x[1:]
		case x[0] > y[0]:
			m, y = append(m, y[0]), y[1:]
		default:
			m, x, y = append(m, x[0]), x[1:], y[1:]
		}
	}
	m = append(append(m, x...), y...)
	s.merged = m
	id := s.intern(m)
	if len(s.unions) >= maxUnionMemo {
		clear(s.unions)
	}
	s.unions[[2]uint32{a, b}] = id
	return id
}

// unionAll returns the ID of the union of the sets ids (which it
// reorders), interning only the result.
func (s *refSets) unionAll(ids []uint32) uint32 {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if ids[0] == emptySet {
		ids = ids[1:]
	}
	switch len(ids) {
	case 0:
		return emptySet
	case 1:
		return ids[0]
	case 2:
		return s.union(ids[0], ids[1])
	}
	m := s.merged[:0]
	for _, id := range ids {
		m = append(m, s.get(id)...)
	}
	slices.Sort(m)
	m = slices.Compact(m)
	s.merged = m
	return s.intern(m)
}

// compact keeps only the sets recs use, renumbering them, drops the
// build-time indexes and trims the storage to size. Sets left behind by
// building a set one ref at a time go here.
func (s *refSets) compact(recs []rec) {
	renum := make([]uint32, s.count()) // old ID -> new ID, 0 for not yet kept
	start, data := []uint32{0, 0}, []uint32(nil)
	for i := range recs {
		old := recs[i].set
		if old == emptySet {
			continue
		}
		if renum[old] == 0 {
			renum[old] = uint32(len(start) - 1)
			data = append(data, s.get(old)...)
			start = append(start, uint32(len(data)))
		}
		recs[i].set = renum[old]
	}
	*s = refSets{start: clipped(start), data: clipped(data)}
}

// clipped returns a copy of x with no spare capacity (append leaves up to
// half of a large slice unused, which a long-lived Map should not keep).
func clipped[T any](x []T) []T {
	if cap(x) == len(x) {
		return x
	}
	return append(make([]T, 0, len(x)), x...)
}
