package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/daxkv/daxkv/store"
)

// Snapshot benchmark parameters: each create follows this many random
// overwrites (a snapshot first checkpoints what the branch has buffered,
// so a fixed amount keeps that part constant across store sizes), and
// each diff compares two snapshots this many overwrites apart (fewer in
// small stores).
const (
	snapWrites  = 100
	diffChanges = 1000
)

// SnapshotPoint is one store size of the snapshot benchmark: latencies of
// CreateSnapshot (with nothing buffered: the clone alone; and after
// snapWrites overwrites, which it first checkpoints), CreateBranch (after
// overwrites) and Diff, each over SnapshotReps calls.
type SnapshotPoint struct {
	Keys         int64   `json:"keys"`
	SnapshotIdle Latency `json:"snapshot_idle"`
	Snapshot     Latency `json:"snapshot"`
	Branch       Latency `json:"branch"`
	Diff         Latency `json:"diff"`
	// DiffChanges is how many keys each diff reported.
	DiffChanges int `json:"diff_changes"`
}

// Latency summarises one operation's calls.
type Latency struct {
	Calls int64 `json:"calls"`
	P50   int64 `json:"p50_ns"`
	P99   int64 `json:"p99_ns"`
	Max   int64 `json:"max_ns"`
}

func latencyOf(h *hdr.Histogram) Latency {
	return Latency{Calls: h.TotalCount(), P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), Max: h.Max()}
}

// snapshots measures ref creation and diff at each store size.
func (r *runner) snapshots() ([]SnapshotPoint, error) {
	var out []SnapshotPoint
	for _, size := range r.p.SnapshotSizes {
		pt, err := r.snapshotPoint(size)
		if err != nil {
			return out, fmt.Errorf("snapshot at %d keys: %w", size, err)
		}
		r.logf("%-13s %-14s %9d keys: snapshot p50 %v idle, %v after writes; branch p50 %v; diff of %d changes p50 %v", Snapshot, "daxkv", size,
			time.Duration(pt.SnapshotIdle.P50), time.Duration(pt.Snapshot.P50), time.Duration(pt.Branch.P50), pt.DiffChanges, time.Duration(pt.Diff.P50))
		out = append(out, pt)
	}
	return out, nil
}

func (r *runner) snapshotPoint(size int64) (SnapshotPoint, error) {
	pt := SnapshotPoint{Keys: size}
	dir, err := r.freshDir("snapshot")
	if err != nil {
		return pt, err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "daxkv.region"), &store.Options{Size: r.p.regionFor(size, int64(r.p.ValueSize)), Flush: r.p.Flush})
	if err != nil {
		return pt, err
	}
	defer db.Close()
	s := &daxkvStore{db: db, name: "daxkv"}
	if err := r.preload(s, r.p.values, permutation(size, r.p.Seed, 1), 0); err != nil {
		return pt, err
	}
	rng := newRand(r.p.Seed, runStream(Snapshot, 0, int(size)))
	var kb []byte
	overwrite := func(n int64) error {
		for range n {
			i := rng.Int64N(size)
			kb = r.p.keys.key(kb, i)
			if err := db.Put(kb, r.p.values.value(i, rng.Uint64())); err != nil {
				return err
			}
		}
		return nil
	}
	timed := func(h *hdr.Histogram, record bool, fn func() error) error {
		t0 := time.Now()
		err := fn()
		if record {
			h.RecordValue(max(1, int64(time.Since(t0))))
		}
		return err
	}
	idle, snap, branch, diff := newHist(), newHist(), newHist(), newHist()
	reps := r.p.SnapshotReps
	// Call 0 is the warm-up.
	for i := 0; i <= reps; i++ {
		if err := r.ctx.Err(); err != nil {
			return pt, err
		}
		if err := overwrite(snapWrites); err != nil {
			return pt, err
		}
		if err := timed(snap, i > 0, func() error { _, err := db.CreateSnapshot("bench-snap", ""); return err }); err != nil {
			return pt, err
		}
		if err := db.DeleteSnapshot("bench-snap"); err != nil {
			return pt, err
		}
		// The delete checkpointed everything: this create is the clone.
		if err := timed(idle, i > 0, func() error { _, err := db.CreateSnapshot("bench-snap", ""); return err }); err != nil {
			return pt, err
		}
		if err := db.DeleteSnapshot("bench-snap"); err != nil {
			return pt, err
		}
		if err := overwrite(snapWrites); err != nil {
			return pt, err
		}
		if err := timed(branch, i > 0, func() error { return db.CreateBranch("bench-branch", "") }); err != nil {
			return pt, err
		}
		if err := db.DeleteBranch("bench-branch"); err != nil {
			return pt, err
		}
	}
	changes := min(diffChanges, max(size/10, 1))
	for i := 0; i <= reps; i++ {
		if _, err := db.CreateSnapshot("bench-a", ""); err != nil {
			return pt, err
		}
		if err := overwrite(changes); err != nil {
			return pt, err
		}
		if _, err := db.CreateSnapshot("bench-b", ""); err != nil {
			return pt, err
		}
		n := 0
		err := timed(diff, i > 0, func() error {
			return db.Diff("bench-a", "bench-b", func([]byte, store.Change) error { n++; return nil })
		})
		if err != nil {
			return pt, err
		}
		// Overwrites may repeat a key, and each one writes new bytes.
		if n == 0 || int64(n) > changes {
			return pt, fmt.Errorf("diff reported %d changes after %d overwrites", n, changes)
		}
		pt.DiffChanges = n
		for _, name := range []string{"bench-a", "bench-b"} {
			if err := db.DeleteSnapshot(name); err != nil {
				return pt, err
			}
		}
	}
	pt.SnapshotIdle, pt.Snapshot = latencyOf(idle), latencyOf(snap)
	pt.Branch, pt.Diff = latencyOf(branch), latencyOf(diff)
	return pt, nil
}
