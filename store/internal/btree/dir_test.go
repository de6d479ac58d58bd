package btree

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// TestSmallBatches overwrites a few keys of a multi-leaf tree again and
// again with values whose sizes keep changing, mixing inline and extent
// values, inserts and deletes: each batch must cost only the nodes on the
// changed paths, and the tree must match the model and pass Check after
// every batch.
func TestSmallBatches(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	m := model{}
	var muts []Mutation
	for i := 0; i < 3000; i++ {
		k := []byte(fmt.Sprintf("k%06d", i))
		v := bytes.Repeat([]byte{byte(i)}, 40)
		muts = append(muts, Mutation{Key: k, Value: e.value(v)})
		m[string(k)] = v
	}
	root, _ := e.apply(0, muts)
	if heightOf(t, e.tr, root) < 2 {
		t.Fatal("want a tree with internal nodes")
	}
	e.verify(e.tr, root, m)
	hot := []string{"k000100", "k000101", "k000102", "k001500", "k002999"}
	for round := 0; round < 400; round++ {
		muts = muts[:0]
		for j, k := range hot {
			switch n := (round*7 + j*13) % 300; {
			case n < 20 && round%5 == 0:
				muts = append(muts, Mutation{Key: []byte(k), Delete: true})
				delete(m, k)
			default:
				v := bytes.Repeat([]byte{byte(round)}, n) // 0..299: inline and extents
				muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
				m[k] = v
			}
		}
		// A new key in the same leaves, now and then.
		if round%50 == 0 {
			k := fmt.Sprintf("k000100-%d", round)
			v := []byte("new")
			muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
			m[k] = v
		}
		slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
		before := e.al.Stats().Extents
		r, z := e.apply(root, muts)
		e.free(z, []int64{r})
		root = r
		e.verify(e.tr, root, m)
		e.recount([]int64{root})
		// Three leaves change (100-102 share one), plus their parents:
		// the node count stays flat; a leaf may split or merge, the tree
		// is never rewritten.
		if grown := e.al.Stats().Extents - before; grown > 8 {
			t.Fatalf("round %d: %d more extents after a 5-key batch", round, grown)
		}
	}
}

// TestDirCommonPrefix builds a tree whose separators all share a long
// prefix while its first and last leaves also hold keys without it, and
// reads every key (and some absent ones) through the directory.
func TestDirCommonPrefix(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	m := model{}
	keys := []string{"a1", "b2", "m", "m00000", "z9", "zz"}
	for i := 0; i < 3000; i++ {
		keys = append(keys, fmt.Sprintf("m%010d", i*7))
	}
	slices.Sort(keys)
	var muts []Mutation
	for _, k := range keys {
		v := []byte("v-" + k)
		muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
		m[k] = v
	}
	root, _ := e.apply(0, muts)
	d, err := e.tr.BuildDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.Leaves() < 3 || !bytes.HasPrefix(d.common, []byte("m0000")) {
		t.Fatalf("%d leaves, common prefix %q: the test wants many leaves under a long common prefix", d.Leaves(), d.common)
	}
	t.Logf("common %q, %d leaves, last low %q", d.common, d.Leaves(), d.low(d.Leaves()-1))
	probes := append([]string{"", "0", "a", "m0", "m0000000000", "m9", "n", "z", "zzz", "\xff"}, keys...)
	for _, k := range probes {
		if k == "" {
			continue
		}
		v, ok, err := e.tr.GetDir(d, []byte(k))
		want, wantOK := m[k]
		if err != nil || ok != wantOK || (ok && !bytes.Equal(e.bytesOf(v), want)) {
			t.Fatalf("GetDir(%q) = %q, %v, %v; want %q, %v", k, e.bytesOf(v), ok, err, want, wantOK)
		}
	}
}
