package alloc

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func tableInsert(t *testing.T, tb *table, u, n int64, refs uint32) {
	t.Helper()
	c, i, found := tb.search(u)
	if found {
		t.Fatalf("unit %d already present", u)
	}
	tb.insertAt(c, i, u, n, refs)
}

func TestTableAgainstSortedSlice(t *testing.T) {
	const sizeU = 5*chunkUnits + 17
	tb := newTable(sizeU)
	type rec struct {
		u, n int64
		refs uint32
	}
	var want []rec // sorted by u
	r := rand.New(rand.NewPCG(7, 7))
	for step := range 20000 {
		u := r.Int64N(sizeU)
		i, found := slices.BinarySearchFunc(want, u, func(x rec, u int64) int { return int(x.u - u) })
		switch {
		case !found && r.IntN(3) > 0:
			refs := uint32(r.IntN(4))
			if r.IntN(50) == 0 {
				refs = 1<<16 + uint32(r.IntN(1<<20)) // goes to bigRefs
			}
			n := 1 + r.Int64N(64)
			tableInsert(t, &tb, u, n, refs)
			want = slices.Insert(want, i, rec{u, n, refs})
		case found && r.IntN(2) == 0:
			c, j, _ := tb.search(u)
			tb.removeAt(c, j)
			want = slices.Delete(want, i, i+1)
		case found:
			c, j, _ := tb.search(u)
			refs := r.Uint32()
			tb.setRefsAt(c, j, refs)
			want[i].refs = refs
		}
		if step%997 != 0 {
			continue
		}
		var got []rec
		tb.ascend(0, func(u, n int64, refs uint32) bool {
			got = append(got, rec{u, n, refs})
			return true
		})
		if !slices.Equal(got, want) || tb.count != len(want) {
			t.Fatalf("step %d: table has %d entries (count %d), want %d", step, len(got), tb.count, len(want))
		}
		bigs := 0
		for _, w := range want {
			if w.refs >= refsInMap {
				bigs++
			}
		}
		if len(tb.bigRefs) != bigs {
			t.Fatalf("step %d: %d big refcounts, want %d", step, len(tb.bigRefs), bigs)
		}
	}
	// ascend from the middle of a chunk, and past the end.
	from := int64(2*chunkUnits + 100)
	i, _ := slices.BinarySearchFunc(want, from, func(x rec, u int64) int { return int(x.u - u) })
	n := 0
	tb.ascend(from, func(u, _ int64, _ uint32) bool {
		if u != want[i+n].u {
			t.Fatalf("ascend from %d: got %d, want %d", from, u, want[i+n].u)
		}
		n++
		return true
	})
	if n != len(want)-i {
		t.Fatalf("ascend from %d saw %d, want %d", from, n, len(want)-i)
	}
	tb.ascend(sizeU+chunkUnits, func(int64, int64, uint32) bool { t.Fatal("ascend past the end"); return false })
}

func TestTableNeighbours(t *testing.T) {
	tb := newTable(10 * chunkUnits)
	// One long extent spanning three chunks, then a short one far later.
	tableInsert(t, &tb, chunkUnits-5, 2*chunkUnits+10, 1)
	tableInsert(t, &tb, 8*chunkUnits, 3, 1)
	end := int64(chunkUnits - 5 + 2*chunkUnits + 10)
	for _, c := range []struct {
		u     int64
		start int64
		ok    bool
	}{
		{chunkUnits - 5, 0, false}, // nothing before its own start
		{chunkUnits - 4, chunkUnits - 5, true},
		{2 * chunkUnits, chunkUnits - 5, true},
		{end - 1, chunkUnits - 5, true},
		{end, 0, false}, // ends exactly here: no overlap
		{8*chunkUnits + 2, 8 * chunkUnits, true},
		{8*chunkUnits + 3, 0, false},
	} {
		start, _, ok := tb.before(c.u)
		if ok != c.ok || (ok && start != c.start) {
			t.Errorf("before(%d) = %d, %v; want %d, %v", c.u, start, ok, c.start, c.ok)
		}
	}
	for _, c := range []struct {
		u, limit int64
		start    int64
		ok       bool
	}{
		{0, chunkUnits - 5, 0, false}, // limit is exclusive
		{0, chunkUnits - 4, chunkUnits - 5, true},
		{chunkUnits - 5, 9 * chunkUnits, 8 * chunkUnits, true}, // skips itself
		{end, 8 * chunkUnits, 0, false},
		{end, 10 * chunkUnits, 8 * chunkUnits, true},
		{8 * chunkUnits, 10 * chunkUnits, 0, false},
	} {
		start, _, ok := tb.after(c.u, c.limit)
		if ok != c.ok || (ok && start != c.start) {
			t.Errorf("after(%d, %d) = %d, %v; want %d, %v", c.u, c.limit, start, ok, c.start, c.ok)
		}
	}
}

func TestTableShrinksAfterMassFree(t *testing.T) {
	tb := newTable(chunkUnits)
	for u := range int64(chunkUnits) {
		tableInsert(t, &tb, u, 1, 1)
	}
	for u := range int64(chunkUnits - 10) {
		c, i, _ := tb.search(u)
		tb.removeAt(c, i)
	}
	if c := cap(tb.chunks[0]); c > 64 {
		t.Fatalf("chunk keeps capacity %d for 10 entries", c)
	}
}
