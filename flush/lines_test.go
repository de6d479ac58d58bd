package flush

import (
	"math/rand/v2"
	"testing"
)

func TestLineCount(t *testing.T) {
	for _, c := range []struct {
		addr, n, line uintptr
		want          int
	}{
		{0, 0, 64, 0},
		{63, 0, 64, 0},
		{0, 1, 64, 1},
		{0, 64, 64, 1},
		{0, 65, 64, 2},
		{63, 1, 64, 1},
		{63, 2, 64, 2},
		{64, 64, 64, 1},
		{1, 128, 64, 3},
		{4096 - 8, 16, 64, 2},
		{0, 4096, 64, 64},
		{32, 4096, 64, 65},
		{0, 129, 128, 2},
	} {
		if got := lineCount(c.addr, c.n, c.line); got != c.want {
			t.Errorf("lineCount(%d, %d, %d) = %d, want %d", c.addr, c.n, c.line, got, c.want)
		}
	}
}

// A brute-force count of distinct lines cross-checks the arithmetic.
func TestLineCountBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		addr := uintptr(rng.IntN(1 << 20))
		n := uintptr(rng.IntN(1000))
		want := 0
		last := ^uintptr(0)
		for a := addr; a < addr+n; a++ {
			if l := a / 64; l != last {
				want++
				last = l
			}
		}
		if got := lineCount(addr, n, 64); got != want {
			t.Fatalf("lineCount(%d, %d) = %d, brute force %d", addr, n, got, want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	b := make([]byte, 100)
	for _, c := range []struct {
		a, b []byte
		want bool
	}{
		{b[0:10], b[10:20], false},
		{b[0:11], b[10:20], true},
		{b[10:20], b[0:11], true},
		{b[5:6], b[0:100], true},
		{b[0:0], b[0:100], false},
		{b[0:50], make([]byte, 50), false},
	} {
		if got := overlaps(c.a, c.b); got != c.want {
			t.Errorf("overlaps(%p+%d, %p+%d) = %v", ptr(c.a), len(c.a), ptr(c.b), len(c.b), got)
		}
	}
}
