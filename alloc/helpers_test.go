package alloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

type extentRec struct {
	Off, Len int64
	Refs     uint32
}

// state is everything observable about an allocator, for comparisons.
type state struct {
	Extents []extentRec
	Free    []Range
	Quar    []Range
	Stats   Stats
}

func stateOf(a *Allocator) state {
	var s state
	a.Extents(func(off, length int64, refs uint32) bool {
		s.Extents = append(s.Extents, extentRec{off, length, refs})
		return true
	})
	a.FreeRanges(func(off, length int64) bool {
		s.Free = append(s.Free, Range{off, length})
		return true
	})
	s.Quar = a.Quarantined()
	if len(s.Quar) == 0 {
		s.Quar = nil
	}
	s.Stats = a.Stats()
	return s
}

func (s state) diff(o state) string {
	if reflect.DeepEqual(s, o) {
		return ""
	}
	first := func(name string, x, y any) string {
		xv, yv := reflect.ValueOf(x), reflect.ValueOf(y)
		for i := 0; i < xv.Len() && i < yv.Len(); i++ {
			if !reflect.DeepEqual(xv.Index(i).Interface(), yv.Index(i).Interface()) {
				return fmt.Sprintf("%s[%d]: %+v vs %+v", name, i, xv.Index(i), yv.Index(i))
			}
		}
		if xv.Len() != yv.Len() {
			return fmt.Sprintf("%s: %d vs %d items", name, xv.Len(), yv.Len())
		}
		return ""
	}
	for _, d := range []string{
		first("extents", s.Extents, o.Extents),
		first("free", s.Free, o.Free),
		first("quarantine", s.Quar, o.Quar),
	} {
		if d != "" {
			return d
		}
	}
	return fmt.Sprintf("stats: %+v vs %+v", s.Stats, o.Stats)
}

func mustNew(t testing.TB, start, size int64) *Allocator {
	t.Helper()
	a, err := New(start, size)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustAlloc(t testing.TB, a *Allocator, n, align int64) int64 {
	t.Helper()
	off, err := a.Alloc(n, align)
	if err != nil {
		t.Fatalf("Alloc(%d, %d): %v", n, align, err)
	}
	return off
}

// release drops the single reference to off and frees it.
func release(t testing.TB, a *Allocator, off int64) {
	t.Helper()
	if left, err := a.Decref(off); err != nil || left != 0 {
		t.Fatalf("Decref(%d) = %d, %v", off, left, err)
	}
	if err := a.Free(off); err != nil {
		t.Fatalf("Free(%d): %v", off, err)
	}
}

func mustCheck(t testing.TB, a *Allocator) {
	t.Helper()
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	if s.Used+s.Zombie+s.Free+s.Quarantined != s.Size {
		t.Fatalf("stats do not add up: %+v", s)
	}
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want an error wrapping %v", what, err, target)
	}
}

func isCorrupt(err error) bool { return errors.Is(err, errs.Corrupt) }

// randomAllocator returns an allocator for [start, start+size) after ops
// random operations: extents of mixed sizes and alignments, shared ones,
// zombies, quarantine under extents and in free space.
func randomAllocator(t testing.TB, seed uint64, start, size int64, ops int) *Allocator {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	a := mustNew(t, start, size)
	var live, zombies []int64
	take := func(l *[]int64) int64 {
		i := r.IntN(len(*l))
		off := (*l)[i]
		(*l)[i] = (*l)[len(*l)-1]
		*l = (*l)[:len(*l)-1]
		return off
	}
	for range ops {
		switch p := r.IntN(100); {
		case p < 45:
			n, align := 1+r.Int64N(6000), int64(0)
			if r.IntN(2) == 0 {
				n, align = 4096, 4096
			}
			if off, err := a.Alloc(n, align); err == nil {
				live = append(live, off)
			}
		case p < 60 && len(live) > 0:
			if err := a.Incref(live[r.IntN(len(live))]); err != nil {
				t.Fatal(err)
			}
		case p < 85 && len(live) > 0:
			off := take(&live)
			left, err := a.Decref(off)
			if err != nil {
				t.Fatal(err)
			}
			if left > 0 {
				live = append(live, off)
			} else {
				zombies = append(zombies, off)
			}
		case p < 98 && len(zombies) > 0:
			if err := a.Free(take(&zombies)); err != nil {
				t.Fatal(err)
			}
		case p == 99:
			if err := a.Quarantine(start+r.Int64N(size), 1+r.Int64N(2*UnitSize)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustCheck(t, a)
	return a
}

// freeZombies frees every zombie, as a store does once no reader can see
// them; a rebuild after a crash never sees zombies.
func freeZombies(t testing.TB, a *Allocator) {
	t.Helper()
	var zs []int64
	a.Extents(func(off, _ int64, refs uint32) bool {
		if refs == 0 {
			zs = append(zs, off)
		}
		return true
	})
	for _, off := range zs {
		if err := a.Free(off); err != nil {
			t.Fatal(err)
		}
	}
}
