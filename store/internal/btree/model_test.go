package btree

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// TestModel applies random batches to one tree and compares it with a map
// after each: contents (Get, Iter, SeekGE), Check, refcounts against a
// recount from Walk, zombies never live. It grows the tree, shrinks it to
// nothing and grows it again, then releases it: nothing may leak.
func TestModel(t *testing.T) {
	e := newEnv(t, 64<<20, true)
	m := model{}
	root := int64(0)
	batches := 400
	if testing.Short() {
		batches = 120
	}
	maxHeight, height, shrank := 0, 0, false
	step := func(i, n int, del float64) {
		muts, next := e.batch(m, n, del)
		r, z := e.apply(root, muts)
		e.drain()
		e.free(z, []int64{r})
		root, m = r, next
		e.verify(e.tr, root, m)
		e.recount([]int64{root})
		h := heightOf(t, e.tr, root)
		if h > 0 && h < height {
			shrank = true
		}
		height, maxHeight = h, max(maxHeight, h)
	}
	for i := 0; i < batches; i++ {
		switch {
		case i < batches*5/10: // grow
			step(i, 1+e.rng.IntN(150), 0.1)
		case i < batches*7/10: // shrink
			step(i, 1+e.rng.IntN(300), 0.9)
		case i == batches*7/10: // delete everything left
			var muts []Mutation
			for _, k := range m.keys() {
				muts = append(muts, Mutation{Key: []byte(k), Delete: true})
			}
			r, z := e.apply(root, muts)
			e.free(z, nil)
			if r != 0 {
				t.Fatalf("root %#x after deleting every key, want 0", r)
			}
			root, m = 0, model{}
			e.recount(nil)
			if st := e.al.Stats(); st.Used != 0 {
				t.Fatalf("empty tree, yet %d bytes used", st.Used)
			}
		default: // grow again, with overwrites
			step(i, 1+e.rng.IntN(200), 0.2)
		}
	}
	t.Logf("final tree: %d keys, height %d (max %d)", len(m), heightOf(t, e.tr, root), maxHeight)
	if maxHeight < 3 || !shrank {
		t.Errorf("the test never built a tree of 3 levels (max %d) or never lowered the root (%v)", maxHeight, shrank)
	}
	z, err := e.tr.Release(root)
	if err != nil {
		t.Fatal(err)
	}
	e.free(z, nil)
	if st := e.al.Stats(); st.Used != 0 || st.Zombie != 0 || st.Extents != 0 {
		t.Fatalf("after releasing the only root: %+v", st)
	}
}

func heightOf(t *testing.T, tr *Tree, root int64) int {
	if root == 0 {
		return 0
	}
	n, err := tr.readNode(root, -1)
	if err != nil {
		t.Fatal(err)
	}
	return n.level + 1
}

// TestNoChange: deletes of absent keys change nothing and write nothing.
func TestNoChange(t *testing.T) {
	e := newEnv(t, 8<<20, false)
	muts, m := e.batch(model{}, 500, 0)
	root, _ := e.apply(0, muts)
	before := e.al.Stats()
	r, z, err := e.tr.Apply(root, []Mutation{{Key: []byte("absent-key-\xff"), Delete: true}}, 9)
	if err != nil || r != root || z != nil {
		t.Fatalf("Apply of a no-op = %#x, %v, %v; want %#x", r, z, err, root)
	}
	if r, _, _ := e.tr.Apply(0, []Mutation{{Key: []byte("x"), Delete: true}}, 9); r != 0 {
		t.Fatalf("delete on the empty tree gave root %#x", r)
	}
	if after := e.al.Stats(); after != before {
		t.Fatalf("allocator changed: %+v -> %+v", before, after)
	}
	e.verify(e.tr, root, m)
}

// TestCopyOnWrite checks with the crash tracker that Apply only writes new
// extents: before the caller drains, any crash image still holds the old
// tree intact, and after the drain the persisted image holds the new one.
func TestCopyOnWrite(t *testing.T) {
	e := newEnv(t, 16<<20, true)
	muts, m := e.batch(model{}, 2000, 0)
	root, _ := e.apply(0, muts)
	e.drain()
	for i := 0; i < 5; i++ {
		muts, next := e.batch(m, 300, 0.3)
		r, z := e.apply(root, muts)
		// No drain yet: the old version must be whole in every image
		// power loss could leave (zombies are not freed before commit).
		for j := 0; j < 3; j++ {
			e.recovered(e.tk.CrashImage(e.rng), root, m)
		}
		e.drain()
		e.recovered(e.tk.Persisted(), r, next)
		e.free(z, []int64{r})
		root, m = r, next
	}
}

// TestInvalid: bad batches are refused with errs.Invalid and change nothing.
func TestInvalid(t *testing.T) {
	e := newEnv(t, 4<<20, false)
	muts, m := e.batch(model{}, 200, 0)
	root, _ := e.apply(0, muts)
	before := e.al.Stats()
	long := bytes.Repeat([]byte{'k'}, MaxKey+1)
	bad := [][]Mutation{
		{{Key: nil}},
		{{Key: long}},
		{{Key: []byte("b")}, {Key: []byte("a")}},
		{{Key: []byte("a")}, {Key: []byte("a")}},
		{{Key: []byte("a"), Value: Value{Inline: make([]byte, InlineMax)}}},
		{{Key: []byte("a"), Value: Value{Inline: []byte("x"), Len: 5}}},
		{{Key: []byte("a"), Value: Value{Ext: 12345, Len: 10}}},
		{{Key: []byte("a"), Value: Value{Ext: 1 << 40, Len: 10}}},
		{{Key: []byte("a"), Value: Value{Ext: 1 << 20, Len: -1}}},
		{{Key: []byte("a"), Value: Value{Ext: 1 << 20, Len: 300}}}, // not allocated
	}
	for i, b := range bad {
		r, z, err := e.tr.Apply(root, b, 5)
		if !isInvalid(err) || r != root || z != nil {
			t.Errorf("batch %d: Apply = %#x, %v, %v; want errs.Invalid", i, r, z, err)
		}
	}
	if _, _, err := e.tr.Get(root, long); !isInvalid(err) {
		t.Errorf("Get of a long key: %v", err)
	}
	if after := e.al.Stats(); after != before {
		t.Fatalf("allocator changed: %+v -> %+v", before, after)
	}
	e.verify(e.tr, root, m)
}

// TestRootShrink: a root left with one child is replaced by that child,
// also when the child is an untouched node (its reference moves to the
// root), for an unshared and a shared root.
func TestRootShrink(t *testing.T) {
	for _, shared := range []bool{false, true} {
		e := newEnv(t, 4<<20, false)
		var muts []Mutation
		m := model{}
		for i := 0; ; i++ {
			k := []byte(fmt.Sprintf("key-%04d", i))
			muts = append(muts, Mutation{Key: k, Value: Value{Inline: bytes.Repeat([]byte{'v'}, 200)}})
			m[string(k)] = muts[i].Value.Inline
			if len(pack(leafItems(muts), 0)) == 2 {
				break // just over one leaf's worth
			}
		}
		root, _ := e.apply(0, muts)
		n, err := e.tr.readNode(root, 1)
		if err != nil || n.count != 2 {
			t.Fatalf("setup: root %v, %d children", err, n.count)
		}
		left, _ := n.child(0)
		if shared {
			if err := e.tr.Ref(root); err != nil {
				t.Fatal(err)
			}
		}
		// Delete every key of the right leaf.
		sep, _ := n.key(1)
		var dels []Mutation
		for _, k := range m.keys() {
			if k >= string(sep) {
				dels = append(dels, Mutation{Key: []byte(k), Delete: true})
				delete(m, k)
			}
		}
		r, z := e.apply(root, dels)
		if r != left {
			t.Fatalf("shared %v: new root %#x, want the left leaf %#x", shared, r, left)
		}
		roots := []int64{r}
		if shared {
			roots = append(roots, root)
		}
		e.free(z, roots)
		e.verify(e.tr, r, m)
		e.recount(roots)
		if refs, _ := e.al.Refs(left); int(refs) != len(roots) {
			t.Fatalf("shared %v: left leaf has %d references, want %d", shared, refs, len(roots))
		}
	}
}

func leafItems(muts []Mutation) []item {
	items := make([]item, len(muts))
	for i, m := range muts {
		items[i] = item{key: m.Key, val: m.Value}
	}
	return items
}

// TestReadsDoNotAllocate: Get and iteration allocate nothing, also on the
// first read of each node (checksum and validation).
func TestReadsDoNotAllocate(t *testing.T) {
	e := newEnv(t, 8<<20, false)
	muts, m := e.batch(model{}, 2000, 0)
	root, _ := e.apply(0, muts)
	var keys [][]byte
	for _, k := range m.keys() {
		keys = append(keys, []byte(k))
	}
	tr := e.fresh()
	it := tr.NewIter(root)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		if _, ok, err := tr.Get(root, k); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	it.SeekGE(keys[len(keys)/2])
	runtime.ReadMemStats(&after)
	if n != len(keys) || it.Err() != nil {
		t.Fatal(n, it.Err())
	}
	if d := after.Mallocs - before.Mallocs; d > 0 {
		t.Fatalf("%d Gets and a scan made %d allocations", len(keys), d)
	}
}

// TestNoAllocator: a Tree without an allocator (recovery walks before the
// allocator is rebuilt) reads, walks and checks; its writers refuse.
func TestNoAllocator(t *testing.T) {
	e := newEnv(t, 4<<20, false)
	muts, m := e.batch(model{}, 500, 0)
	root, _ := e.apply(0, muts)
	tr := New(e.mem, nil, plainPersister{})
	e.verify(tr, root, m)
	if err := tr.Walk(root, func(Extent, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Apply(root, muts[:1], 3); !isInvalid(err) {
		t.Errorf("Apply: %v", err)
	}
	if err := tr.Ref(root); !isInvalid(err) {
		t.Errorf("Ref: %v", err)
	}
	if _, err := tr.Release(root); !isInvalid(err) {
		t.Errorf("Release: %v", err)
	}
}
