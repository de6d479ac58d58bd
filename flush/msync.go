package flush

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"
)

// dirtyRange is a page-aligned range [start, end) waiting for msync.
// anchor points into the flushed memory and is what the page-aligned
// slice is derived from; keeping addresses as uintptr alone would turn
// them back into pointers without provenance.
type dirtyRange struct {
	anchor     unsafe.Pointer
	start, end uintptr
}

func (r dirtyRange) bytes() []byte {
	p := unsafe.Add(r.anchor, int(r.start)-int(uintptr(r.anchor)))
	return unsafe.Slice((*byte)(p), r.end-r.start)
}

// compactAt bounds the range list between drains: past it, Flush sorts
// and merges in place, so a long run of scattered flushes costs
// O(distinct pages) memory, not O(flushes).
const compactAt = 256

// msyncPersister records the pages that Flush and Copy touch and writes
// them back with Sync at Drain. Flushed memory must be a mapping (mmap):
// ranges are widened to page boundaries, which for Go heap memory would
// reach into unrelated objects.
type msyncPersister struct {
	sync     func([]byte) error
	pageMask uintptr

	mu    sync.Mutex // guards dirty
	dirty []dirtyRange

	// drainMu makes Drains take turns, so a Drain returns only after every
	// range recorded before it started has been synced, including ranges
	// that a concurrent Drain took first.
	drainMu sync.Mutex
	spare   []dirtyRange // the other buffer, swapped with dirty at Drain
	err     error        // sticky: after a failed msync the kernel may have dropped the pages
}

func newMsync(sync func([]byte) error) *msyncPersister {
	return &msyncPersister{
		sync:     sync,
		pageMask: uintptr(os.Getpagesize() - 1),
		dirty:    make([]dirtyRange, 0, 16),
		spare:    make([]dirtyRange, 0, 16),
	}
}

func (p *msyncPersister) Mode() Mode { return Msync }

func (p *msyncPersister) Flush(b []byte) {
	if len(b) == 0 {
		return
	}
	a := uintptr(ptr(b))
	r := dirtyRange{anchor: ptr(b), start: a &^ p.pageMask, end: (a + uintptr(len(b)) + p.pageMask) &^ p.pageMask}
	p.mu.Lock()
	if n := len(p.dirty); n > 0 && r.start <= p.dirty[n-1].end && r.end >= p.dirty[n-1].start {
		// Overlaps or touches the previous range: the common sequential case.
		last := &p.dirty[n-1]
		last.start = min(last.start, r.start)
		last.end = max(last.end, r.end)
	} else {
		if n >= compactAt {
			p.dirty = mergeRanges(p.dirty)
		}
		p.dirty = append(p.dirty, r)
	}
	p.mu.Unlock()
}

func (p *msyncPersister) Copy(dst, src []byte) {
	dst = mustFit(dst, src)
	copy(dst, src)
	p.Flush(dst)
}

// Drain syncs every recorded range, merged and in address order. It tries
// all of them and returns the first error; once one has failed, every
// later Drain fails too, because data the kernel could not write back may
// be gone from the page cache (retrying would report false success).
func (p *msyncPersister) Drain() error {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	p.mu.Lock()
	work := p.dirty
	p.dirty = p.spare[:0]
	p.mu.Unlock()

	work = mergeRanges(work)
	for _, r := range work {
		if err := p.sync(r.bytes()); err != nil && p.err == nil {
			p.err = fmt.Errorf("flush: msync [%#x, %#x): %w", r.start, r.end, err)
		}
	}
	clear(work) // drop the anchors: they pin memory
	p.spare = work[:0]
	return p.err
}

// mergeRanges sorts rs by start and coalesces overlapping or adjacent
// ranges, in place.
func mergeRanges(rs []dirtyRange) []dirtyRange {
	if len(rs) < 2 {
		return rs
	}
	slices.SortFunc(rs, func(a, b dirtyRange) int { return cmp.Compare(a.start, b.start) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.start <= last.end {
			last.end = max(last.end, r.end)
			continue
		}
		out = append(out, r)
	}
	clear(rs[len(out):])
	return out
}
