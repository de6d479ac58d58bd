// Package alloc is the refcounted extent allocator over a region's extent
// space.
//
// All of its state is in DRAM. The persistent truth is reachability from the
// store's catalog: after a crash the store rebuilds the allocator by walking
// every tree and reporting each reference to a Builder; after a clean close
// it saves an image (MarshalBinary) and loads it at open (Load).
//
// Space is handed out in extents: whole 256-byte units, each with a refcount.
// An extent whose count drops to zero becomes a zombie: it keeps its place
// until Free, because the store may reuse space only once no reader can see
// it and the checkpoint that dropped it is durable. Quarantined (bad) media is
// never handed out again.
//
// Offsets and lengths in the API are bytes, absolute within the region.
// Inside, everything is in units relative to the start of the managed space.
//
// Errors: a malformed argument (an offset that is not a unit inside the
// space, a bad size or alignment) wraps errs.Invalid. A well-formed call that
// contradicts the refcounts (no extent at that offset, a reference to a
// released extent, freeing a live one) wraps errs.Corrupt, as do a damaged
// image and an impossible walk: the caller's metadata or bookkeeping is
// wrong, and nothing was changed.
package alloc

import (
	"fmt"
	"math"
	"sync"

	"github.com/daxkv/daxkv/internal/errs"
)

// UnitSize is the allocation unit in bytes (the Optane media write unit).
// Every extent is a whole number of units and starts unit-aligned.
const UnitSize = 256

const unitShift = 8

// MaxExtent is the longest extent in bytes (lengths are 32-bit unit counts).
const MaxExtent = maxExtentUnits * UnitSize

// MaxSize bounds the managed space (256 TiB), which keeps every unit
// computation far from overflow.
const MaxSize = 1 << 48

// maxAlign bounds Alloc's alignment; anything larger is surely a bug.
const maxAlign = 1 << 40

// ErrNoSpace is returned (wrapped) by Alloc when no free range can hold the
// request. It wraps errs.NoSpace.
var ErrNoSpace = fmt.Errorf("alloc: %w", errs.NoSpace)

// Range is a byte range [Off, Off+Len) of the region.
type Range struct{ Off, Len int64 }

// Stats describes the managed space in bytes. Used, Zombie, Free and
// Quarantined partition it: they always add up to Size.
type Stats struct {
	Size int64
	// Used is the length of all live extents (refcount > 0), Zombie of all
	// extents waiting for Free. Both include any bad media under them.
	Used, Zombie int64
	Free         int64
	// Quarantined is bad media outside any extent; QuarantinedInExtents is
	// bad media still under a live or zombie extent, which moves to
	// Quarantined when the extent is freed.
	Quarantined, QuarantinedInExtents int64

	Extents, Zombies int // extent counts; Extents includes Zombies
	FreeRanges       int
	LargestFree      int64
}

// Allocator is a refcounted extent allocator. It is safe for concurrent use.
type Allocator struct {
	mu     sync.Mutex
	startU int64 // first unit of the managed space, absolute (for alignment)
	sizeU  int64

	ext  table
	free freeIndex
	quar []span // sorted, neither overlapping nor touching

	usedU, zombieU int64
	zombies        int
	quarFreeU      int64 // quarantined units outside extents
	quarInExtU     int64 // quarantined units under extents

	scanLimit int // see defaultScanLimit; tests lower it
}

// New returns an allocator for [start, start+size) with everything free.
// start and size must be multiples of UnitSize.
func New(start, size int64) (*Allocator, error) {
	a, err := newEmpty(start, size)
	if err != nil {
		return nil, err
	}
	a.free.add(span{0, a.sizeU})
	return a, nil
}

func checkBounds(start, size int64) error {
	if start < 0 || size <= 0 || start%UnitSize != 0 || size%UnitSize != 0 || size > MaxSize || start > MaxSize {
		return fmt.Errorf("alloc: space [%d, +%d) is not a non-empty run of %d-byte units within %d bytes: %w",
			start, size, UnitSize, int64(MaxSize), errs.Invalid)
	}
	return nil
}

// newEmpty returns an allocator with no extents and no free space yet.
func newEmpty(start, size int64) (*Allocator, error) {
	if err := checkBounds(start, size); err != nil {
		return nil, err
	}
	sizeU := size >> unitShift
	return &Allocator{
		startU:    start >> unitShift,
		sizeU:     sizeU,
		ext:       newTable(sizeU),
		free:      newFreeIndex(),
		scanLimit: defaultScanLimit,
	}, nil
}

// unit converts an extent offset to a unit.
func (a *Allocator) unit(off int64) (int64, error) {
	u := off>>unitShift - a.startU
	if off < 0 || off%UnitSize != 0 || u < 0 || u >= a.sizeU {
		return 0, fmt.Errorf("alloc: offset %d is not a unit inside [%d, %d): %w",
			off, a.startU<<unitShift, (a.startU+a.sizeU)<<unitShift, errs.Invalid)
	}
	return u, nil
}

func (a *Allocator) offset(u int64) int64 { return (a.startU + u) << unitShift }

func notExtent(off int64) error {
	return fmt.Errorf("alloc: no extent starts at offset %d: %w", off, errs.Corrupt)
}

// Alloc allocates an extent of n bytes, rounded up to whole units, at an
// offset that is a multiple of align (a power of two, at least UnitSize; 0
// means UnitSize). The extent has refcount 1. It picks the smallest free
// range that can hold it, so large ranges stay whole for large requests.
func (a *Allocator) Alloc(n, align int64) (int64, error) {
	if align == 0 {
		align = UnitSize
	}
	if n <= 0 || n > MaxExtent || align < UnitSize || align > maxAlign || align&(align-1) != 0 {
		return 0, fmt.Errorf("alloc: cannot allocate %d bytes aligned to %d: %w", n, align, errs.Invalid)
	}
	units := (n + UnitSize - 1) >> unitShift
	alignU := align >> unitShift

	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.free.bestFit(units, alignU, a.startU, a.scanLimit)
	if !ok {
		return 0, fmt.Errorf("alloc: %d bytes aligned to %d (largest free range %d bytes): %w",
			n, align, a.free.largest()<<unitShift, ErrNoSpace)
	}
	// Carve [u, u+units) out of r. r was maximal, so the head and tail
	// touch no other free range.
	a.free.remove(r)
	u := r.off + alignPad(a.startU+r.off, alignU)
	if u > r.off {
		a.free.add(span{r.off, u - r.off})
	}
	if end := u + units; end < r.end() {
		a.free.add(span{end, r.end() - end})
	}
	c, i, _ := a.ext.search(u)
	a.ext.insertAt(c, i, u, units, 1)
	a.usedU += units
	return a.offset(u), nil
}

// Incref adds a reference to the live extent starting at off.
func (a *Allocator) Incref(off int64) error {
	u, err := a.unit(off)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, i, ok := a.ext.search(u)
	if !ok {
		return notExtent(off)
	}
	switch refs := a.ext.refsAt(c, i); refs {
	case 0:
		return fmt.Errorf("alloc: incref of released extent at %d: %w", off, errs.Corrupt)
	case math.MaxUint32:
		return fmt.Errorf("alloc: refcount of extent at %d overflows: %w", off, errs.Corrupt)
	default:
		a.ext.setRefsAt(c, i, refs+1)
	}
	return nil
}

// Decref drops a reference to the extent starting at off and returns the
// references left. At zero the extent becomes a zombie: it is not reused
// until Free.
func (a *Allocator) Decref(off int64) (uint32, error) {
	u, err := a.unit(off)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, i, ok := a.ext.search(u)
	if !ok {
		return 0, notExtent(off)
	}
	refs := a.ext.refsAt(c, i)
	if refs == 0 {
		return 0, fmt.Errorf("alloc: decref of released extent at %d: %w", off, errs.Corrupt)
	}
	refs--
	a.ext.setRefsAt(c, i, refs)
	if refs == 0 {
		units := int64(a.ext.chunks[c][i].units)
		a.usedU -= units
		a.zombieU += units
		a.zombies++
	}
	return refs, nil
}

// Free returns the zombie extent starting at off to free space, except for
// any quarantined part of it.
func (a *Allocator) Free(off int64) error {
	u, err := a.unit(off)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, i, ok := a.ext.search(u)
	if !ok {
		return notExtent(off)
	}
	if refs := a.ext.refsAt(c, i); refs != 0 {
		return fmt.Errorf("alloc: free of extent at %d with %d references: %w", off, refs, errs.Corrupt)
	}
	a.freeAt(c, i)
	return nil
}

// freeAt removes the zombie at table position c, i and returns its healthy
// units to free space.
func (a *Allocator) freeAt(c, i int) {
	e := a.ext.chunks[c][i]
	s := span{int64(c)<<chunkShift | int64(e.key), int64(e.units)}
	a.ext.removeAt(c, i)
	a.zombieU -= s.n
	a.zombies--
	pos := s.off
	for _, q := range a.quarOverlapping(s) {
		if q.off > pos {
			a.free.release(span{pos, q.off - pos})
		}
		bad := min(q.end(), s.end()) - max(q.off, s.off)
		a.quarInExtU -= bad
		a.quarFreeU += bad
		pos = q.end()
	}
	if pos < s.end() {
		a.free.release(span{pos, s.end() - pos})
	}
}

// FreeZombies frees every zombie and reports how many there were and their
// bytes. It is for open after a clean close: no reader can see a zombie the
// image kept, and the list of frees that were pending is gone.
func (a *Allocator) FreeZombies() (n int, bytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var zs []int64
	a.ext.ascend(0, func(u, units int64, refs uint32) bool {
		if refs == 0 {
			zs = append(zs, u)
			bytes += units << unitShift
		}
		return true
	})
	for _, u := range zs {
		c, i, _ := a.ext.search(u)
		a.freeAt(c, i)
	}
	return len(zs), bytes
}

// Refs returns the refcount of the extent starting at off (0 for a zombie),
// and whether there is one.
func (a *Allocator) Refs(off int64) (uint32, bool) {
	u, err := a.unit(off)
	if err != nil {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, refs, ok := a.ext.get(u)
	return refs, ok
}

// Len returns the length in bytes of the extent starting at off, and whether
// there is one.
func (a *Allocator) Len(off int64) (int64, bool) {
	u, err := a.unit(off)
	if err != nil {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	units, _, ok := a.ext.get(u)
	return units << unitShift, ok
}

// Stats returns a summary of the space.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{
		Size:                 a.sizeU << unitShift,
		Used:                 a.usedU << unitShift,
		Zombie:               a.zombieU << unitShift,
		Free:                 a.free.units << unitShift,
		Quarantined:          a.quarFreeU << unitShift,
		QuarantinedInExtents: a.quarInExtU << unitShift,
		Extents:              a.ext.count,
		Zombies:              a.zombies,
		FreeRanges:           a.free.byOff.Len(),
		LargestFree:          a.free.largest() << unitShift,
	}
}

// extentsBatch is how many extents Extents and FreeRanges copy out per lock
// hold: the callback runs unlocked, so it may be slow (scrub reads media) or
// call back into the allocator.
const extentsBatch = 512

// Extents calls fn for each extent (zombies included, with refs 0) in
// ascending offset order until fn returns false. It does not hold the lock
// while fn runs, so extents allocated or freed meanwhile may or may not be
// reported; none is reported twice.
func (a *Allocator) Extents(fn func(off, length int64, refs uint32) bool) {
	type ext struct {
		u, n int64
		refs uint32
	}
	buf := make([]ext, 0, extentsBatch)
	for from := int64(0); ; {
		buf = buf[:0]
		a.mu.Lock()
		a.ext.ascend(from, func(u, n int64, refs uint32) bool {
			buf = append(buf, ext{u, n, refs})
			return len(buf) < cap(buf)
		})
		a.mu.Unlock()
		for _, e := range buf {
			if !fn(a.offset(e.u), e.n<<unitShift, e.refs) {
				return
			}
		}
		if len(buf) < cap(buf) {
			return
		}
		from = buf[len(buf)-1].u + 1
	}
}

// FreeRanges calls fn for each free range in ascending offset order until fn
// returns false, with the same consistency as Extents. It is for reports and
// checks (fragmentation), not for allocating.
func (a *Allocator) FreeRanges(fn func(off, length int64) bool) {
	buf := make([]span, 0, extentsBatch)
	for from := int64(0); ; {
		buf = buf[:0]
		a.mu.Lock()
		a.free.byOff.AscendGreaterOrEqual(span{off: from}, func(s span) bool {
			buf = append(buf, s)
			return len(buf) < cap(buf)
		})
		a.mu.Unlock()
		for _, s := range buf {
			if !fn(a.offset(s.off), s.n<<unitShift) {
				return
			}
		}
		if len(buf) < cap(buf) {
			return
		}
		from = buf[len(buf)-1].off + 1
	}
}
