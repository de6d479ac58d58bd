package alloc

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

// rebuild plays a reachability walk of a's extents and quarantine into a
// Builder, in random order, from several goroutines.
func rebuild(t *testing.T, a *Allocator, seed uint64) (*Allocator, int) {
	t.Helper()
	s := a.Stats()
	var refs []Range
	a.Extents(func(off, length int64, n uint32) bool {
		for range n {
			refs = append(refs, Range{off, length})
		}
		return true
	})
	r := rand.New(rand.NewPCG(seed, 9))
	r.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
	start := a.offset(0)
	b := NewBuilder(start, s.Size)
	for _, q := range a.Quarantined() {
		b.Quarantine(q.Off, q.Len)
	}
	const walkers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for w := range walkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(refs); i += walkers {
				first, err := b.RefFirst(refs[i].Off, refs[i].Len)
				if err != nil {
					t.Error(err)
					return
				}
				if first {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	got, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return got, firsts
}

func TestBuilderMatchesAllocator(t *testing.T) {
	var sharedBad int64
	for seed := range uint64(6) {
		start := int64(seed) * 4096
		a := randomAllocator(t, seed, start, 4*mib, 20000)
		freeZombies(t, a)
		mustCheck(t, a)
		got, firsts := rebuild(t, a, seed)
		mustCheck(t, got)
		if d := stateOf(got).diff(stateOf(a)); d != "" {
			t.Fatalf("seed %d: rebuilt allocator differs: %s", seed, d)
		}
		if want := a.Stats().Extents; firsts != want {
			t.Fatalf("seed %d: RefFirst reported %d first references for %d extents", seed, firsts, want)
		}
		s := a.Stats()
		if s.Extents < 100 || s.Quarantined == 0 {
			t.Fatalf("seed %d: state too thin to prove much: %+v", seed, s)
		}
		sharedBad += s.QuarantinedInExtents
	}
	if sharedBad == 0 {
		t.Fatal("no seed had quarantine under an extent")
	}
}

func TestFreeZombies(t *testing.T) {
	a := randomAllocator(t, 5, testStart, 4*mib, 20000)
	img, _ := a.MarshalBinary()
	b, _ := Load(testStart, 4*mib, img)
	before := a.Stats()
	if before.Zombies == 0 || before.QuarantinedInExtents == 0 {
		t.Fatalf("want zombies and bad media under extents: %+v", before)
	}
	freeZombies(t, a) // one Free each
	n, bytes := b.FreeZombies()
	if n != before.Zombies || bytes != before.Zombie {
		t.Fatalf("FreeZombies = %d, %d; want %d, %d", n, bytes, before.Zombies, before.Zombie)
	}
	mustCheck(t, b)
	if d := stateOf(b).diff(stateOf(a)); d != "" {
		t.Fatalf("FreeZombies differs from freeing one by one: %s", d)
	}
	if n, _ := b.FreeZombies(); n != 0 {
		t.Fatalf("second FreeZombies freed %d", n)
	}
}

func TestBuilderLongExtents(t *testing.T) {
	// Extents longer than a table chunk, across chunk edges, shared, with
	// bad media under one, between small ones.
	a := mustNew(t, testStart, 16*mib)
	for i := range 6 {
		mustAlloc(t, a, 4096, 4096)
		off := mustAlloc(t, a, int64(i+1)*chunkUnits*UnitSize/2+UnitSize, 0)
		if i%2 == 0 {
			if err := a.Incref(off); err != nil {
				t.Fatal(err)
			}
		}
		if i == 3 {
			if err := a.Quarantine(off+mib, 4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := rebuild(t, a, 1)
	mustCheck(t, got)
	if d := stateOf(got).diff(stateOf(a)); d != "" {
		t.Fatalf("rebuilt allocator differs: %s", d)
	}
	if a.Stats().QuarantinedInExtents != 4096 {
		t.Fatalf("stats %+v", a.Stats())
	}
}

func TestBuilderEmptyAndQuarantineOnly(t *testing.T) {
	b := NewBuilder(testStart, mib)
	b.Quarantine(testStart+4096, 100)
	b.Quarantine(testStart+4096+256, 256) // touches: merges
	b.Quarantine(testStart-4096, 8192)    // straddles the start: clipped
	b.Quarantine(0, 1)                    // outside: ignored
	a, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, a)
	want := []Range{{testStart, 4096}, {testStart + 4096, 512}}
	q := a.Quarantined()
	if len(q) != 1 || q[0] != (Range{testStart, 4096 + 512}) {
		t.Fatalf("quarantine %v, want %v merged", q, want)
	}
	if s := a.Stats(); s.Free != mib-4608 || s.Quarantined != 4608 || s.FreeRanges != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder(testStart, 16*mib)
	ok := func(off, length int64) {
		t.Helper()
		if err := b.Ref(off, length); err != nil {
			t.Fatalf("Ref(%d, %d): %v", off, length, err)
		}
	}
	long := int64(2*chunkUnits*UnitSize + 4096) // spans chunks
	ok(testStart+4096, long)
	ok(testStart+mib*8, 4096)
	ok(testStart+mib*8, 4096) // second reference
	for _, c := range []struct {
		name        string
		off, length int64
	}{
		{"misaligned offset", testStart + 100, 256},
		{"misaligned length", testStart, 300},
		{"zero length", testStart, 0},
		{"negative", -256, 256},
		{"before the space", testStart - 256, 256},
		{"past the end", testStart + 16*mib - 256, 512},
		{"beyond the end", testStart + 16*mib, 256},
		{"too long", testStart, MaxExtent + UnitSize},
		{"other length", testStart + mib*8, 8192},
		{"overlaps start", testStart, 4096 + 256},
		{"inside", testStart + 4096 + mib, 4096},
		{"overlaps end", testStart + 4096 + long - 256, 4096},
		{"covers", testStart + mib*8 - 256, 8192},
		{"covers long", testStart, 3 * mib},
	} {
		err := b.Ref(c.off, c.length)
		if !errors.Is(err, errs.Corrupt) {
			t.Errorf("%s: Ref(%d, %d): %v, want Corrupt", c.name, c.off, c.length, err)
		}
	}
	// Adjacent extents are fine.
	ok(testStart, 4096)
	ok(testStart+4096+long, 256)
	a, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, a)
	want := []extentRec{
		{testStart, 4096, 1}, {testStart + 4096, long, 1}, {testStart + 4096 + long, 256, 1}, {testStart + mib*8, 4096, 2},
	}
	if got := stateOf(a).Extents; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("extents %v, want %v", got, want)
	}
	wantErr(t, b.Ref(testStart+mib, 256), errs.Invalid, "Ref after Finish")
	if _, err := b.Finish(); !errors.Is(err, errs.Invalid) {
		t.Fatalf("second Finish: %v", err)
	}

	b = NewBuilder(testStart, mib)
	b.Quarantine(testStart, -5)
	_, err = b.Finish()
	wantErr(t, err, errs.Invalid, "bad quarantine range")
}

func TestBuilderRefcountOverflow(t *testing.T) {
	b := NewBuilder(0, mib)
	if err := b.Ref(0, 256); err != nil {
		t.Fatal(err)
	}
	c, i, _ := b.ext.search(0)
	b.ext.setRefsAt(c, i, 1<<32-1)
	wantErr(t, b.Ref(0, 256), errs.Corrupt, "refcount overflow")
}
