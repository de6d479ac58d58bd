package alloc

import (
	"math"

	"github.com/google/btree"
)

// span is a run of units [off, off+n), relative to the start of the managed
// space.
type span struct{ off, n int64 }

func (s span) end() int64 { return s.off + s.n }

func lessOff(a, b span) bool { return a.off < b.off }

// lessSize orders by length, then offset: the first range at or above a
// length is the best fit, and among equals the lowest address wins, which
// keeps allocations packed towards the start.
func lessSize(a, b span) bool {
	if a.n != b.n {
		return a.n < b.n
	}
	return a.off < b.off
}

// btreeDegree: nodes of 63 16-byte items (about 1 KiB) keep the trees
// shallow at millions of ranges without making the in-node shifts costly.
const btreeDegree = 32

// defaultScanLimit bounds how many too-small-once-aligned ranges an aligned
// Alloc examines before settling for the smallest range that fits at any
// alignment. Without it a region full of unaligned holes just over 4 KiB
// would make every node allocation scan all of them.
const defaultScanLimit = 64

// freeIndex holds free space twice: by (length, offset) for best fit, and by
// offset for coalescing. Ranges never touch or overlap: a freed range is
// merged with its neighbours.
type freeIndex struct {
	bySize *btree.BTreeG[span]
	byOff  *btree.BTreeG[span]
	units  int64
}

func newFreeIndex() freeIndex {
	return freeIndex{
		bySize: btree.NewG(btreeDegree, lessSize),
		byOff:  btree.NewG(btreeDegree, lessOff),
	}
}

// add inserts a range that touches no other free range.
func (f *freeIndex) add(s span) {
	f.bySize.ReplaceOrInsert(s)
	f.byOff.ReplaceOrInsert(s)
	f.units += s.n
}

func (f *freeIndex) remove(s span) {
	f.bySize.Delete(s)
	f.byOff.Delete(s)
	f.units -= s.n
}

// release returns a range to free space, merging it with free neighbours.
func (f *freeIndex) release(s span) {
	// One descent finds both neighbours: a range starting at s.end() is
	// the next one, and the first range below it is the previous one.
	var prev, next span
	var hasPrev, hasNext bool
	f.byOff.DescendLessOrEqual(span{off: s.end()}, func(r span) bool {
		if r.off == s.end() {
			next, hasNext = r, true
			return true
		}
		prev, hasPrev = r, true
		return false
	})
	if hasPrev && prev.end() == s.off {
		f.remove(prev)
		s = span{prev.off, prev.n + s.n}
	}
	if hasNext {
		f.remove(next)
		s.n += next.n
	}
	f.add(s)
}

// prev returns the free range starting at or before unit u.
func (f *freeIndex) prev(u int64) (span, bool) {
	var out span
	var ok bool
	f.byOff.DescendLessOrEqual(span{off: u}, func(s span) bool {
		out, ok = s, true
		return false
	})
	return out, ok
}

// bestFit finds the smallest free range that holds n units starting at a
// unit u where base+u is a multiple of align (in units, a power of two), ties
// going to the lowest offset. After scanLimit ranges that are long enough
// but fail because of alignment, it takes the smallest range that fits at
// any alignment instead, if there is one.
func (f *freeIndex) bestFit(n, align, base int64, scanLimit int) (span, bool) {
	var found span
	var ok bool
	from := span{n: n, off: -1}
	if align == 1 {
		f.bySize.AscendGreaterOrEqual(from, func(s span) bool {
			found, ok = s, true
			return false
		})
		return found, ok
	}
	// A range this long fits whatever its offset. (Alloc bounds n and
	// align far below overflow.)
	sure := n + align - 1
	scan := func(limit int) (stopped span, limited bool) {
		seen := 0
		f.bySize.AscendGreaterOrEqual(from, func(s span) bool {
			if s.n >= sure || s.n-alignPad(base+s.off, align) >= n {
				found, ok = s, true
				return false
			}
			if seen++; seen >= limit {
				stopped, limited = s, true
				return false
			}
			return true
		})
		return stopped, limited
	}
	stopped, limited := scan(scanLimit)
	if ok || !limited {
		return found, ok
	}
	f.bySize.AscendGreaterOrEqual(span{n: sure, off: -1}, func(s span) bool {
		found, ok = s, true
		return false
	})
	if ok {
		return found, ok
	}
	// Nothing that long: only the near misses remain, check them all.
	from = span{n: stopped.n, off: stopped.off + 1}
	scan(math.MaxInt)
	return found, ok
}

// alignPad returns how many units lie between u and the next multiple of
// align.
func alignPad(u, align int64) int64 { return -u & (align - 1) }

// ascend calls fn for each free range in offset order.
func (f *freeIndex) ascend(fn func(s span) bool) {
	f.byOff.Ascend(btree.ItemIteratorG[span](fn))
}

func (f *freeIndex) largest() int64 {
	s, _ := f.bySize.Max()
	return s.n
}
