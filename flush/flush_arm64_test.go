package flush

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestLineLoopsARM64: each DC loop cleans exactly the lines the Go
// computation names, at the detected line size.
func TestLineLoopsARM64(t *testing.T) {
	f := Detect()
	if int(dcacheLine) != f.CacheLine || dcacheLine&(dcacheLine-1) != 0 {
		t.Fatalf("dcacheLine %d, Features.CacheLine %d", dcacheLine, f.CacheLine)
	}
	loops := []struct {
		name string
		fn   func(p unsafe.Pointer, n, line uintptr) int
		has  bool
	}{
		{"dccvap", dcCVAPLines, f.DCPOP},
		{"dccvac", dcCVACLines, true},
	}
	buf := make([]byte, 64<<10+512)
	for _, l := range loops {
		t.Run(l.name, func(t *testing.T) {
			if !l.has {
				t.Skipf("this CPU lacks %s (%s)", l.name, f)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			check := func(off, n int, line uintptr) {
				p := unsafe.Pointer(&buf[off])
				got := l.fn(p, uintptr(n), line)
				if want := lineCount(uintptr(p), uintptr(n), line); got != want {
					t.Fatalf("%s(addr%%%d=%d, n=%d) = %d lines, want %d", l.name, line, uintptr(p)%line, n, got, want)
				}
			}
			for _, line := range []uintptr{dcacheLine, 64, 128} {
				for _, n := range []int{0, 1, 2, 63, 64, 65, 128, 129, 4096} {
					for off := range 130 {
						check(off, n, line)
					}
				}
			}
			for range 1000 {
				off := rng.IntN(256)
				check(off, rng.IntN(len(buf)-off+1), dcacheLine)
			}
		})
	}
	dsb()
}

func TestAutoResolveARM64(t *testing.T) {
	for _, c := range []struct {
		f    Features
		want Mode
	}{
		{Features{EADR: true, DCPOP: true}, EADR},
		{Features{DCPOP: true}, DCCVAP},
		{Features{}, DCCVAC},
	} {
		if got, err := resolve(Auto, c.f); err != nil || got != c.want {
			t.Errorf("resolve(Auto, %+v) = %v, %v; want %v", c.f, got, err, c.want)
		}
	}
	if k, _ := resolveCopy(CopyAuto, Features{}); k != CopyGo {
		t.Errorf("auto copy on arm64 = %v, want go", k)
	}
}
