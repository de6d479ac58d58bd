package btree

import (
	"errors"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/internal/errs"
)

func isNoSpace(err error) bool { return errors.Is(err, errs.NoSpace) }

// allocState is everything observable about an allocator.
type allocState struct {
	stats  alloc.Stats
	extent [][3]int64
	free   [][2]int64
}

func stateOf(al *alloc.Allocator) allocState {
	s := allocState{stats: al.Stats()}
	al.Extents(func(off, n int64, refs uint32) bool {
		s.extent = append(s.extent, [3]int64{off, n, int64(refs)})
		return true
	})
	al.FreeRanges(func(off, n int64) bool {
		s.free = append(s.free, [2]int64{off, n})
		return true
	})
	return s
}

func (s allocState) equal(o allocState) bool {
	return s.stats == o.stats && slices.Equal(s.extent, o.extent) && slices.Equal(s.free, o.free)
}

// TestNoSpace makes Apply run out of space at every point of its node
// allocations, on a shared tree (so that the refcount plan has increfs as
// well as decrefs): each failure must wrap errs.NoSpace and leave the
// allocator exactly as it was, the tree intact, and the batch's value
// extents still the caller's. With room enough, the same batch succeeds.
func TestNoSpace(t *testing.T) {
	e := newEnv(t, 8<<20, false)
	muts, m := e.batch(model{}, 1500, 0)
	root, _ := e.apply(0, muts)
	if err := e.tr.Ref(root); err != nil { // a snapshot shares everything
		t.Fatal(err)
	}
	// A batch spread over many leaves, with extent values of its own.
	batch, next := e.batch(m, 200, 0.3)
	// Take all free space in node-sized pieces (smaller gaps cannot hold
	// a node), then give back k pieces for each attempt.
	var filler []int64
	for {
		off, err := e.al.Alloc(NodeSize, NodeSize)
		if err != nil {
			if !isNoSpace(err) {
				t.Fatal(err)
			}
			break
		}
		filler = append(filler, off)
	}
	release := func(off int64) {
		if _, err := e.al.Decref(off); err != nil {
			t.Fatal(err)
		}
		if err := e.al.Free(off); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; ; k++ {
		before := stateOf(e.al)
		r, z, err := e.tr.Apply(root, batch, 7)
		if err == nil {
			t.Logf("Apply succeeded with %d free node slots (failed at %d earlier points)", k, k)
			if k < 2 {
				t.Fatalf("Apply wrote only %d nodes", k)
			}
			e.verify(e.tr, r, next)
			e.verify(e.tr, root, m)
			e.free(z, []int64{r, root})
			for _, off := range filler {
				release(off)
			}
			e.recount([]int64{r, root})
			break
		}
		if !isNoSpace(err) {
			t.Fatalf("with %d free node slots: %v, want errs.NoSpace", k, err)
		}
		if r != root || z != nil {
			t.Fatalf("failed Apply returned root %#x and zombies %v", r, z)
		}
		if after := stateOf(e.al); !after.equal(before) {
			t.Fatalf("with %d free node slots: allocator changed by a failed Apply\nbefore %+v\nafter  %+v", k, before.stats, after.stats)
		}
		for _, mu := range batch {
			if v := mu.Value; !mu.Delete && v.Ext != 0 {
				if refs, ok := e.al.Refs(v.Ext); !ok || refs != 1 {
					t.Fatalf("value extent %#x of a failed batch has refs %d", v.Ext, refs)
				}
			}
		}
		e.verify(e.tr, root, m)
		if len(filler) == 0 {
			t.Fatal("Apply fails with every slot free")
		}
		release(filler[len(filler)-1])
		filler = filler[:len(filler)-1]
	}
}
