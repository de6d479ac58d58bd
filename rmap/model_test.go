package rmap

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// model is the brute-force reverse map the Map is checked against: a list
// of owners in creation order, looked up by scanning all of them.
type model struct {
	owners []Owner
	at     map[identity]int
}

// identity is what tells two extents at one offset apart.
type identity struct {
	off  int64
	n    int64
	kind Kind
}

func newModel() *model { return &model{at: map[identity]int{}} }

// report merges one report the way the package documents it: identity is
// (offset, clamped length, kind); the first report fixes the level; bounds
// widen to the hull, nil being unbounded.
func (md *model) report(off, n int64, kind Kind, level int, lo, hi []byte) int {
	n = max(n, 0)
	if off > 0 && n > math.MaxInt64-off {
		n = math.MaxInt64 - off
	}
	id := identity{off, n, kind}
	i, ok := md.at[id]
	if !ok {
		i = len(md.owners)
		md.at[id] = i
		md.owners = append(md.owners, Owner{Off: off, Len: n, Kind: kind,
			Level: min(max(level, math.MinInt8), math.MaxInt8), Lo: clone(lo), Hi: clone(hi)})
		return i
	}
	o := &md.owners[i]
	if o.Lo != nil && (lo == nil || bytes.Compare(lo, o.Lo) < 0) {
		o.Lo = clone(lo)
	}
	if o.Hi != nil && (hi == nil || bytes.Compare(hi, o.Hi) > 0) {
		o.Hi = clone(hi)
	}
	return i
}

func (md *model) addRef(i int, ref uint32) {
	o := &md.owners[i]
	if j, found := slices.BinarySearch(o.Refs, ref); !found {
		o.Refs = slices.Insert(o.Refs, j, ref)
	}
}

func (md *model) add(off, n int64, kind Kind, level int, lo, hi []byte, ref uint32) {
	md.addRef(md.report(off, n, kind, level, lo, hi), ref)
}

// lookup is Lookup by brute force: every owner sharing a byte with the
// range, by offset, ties in creation order.
func (md *model) lookup(off, length int64) []Owner {
	if length <= 0 {
		return nil
	}
	end := int64(math.MaxInt64)
	if off < 0 || length <= math.MaxInt64-off {
		end = off + length
	}
	var out []Owner
	for _, o := range md.owners {
		if o.Len > 0 && o.Off < end && o.Off+o.Len > off {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Off < out[j].Off })
	return out
}

// checkLookup compares m.Lookup with the model's answer, and the iterator
// with Lookup.
func checkLookup(t testing.TB, m *Map, md *model, off, length int64) {
	t.Helper()
	got, want := m.Lookup(off, length), md.lookup(off, length)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup(%d, %d):\n got %s\nwant %s", off, length, owners(got), owners(want))
	}
	n := 0
	for o := range m.Overlapping(off, length) {
		if n >= len(got) || !reflect.DeepEqual(o, got[n]) {
			t.Fatalf("Overlapping(%d, %d) #%d = %v, Lookup has %s", off, length, n, o, owners(got))
		}
		n++
	}
	if n != len(got) {
		t.Fatalf("Overlapping(%d, %d) yields %d owners, Lookup %d", off, length, n, len(got))
	}
}

func owners(os []Owner) string {
	if len(os) == 0 {
		return "[]"
	}
	var b bytes.Buffer
	for _, o := range os {
		fmt.Fprintf(&b, "\n  %v", o)
	}
	return b.String()
}

// edgeCases are the ranges every map is probed with besides random ones:
// each extent exactly (a sample of them in a big map), its first and last
// byte, the bytes just outside it (gaps or neighbours), everything from
// there on, and degenerate arguments.
func edgeCases(r *rand.Rand, md *model) [][2]int64 {
	cs := [][2]int64{
		{0, 0}, {0, -1}, {math.MinInt64, 0}, {math.MinInt64, math.MaxInt64},
		{math.MinInt64, -1}, {math.MaxInt64, math.MaxInt64}, {math.MaxInt64, 1},
		{0, math.MaxInt64}, {-1, 2}, {math.MaxInt64 - 1, 1}, {-5, 1},
	}
	os := md.owners
	if len(os) > 200 {
		os = append([]Owner{os[0], os[len(os)-1]}, os[:200]...)
		for i := range os[2:] {
			os[2+i] = md.owners[r.IntN(len(md.owners))]
		}
	}
	for i, o := range os {
		cs = append(cs,
			[2]int64{o.Off, o.Len}, [2]int64{o.Off, 1}, [2]int64{o.Off + o.Len - 1, 1},
			[2]int64{o.Off - 1, 1}, [2]int64{o.Off + o.Len, 1}, [2]int64{o.Off, 0},
			[2]int64{o.Off - 1, 2}, [2]int64{o.Off + o.Len - 1, 2})
		if i < 10 {
			cs = append(cs, [2]int64{o.Off, math.MaxInt64})
		}
	}
	return cs
}
