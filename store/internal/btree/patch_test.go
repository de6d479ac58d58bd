package btree

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// TestPatchLeaf overwrites a few keys of a multi-leaf tree again and again
// with values whose sizes keep changing, mixing inline and extent values,
// inserts and deletes. Small batches are patched in place; replaced
// entries leave dead heap space until a leaf no longer has room and the
// general path compacts it. The tree must match the model after every
// batch, pass Check, and cost only the nodes on the changed path.
func TestPatchLeaf(t *testing.T) {
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
		// the node count stays flat; the general path may split or merge
		// a leaf, never rewrite the tree.
		if grown := e.al.Stats().Extents - before; grown > 8 {
			t.Fatalf("round %d: %d more extents after a 5-key batch", round, grown)
		}
	}
}
