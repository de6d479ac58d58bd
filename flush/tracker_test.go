package flush

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// alignedImage returns n bytes whose first byte is LineSize-aligned.
func alignedImage(n int) []byte {
	b := make([]byte, n+LineSize)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (LineSize - 1))
	return b[off : off+n : off+n]
}

func put(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func get(b []byte, off int) uint64    { return binary.LittleEndian.Uint64(b[off:]) }

// images returns the word at off in 200 random crash images, as a set.
func wordOutcomes(tr *Tracker, off int) map[uint64]bool {
	rng := rand.New(rand.NewPCG(uint64(off), 77))
	seen := map[uint64]bool{}
	for range 200 {
		seen[get(tr.CrashImage(rng), off)] = true
	}
	return seen
}

func setOf(vs ...uint64) map[uint64]bool {
	m := map[uint64]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func sameSet(a, b map[uint64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestTrackerInitialImageIsDurable(t *testing.T) {
	w := alignedImage(256)
	put(w, 8, 0x1111)
	tr := NewTracker(w)
	if get(tr.Persisted(), 8) != 0x1111 || tr.UncertainWords() != 0 {
		t.Fatal("content present at NewTracker is not treated as durable")
	}
	if tr.Mode() != CLWB || &tr.Work()[0] != &w[0] {
		t.Fatal("Mode or Work wrong")
	}
}

// Unflushed writes are never guaranteed, even across a Drain.
func TestTrackerUnflushedNotGuaranteed(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	put(w, 64, 0xAAAA)
	if err := tr.Drain(); err != nil {
		t.Fatal(err)
	}
	if get(tr.Persisted(), 64) != 0 || get(tr.CrashImageMin(), 64) != 0 {
		t.Fatal("an unflushed write reached the persisted image")
	}
	if get(tr.CrashImageMax(), 64) != 0xAAAA {
		t.Fatal("CrashImageMax lacks the write")
	}
	if got := wordOutcomes(tr, 64); !sameSet(got, setOf(0, 0xAAAA)) {
		t.Fatalf("random crash images give %v, want both the old and the new word", got)
	}
}

// Flushed and drained writes are in every crash image.
func TestTrackerFlushedDrainedAlwaysPresent(t *testing.T) {
	w := alignedImage(1024)
	tr := NewTracker(w)
	put(w, 128, 0xBEEF)
	tr.Flush(w[128:136])
	if err := tr.Drain(); err != nil {
		t.Fatal(err)
	}
	put(w, 512, 0xF00D) // unrelated unflushed write, so images do vary
	if got := wordOutcomes(tr, 128); !sameSet(got, setOf(0xBEEF)) {
		t.Fatalf("drained word varies across crash images: %v", got)
	}
	for name, img := range map[string][]byte{"min": tr.CrashImageMin(), "max": tr.CrashImageMax(), "persisted": tr.Persisted()} {
		if get(img, 128) != 0xBEEF {
			t.Errorf("%s image lacks the drained word", name)
		}
	}
}

// A flush without a drain guarantees nothing yet.
func TestTrackerFlushedNotDrained(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	put(w, 0, 7)
	tr.Flush(w[0:8])
	if get(tr.Persisted(), 0) != 0 {
		t.Fatal("Flush alone changed the persisted image")
	}
	if got := wordOutcomes(tr, 0); !sameSet(got, setOf(0, 7)) {
		t.Fatalf("outcomes %v, want {0, 7}", got)
	}
}

// Stores after a flush and before the drain are not covered by it: the
// drain persists the flushed snapshot, and a crash before it may show the
// old, the flushed, or the newest value.
func TestTrackerWriteAfterFlushBeforeDrain(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	put(w, 16, 1)
	tr.Flush(w[16:24])
	put(w, 16, 2)
	if got := wordOutcomes(tr, 16); !sameSet(got, setOf(0, 1, 2)) {
		t.Fatalf("before the drain: outcomes %v, want {0, 1, 2}", got)
	}
	if tr.UncertainWords() != 1 {
		t.Fatalf("UncertainWords = %d, want 1", tr.UncertainWords())
	}
	if err := tr.Drain(); err != nil {
		t.Fatal(err)
	}
	if get(tr.Persisted(), 16) != 1 {
		t.Fatalf("persisted %d, want the flushed value 1", get(tr.Persisted(), 16))
	}
	if got := wordOutcomes(tr, 16); !sameSet(got, setOf(1, 2)) {
		t.Fatalf("after the drain: outcomes %v, want {1, 2}", got)
	}
	// Written back to the persisted value after a flush: the flushed
	// value is still possible at a crash.
	put(w, 16, 5)
	tr.Flush(w[16:24])
	put(w, 16, 1)
	if got := wordOutcomes(tr, 16); !sameSet(got, setOf(1, 5)) {
		t.Fatalf("rewritten to the old value: outcomes %v, want {1, 5}", got)
	}
}

// Words are the unit: a crash never tears an aligned 8-byte word, and
// neighbouring words are independent.
func TestTrackerWordGranularity(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	for i := range 16 {
		w[32+i] = 0xFF // two whole words, never flushed
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mixed := map[[2]uint64]bool{}
	for range 300 {
		img := tr.CrashImage(rng)
		for _, off := range []int{32, 40} {
			if v := get(img, off); v != 0 && v != ^uint64(0) {
				t.Fatalf("word at %d torn: %#x", off, v)
			}
		}
		mixed[[2]uint64{get(img, 32), get(img, 40)}] = true
	}
	if len(mixed) != 4 {
		t.Fatalf("the two words took %d of 4 combinations: not independent", len(mixed))
	}
}

// Flush has CLWB semantics: the whole line is written back, including
// bytes stored before the flush that b does not cover; the next line is
// not.
func TestTrackerLineGranularity(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	put(w, 0, 1)
	put(w, 56, 2)
	put(w, 64, 3)
	tr.Flush(w[0:1])
	_ = tr.Drain()
	p := tr.Persisted()
	if get(p, 0) != 1 || get(p, 56) != 2 || get(p, 64) != 0 {
		t.Fatalf("persisted words %d %d %d, want 1 2 0", get(p, 0), get(p, 56), get(p, 64))
	}
	// A flush of the last byte of a line and the first of the next covers both.
	put(w, 120, 4)
	put(w, 128, 5)
	tr.Flush(w[127:129])
	_ = tr.Drain()
	p = tr.Persisted()
	if get(p, 64) != 3 || get(p, 120) != 4 || get(p, 128) != 5 {
		t.Fatal("a flush straddling two lines did not persist both")
	}
}

func TestTrackerCopy(t *testing.T) {
	w := alignedImage(512)
	tr := NewTracker(w)
	src := []byte(strings.Repeat("x", 100))
	tr.Copy(w[60:], src) // dst longer than src: only 100 bytes written
	if !bytes.Equal(w[60:160], src) || w[160] != 0 || w[59] != 0 {
		t.Fatal("Copy wrote the wrong bytes")
	}
	_ = tr.Drain()
	if !bytes.Equal(tr.Persisted()[60:160], src) {
		t.Fatal("Copy's lines were not persisted by Drain")
	}
	tr.Copy(w[0:0], nil) // empty: nothing to do
}

func TestTrackerOutsidePanics(t *testing.T) {
	big := alignedImage(1024)
	w := big[256:512]
	other := make([]byte, 64)
	for _, c := range []struct {
		name string
		op   func(tr *Tracker)
	}{
		{"flush before", func(tr *Tracker) { tr.Flush(big[0:8]) }},
		{"flush after", func(tr *Tracker) { tr.Flush(big[512:520]) }},
		{"flush straddling the end", func(tr *Tracker) { tr.Flush(big[500:520]) }},
		{"flush straddling the start", func(tr *Tracker) { tr.Flush(big[250:260]) }},
		{"flush of other memory", func(tr *Tracker) { tr.Flush(other) }},
		{"copy outside", func(tr *Tracker) { tr.Copy(big[600:], []byte("abc")) }},
		{"copy straddling the end", func(tr *Tracker) { tr.Copy(big[510:], []byte("abc")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(w)
			before := bytes.Clone(big)
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, "outside the tracked image") {
					t.Fatalf("panic message %q", msg)
				}
				if !bytes.Equal(big, before) {
					t.Fatal("memory changed by a rejected call")
				}
			}()
			c.op(tr)
		})
	}
	tr := NewTracker(w)
	tr.Flush(w[:0])        // empty is fine anywhere
	tr.Flush(nil)          //
	tr.Flush(big[512:512]) // even just past the end
	tr.Flush(w[248:256])   // the last bytes are inside
	defer func() {
		if recover() == nil {
			t.Error("NewTracker(nil) did not panic")
		}
	}()
	NewTracker(nil)
}

// OnDrain runs before the drain takes effect, so a crash image taken in it
// is a crash just before that fence.
func TestTrackerOnDrain(t *testing.T) {
	w := alignedImage(256)
	tr := NewTracker(w)
	var seen []uint64
	tr.OnDrain = func() {
		seen = append(seen, get(tr.CrashImageMin(), 0), uint64(tr.Drains()))
	}
	put(w, 0, 9)
	tr.Flush(w[0:8])
	_ = tr.Drain()
	_ = tr.Drain()
	want := []uint64{0, 1, 9, 2}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("OnDrain saw (persisted word, drain number) %v, want %v", seen, want)
	}
	if tr.Drains() != 2 {
		t.Fatalf("Drains = %d", tr.Drains())
	}
}

func TestTrackerCrashImageFunc(t *testing.T) {
	w := alignedImage(512)
	tr := NewTracker(w)
	for _, off := range []int{0, 8, 200, 504} {
		put(w, off, uint64(off+1))
	}
	var offs []int
	none := tr.CrashImageFunc(func(off int) bool { offs = append(offs, off); return false })
	if fmt.Sprint(offs) != "[0 8 200 504]" || tr.UncertainWords() != 4 {
		t.Fatalf("asked about words %v (UncertainWords %d), want [0 8 200 504]", offs, tr.UncertainWords())
	}
	if !bytes.Equal(none, tr.CrashImageMin()) {
		t.Fatal("taking nothing differs from CrashImageMin")
	}
	if !bytes.Equal(tr.CrashImageFunc(func(int) bool { return true }), tr.CrashImageMax()) {
		t.Fatal("taking everything differs from CrashImageMax")
	}
	one := tr.CrashImageFunc(func(off int) bool { return off == 200 })
	if get(one, 200) != 201 || get(one, 0) != 0 || get(one, 504) != 0 {
		t.Fatal("taking one word took others")
	}
}

// With a work image that does not start on a line or word boundary,
// lines and words follow absolute addresses, clipped to the image.
func TestTrackerUnalignedImage(t *testing.T) {
	big := alignedImage(512)
	w := big[3 : 3+300] // starts 3 bytes into a line
	tr := NewTracker(w)
	for i := range w {
		w[i] = 1
	}
	tr.Flush(w[0:1]) // the first line of w: bytes 0..60
	_ = tr.Drain()
	p := tr.Persisted()
	if p[60] != 1 || p[61] != 0 {
		t.Fatalf("first clipped line persisted up to %d, want byte 60", bytes.IndexByte(p, 0)-1)
	}
	var offs []int
	tr.CrashImageFunc(func(off int) bool { offs = append(offs, off); return false })
	// Words follow absolute 8-byte boundaries: the first uncertain one
	// starts at 61 (absolute 64), the last at 293 (absolute 296) and is
	// clipped by the end of w at 300.
	if offs[0] != 61 || offs[len(offs)-1] != 293 {
		t.Fatalf("words start at %v...%v, want 61...293", offs[0], offs[len(offs)-1])
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for range 50 {
		img := tr.CrashImage(rng)
		for _, o := range offs {
			end := min(o+8-(o+3)%8, len(w))
			word := img[o:end]
			if !bytes.Equal(word, w[o:end]) && !bytes.Equal(word, make([]byte, end-o)) {
				t.Fatalf("word at %d torn: %v", o, word)
			}
		}
	}
}

// Crash images at every fence of a little two-phase protocol: the commit
// flag must never be visible without its data.
func TestTrackerProtocolAtEveryFence(t *testing.T) {
	check := func(ordered bool) (violations int) {
		w := alignedImage(512)
		tr := NewTracker(w)
		rng := rand.New(rand.NewPCG(8, 8))
		tr.OnDrain = func() {
			for range 100 {
				img := tr.CrashImage(rng)
				if get(img, 256) == 1 && get(img, 0) != 42 {
					violations++
				}
			}
		}
		put(w, 0, 42) // data
		if ordered {
			tr.Flush(w[0:8])
			_ = tr.Drain()
		}
		put(w, 256, 1) // commit flag
		tr.Flush(w[256:264])
		_ = tr.Drain()
		if !ordered {
			tr.Flush(w[0:8])
			_ = tr.Drain()
		}
		return violations
	}
	if v := check(true); v != 0 {
		t.Fatalf("correct protocol: %d crash images show the flag without the data", v)
	}
	if v := check(false); v == 0 {
		t.Fatal("broken protocol (flag persisted before data) was not caught")
	}
}

func TestTrackerConcurrent(t *testing.T) {
	w := alignedImage(64 * 8)
	tr := NewTracker(w)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			line := w[g*64 : (g+1)*64]
			for i := range 500 {
				put(line, 0, uint64(i))
				tr.Flush(line[:8])
				_ = tr.Drain()
			}
		})
	}
	wg.Wait()
	p := tr.Persisted()
	for g := range 8 {
		if get(p, g*64) != 499 {
			t.Fatalf("line %d persisted %d, want 499", g, get(p, g*64))
		}
	}
}
