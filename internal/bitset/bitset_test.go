package bitset

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestModel checks Has and Add against a map, over sizes that end
// inside a word, inside a chunk, and on a chunk boundary.
func TestModel(t *testing.T) {
	for _, n := range []int64{0, 1, 63, 64, 65, 1 << chunkShift, 1<<chunkShift + 1, 5<<chunkShift - 3} {
		s := New(n)
		model := map[int64]bool{}
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		for range 20000 {
			i := rng.Int64N(n+10) - 5 // a few out of range on each side
			if rng.IntN(2) == 0 {
				s.Add(i)
				if i >= 0 && i < n {
					model[i] = true
				}
			}
			if got := s.Has(i); got != model[i] {
				t.Fatalf("n=%d: Has(%d) = %v, want %v", n, i, got, model[i])
			}
		}
		for i := int64(-2); i < n+2; i++ {
			if s.Has(i) != model[i] {
				t.Fatalf("n=%d: final Has(%d) = %v, want %v", n, i, s.Has(i), model[i])
			}
		}
	}
}

// TestSparse: touching one bit allocates one chunk, not the whole set.
func TestSparse(t *testing.T) {
	s := New(1 << 32)
	empty := bytesHeld(s)
	s.Add(3 << 30)
	if got := bytesHeld(s) - empty; got != chunkWords*8 {
		t.Fatalf("one Add grew the set by %d bytes, want one chunk (%d)", got, chunkWords*8)
	}
}

// TestConcurrentAdd: goroutines adding to the same chunks lose nothing
// (run under -race).
func TestConcurrentAdd(t *testing.T) {
	const n = 3 << chunkShift
	s := New(n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := int64(g); i < n; i += 4 {
				s.Add(i)
			}
		})
	}
	wg.Wait()
	for i := int64(0); i < n; i++ {
		if !s.Has(i) {
			t.Fatalf("bit %d lost", i)
		}
	}
}

// bytesHeld is the memory s holds now.
func bytesHeld(s *Set) int64 {
	n := int64(len(s.chunks)) * 8
	for i := range s.chunks {
		if s.chunks[i].Load() != nil {
			n += chunkWords * 8
		}
	}
	return n
}
