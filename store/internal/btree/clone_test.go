package btree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// version is one root (a branch or snapshot) and what it must hold.
type version struct {
	root int64
	m    model
}

// TestClones runs random operations on a set of versions sharing nodes and
// value extents: clone (Ref), Apply to one version, Release. After every
// operation each version reads back exactly its own model, refcounts
// equal a recount over all roots, zombies are unreachable, and Diff
// between two versions reports exactly the models' differences. Releasing
// every version leaves the allocator empty.
func TestClones(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	muts, m := e.batch(model{}, 1500, 0)
	root, _ := e.apply(0, muts)
	vs := []version{{root, m}}
	roots := func() []int64 {
		var r []int64
		for _, v := range vs {
			r = append(r, v.root)
		}
		return r
	}
	ops := 150
	if testing.Short() {
		ops = 50
	}
	for op := 0; op < ops; op++ {
		i := e.rng.IntN(len(vs))
		switch r := e.rng.IntN(10); {
		case r < 3 && len(vs) < 8: // clone
			if err := e.tr.Ref(vs[i].root); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, version{vs[i].root, vs[i].m.clone()})
		case r < 4 && len(vs) > 1: // release
			z, err := e.tr.Release(vs[i].root)
			if err != nil {
				t.Fatal(err)
			}
			vs = slices.Delete(vs, i, i+1)
			e.free(z, roots())
		default: // update one version
			muts, next := e.batch(vs[i].m, 1+e.rng.IntN(120), 0.3)
			r, z := e.apply(vs[i].root, muts)
			vs[i] = version{r, next}
			e.free(z, roots())
		}
		for _, v := range vs {
			e.verify(e.tr, v.root, v.m)
		}
		e.recount(roots())
		a, b := vs[e.rng.IntN(len(vs))], vs[e.rng.IntN(len(vs))]
		checkDiff(t, e, a, b)
	}
	for _, v := range vs {
		z, err := e.tr.Release(v.root)
		if err != nil {
			t.Fatal(err)
		}
		vs = vs[1:]
		e.free(z, roots())
		e.recount(roots())
	}
	if st := e.al.Stats(); st.Used != 0 || st.Extents != 0 {
		t.Fatalf("after releasing every version: %+v", st)
	}
}

// checkDiff compares Diff(a, b) with the difference of the models.
func checkDiff(t *testing.T, e *env, a, b version) {
	t.Helper()
	want := map[string]string{}
	for k, v := range a.m {
		if w, ok := b.m[k]; !ok {
			want[k] = "removed"
		} else if !bytes.Equal(v, w) {
			want[k] = "modified"
		}
	}
	for k := range b.m {
		if _, ok := a.m[k]; !ok {
			want[k] = "added"
		}
	}
	got := map[string]string{}
	var prev []byte
	_, err := e.tr.Diff(a.root, b.root, func(key []byte, old, new *Value) error {
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("keys out of order: %x then %x", prev, key)
		}
		prev = bytes.Clone(key)
		switch {
		case old == nil && new != nil:
			got[string(key)] = "added"
			if !bytes.Equal(e.bytesOf(*new), b.m[string(key)]) {
				return fmt.Errorf("added %x: wrong value", key)
			}
		case new == nil && old != nil:
			got[string(key)] = "removed"
		case old != nil && new != nil:
			got[string(key)] = "modified"
			if !bytes.Equal(e.bytesOf(*old), a.m[string(key)]) || !bytes.Equal(e.bytesOf(*new), b.m[string(key)]) {
				return fmt.Errorf("modified %x: wrong values", key)
			}
		default:
			return fmt.Errorf("%x: both values nil", key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	for k, g := range got {
		if w := want[k]; w != g {
			t.Fatalf("Diff: key %x reported %q, model says %q", k, g, w)
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("Diff: key %x not reported (%s); got %d changes, want %d", k, w, len(got), len(want))
		}
	}
}

// TestDiffCost: two versions of a 100K-key tree that differ in 10 keys.
// Diff must report exactly those and read few nodes.
func TestDiffCost(t *testing.T) {
	e := newEnv(t, 128<<20, false)
	const n = 100_000
	m := model{}
	root := int64(0)
	for start := 0; start < n; start += 10_000 {
		var muts []Mutation
		for i := start; i < start+10_000; i++ {
			k := fmt.Appendf(nil, "key-%08d", i*7919%n)
			muts = append(muts, Mutation{Key: k, Value: Value{Inline: fmt.Appendf(nil, "value-%d", i)}})
			m[string(k)] = muts[len(muts)-1].Value.Inline
		}
		slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
		var z []int64
		root, z = e.apply(root, muts)
		e.free(z, []int64{root})
	}
	if err := e.tr.Ref(root); err != nil {
		t.Fatal(err)
	}
	base := version{root, m}
	next := m.clone()
	var muts []Mutation
	for i := 0; i < 10; i++ {
		k := fmt.Appendf(nil, "key-%08d", i*9973)
		switch i % 3 {
		case 0:
			muts = append(muts, Mutation{Key: k, Delete: true})
			delete(next, string(k))
		case 1:
			muts = append(muts, Mutation{Key: k, Value: Value{Inline: []byte("changed")}})
			next[string(k)] = []byte("changed")
		default:
			k = append(k, 'x')
			muts = append(muts, Mutation{Key: k, Value: Value{Inline: []byte("new")}})
			next[string(k)] = []byte("new")
		}
	}
	slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
	r2, z := e.apply(root, muts)
	if len(z) != 0 {
		t.Fatalf("updating a shared tree made zombies: %v", z)
	}
	changed := version{r2, next}
	checkDiff(t, e, base, changed)
	checkDiff(t, e, changed, base)
	visited, err := e.tr.Diff(base.root, changed.root, func([]byte, *Value, *Value) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	h := heightOf(t, e.tr, root)
	nodes := 0
	if err := e.tr.Walk(root, func(x Extent, _ bool) error { nodes++; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("100K keys (%d nodes, height %d), 10 changes: Diff read %d nodes", nodes, h, visited)
	// Per change at most one path per side, plus the internal nodes
	// around a misaligned boundary: generous, yet far below the size.
	if limit := 2 * 10 * h * 2; visited > limit {
		t.Fatalf("Diff read %d nodes, want at most %d", visited, limit)
	}
}

// TestConcurrentReaders: readers check a snapshot while one writer keeps
// updating a branch cloned from it and frees its zombies at once (no
// reader can see them: they are not the snapshot's). The race detector
// flags any write to memory a reader uses.
func TestConcurrentReaders(t *testing.T) {
	e := newEnv(t, 32<<20, false)
	muts, m := e.batch(model{}, 2000, 0)
	snap, _ := e.apply(0, muts)
	if err := e.tr.Ref(snap); err != nil {
		t.Fatal(err)
	}
	branch := snap
	keys := m.keys()
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for r := 0; r < 3; r++ {
		go func(seed uint64) {
			rng := rand.New(rand.NewPCG(seed, seed))
			for {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				k := keys[rng.IntN(len(keys))]
				v, ok, err := e.tr.Get(snap, []byte(k))
				if err != nil || !ok || !bytes.Equal(e.bytesOf(v), m[k]) {
					errc <- fmt.Errorf("Get(%x) = %v, %v", k, ok, err)
					return
				}
				it := e.tr.NewIter(snap)
				i := rng.IntN(len(keys))
				for ok := it.SeekGE([]byte(keys[i])); ok && i < len(keys); ok = it.Next() {
					if string(it.Key()) != keys[i] {
						errc <- fmt.Errorf("iter at %x, want %x", it.Key(), keys[i])
						return
					}
					i++
				}
				if it.Err() != nil {
					errc <- it.Err()
					return
				}
			}
		}(uint64(r))
	}
	bm := m
	for i := 0; i < 40; i++ {
		muts, next := e.batch(bm, 100, 0.3)
		r, z := e.apply(branch, muts)
		e.free(z, []int64{r, snap})
		branch, bm = r, next
	}
	close(stop)
	for r := 0; r < 3; r++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	e.verify(e.tr, branch, bm)
	e.verify(e.tr, snap, m)
}
