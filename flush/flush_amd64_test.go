package flush

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"
)

type asmLoop struct {
	name string
	fn   lineFunc
	has  func(Features) bool
}

var amd64Loops = []asmLoop{
	{"clwb", clwbLines, func(f Features) bool { return f.CLWB }},
	{"clflushopt", clflushoptLines, func(f Features) bool { return f.CLFLUSHOPT }},
	{"clflush", clflushLines, func(f Features) bool { return f.CLFLUSH }},
}

// TestLineLoopsAMD64: each assembly loop flushes exactly the lines the Go
// computation names, for unaligned starts and ends and the empty range.
func TestLineLoopsAMD64(t *testing.T) {
	f := Detect()
	buf := make([]byte, 64<<10+256)
	for _, l := range amd64Loops {
		t.Run(l.name, func(t *testing.T) {
			if !l.has(f) {
				t.Skipf("this CPU lacks %s (%s)", l.name, f)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			check := func(off, n int) {
				p := unsafe.Pointer(&buf[off])
				got := l.fn(p, uintptr(n))
				if want := lineCount(uintptr(p), uintptr(n), LineSize); got != want {
					t.Fatalf("%s(addr%%64=%d, n=%d) = %d lines, want %d", l.name, uintptr(p)%64, n, got, want)
				}
			}
			for _, n := range []int{0, 1, 2, 63, 64, 65, 128, 129, 4096} {
				for off := range 130 {
					check(off, n)
				}
			}
			for range 1000 {
				off := rng.IntN(256)
				check(off, rng.IntN(len(buf)-off+1))
			}
		})
	}
	sfence() // must simply execute
}

// TestNTCopyAMD64 calls the assembly copies directly with their contract
// (line-aligned dst, whole lines, any src) and checks the lines around.
func TestNTCopyAMD64(t *testing.T) {
	f := Detect()
	kinds := []struct {
		name string
		fn   ntFunc
		has  bool
	}{
		{"sse2", ntCopySSE2, f.SSE2},
		{"avx2", ntCopyAVX2, f.AVX2},
		{"avx512", ntCopyAVX512, f.AVX512F},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if !k.has {
				t.Skipf("this CPU lacks %s (%s)", k.name, f)
			}
			rng := rand.New(rand.NewPCG(2, 2))
			for _, lines := range []int{1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1024} {
				n := lines * LineSize
				buf := make([]byte, n+3*LineSize)
				for i := range buf {
					buf[i] = 0x5A
				}
				base := int(-uintptr(unsafe.Pointer(&buf[0])) & (LineSize - 1))
				dst := buf[base+LineSize : base+LineSize+n]
				src := make([]byte, n+64)[rng.IntN(64):][:n]
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				want := bytes.Clone(buf)
				copy(want[base+LineSize:], src)
				k.fn(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), uintptr(n))
				sfence()
				if !bytes.Equal(buf, want) {
					t.Fatalf("%d lines: wrong bytes", lines)
				}
			}
		})
	}
}

func TestAutoResolveAMD64(t *testing.T) {
	for _, c := range []struct {
		f    Features
		want Mode
	}{
		{Features{EADR: true, CLWB: true, CLFLUSHOPT: true, CLFLUSH: true}, EADR},
		{Features{CLWB: true, CLFLUSHOPT: true, CLFLUSH: true}, CLWB},
		{Features{CLFLUSHOPT: true, CLFLUSH: true}, CLFLUSHOPT},
		{Features{CLFLUSH: true}, CLFLUSH},
	} {
		if got, err := resolve(Auto, c.f); err != nil || got != c.want {
			t.Errorf("resolve(Auto, %v) = %v, %v; want %v", c.f, got, err, c.want)
		}
	}
	if k, _ := resolveCopy(CopyAuto, Features{SSE2: true, AVX2: true, AVX512F: true}); k != CopyAVX2 {
		t.Errorf("auto copy with AVX-512 = %v, want avx2", k)
	}
	if k, _ := resolveCopy(CopyAuto, Features{SSE2: true}); k != CopySSE2 {
		t.Errorf("auto copy without AVX2 = %v, want sse2", k)
	}
}
