package flush

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
)

// wordSize is the atomicity unit of the persistence model: an aligned
// 8-byte store reaches media whole or not at all.
const wordSize = 8

// Tracker is a Persister for crash simulation. It keeps a persisted image
// beside the working image work (the memory the store writes): Flush and
// Copy snapshot the touched cache lines of work, as CLWB does, and Drain
// writes those snapshots into the persisted image. At any moment, what a
// power loss may leave is the persisted image plus any subset of the
// 8-byte words that differ from it (CrashImage).
//
// Lines and words are aligned to absolute addresses, like the hardware's,
// and clipped to work. The persisted image starts as a copy of work:
// whatever was there before tracking began counts as durable.
//
// A Tracker is safe for concurrent use, but Flush and CrashImage read all
// of a line or image: writers that store into work concurrently race with
// them, as they would with any reader.
type Tracker struct {
	// OnDrain, if set, runs at the start of every Drain, before the drain
	// takes effect and without the Tracker's lock held, so it can call
	// CrashImage to take the image of a crash just before this fence.
	OnDrain func()

	mu        sync.Mutex
	work      []byte
	persisted []byte
	snap      []byte   // pending lines' content as of their last flush
	pending   []uint64 // bitmap of lines flushed but not drained
	lines     []int    // indexes of the set bits, in flush order
	pad       int      // offset of work in its first line (addr % LineSize)
	drains    int
}

// NewTracker tracks work, which must not be empty.
func NewTracker(work []byte) *Tracker {
	if len(work) == 0 {
		panic("flush: NewTracker of an empty image")
	}
	pad := int(uintptr(ptr(work)) & (LineSize - 1))
	nlines := (pad + len(work) + LineSize - 1) / LineSize
	return &Tracker{
		work:      work,
		persisted: bytes.Clone(work),
		snap:      make([]byte, len(work)),
		pending:   make([]uint64, (nlines+63)/64),
		pad:       pad,
	}
}

// Mode reports CLWB: the Tracker models write-back that keeps lines cached.
func (t *Tracker) Mode() Mode { return CLWB }

// Work returns the tracked working image.
func (t *Tracker) Work() []byte { return t.work }

// Drains reports how many Drains have started. Inside OnDrain it is the
// 1-based number of the fence about to happen.
func (t *Tracker) Drains() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.drains
}

// offset returns b's offset in work; it panics when b is not inside work,
// because flushing memory the test does not track is a bug in the caller.
func (t *Tracker) offset(b []byte, op string) int {
	base, p := uintptr(ptr(t.work)), uintptr(ptr(b))
	if p < base || p-base > uintptr(len(t.work)) || uintptr(len(b)) > uintptr(len(t.work))-(p-base) {
		panic(fmt.Sprintf("flush: Tracker.%s of [%#x, %#x) outside the tracked image [%#x, %#x)",
			op, p, p+uintptr(len(b)), base, base+uintptr(len(t.work))))
	}
	return int(p - base)
}

// lineBounds returns the part of work that line i covers.
func (t *Tracker) lineBounds(i int) (lo, hi int) {
	lo = max(i*LineSize-t.pad, 0)
	hi = min((i+1)*LineSize-t.pad, len(t.work))
	return lo, hi
}

// Flush snapshots every line of work that b touches.
func (t *Tracker) Flush(b []byte) {
	if len(b) == 0 {
		return
	}
	off := t.offset(b, "Flush")
	t.mu.Lock()
	t.record(off, len(b))
	t.mu.Unlock()
}

// Copy copies src into dst[:len(src)], which must lie in work, and
// snapshots the touched lines.
func (t *Tracker) Copy(dst, src []byte) {
	if len(src) == 0 {
		return
	}
	dst = mustFit(dst, src)
	off := t.offset(dst, "Copy")
	t.mu.Lock()
	copy(dst, src)
	t.record(off, len(dst))
	t.mu.Unlock()
}

func (t *Tracker) record(off, n int) {
	first := (t.pad + off) / LineSize
	last := (t.pad + off + n - 1) / LineSize
	for i := first; i <= last; i++ {
		lo, hi := t.lineBounds(i)
		copy(t.snap[lo:hi], t.work[lo:hi])
		if t.pending[i/64]&(1<<(i%64)) == 0 {
			t.pending[i/64] |= 1 << (i % 64)
			t.lines = append(t.lines, i)
		}
	}
}

// Drain runs OnDrain, then makes every snapshot taken since the last
// Drain part of the persisted image. It never fails.
func (t *Tracker) Drain() error {
	t.mu.Lock()
	t.drains++
	t.mu.Unlock()
	if t.OnDrain != nil {
		t.OnDrain()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range t.lines {
		lo, hi := t.lineBounds(i)
		copy(t.persisted[lo:hi], t.snap[lo:hi])
		t.pending[i/64] &^= 1 << (i % 64)
	}
	t.lines = t.lines[:0]
	return nil
}

// Persisted returns a copy of the persisted image: what survives a power
// loss for certain.
func (t *Tracker) Persisted() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.persisted)
}

// CrashImageMin is the crash in which nothing beyond the drained lines
// reached media; the same bytes as Persisted.
func (t *Tracker) CrashImageMin() []byte { return t.Persisted() }

// CrashImageMax is the crash in which every store reached media: a copy
// of work.
func (t *Tracker) CrashImageMax() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.work)
}

// CrashImage returns one image power loss may leave: the persisted image,
// with each word that is not yet durable independently replaced, or not,
// by a value it could have reached media with: the current one in work,
// or the one it had when its line was last flushed without a drain since.
func (t *Tracker) CrashImage(rng *rand.Rand) []byte {
	return t.crashImage(func(_ int, cands [][]byte) []byte { return cands[rng.IntN(len(cands))] })
}

// CrashImageFunc is the deterministic form. For each uncertain word (see
// UncertainWords), in address order, take reports whether the crash let
// a newer value reach media (true) or kept the persisted one. The newer
// value is the current one in work; for a word rewritten to its persisted
// value after a flush, it is the flushed one. off is the word's offset in
// work (words clipped at an unaligned edge of work start at 0 or end at
// len(work)).
func (t *Tracker) CrashImageFunc(take func(off int) bool) []byte {
	return t.crashImage(func(off int, cands [][]byte) []byte {
		if take(off) {
			return cands[1]
		}
		return cands[0]
	})
}

// UncertainWords counts the words whose content after a power loss is not
// determined: those where work differs from the persisted image, plus
// those with a flushed, undrained value that differs from both.
func (t *Tracker) UncertainWords() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	t.eachUncertain(func(int, int, [][]byte) { n++ })
	return n
}

// crashImage copies the persisted image and lets pick choose the content
// of every uncertain word among its candidates.
func (t *Tracker) crashImage(pick func(off int, cands [][]byte) []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	img := bytes.Clone(t.persisted)
	t.eachUncertain(func(lo, hi int, cands [][]byte) { copy(img[lo:hi], pick(lo, cands)) })
	return img
}

// eachUncertain calls fn, in address order, for every word [lo, hi) of
// work whose content at a crash is not determined, with its 2 or 3
// distinct candidates: persisted, then current (if different), then the
// flushed snapshot of a pending line (if different from both). t.mu is
// held.
func (t *Tracker) eachUncertain(fn func(lo, hi int, cands [][]byte)) {
	wpad := int(uintptr(ptr(t.work)) & (wordSize - 1))
	var buf [3][]byte
	for i := 0; i*LineSize-t.pad < len(t.work); i++ {
		lo, hi := t.lineBounds(i)
		pend := t.pending[i/64]&(1<<(i%64)) != 0
		if bytes.Equal(t.work[lo:hi], t.persisted[lo:hi]) &&
			(!pend || bytes.Equal(t.snap[lo:hi], t.persisted[lo:hi])) {
			continue // the common case: nothing in this line is in flight
		}
		for w := lo; w < hi; {
			we := min(w+wordSize-(w+wpad)%wordSize, hi)
			old, cur := t.persisted[w:we], t.work[w:we]
			cands := append(buf[:0], old)
			if !bytes.Equal(cur, old) {
				cands = append(cands, cur)
			}
			if pend {
				if s := t.snap[w:we]; !bytes.Equal(s, old) && !bytes.Equal(s, cur) {
					cands = append(cands, s)
				}
			}
			if len(cands) > 1 {
				fn(w, we, cands)
			}
			w = we
		}
	}
}
