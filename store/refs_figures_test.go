package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daxkv/daxkv/store/internal/btree"
)

// TestRefFigures measures the figures of docs/PERFORMANCE.md, "Snapshots
// and branches". It reports and asserts nothing about speed, and runs only
// when asked:
//
//	DAXKV_REF_FIGURES=10000,1000000,10000000 go test -run TestRefFigures -v -timeout 30m ./store/
//
// For each store size (16-byte keys, 100-byte values, on /dev/shm): the
// latency of CreateSnapshot, CreateBranch, Restore and the deletes with 10
// puts before each (a snapshot, or a branch of a branch, checkpoints them;
// a snapshot is also timed without), a diff of two
// snapshots 100 keys apart with the share of nodes it read, and the space
// a snapshot holds after 10% of the keys are rewritten, freed by
// deleting it.
func TestRefFigures(t *testing.T) {
	env := os.Getenv("DAXKV_REF_FIGURES")
	if env == "" {
		t.Skip("set DAXKV_REF_FIGURES=10000,1000000 to measure")
	}
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("DAXKV_REF_FIGURES: %q", f)
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) { refFigures(t, n) })
	}
}

func refFigures(t *testing.T, n uint64) {
	// Room for a second copy of every leaf: the space test rewrites 10%
	// of the keys, which touches nearly every leaf, under a snapshot.
	size := max(int64(n)*400, 256<<20) &^ (1<<20 - 1)
	path := filepath.Join(shmDir(t), "figures.region")
	db, err := Open(path, &Options{Size: size})
	must(t, err)
	defer db.Close()
	val := make([]byte, 100)
	var kb [16]byte
	start := time.Now()
	for i := uint64(0); i < n; i += 1000 {
		must(t, db.Update(func(tx *Tx) error {
			for j := i; j < min(i+1000, n); j++ {
				if err := tx.Put(benchKey(kb[:], j), val); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	must(t, db.checkpoint())
	t.Logf("%d keys loaded in %v; extents use %.1f MiB", n, time.Since(start).Round(time.Millisecond), mib(db.alloc.Stats().Used))

	rng := rand.New(rand.NewPCG(n, 1))
	touch := func(k int) {
		for ; k > 0; k-- {
			val[0]++
			must(t, db.Put(benchKey(kb[:], rng.Uint64N(n)), val))
		}
	}
	const rounds = 200
	// measure times op over rounds, with puts random puts to main before
	// each (which the op's checkpoint then applies).
	measure := func(what string, puts int, op func(i int) error) {
		lat := make([]time.Duration, rounds)
		for i := range lat {
			touch(puts)
			t0 := time.Now()
			must(t, op(i))
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		t.Logf("%-22s %9d keys: p50 %8v  p99 %8v  max %8v", what, n,
			lat[rounds/2].Round(time.Microsecond), lat[rounds*99/100].Round(time.Microsecond), lat[rounds-1].Round(time.Microsecond))
	}
	measure("CreateSnapshot", 10, func(i int) error { _, err := db.CreateSnapshot(fmt.Sprint("s", i), ""); return err })
	measure("CreateSnapshot, idle", 0, func(i int) error { _, err := db.CreateSnapshot(fmt.Sprint("i", i), ""); return err })
	measure("CreateBranch of a snap", 10, func(i int) error { return db.CreateBranch(fmt.Sprint("b", i), fmt.Sprint("s", i)) })
	measure("CreateBranch of main", 10, func(i int) error { return db.CreateBranch(fmt.Sprint("m", i), "") })
	measure("Restore", 10, func(i int) error { return db.Restore(MainBranch, fmt.Sprint("s", i)) })
	measure("DeleteBranch", 10, func(i int) error { return db.DeleteBranch(fmt.Sprint("b", i)) })
	for i := 0; i < rounds; i++ {
		must(t, db.DeleteBranch(fmt.Sprint("m", i)))
	}
	measure("DeleteSnapshot", 10, func(i int) error { return db.DeleteSnapshot(fmt.Sprint("s", i)) })
	for i := 0; i < rounds; i++ {
		must(t, db.DeleteSnapshot(fmt.Sprint("i", i)))
	}

	// Diff of two snapshots 100 keys apart.
	_, err = db.CreateSnapshot("a", "")
	must(t, err)
	touch(100)
	_, err = db.CreateSnapshot("b", "")
	must(t, err)
	changes := 0
	t0 := time.Now()
	visited, err := db.diff("a", "b", func([]byte, Change) error { changes++; return nil })
	took := time.Since(t0)
	must(t, err)
	nodes := 0
	must(t, db.guard(func() error {
		root, _ := db.vers.cur.Load().root(db.mainID())
		return db.tree.Walk(root, func(e btree.Extent, first bool) error {
			if e.Kind == btree.KindNode {
				nodes++
			}
			return nil
		})
	}))
	t.Logf("Diff of snapshots 100 puts apart, %d keys: %d changes in %v, read %d of %d nodes (%.3f%%)",
		n, changes, took.Round(time.Microsecond), visited, nodes, 100*float64(visited)/float64(nodes))
	must(t, db.DeleteSnapshot("a"))
	must(t, db.DeleteSnapshot("b"))

	// Space: rewrite 10% of the keys after a snapshot, then delete it.
	settle := func() int64 {
		for db.vers.pinned() > 1 {
			time.Sleep(time.Millisecond)
		}
		return db.alloc.Stats().Used
	}
	before := settle()
	_, err = db.CreateSnapshot("s", "")
	must(t, err)
	for i := uint64(0); i < n; i += 10 {
		val[1]++
		must(t, db.Put(benchKey(kb[:], i), val))
	}
	must(t, db.checkpoint())
	withSnap := settle()
	t0 = time.Now()
	space, err := db.RefSpace(t.Context())
	spaceTook := time.Since(t0)
	must(t, err)
	var snap RefSpace
	for _, s := range space {
		if s.Name == "s" {
			snap = s
		}
	}
	t0 = time.Now()
	must(t, db.DeleteSnapshot("s"))
	delTook := time.Since(t0)
	after := settle()
	t.Logf("Space, %d keys, 10%% rewritten after a snapshot: extents use %.1f MiB before it, %.1f MiB with it; RefSpace (%v) says it holds %.1f MiB alone, refers to %.1f MiB; deleting it (%v) freed %.1f MiB, leaving %.1f MiB",
		n, mib(before), mib(withSnap), spaceTook.Round(time.Millisecond), mib(snap.Unique), mib(snap.Refer), delTook.Round(time.Microsecond), mib(withSnap-after), mib(after))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
