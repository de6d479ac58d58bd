package rmap

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// scratch hands the Builder keys that are overwritten right after each call,
// as the mapping-backed keys of btree.Walker may be.
type scratch struct{ lo, hi []byte }

func (s *scratch) keys(lo, hi []byte) ([]byte, []byte) {
	if lo != nil {
		s.lo = append(s.lo[:0], lo...)
		lo = s.lo
	}
	if hi != nil {
		s.hi = append(s.hi[:0], hi...)
		hi = s.hi
	}
	return lo, hi
}

func (s *scratch) scribble() {
	for i := range s.lo {
		s.lo[i] = 0xff
	}
	for i := range s.hi {
		s.hi[i] = 0xee
	}
}

// feedWalks walks every ref of f with one shared walker, as the store does,
// into b (StartWalk, Visit), and returns what b must hold: identities and
// bounds from the reports, and refs by reachability over the reported
// parent -> child edges, which the walker knows and the Builder infers.
func feedWalks(f *forest, b *Builder) *model {
	md := newModel()
	kids := map[int][]int{}
	roots := map[uint32][]int{}
	w := f.walker()
	var s scratch
	for _, ref := range f.refIDs() {
		b.StartWalk(ref)
		w.walk(f.roots[ref], func(r report) {
			lo, hi := r.bounds()
			i := md.report(r.off, r.n, r.kind, r.level, lo, hi)
			lo, hi = s.keys(lo, hi)
			b.Visit(r.off, r.n, r.kind, r.level, lo, hi)
			s.scribble()
			if r.parent < 0 {
				roots[ref] = append(roots[ref], i)
			} else {
				p := md.at[identity{r.parent, nodeSize, Node}]
				kids[p] = append(kids[p], i)
			}
		})
	}
	// Refs by root: a thousand snapshots of one root are one search.
	byRoot := map[int][]uint32{}
	for ref, rs := range roots {
		for _, i := range rs {
			byRoot[i] = append(byRoot[i], ref)
		}
	}
	for root, refs := range byRoot {
		seen := map[int]bool{}
		for todo := []int{root}; len(todo) > 0; {
			i := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			if seen[i] {
				continue
			}
			seen[i] = true
			for _, ref := range refs {
				md.addRef(i, ref)
			}
			todo = append(todo, kids[i]...)
		}
	}
	return md
}

// reachable is the ground truth: each ref walked alone, the set of refs
// that reach each extent.
func reachable(f *forest) map[identity][]uint32 {
	refs := map[identity][]uint32{}
	for _, ref := range f.refIDs() {
		f.walker().walk(f.roots[ref], func(r report) {
			id := identity{r.off, r.n, r.kind}
			if rs := refs[id]; len(rs) == 0 || rs[len(rs)-1] != ref { // refs are walked in order
				refs[id] = append(rs, ref)
			}
		})
	}
	return refs
}

// grow adds refs to f: snapshots and branches of random refs, each branch
// then updated a few times.
func grow(f *forest, count, updates int, moveSep bool) {
	for id := uint32(2); id < uint32(count)+2; id++ {
		ids := f.refIDs()
		f.clone(id, ids[f.r.IntN(len(ids))])
		for range f.r.IntN(updates + 1) {
			f.update(id, moveSep)
		}
	}
}

func allOwners(m *Map) []Owner { return slices.Collect(m.All()) }

// compacting runs test as is, then with the Builder's log compacted every
// few reports: in the middle of walks, with repeats on both sides.
func compacting(t *testing.T, test func(t *testing.T)) {
	t.Run("compact=default", test)
	t.Run("compact=often", func(t *testing.T) {
		defer func(old int) { minCompact = old }(minCompact)
		minCompact = 4
		test(t)
	})
}

func TestWalkPropagatesRefs(t *testing.T) {
	compacting(t, func(t *testing.T) {
		for seed := range uint64(8) {
			f := newForest(seed, 300+int(seed)*97, 4+int(seed%5), 60)
			grow(f, 1+int(seed)*3, 6, seed%2 == 0)
			b := NewBuilder()
			md := feedWalks(f, b)
			m := b.Finish()
			r := rand.New(rand.NewPCG(seed, 3))
			probe(t, r, m, md, 0, f.next, 300)

			// Refs match each ref walked alone: the shared walker reports a
			// shared subtree once, and Finish must still hand it every ref.
			truth := reachable(f)
			got := allOwners(m)
			if len(got) != len(truth) {
				t.Fatalf("seed %d: %d owners, %d reachable extents", seed, len(got), len(truth))
			}
			for _, o := range got {
				want := truth[identity{o.Off, o.Len, o.Kind}]
				if !slices.Equal(o.Refs, want) {
					t.Fatalf("seed %d: %v: refs %v, want %v", seed, o, o.Refs, want)
				}
			}
		}
	})
}

// TestWalkPerRefAdd is the other way to fill a Builder: each ref walked
// alone, every report given to Add with its ref. Refs come out the same.
func TestWalkPerRefAdd(t *testing.T) {
	compacting(t, func(t *testing.T) {
		f := newForest(5, 2000, 8, 50)
		grow(f, 10, 10, true)
		walked := NewBuilder()
		feedWalks(f, walked)
		b, md := NewBuilder(), newModel()
		for _, ref := range f.refIDs() {
			f.walker().walk(f.roots[ref], func(r report) {
				lo, hi := r.bounds()
				b.Add(r.off, r.n, r.kind, r.level, lo, hi, ref)
				md.add(r.off, r.n, r.kind, r.level, lo, hi, ref)
			})
		}
		m, mw := b.Finish(), walked.Finish()
		probe(t, rand.New(rand.NewPCG(5, 5)), m, md, 0, f.next, 500)
		a, w := allOwners(m), allOwners(mw)
		if len(a) != len(w) {
			t.Fatalf("%d owners from Add, %d from Visit", len(a), len(w))
		}
		for i := range a {
			if a[i].Off != w[i].Off || !slices.Equal(a[i].Refs, w[i].Refs) {
				t.Fatalf("Add: %v, Visit: %v", a[i], w[i])
			}
		}
	})
}

// TestWalkCorrupt: pointers to nodes of other levels, to ancestors (cycles),
// to nothing, values pointing at nodes. The map must still hold every
// report, and refs must follow the reported edges.
func TestWalkCorrupt(t *testing.T) {
	compacting(t, func(t *testing.T) {
		for seed := range uint64(12) {
			f := newForest(seed, 500, 5, 70)
			grow(f, 6, 4, true)
			for _, ref := range f.refIDs() {
				f.corrupt(ref, 1+int(seed%4))
			}
			b := NewBuilder()
			md := feedWalks(f, b)
			m := b.Finish()
			probe(t, rand.New(rand.NewPCG(seed, 4)), m, md, 0, f.next, 300)
		}
	})
}

// TestWalkManyRefs: a thousand snapshots of one tree, a few branches
// diverging. Every extent must name every ref that reaches it, and the
// ref sets must be shared, not one per extent.
func TestWalkManyRefs(t *testing.T) {
	compacting(t, func(t *testing.T) {
		f := newForest(9, 5000, 16, 80)
		snapshots := uint32(1000)
		if raceEnabled {
			snapshots = 250 // the race detector slows the model tenfold; nothing here is concurrent
		}
		for id := uint32(2); id <= snapshots; id++ {
			f.clone(id, 1)
		}
		for id := snapshots + 1; id <= snapshots+10; id++ {
			f.clone(id, 1)
			for range 20 {
				f.update(id, false)
			}
		}
		b := NewBuilder()
		md := feedWalks(f, b)
		m := b.Finish()
		truth := reachable(f)
		for _, o := range allOwners(m) {
			want := truth[identity{o.Off, o.Len, o.Kind}]
			if !slices.Equal(o.Refs, want) {
				t.Fatalf("%v: refs %v, want %v", o, o.Refs, want)
			}
		}
		if !reflect.DeepEqual(allOwners(m), md.lookup(0, math.MaxInt64)) {
			t.Fatal("map differs from the model")
		}
		// Sets: all snapshots, that plus some of the 10 branches, each branch's
		// own: a few dozen at most however many extents there are.
		if n := m.sets.count(); n > 200 {
			t.Fatalf("%d distinct ref sets for %d extents", n, m.Len())
		}
		t.Logf("%d extents, %d ref sets, %d bytes (%.1f per extent)",
			m.Len(), m.sets.count(), m.MemoryBytes(), float64(m.MemoryBytes())/float64(m.Len()))
	})
}

// TestVisitParents pins the inference rules on a hand-made report stream.
func TestVisitParents(t *testing.T) {
	b := NewBuilder()
	k := func(s string) []byte { return []byte(s) }
	b.Visit(0, 4096, Node, 0, nil, nil) // before any walk: no ref
	b.StartWalk(1)
	b.Visit(1<<12, 4096, Node, 2, nil, nil)             // root
	b.Visit(2<<12, 4096, Node, 1, nil, k("m"))          // child of the root
	b.Visit(3<<12, 4096, Node, 0, nil, k("f"))          // leaf
	b.Visit(4<<12, 300, Value, 0, k("a"), k("a"))       // its value
	b.Visit(5<<12, 4096, Node, 1, k("m"), nil)          // second child of the root
	b.Visit(6<<12, 300, Value, 0, k("z"), k("z"))       // no leaf since the level-1 node: orphan, direct ref
	b.Visit(7<<12, 4096, Node, 3, nil, nil)             // no level 4 above: orphan, direct ref
	b.Visit(8<<12, 4096, Node, -1, nil, nil)            // unreadable root: direct ref
	b.Visit(9<<12, 4096, Node, 0, k("a"), k("b"))       // the level-3 node cleared the path below it: orphan
	b.Visit(10<<12, 4096, Node, math.MaxInt8, nil, nil) // highest tracked level
	b.Visit(11<<12, 4096, Node, math.MaxInt8-1, nil, nil)
	b.StartWalk(2)
	b.Visit(1<<12, 4096, Node, 2, nil, nil) // ref 2 shares ref 1's root
	b.StartWalk(3)
	b.Visit(12<<12, 4096, Node, 1, nil, nil)
	b.Visit(5<<12, 4096, Node, 0, nil, nil) // shared at another level (corrupt): still an edge
	m := b.Finish()
	want := map[int64][]uint32{
		0: nil, 1 << 12: {1, 2}, 2 << 12: {1, 2}, 3 << 12: {1, 2}, 4 << 12: {1, 2}, 5 << 12: {1, 2, 3},
		6 << 12: {1}, 7 << 12: {1}, 8 << 12: {1}, 9 << 12: {1}, 10 << 12: {1}, 11 << 12: {1}, 12 << 12: {3},
	}
	got := allOwners(m)
	if len(got) != len(want) {
		t.Fatalf("%d owners: %s", len(got), owners(got))
	}
	for _, o := range got {
		if !slices.Equal(o.Refs, want[o.Off]) {
			t.Errorf("%v: refs %v, want %v", o, o.Refs, want[o.Off])
		}
	}
}
