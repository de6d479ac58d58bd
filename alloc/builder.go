package alloc

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/daxkv/daxkv/internal/errs"
)

// Builder rebuilds an allocator after a crash from a reachability walk: the
// store reports every reference it finds (Ref or RefFirst) and every bad
// range it knows of (Quarantine), then calls Finish. Everything not
// referenced and not quarantined is free. A Builder is safe for concurrent
// use, so the walk may be parallel.
type Builder struct {
	mu     sync.Mutex
	startU int64
	sizeU  int64
	ext    table
	quar   []span // unsorted until Finish
	err    error  // sticky: bad bounds, a bad Quarantine call, or Finish done
}

var errFinished = fmt.Errorf("alloc: builder already finished: %w", errs.Invalid)

// NewBuilder starts a rebuild of the space [start, start+size). Bad bounds
// are reported by Ref and Finish.
func NewBuilder(start, size int64) *Builder {
	if err := checkBounds(start, size); err != nil {
		return &Builder{err: err}
	}
	sizeU := size >> unitShift
	return &Builder{startU: start >> unitShift, sizeU: sizeU, ext: newTable(sizeU)}
}

// Ref records one reference to the extent [off, off+length): the first
// creates it with refcount 1, later ones add one. A pointer that cannot be
// an extent, the same off with another length, or an overlap with another
// extent is an error wrapping errs.Corrupt.
func (b *Builder) Ref(off, length int64) error {
	_, err := b.RefFirst(off, length)
	return err
}

// RefFirst is Ref, also reporting whether this was the first reference to
// the extent, so a walker descends into each shared subtree only once.
func (b *Builder) RefFirst(off, length int64) (first bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return false, b.err
	}
	u := off>>unitShift - b.startU
	n := length >> unitShift
	if off < 0 || length <= 0 || off%UnitSize != 0 || length%UnitSize != 0 || length > MaxExtent ||
		u < 0 || u >= b.sizeU || n > b.sizeU-u {
		return false, fmt.Errorf("alloc: reference to [%d, +%d) is not an extent in [%d, %d): %w",
			off, length, b.startU<<unitShift, (b.startU+b.sizeU)<<unitShift, errs.Corrupt)
	}
	c, i, found := b.ext.search(u)
	if found {
		if have := int64(b.ext.chunks[c][i].units); have != n {
			return false, fmt.Errorf("alloc: extent at %d referenced with length %d and %d: %w",
				off, have<<unitShift, length, errs.Corrupt)
		}
		refs := b.ext.refsAt(c, i)
		if refs == math.MaxUint32 {
			return false, fmt.Errorf("alloc: refcount of extent at %d overflows: %w", off, errs.Corrupt)
		}
		b.ext.setRefsAt(c, i, refs+1)
		return false, nil
	}
	other, otherN, hit := b.ext.before(u)
	if !hit {
		other, otherN, hit = b.ext.after(u, u+n)
	}
	if hit {
		return false, fmt.Errorf("alloc: extent [%d, +%d) overlaps extent [%d, +%d): %w",
			off, length, (b.startU+other)<<unitShift, otherN<<unitShift, errs.Corrupt)
	}
	b.ext.insertAt(c, i, u, n, 1)
	return true, nil
}

// Quarantine records a bad range, as Allocator.Quarantine. An invalid range
// makes Finish fail.
func (b *Builder) Quarantine(off, length int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	s, err := unitSpan(b.startU, b.sizeU, off, length)
	if err != nil {
		b.err = err
		return
	}
	if s.n > 0 {
		b.quar = append(b.quar, s)
	}
}

// Finish returns the rebuilt allocator. The Builder cannot be used after.
func (b *Builder) Finish() (*Allocator, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	b.err = errFinished
	slices.SortFunc(b.quar, func(x, y span) int { return cmp.Compare(x.off, y.off) })
	var quar []span
	for _, q := range b.quar {
		quar = addSpan(quar, q) // appends at the end: sorted input
	}
	a := &Allocator{
		startU:    b.startU,
		sizeU:     b.sizeU,
		ext:       b.ext,
		free:      newFreeIndex(),
		quar:      quar,
		scanLimit: defaultScanLimit,
	}
	b.ext = table{}
	b.quar = nil
	a.deriveFree()
	return a, nil
}

// deriveFree sets free space to the complement of the extents and the
// quarantine, and the counters to match. The free index must be empty.
func (a *Allocator) deriveFree() {
	a.usedU, a.zombieU, a.zombies, a.quarFreeU, a.quarInExtU = 0, 0, 0, 0, 0
	var pos int64 // everything below pos is an extent, bad, or already free
	occupy := func(s span) {
		if s.off > pos {
			a.free.add(span{pos, s.off - pos})
		}
		pos = max(pos, s.end())
	}
	var badTotal int64
	for _, q := range a.quar {
		badTotal += q.n
	}
	qi := 0 // quarantine before a.quar[qi] is already occupied
	a.ext.ascend(0, func(u, n int64, refs uint32) bool {
		e := span{u, n}
		for ; qi < len(a.quar) && a.quar[qi].off < e.off; qi++ {
			occupy(a.quar[qi])
		}
		occupy(e)
		if refs == 0 {
			a.zombieU += n
			a.zombies++
		} else {
			a.usedU += n
		}
		for _, q := range overlapping(a.quar, e) {
			a.quarInExtU += min(q.end(), e.end()) - max(q.off, e.off)
		}
		return true
	})
	for _, q := range a.quar[qi:] {
		occupy(q)
	}
	occupy(span{a.sizeU, 0})
	a.quarFreeU = badTotal - a.quarInExtU
}

// Check verifies the allocator's internal invariants: extents in order and
// disjoint, free space exactly the complement of extents and quarantine, in
// maximal ranges, indexed both ways, and every counter right. It is O(n), for
// tests and the store's check command. A failure wraps errs.Corrupt.
func (a *Allocator) Check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("alloc: check: %s: %w", fmt.Sprintf(format, args...), errs.Corrupt)
	}
	want := &Allocator{startU: a.startU, sizeU: a.sizeU, ext: a.ext, free: newFreeIndex(), quar: a.quar}
	var err error
	prevEnd, count := int64(0), 0
	a.ext.ascend(0, func(u, n int64, refs uint32) bool {
		count++
		switch {
		case u < prevEnd:
			err = fail("extent at unit %d overlaps the one before", u)
		case n <= 0 || u+n > a.sizeU:
			err = fail("extent at unit %d has bad length %d", u, n)
		}
		prevEnd = u + n
		return err == nil
	})
	if err != nil {
		return err
	}
	if count != a.ext.count {
		return fail("table counts %d extents, holds %d", a.ext.count, count)
	}
	for c, es := range a.ext.chunks {
		for i, e := range es {
			if (i > 0 && es[i-1].key >= e.key) || e.key > chunkMask {
				return fail("chunk %d out of order at %d", c, i)
			}
			if e.refs == refsInMap && a.ext.bigRefs[int64(c)<<chunkShift|int64(e.key)] < refsInMap {
				return fail("big refcount missing at chunk %d index %d", c, i)
			}
		}
	}
	for i, q := range a.quar {
		if q.n <= 0 || q.off < 0 || q.end() > a.sizeU || (i > 0 && a.quar[i-1].end() >= q.off) {
			return fail("quarantine list malformed at %d", i)
		}
	}
	want.deriveFree()
	got := a.free.byOff.Len()
	if got != want.free.byOff.Len() || got != a.free.bySize.Len() {
		return fail("%d free ranges by offset and %d by size, want %d",
			got, a.free.bySize.Len(), want.free.byOff.Len())
	}
	var wantFree []span
	want.free.ascend(func(s span) bool { wantFree = append(wantFree, s); return true })
	i := 0
	a.free.ascend(func(s span) bool {
		if s != wantFree[i] || !a.free.bySize.Has(s) {
			err = fail("free range %d is %+v, want %+v", i, s, wantFree[i])
		}
		i++
		return err == nil
	})
	if err != nil {
		return err
	}
	if a.free.units != want.free.units || a.usedU != want.usedU || a.zombieU != want.zombieU ||
		a.zombies != want.zombies || a.quarFreeU != want.quarFreeU || a.quarInExtU != want.quarInExtU {
		return fail("counters free=%d used=%d zombie=%d/%d bad=%d/%d, want %d %d %d/%d %d/%d",
			a.free.units, a.usedU, a.zombieU, a.zombies, a.quarFreeU, a.quarInExtU,
			want.free.units, want.usedU, want.zombieU, want.zombies, want.quarFreeU, want.quarInExtU)
	}
	return nil
}
