package alloc

import (
	"fmt"
	"slices"
	"sort"

	"github.com/daxkv/daxkv/internal/errs"
)

// Quarantine marks [off, off+length) as bad media, widened to whole units;
// parts outside the managed space are ignored. Its free parts leave free
// space for good. An extent over it stays as it is (the store decides what
// to do with its data), but when that extent is freed only its healthy parts
// become free.
func (a *Allocator) Quarantine(off, length int64) error {
	s, err := a.quarSpan(off, length)
	if err != nil || s.n == 0 {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range subtract(s, a.quarOverlapping(s)) {
		taken := a.free.take(p)
		a.quarFreeU += taken
		a.quarInExtU += p.n - taken
	}
	a.quar = addSpan(a.quar, s)
	return nil
}

// quarSpan converts a bad byte range to units, widened to whole units and
// clipped to the managed space (n == 0 if nothing is left).
func (a *Allocator) quarSpan(off, length int64) (span, error) {
	return unitSpan(a.startU, a.sizeU, off, length)
}

func unitSpan(startU, sizeU, off, length int64) (span, error) {
	if off < 0 || length <= 0 || off > MaxSize || length > MaxSize {
		return span{}, fmt.Errorf("alloc: bad range [%d, +%d): %w", off, length, errs.Invalid)
	}
	lo := max(off>>unitShift-startU, 0)
	hi := min((off+length+UnitSize-1)>>unitShift-startU, sizeU)
	if lo >= hi {
		return span{}, nil
	}
	return span{lo, hi - lo}, nil
}

// Quarantined returns the quarantined ranges in ascending order, merged.
func (a *Allocator) Quarantined() []Range {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Range, len(a.quar))
	for i, q := range a.quar {
		out[i] = Range{a.offset(q.off), q.n << unitShift}
	}
	return out
}

// quarOverlapping returns the quarantined spans that overlap s.
func (a *Allocator) quarOverlapping(s span) []span {
	return overlapping(a.quar, s)
}

// overlapping returns the spans of the sorted, disjoint list l that overlap
// s, as a subslice.
func overlapping(l []span, s span) []span {
	i := sort.Search(len(l), func(i int) bool { return l[i].end() > s.off })
	j := i
	for j < len(l) && l[j].off < s.end() {
		j++
	}
	return l[i:j]
}

// subtract returns the parts of s not covered by over, which is sorted,
// disjoint, and overlaps s.
func subtract(s span, over []span) []span {
	var out []span
	pos := s.off
	for _, q := range over {
		if q.off > pos {
			out = append(out, span{pos, q.off - pos})
		}
		pos = max(pos, q.end())
	}
	if pos < s.end() {
		out = append(out, span{pos, s.end() - pos})
	}
	return out
}

// addSpan merges s into the sorted list l of spans that neither overlap nor
// touch, keeping it so.
func addSpan(l []span, s span) []span {
	i := sort.Search(len(l), func(i int) bool { return l[i].end() >= s.off })
	j := i
	for j < len(l) && l[j].off <= s.end() {
		j++
	}
	if i < j {
		lo := min(s.off, l[i].off)
		s = span{lo, max(s.end(), l[j-1].end()) - lo}
	}
	return slices.Replace(l, i, j, s)
}

// take removes the free units inside s from free space and returns how many
// there were.
func (f *freeIndex) take(s span) int64 {
	var hit []span
	if p, ok := f.prev(s.off); ok && p.end() > s.off {
		hit = append(hit, p)
	}
	f.byOff.AscendRange(span{off: s.off + 1}, span{off: s.end()}, func(r span) bool {
		hit = append(hit, r)
		return true
	})
	var taken int64
	for _, r := range hit {
		f.remove(r)
		// What is left on either side is bounded by s (about to be
		// quarantined) and by whatever bounded r: it touches no free range.
		if r.off < s.off {
			f.add(span{r.off, s.off - r.off})
		}
		if r.end() > s.end() {
			f.add(span{s.end(), r.end() - s.end()})
		}
		taken += min(r.end(), s.end()) - max(r.off, s.off)
	}
	return taken
}
