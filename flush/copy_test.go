package flush

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

const guardLen = 192 // bytes of pattern kept on each side of dst

// copyCase runs one copy of n bytes from src+soff to dst+doff through fn
// and checks the bytes and the guard regions around dst. fn receives a dst
// that extends into the trailing guard, to check that only len(src)
// bytes are written.
func copyCase(t *testing.T, fn func(dst, src []byte), rng *rand.Rand, n, doff, soff int) {
	t.Helper()
	buf := make([]byte, guardLen+doff+n+guardLen)
	for i := range buf {
		buf[i] = byte(0xA5 ^ i*7)
	}
	want := bytes.Clone(buf)
	srcBuf := make([]byte, soff+n)
	for i := range srcBuf {
		srcBuf[i] = byte(rng.Uint32())
	}
	src := srcBuf[soff:]
	start := guardLen + doff
	copy(want[start:], src)
	fn(buf[start:start+n+guardLen/2], src)
	if !bytes.Equal(buf, want) {
		i := 0
		for buf[i] == want[i] {
			i++
		}
		where := "inside dst"
		if i < start || i >= start+n {
			where = "in a guard region"
		}
		t.Fatalf("n=%d doff=%d soff=%d: first wrong byte at %d (%s): got %#x want %#x",
			n, doff, soff, i-start, where, buf[i], want[i])
	}
}

// copySizes are the boundaries where the copy changes strategy, followed
// by random sizes up to 64 KiB.
func copySizes(rng *rand.Rand, random int) []int {
	s := []int{0, 1, 7, 8, 63, 64, 65, 127, 128, 255, 256, 257, 319, 320, 321, 511, 512, 513, 4095, 4096, 4097, 65536}
	for range random {
		if rng.IntN(3) == 0 {
			s = append(s, 256+rng.IntN(1024)) // small NT copies: ragged edges dominate
		} else {
			s = append(s, rng.IntN(64<<10+1))
		}
	}
	return s
}

func runCopyCases(t *testing.T, fn func(dst, src []byte)) {
	rng := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
	random := 150
	if testing.Short() {
		random = 30
	}
	for _, n := range copySizes(rng, random) {
		copyCase(t, fn, rng, n, rng.IntN(128), rng.IntN(128))
		copyCase(t, fn, rng, n, 0, 0) // both line aligned (relative to the buffer)
	}
}

// TestCopyReference checks the pure-Go path that the assembly is compared
// with: persistCopy without NT stores, flushing through goLines.
func TestCopyReference(t *testing.T) {
	lines := 0
	count := func(p unsafe.Pointer, n uintptr) int { c := goLines(p, n); lines += c; return c }
	runCopyCases(t, func(dst, src []byte) {
		lines = 0
		persistCopy(dst, src, nil, count)
		if want := lineCount(uintptr(ptr(dst)), uintptr(len(src)), LineSize); lines != want {
			t.Fatalf("copy of %d bytes flushed %d lines, want %d", len(src), lines, want)
		}
	})
}

var allModes = []Mode{CLWB, CLFLUSHOPT, CLFLUSH, EADR, DCCVAP, DCCVAC}
var allCopies = []CopyKind{CopyGo, CopySSE2, CopyAVX2, CopyAVX512}

// newOrSkip builds a persister or skips the test naming what is missing.
func newOrSkip(t testing.TB, cfg Config) Persister {
	t.Helper()
	p, err := New(cfg)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("not on this machine (%s): %v", Detect(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cpuOrSkip is the persister Auto gives, skipping where that is msync
// (no CPU flush path on this architecture).
func cpuOrSkip(t *testing.T) Persister {
	t.Helper()
	if m, _ := Resolve(Auto); m == Msync {
		t.Skipf("no CPU flush path on %s", Detect().Arch)
	}
	return newOrSkip(t, Config{})
}

// TestCopyPaths runs every mode and copy kind this machine offers,
// selected explicitly, against the reference.
func TestCopyPaths(t *testing.T) {
	for _, m := range allModes {
		for _, k := range allCopies {
			t.Run(m.String()+"/"+k.String(), func(t *testing.T) {
				p := newOrSkip(t, Config{Mode: m, Copy: k})
				if p.Mode() != m {
					t.Fatalf("Mode() = %v, want %v", p.Mode(), m)
				}
				runCopyCases(t, p.Copy)
				if err := p.Drain(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestCopyOverlap: overlapping dst and src must behave like memmove, which
// the forward NT loop alone would not.
func TestCopyOverlap(t *testing.T) {
	p := cpuOrSkip(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{10, 300, 5000} {
		for _, shift := range []int{-65, -1, 1, 3, 64, 200} {
			buf := make([]byte, n+512)
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			want := bytes.Clone(buf)
			src, dst := 256, 256+shift
			copy(want[dst:dst+n], want[src:src+n])
			p.Copy(buf[dst:dst+n], buf[src:src+n])
			if !bytes.Equal(buf, want) {
				t.Fatalf("n=%d shift=%d: overlapping copy differs from memmove", n, shift)
			}
		}
	}
}

// TestCopyLarge crosses ntChunk, where persistCopy splits the NT call.
func TestCopyLarge(t *testing.T) {
	p := cpuOrSkip(t)
	rng := rand.New(rand.NewPCG(5, 6))
	copyCase(t, p.Copy, rng, 2*ntChunk+3*LineSize+17, 5, 9)
}

// TestCopyShortDst: Copy into a dst shorter than src panics before any
// store, even when dst's capacity would hold src.
func TestCopyShortDst(t *testing.T) {
	for _, c := range []struct {
		name string
		p    func(t *testing.T) Persister
	}{
		{"cpu", func(t *testing.T) Persister { return cpuOrSkip(t) }},
		{"msync", func(*testing.T) Persister { return newMsync(func([]byte) error { return nil }) }},
		{"tracker", func(*testing.T) Persister { return NewTracker(make([]byte, 2048)[:1024]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.p(t)
			buf := make([]byte, 1024)
			if tr, ok := p.(*Tracker); ok {
				buf = tr.Work()
			}
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), "shorter than src") {
					t.Fatalf("Copy into a short dst: recovered %v, want the shorter-than-src panic", r)
				}
				if !bytes.Equal(buf, make([]byte, len(buf))) {
					t.Fatal("memory written before the panic")
				}
			}()
			src := bytes.Repeat([]byte{1}, 600)
			p.Copy(buf[:100], src)
		})
	}
}

func TestFlushPaths(t *testing.T) {
	for _, m := range allModes {
		t.Run(m.String(), func(t *testing.T) {
			p := newOrSkip(t, Config{Mode: m})
			rng := rand.New(rand.NewPCG(11, 12))
			buf := make([]byte, 64<<10+128)
			for i := range buf {
				buf[i] = byte(i)
			}
			want := bytes.Clone(buf)
			p.Flush(nil)
			for range 200 {
				off := rng.IntN(128)
				n := rng.IntN(len(buf) - off)
				p.Flush(buf[off : off+n])
			}
			if err := p.Drain(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				t.Fatal("flushing changed memory")
			}
		})
	}
}

// TestHotPathNoAlloc: flushing a line or two and draining must not
// allocate, whatever the mode.
func TestHotPathNoAlloc(t *testing.T) {
	buf := make([]byte, 256)
	for _, m := range allModes {
		t.Run(m.String(), func(t *testing.T) {
			p := newOrSkip(t, Config{Mode: m})
			if a := testing.AllocsPerRun(100, func() {
				buf[70]++
				p.Flush(buf[60:72])
				_ = p.Drain()
				p.Copy(buf[100:200], buf[0:100])
			}); a != 0 {
				t.Fatalf("%v allocates %.1f times per flush+drain", m, a)
			}
		})
	}
}

func TestUnsupportedNamesReason(t *testing.T) {
	for _, m := range allModes {
		_, err := Resolve(m)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), m.String()) {
			t.Errorf("Resolve(%v) = %v; want ErrUnsupported naming the mode", m, err)
		}
	}
}
