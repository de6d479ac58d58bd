package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinyConfig is a --quick run with very small counts.
func tinyConfig(t *testing.T) Config {
	c := Quick()
	c.Dir = shmDir(t)
	c.Num, c.Ops, c.YCSBNum, c.Warmup = 400, 400, 200, 20
	c.Runs = 2
	c.Duration = 20 * time.Millisecond
	c.RecoveryFills = []float64{0.1}
	c.SnapshotSizes, c.SnapshotReps = []int64{100, 1000}, 2
	c.RegionSize = 64 << 20
	c.WriterCommand = testWriter
	return c
}

func TestEndToEndTiny(t *testing.T) {
	c := tinyConfig(t)
	c.Threads = 2
	var progress bytes.Buffer
	c.Progress = &progress
	start := time.Now()
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	t.Logf("tiny run took %v", time.Since(start))
	got := map[string]bool{}
	for _, r := range rep.Results {
		got[r.Workload+"/"+r.Peer] = true
		if r.Skipped != "" {
			continue
		}
		if r.OpsPerSec <= 0 || len(r.RunsOps) != c.Runs || r.P50 <= 0 || r.P99 < r.P50 || r.P999 < r.P99 {
			t.Errorf("%s/%s: implausible result %+v", r.Workload, r.Peer, r)
		}
	}
	for _, w := range WorkloadNames() {
		if workloadByName(w).group == groupDaxkv {
			continue
		}
		for _, p := range PeerNames() {
			if !got[w+"/"+p] {
				t.Errorf("no result for %s on %s", w, p)
			}
		}
	}
	if r := rep.result(ReadRandom, "raw"); r == nil || r.Skipped == "" {
		t.Errorf("raw should skip readrandom: %+v", r)
	}
	if r := rep.result(ScanWorkload, "map"); r == nil || r.Skipped == "" {
		t.Errorf("map should skip scan: %+v", r)
	}
	if len(rep.Recovery) != 2 || !rep.Recovery[0].Clean || rep.Recovery[1].Replayed == 0 {
		t.Errorf("recovery: %+v", rep.Recovery)
	}
	if len(rep.Snapshots) != 2 || rep.Snapshots[1].Snapshot.Calls != 2 || rep.Snapshots[1].DiffChanges == 0 {
		t.Errorf("snapshots: %+v", rep.Snapshots)
	}
	if len(rep.Goals) == 0 {
		t.Error("no goals evaluated")
	}

	out := t.TempDir()
	if err := rep.WriteFiles(out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| peer | durable | ops/s |", "### ycsb-f", "## Recovery after kill -9", "throughput-pmemkv.png", "latency-readrandom.png", "pebble-sync"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	for _, f := range []string{"results.json", "throughput-ycsb.png", "latency-ycsb-e.png", "recovery.png", "snapshot.png"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The run directory is removed; the user's directory stays.
	left, _ := os.ReadDir(c.Dir)
	if len(left) != 0 {
		t.Errorf("%s still holds %d entries", c.Dir, len(left))
	}
}
