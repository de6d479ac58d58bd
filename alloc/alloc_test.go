package alloc

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

const (
	testStart int64 = 64 * UnitSize // 16 KiB: alignments above that need padding
	mib       int64 = 1 << 20
)

func TestNewRejectsBadBounds(t *testing.T) {
	for _, c := range []struct{ start, size int64 }{
		{0, 0}, {0, -UnitSize}, {-UnitSize, mib}, {1, mib}, {0, mib + 1},
		{0, MaxSize + UnitSize}, {MaxSize + UnitSize, UnitSize},
	} {
		if _, err := New(c.start, c.size); !errors.Is(err, errs.Invalid) {
			t.Errorf("New(%d, %d): %v, want Invalid", c.start, c.size, err)
		}
		if _, err := Load(c.start, c.size, nil); !errors.Is(err, errs.Invalid) {
			t.Errorf("Load(%d, %d): %v, want Invalid", c.start, c.size, err)
		}
		if _, err := NewBuilder(c.start, c.size).Finish(); !errors.Is(err, errs.Invalid) {
			t.Errorf("NewBuilder(%d, %d).Finish: %v, want Invalid", c.start, c.size, err)
		}
	}
}

func TestNewIsAllFree(t *testing.T) {
	a := mustNew(t, testStart, mib)
	want := Stats{Size: mib, Free: mib, FreeRanges: 1, LargestFree: mib}
	if s := a.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	mustCheck(t, a)
}

func TestAllocRoundsToUnitsAndPacks(t *testing.T) {
	a := mustNew(t, testStart, mib)
	var offs []int64
	for _, n := range []int64{1, 256, 257, 1000} {
		offs = append(offs, mustAlloc(t, a, n, 0))
	}
	want := []int64{testStart, testStart + 256, testStart + 512, testStart + 1024}
	wantLen := []int64{256, 256, 512, 1024}
	for i, off := range offs {
		if off != want[i] {
			t.Errorf("alloc %d at %d, want %d", i, off, want[i])
		}
		if l, ok := a.Len(off); !ok || l != wantLen[i] {
			t.Errorf("Len(%d) = %d, %v, want %d", off, l, ok, wantLen[i])
		}
		if r, ok := a.Refs(off); !ok || r != 1 {
			t.Errorf("Refs(%d) = %d, %v, want 1", off, r, ok)
		}
	}
	s := a.Stats()
	if s.Used != 2048 || s.Free != mib-2048 || s.Extents != 4 || s.FreeRanges != 1 {
		t.Fatalf("stats %+v", s)
	}
	mustCheck(t, a)
}

func TestAllocRejectsBadArguments(t *testing.T) {
	a := mustNew(t, 0, mib)
	for _, c := range []struct{ n, align int64 }{
		{0, 0}, {-1, 0}, {MaxExtent + 1, 0}, {256, 128}, {256, 3000}, {256, -4096}, {256, 1 << 41},
	} {
		if _, err := a.Alloc(c.n, c.align); !errors.Is(err, errs.Invalid) {
			t.Errorf("Alloc(%d, %d): %v, want Invalid", c.n, c.align, err)
		}
	}
	mustCheck(t, a)
}

func TestAllocAlignmentSplitsHead(t *testing.T) {
	a := mustNew(t, testStart, mib) // testStart is 16 KiB: aligned to 4 KiB, not 32 KiB
	off := mustAlloc(t, a, 4096, 32<<10)
	if off%(32<<10) != 0 || off != 32<<10 {
		t.Fatalf("32 KiB aligned alloc at %d", off)
	}
	// The 16 KiB head went back to free space and the next small request
	// is best-fit into it.
	if got := mustAlloc(t, a, 100, 0); got != testStart {
		t.Fatalf("small alloc at %d, want the head at %d", got, testStart)
	}
	mustCheck(t, a)
	if s := a.Stats(); s.FreeRanges != 2 {
		t.Fatalf("want head remainder and tail free, got %+v", s)
	}
}

// holes builds an allocator whose free space is exactly the given runs of
// units (each separated by one allocated unit), and returns their offsets.
func holes(t *testing.T, start int64, runs ...int64) (*Allocator, []int64) {
	t.Helper()
	var total int64
	for _, r := range runs {
		total += r + 1
	}
	a := mustNew(t, start, total*UnitSize)
	var offs []int64
	for _, r := range runs {
		offs = append(offs, mustAlloc(t, a, r*UnitSize, 0))
		mustAlloc(t, a, UnitSize, 0)
	}
	for _, off := range offs {
		release(t, a, off)
	}
	if s := a.Stats(); s.FreeRanges != len(runs) || s.Free != (total-int64(len(runs)))*UnitSize {
		t.Fatalf("holes: %+v", s)
	}
	return a, offs
}

func TestAllocBestFit(t *testing.T) {
	a, offs := holes(t, 0, 5, 3, 8, 3, 4)
	// 3 units: the two 3-unit holes tie, the lower one wins.
	if got := mustAlloc(t, a, 3*UnitSize, 0); got != offs[1] {
		t.Fatalf("got %d, want the first 3-unit hole at %d", got, offs[1])
	}
	if got := mustAlloc(t, a, 3*UnitSize, 0); got != offs[3] {
		t.Fatalf("got %d, want the second 3-unit hole at %d", got, offs[3])
	}
	// 4 units go to the 4-unit hole, not the earlier 5.
	if got := mustAlloc(t, a, 4*UnitSize, 0); got != offs[4] {
		t.Fatalf("got %d, want the 4-unit hole at %d", got, offs[4])
	}
	// 6 units only fit in the 8.
	if got := mustAlloc(t, a, 6*UnitSize, 0); got != offs[2] {
		t.Fatalf("got %d, want the 8-unit hole at %d", got, offs[2])
	}
	if s := a.Stats(); s.LargestFree != 5*UnitSize || s.FreeRanges != 2 {
		t.Fatalf("stats %+v", s)
	}
	mustCheck(t, a)
}

func TestAllocBestFitSkipsMisalignedHole(t *testing.T) {
	// Holes of 17 units at unit 0 (aligned) and unit 18 (pad 14): a 4 KiB
	// (16-unit) aligned request fits only the first.
	a, offs := holes(t, 0, 17, 17)
	if got := mustAlloc(t, a, 4096, 4096); got != offs[0] {
		t.Fatalf("got %d, want the aligned hole %d", got, offs[0])
	}
	if _, err := a.Alloc(4096, 4096); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("misaligned 17-unit hole served an aligned 16-unit request: %v", err)
	}
	// Space starting at unit 1: a 25-unit hole at unit 1 (pad 15, too
	// small once aligned), then a 30-unit hole at unit 27 (pad 5, fits).
	b, offs := holes(t, UnitSize, 25, 30)
	if got := mustAlloc(t, b, 4096, 4096); got != 32*UnitSize || got < offs[1] {
		t.Fatalf("got %d, want %d inside the 30-unit hole at %d", got, 32*UnitSize, offs[1])
	}
	mustCheck(t, a)
	mustCheck(t, b)
}

func TestAllocScanLimit(t *testing.T) {
	// After a 1-unit hole, 17-unit holes every 18 units start at units
	// 2, 20, ..., 110: all misaligned for a 16-unit (4 KiB) request. Then a
	// hole of 40 at unit 128, a 6 at 169, and an aligned 17 at 176.
	runs := []int64{1, 17, 17, 17, 17, 17, 17, 17, 40, 6, 17}
	a, offs := holes(t, 0, runs...)
	a.scanLimit = 3
	if off := mustAlloc(t, a, 4096, 4096); off != offs[8] {
		t.Fatalf("with a scan limit: got %d, want the 40-unit hole at %d", off, offs[8])
	}
	// Strict best fit finds the aligned 17 past all the near misses.
	b, offs := holes(t, 0, runs...)
	b.scanLimit = 1 << 30
	if off := mustAlloc(t, b, 4096, 4096); off != offs[10] || off != 176*UnitSize {
		t.Fatalf("strict best fit: got %d, want %d", off, offs[10])
	}
	// With the limit but no hole long enough to fit at any alignment, the
	// scan goes on to the end: here to an aligned 17 at unit 128.
	c, offs := holes(t, 0, 1, 17, 17, 17, 17, 17, 17, 17, 17)
	c.scanLimit = 3
	if off := mustAlloc(t, c, 4096, 4096); off != offs[8] || off != 128*UnitSize {
		t.Fatalf("limited scan without fallback: got %d, want %d", off, offs[8])
	}
	mustCheck(t, a)
	mustCheck(t, b)
	mustCheck(t, c)
}

func TestAllocNoSpace(t *testing.T) {
	a := mustNew(t, 0, 16*UnitSize)
	mustAlloc(t, a, 8*UnitSize, 0)
	_, err := a.Alloc(9*UnitSize, 0)
	wantErr(t, err, ErrNoSpace, "too big")
	wantErr(t, err, errs.NoSpace, "too big")
	mustAlloc(t, a, 8*UnitSize, 0)
	_, err = a.Alloc(1, 0)
	wantErr(t, err, errs.NoSpace, "full")
	if s := a.Stats(); s.Free != 0 || s.FreeRanges != 0 || s.LargestFree != 0 {
		t.Fatalf("stats %+v", s)
	}
	mustCheck(t, a)
}

func TestRefcounting(t *testing.T) {
	a := mustNew(t, testStart, mib)
	off := mustAlloc(t, a, 4096, 4096)
	for i := range 3 {
		if err := a.Incref(off); err != nil {
			t.Fatalf("Incref %d: %v", i, err)
		}
	}
	if r, _ := a.Refs(off); r != 4 {
		t.Fatalf("refs %d, want 4", r)
	}
	for want := uint32(3); ; want-- {
		left, err := a.Decref(off)
		if err != nil || left != want {
			t.Fatalf("Decref = %d, %v, want %d", left, err, want)
		}
		if want == 0 {
			break
		}
	}
	// A zombie keeps its space and is visible, with refs 0.
	if r, ok := a.Refs(off); !ok || r != 0 {
		t.Fatalf("zombie Refs = %d, %v", r, ok)
	}
	s := a.Stats()
	if s.Zombie != 4096 || s.Zombies != 1 || s.Used != 0 || s.Extents != 1 {
		t.Fatalf("stats %+v", s)
	}
	_, err := a.Decref(off)
	wantErr(t, err, errs.Corrupt, "decref below zero")
	wantErr(t, a.Incref(off), errs.Corrupt, "incref of a zombie")
	if r, _ := a.Refs(off); r != 0 {
		t.Fatalf("failed calls changed refs to %d", r)
	}
	mustCheck(t, a)
}

func TestBadOffsets(t *testing.T) {
	a := mustNew(t, testStart, mib)
	off := mustAlloc(t, a, 1024, 0)
	for _, c := range []struct {
		off  int64
		want error
	}{
		{off + UnitSize, errs.Corrupt},   // inside the extent
		{off + 8*UnitSize, errs.Corrupt}, // free space
		{off + 1, errs.Invalid},
		{testStart - UnitSize, errs.Invalid},
		{testStart + mib, errs.Invalid},
		{-UnitSize, errs.Invalid},
	} {
		wantErr(t, a.Incref(c.off), c.want, "Incref")
		_, err := a.Decref(c.off)
		wantErr(t, err, c.want, "Decref")
		wantErr(t, a.Free(c.off), c.want, "Free")
		if _, ok := a.Refs(c.off); ok {
			t.Errorf("Refs(%d) found an extent", c.off)
		}
		if _, ok := a.Len(c.off); ok {
			t.Errorf("Len(%d) found an extent", c.off)
		}
	}
	if r, _ := a.Refs(off); r != 1 {
		t.Fatalf("refs changed to %d", r)
	}
	mustCheck(t, a)
}

func TestBigRefcounts(t *testing.T) {
	a := mustNew(t, 0, mib)
	off := mustAlloc(t, a, 4096, 4096)
	const n = 70000 // past the 16-bit inline count
	for range n - 1 {
		if err := a.Incref(off); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := a.Refs(off); r != n {
		t.Fatalf("refs %d, want %d", r, n)
	}
	mustCheck(t, a)
	img, _ := a.MarshalBinary()
	b, err := Load(0, mib, img)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Refs(off); r != n {
		t.Fatalf("loaded refs %d, want %d", r, n)
	}
	for want := uint32(n - 1); ; want-- {
		left, err := a.Decref(off)
		if err != nil || left != want {
			t.Fatalf("Decref = %d, %v, want %d", left, err, want)
		}
		if want == 0 {
			break
		}
	}
	if len(a.ext.bigRefs) != 0 {
		t.Fatalf("big refcount left behind: %v", a.ext.bigRefs)
	}
	if err := a.Free(off); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, a)
}

func TestRefcountOverflow(t *testing.T) {
	a := mustNew(t, 0, mib)
	off := mustAlloc(t, a, 256, 0)
	c, i, _ := a.ext.search(0)
	a.ext.setRefsAt(c, i, 1<<32-1)
	wantErr(t, a.Incref(off), errs.Corrupt, "refcount overflow")
	if r, _ := a.Refs(off); r != 1<<32-1 {
		t.Fatalf("refs %d after failed incref", r)
	}
}

func TestFreeCoalesces(t *testing.T) {
	a := mustNew(t, testStart, 8*UnitSize)
	var offs []int64
	for range 8 {
		offs = append(offs, mustAlloc(t, a, UnitSize, 0))
	}
	// Free 1, 3, 5: three separate ranges. Then 2 joins 1 and 3, 4 joins
	// that with 5, and 0, 6, 7 make the whole space one range again.
	for _, i := range []int{1, 3, 5} {
		release(t, a, offs[i])
	}
	if s := a.Stats(); s.FreeRanges != 3 {
		t.Fatalf("want 3 free ranges: %+v", s)
	}
	release(t, a, offs[2])
	release(t, a, offs[4])
	if s := a.Stats(); s.FreeRanges != 1 || s.LargestFree != 5*UnitSize {
		t.Fatalf("want one 5-unit free range: %+v", s)
	}
	for _, i := range []int{7, 0, 6} {
		release(t, a, offs[i])
		mustCheck(t, a)
	}
	if s := a.Stats(); s.FreeRanges != 1 || s.Free != 8*UnitSize || s.Extents != 0 {
		t.Fatalf("want all free: %+v", s)
	}
}

func TestFreeErrors(t *testing.T) {
	a := mustNew(t, 0, mib)
	off := mustAlloc(t, a, 4096, 0)
	wantErr(t, a.Free(off), errs.Corrupt, "free of a live extent")
	if r, ok := a.Refs(off); !ok || r != 1 {
		t.Fatal("failed Free changed the extent")
	}
	release(t, a, off)
	wantErr(t, a.Free(off), errs.Corrupt, "double free")
	_, err := a.Decref(off)
	wantErr(t, err, errs.Corrupt, "decref after free")
	mustCheck(t, a)
}

func TestQuarantineFreeSpace(t *testing.T) {
	a := mustNew(t, testStart, mib)
	// A 512-byte sector at a byte offset inside unit 10 widens to units 10-12.
	bad := testStart + 10*UnitSize + 100
	if err := a.Quarantine(bad, 512); err != nil {
		t.Fatal(err)
	}
	want := []Range{{testStart + 10*UnitSize, 3 * UnitSize}}
	if q := a.Quarantined(); len(q) != 1 || q[0] != want[0] {
		t.Fatalf("Quarantined() = %v, want %v", q, want)
	}
	s := a.Stats()
	if s.Quarantined != 3*UnitSize || s.Free != mib-3*UnitSize || s.FreeRanges != 2 {
		t.Fatalf("stats %+v", s)
	}
	// Allocations go around it.
	for range 200 {
		off := mustAlloc(t, a, 1+rand.Int64N(2000), 0)
		l, _ := a.Len(off)
		if off < want[0].Off+want[0].Len && want[0].Off < off+l {
			t.Fatalf("extent [%d, +%d) handed out over quarantine", off, l)
		}
	}
	// Idempotent, merges with touching and overlapping ranges.
	for _, r := range []Range{want[0], {testStart + 13*UnitSize, 1}, {testStart + 9*UnitSize, 2 * UnitSize}} {
		if err := a.Quarantine(r.Off, r.Len); err != nil {
			t.Fatal(err)
		}
	}
	if q := a.Quarantined(); len(q) != 1 || q[0] != (Range{testStart + 9*UnitSize, 5 * UnitSize}) {
		t.Fatalf("merged quarantine %v", q)
	}
	mustCheck(t, a)
}

func TestQuarantineBounds(t *testing.T) {
	a := mustNew(t, testStart, mib)
	for _, r := range []Range{{0, -1}, {0, 0}, {-512, 1024}, {MaxSize + 1, 1}} {
		wantErr(t, a.Quarantine(r.Off, r.Len), errs.Invalid, "bad quarantine range")
	}
	// Outside the space: ignored. Straddling: clipped.
	if err := a.Quarantine(0, testStart); err != nil {
		t.Fatal(err)
	}
	if err := a.Quarantine(testStart+mib, 4096); err != nil {
		t.Fatal(err)
	}
	if q := a.Quarantined(); len(q) != 0 {
		t.Fatalf("quarantined outside the space: %v", q)
	}
	if err := a.Quarantine(testStart-512, 1024); err != nil {
		t.Fatal(err)
	}
	if err := a.Quarantine(testStart+mib-512, 1024); err != nil {
		t.Fatal(err)
	}
	want := []Range{{testStart, 512}, {testStart + mib - 512, 512}}
	if q := a.Quarantined(); len(q) != 2 || q[0] != want[0] || q[1] != want[1] {
		t.Fatalf("clipped quarantine %v, want %v", q, want)
	}
	mustCheck(t, a)
}

func TestQuarantineUnderExtent(t *testing.T) {
	a := mustNew(t, testStart, 32*UnitSize)
	off := mustAlloc(t, a, 8*UnitSize, 0)
	next := mustAlloc(t, a, UnitSize, 0)
	// Bad units 2-3 of the extent, and the unit after the extents, which is free.
	if err := a.Quarantine(off+2*UnitSize, 2*UnitSize); err != nil {
		t.Fatal(err)
	}
	if err := a.Quarantine(next+UnitSize, UnitSize); err != nil {
		t.Fatal(err)
	}
	if r, ok := a.Refs(off); !ok || r != 1 {
		t.Fatal("quarantine disturbed a live extent")
	}
	s := a.Stats()
	if s.Used != 9*UnitSize || s.QuarantinedInExtents != 2*UnitSize || s.Quarantined != UnitSize ||
		s.Free != 22*UnitSize {
		t.Fatalf("stats %+v", s)
	}
	mustCheck(t, a)
	// Freeing returns units 0-1 and 4-7 only, and 4-7 do not merge across
	// the bad units.
	release(t, a, off)
	mustCheck(t, a)
	s = a.Stats()
	if s.Free != 28*UnitSize || s.Quarantined != 3*UnitSize || s.QuarantinedInExtents != 0 || s.FreeRanges != 3 {
		t.Fatalf("stats after free %+v", s)
	}
	for range 28 {
		o := mustAlloc(t, a, UnitSize, 0)
		if o >= off+2*UnitSize && o < off+4*UnitSize || o == next+UnitSize {
			t.Fatalf("bad unit %d handed out", o)
		}
	}
	_, err := a.Alloc(1, 0)
	wantErr(t, err, ErrNoSpace, "only bad units left")
}

func TestExtentsWalk(t *testing.T) {
	a := mustNew(t, testStart, 4*mib)
	var want []int64
	for range 3*extentsBatch + 7 { // several batches
		want = append(want, mustAlloc(t, a, 1+rand.Int64N(1024), 0))
	}
	i := 0
	a.Extents(func(off, length int64, refs uint32) bool {
		if off != want[i] || refs != 1 {
			t.Fatalf("extent %d at %d refs %d, want %d", i, off, refs, want[i])
		}
		if l, _ := a.Len(off); l != length { // calling back in must not deadlock
			t.Fatalf("length %d, Len %d", length, l)
		}
		i++
		return true
	})
	if i != len(want) {
		t.Fatalf("walked %d extents, want %d", i, len(want))
	}
	n := 0
	a.Extents(func(int64, int64, uint32) bool { n++; return n < extentsBatch+2 })
	if n != extentsBatch+2 {
		t.Fatalf("early stop after %d", n)
	}
	// Freeing during the walk: each extent is seen at most once.
	seen := map[int64]bool{}
	a.Extents(func(off, _ int64, _ uint32) bool {
		if seen[off] {
			t.Fatalf("extent %d reported twice", off)
		}
		seen[off] = true
		release(t, a, off)
		return true
	})
	if len(seen) != len(want) || a.Stats().Extents != 0 {
		t.Fatalf("freed %d of %d during walk", len(seen), len(want))
	}
	mustCheck(t, a)
}

func TestConcurrentUse(t *testing.T) {
	a := mustNew(t, testStart, 64*mib)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var mine []int64
			for range 3000 {
				switch {
				case len(mine) < 50 || r.IntN(3) == 0:
					off, err := a.Alloc(1+r.Int64N(8192), int64(1)<<(8+r.IntN(5)))
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, off)
				case r.IntN(2) == 0:
					off := mine[r.IntN(len(mine))]
					if err := a.Incref(off); err != nil {
						t.Error(err)
						return
					}
					if _, err := a.Decref(off); err != nil {
						t.Error(err)
						return
					}
				default:
					i := r.IntN(len(mine))
					off := mine[i]
					mine[i] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					if _, err := a.Decref(off); err != nil {
						t.Error(err)
						return
					}
					if err := a.Free(off); err != nil {
						t.Error(err)
						return
					}
				}
				if r.IntN(500) == 0 {
					_ = a.Stats()
					_ = a.Quarantined()
				}
			}
		}()
	}
	wg.Wait()
	mustCheck(t, a)
}
