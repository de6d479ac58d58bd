package alloc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

// model is the reference: one owner per unit.
type model struct {
	startU, sizeU int64
	scanLimit     int
	owner         []int64 // extent start + 1 covering each unit, or 0
	bad           []bool
	length        []int64  // at an extent's start unit: its length; else 0
	refs          []uint32 // at an extent's start unit: its refcount
	live, zombie  offSet
}

// offSet is a set of unit offsets with random picks.
type offSet struct {
	items []int64
	pos   map[int64]int
}

func (s *offSet) add(u int64) {
	if s.pos == nil {
		s.pos = map[int64]int{}
	}
	s.pos[u] = len(s.items)
	s.items = append(s.items, u)
}

func (s *offSet) remove(u int64) {
	i := s.pos[u]
	last := s.items[len(s.items)-1]
	s.items[i] = last
	s.pos[last] = i
	s.items = s.items[:len(s.items)-1]
	delete(s.pos, u)
}

func (s *offSet) pick(r *rand.Rand) (int64, bool) {
	if len(s.items) == 0 {
		return 0, false
	}
	return s.items[r.IntN(len(s.items))], true
}

func newModel(startU, sizeU int64, scanLimit int) *model {
	return &model{
		startU: startU, sizeU: sizeU, scanLimit: scanLimit,
		owner: make([]int64, sizeU), bad: make([]bool, sizeU),
		length: make([]int64, sizeU), refs: make([]uint32, sizeU),
	}
}

func (m *model) isFree(u int64) bool { return m.owner[u] == 0 && !m.bad[u] }

// runs returns the maximal runs of units where in(u) holds.
func (m *model) runs(in func(u int64) bool) []span {
	var out []span
	for u := int64(0); u < m.sizeU; {
		if !in(u) {
			u++
			continue
		}
		s := u
		for u < m.sizeU && in(u) {
			u++
		}
		out = append(out, span{s, u - s})
	}
	return out
}

// freeRuns is runs(m.isFree), skipping whole extents (the hot path).
func (m *model) freeRuns() []span {
	var out []span
	for u := int64(0); u < m.sizeU; {
		if o := m.owner[u]; o != 0 {
			u = o - 1 + m.length[o-1]
			continue
		}
		if m.bad[u] {
			u++
			continue
		}
		s := u
		for u < m.sizeU && m.owner[u] == 0 && !m.bad[u] {
			u++
		}
		out = append(out, span{s, u - s})
	}
	return out
}

// expectAlloc says where Alloc must place n units aligned to align units:
// best fit by (length, offset), with the allocator's scan limit on
// misaligned near misses. Spelled out independently of freeIndex.bestFit.
func (m *model) expectAlloc(n, align int64) (int64, bool) {
	var cands []span
	for _, r := range m.freeRuns() {
		if r.n >= n {
			cands = append(cands, r)
		}
	}
	slices.SortFunc(cands, func(x, y span) int {
		if lessSize(x, y) {
			return -1
		}
		return 1
	})
	pad := func(r span) int64 { return -(m.startU + r.off) & (align - 1) }
	fits := func(r span) bool { return r.n-pad(r) >= n }
	best, misses := -1, 0
	for i, r := range cands {
		if fits(r) {
			best = i
			break
		}
		misses++
	}
	if best < 0 {
		return 0, false
	}
	if misses >= m.scanLimit {
		// The allocator gave up scanning: it takes the first range that
		// fits at any alignment, if one exists.
		for _, r := range cands {
			if r.n >= n+align-1 {
				return r.off + pad(r), true
			}
		}
	}
	return cands[best].off + pad(cands[best]), true
}

func (m *model) alloc(u, n int64) {
	for i := u; i < u+n; i++ {
		m.owner[i] = u + 1
	}
	m.refs[u], m.length[u] = 1, n
	m.live.add(u)
}

func (m *model) decref(u int64) {
	m.refs[u]--
	if m.refs[u] == 0 {
		m.live.remove(u)
		m.zombie.add(u)
	}
}

func (m *model) free(u int64) {
	for i := u; i < u+m.length[u]; i++ {
		m.owner[i] = 0
	}
	m.refs[u], m.length[u] = 0, 0
	m.zombie.remove(u)
}

func (m *model) state() state {
	var s state
	s.Stats.Size = m.sizeU * UnitSize
	for u := int64(0); u < m.sizeU; u++ {
		switch {
		case m.owner[u] != 0:
			if m.refs[m.owner[u]-1] == 0 {
				s.Stats.Zombie += UnitSize
			} else {
				s.Stats.Used += UnitSize
			}
			if m.bad[u] {
				s.Stats.QuarantinedInExtents += UnitSize
			}
			if m.owner[u] == u+1 {
				s.Extents = append(s.Extents, extentRec{(m.startU + u) * UnitSize, m.length[u] * UnitSize, m.refs[u]})
			}
		case m.bad[u]:
			s.Stats.Quarantined += UnitSize
		default:
			s.Stats.Free += UnitSize
		}
	}
	toRanges := func(sp []span) []Range {
		var out []Range
		for _, r := range sp {
			out = append(out, Range{(m.startU + r.off) * UnitSize, r.n * UnitSize})
		}
		return out
	}
	s.Quar = toRanges(m.runs(func(u int64) bool { return m.bad[u] }))
	s.Free = toRanges(m.runs(m.isFree))
	for _, r := range s.Free {
		s.Stats.LargestFree = max(s.Stats.LargestFree, r.Len)
	}
	s.Stats.FreeRanges = len(s.Free)
	s.Stats.Extents = len(s.Extents)
	s.Stats.Zombies = len(m.zombie.items)
	return s
}

type modelCounts struct{ allocs, noSpace, aligned, increfs, decrefs, frees, quarantines, badCalls, images int }

// runModel applies ops random operations to an allocator and the model,
// checking every result and, regularly, the whole state.
func runModel(t *testing.T, seed uint64, ops, scanLimit int) (*Allocator, *model, modelCounts) {
	r := rand.New(rand.NewPCG(seed, 42))
	startU := int64(r.IntN(64)) // any unit, so alignment pads vary
	sizeU := int64(4096 + r.IntN(8192))
	a := mustNew(t, startU*UnitSize, sizeU*UnitSize)
	a.scanLimit = scanLimit
	m := newModel(startU, sizeU, scanLimit)
	var cnt modelCounts
	off := func(u int64) int64 { return (startU + u) * UnitSize }
	fail := func(op int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d op %d: %s", seed, op, fmt.Sprintf(format, args...))
	}
	compare := func(op int) {
		t.Helper()
		if err := a.Check(); err != nil {
			fail(op, "%v", err)
		}
		if d := stateOf(a).diff(m.state()); d != "" {
			fail(op, "allocator vs model: %s", d)
		}
	}

	for op := range ops {
		p := r.IntN(1000)
		// Alternate filling and draining phases, so the space is seen both
		// nearly full and nearly empty, with long runs to coalesce.
		switch drain := op/3000%2 == 1; {
		case drain && p >= 120 && p < 320:
			p += 280 // an alloc becomes a decref
		case !drain && r.IntN(4) == 0:
			p = 0 // an alloc
		}
		switch {
		case p < 320: // alloc: nodes, small and mid values, the odd big one
			var n, align int64
			switch q := r.IntN(20); {
			case q < 8:
				n, align = 4096, 4096
			case q < 14:
				n = 1 + r.Int64N(3000)
			case q < 18:
				n, align = 1+r.Int64N(20000), int64(UnitSize)<<r.IntN(6)
			default:
				n = 1 + r.Int64N(64<<10)
			}
			if align == 0 && r.IntN(2) == 0 {
				align = UnitSize
			}
			units, alignU := (n+UnitSize-1)/UnitSize, max(align/UnitSize, 1)
			want, ok := m.expectAlloc(units, alignU)
			got, err := a.Alloc(n, align)
			cnt.allocs++
			if alignU > 1 {
				cnt.aligned++
			}
			if !ok {
				if !errors.Is(err, ErrNoSpace) {
					fail(op, "Alloc(%d, %d) = %d, %v; want no space", n, align, got, err)
				}
				cnt.noSpace++
				break
			}
			if err != nil || got != off(want) {
				fail(op, "Alloc(%d, %d) = %d, %v; want %d", n, align, got, err, off(want))
			}
			m.alloc(want, units)
		case p < 400: // incref
			u, ok := m.live.pick(r)
			if !ok {
				break
			}
			if err := a.Incref(off(u)); err != nil {
				fail(op, "Incref: %v", err)
			}
			m.refs[u]++
			cnt.increfs++
		case p < 680: // decref
			u, ok := m.live.pick(r)
			if !ok {
				break
			}
			left, err := a.Decref(off(u))
			if err != nil || left != m.refs[u]-1 {
				fail(op, "Decref = %d, %v; want %d", left, err, m.refs[u]-1)
			}
			m.decref(u)
			cnt.decrefs++
		case p < 900: // free
			u, ok := m.zombie.pick(r)
			if !ok {
				break
			}
			if err := a.Free(off(u)); err != nil {
				fail(op, "Free: %v", err)
			}
			m.free(u)
			cnt.frees++
		case p < 906: // quarantine a few sectors anywhere, extents included
			b := r.Int64N(sizeU*UnitSize) + startU*UnitSize
			l := 1 + r.Int64N(3*UnitSize)
			if err := a.Quarantine(b, l); err != nil {
				fail(op, "Quarantine: %v", err)
			}
			for u := b/UnitSize - startU; u < min((b+l+UnitSize-1)/UnitSize-startU, sizeU); u++ {
				m.bad[u] = true
			}
			cnt.quarantines++
		case p < 990: // calls that must fail without changing anything
			cnt.badCalls++
			u := r.Int64N(sizeU)
			refs, isExt := m.refs[u], m.length[u] > 0
			switch q := r.IntN(6); {
			case q == 0 && !isExt:
				wantCall(t, a.Incref(off(u)), errs.Corrupt, op, "Incref of a non-extent")
			case q == 1 && !isExt:
				_, err := a.Decref(off(u))
				wantCall(t, err, errs.Corrupt, op, "Decref of a non-extent")
			case q == 2 && isExt && refs > 0:
				wantCall(t, a.Free(off(u)), errs.Corrupt, op, "Free of a live extent")
			case q == 3:
				if u, ok := m.zombie.pick(r); ok {
					_, err := a.Decref(off(u))
					wantCall(t, err, errs.Corrupt, op, "Decref of a zombie")
					wantCall(t, a.Incref(off(u)), errs.Corrupt, op, "Incref of a zombie")
				}
			case q == 4:
				wantCall(t, a.Incref(off(u)+1+r.Int64N(UnitSize-1)), errs.Invalid, op, "misaligned Incref")
			default:
				gotRefs, gotOK := a.Refs(off(u))
				gotLen, lenOK := a.Len(off(u))
				if gotOK != isExt || lenOK != isExt || gotRefs != refs || gotLen != m.length[u]*UnitSize {
					fail(op, "Refs/Len(%d) = %d %v / %d %v, want %d %v / %d", u, gotRefs, gotOK, gotLen, lenOK, refs, isExt, m.length[u]*UnitSize)
				}
			}
		case p < 992: // clean close and open
			img, err := a.MarshalBinary()
			if err != nil {
				fail(op, "marshal: %v", err)
			}
			b, err := Load(startU*UnitSize, sizeU*UnitSize, img)
			if err != nil {
				fail(op, "load: %v", err)
			}
			if d := stateOf(b).diff(stateOf(a)); d != "" {
				fail(op, "loaded image differs: %s", d)
			}
			b.scanLimit = scanLimit
			a = b // carry on with the loaded one
			cnt.images++
		}
		if s := a.Stats(); s.Used+s.Zombie+s.Free+s.Quarantined != s.Size {
			fail(op, "stats do not add up: %+v", s)
		}
		if op%101 == 0 {
			compare(op)
		}
	}
	compare(ops)
	return a, m, cnt
}

func wantCall(t *testing.T, err, target error, op int, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("op %d: %s: got %v, want %v", op, what, err, target)
	}
}

func TestModel(t *testing.T) {
	ops, seeds := 30000, uint64(1)
	switch {
	case torture:
		ops, seeds = 300000, 5
	case testing.Short():
		ops = 12000
	}
	type run struct {
		seed      uint64
		scanLimit int
	}
	var runs []run
	for s := range seeds {
		runs = append(runs, run{1 + 4*s, math.MaxInt}, run{2 + 4*s, math.MaxInt}, run{3 + 4*s, defaultScanLimit}, run{4 + 4*s, 2})
	}
	for _, c := range runs {
		t.Run(fmt.Sprintf("seed%d/limit%d", c.seed, min(c.scanLimit, 1000)), func(t *testing.T) {
			t.Parallel()
			_, _, cnt := runModel(t, c.seed, ops, c.scanLimit)
			t.Logf("%+v", cnt)
			// The op mix must reach every path, or the test proves little.
			if cnt.noSpace == 0 || cnt.frees < ops/20 || cnt.aligned == 0 || cnt.quarantines == 0 || cnt.images == 0 {
				t.Fatalf("op mix did not exercise everything: %+v", cnt)
			}
		})
	}
}
