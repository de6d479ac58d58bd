package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
		idx  int
	}{
		{[]float64{5}, 5, 0},
		{[]float64{3, 1, 2}, 2, 2},
		{[]float64{10, 40, 20, 30}, 25, 2}, // even: mean of the middle two; run index of the lower one
		{[]float64{7, 7, 1}, 7, 0},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		if got := medianIndex(c.in); got != c.idx {
			t.Errorf("medianIndex(%v) = %d, want %d", c.in, got, c.idx)
		}
	}
	if median(nil) != 0 {
		t.Error("median of nothing")
	}
}

func TestSetRunsTakesMedians(t *testing.T) {
	var runs []runResult
	for i, ops := range []int64{300, 100, 200} {
		h := newHist()
		for v := int64(1); v <= 1000; v++ {
			h.RecordValue(v * int64(i+1)) // run i's latencies scale with i+1
		}
		runs = append(runs, runResult{ops: ops, elapsed: time.Second, hist: h, heap: uint64(ops), rss: ops * 2})
	}
	var r Result
	r.setRuns(runs)
	if r.OpsPerSec != 200 || r.Ops != 200 {
		t.Errorf("ops/s %v from run of %d ops, want the 200 ops/s run", r.OpsPerSec, r.Ops)
	}
	// p50 of the runs: ~500, ~1000, ~1500: the median is run 1's.
	if r.P50 < 995 || r.P50 > 1005 {
		t.Errorf("p50 = %d, want the median run's ≈ 1000", r.P50)
	}
	if r.HeapBytes != 300 || r.RSSBytes != 600 {
		t.Errorf("heap %d rss %d, want the largest", r.HeapBytes, r.RSSBytes)
	}
	if r.hist != runs[2].hist {
		t.Error("the plotted histogram is not the median run's")
	}
}

func TestRatiosAndGoals(t *testing.T) {
	rep := &Report{Results: []Result{
		{Workload: FillRandom, Peer: "daxkv", Durable: true, OpsPerSec: 1000},
		{Workload: FillRandom, Peer: "daxkv-nosync", OpsPerSec: 1200},
		{Workload: FillRandom, Peer: "pebble-sync", Durable: true, OpsPerSec: 250},
		{Workload: FillRandom, Peer: "pebble-nosync", OpsPerSec: 600},
		{Workload: FillRandom, Peer: "raw", Durable: true, Skipped: "writes only"},
		{Workload: ReadRandom, Peer: "daxkv", Durable: true, OpsPerSec: 300},
		{Workload: ReadRandom, Peer: "bbolt", Durable: true, OpsPerSec: 100},
	}, Snapshots: []SnapshotPoint{
		{Keys: 10, SnapshotIdle: Latency{P50: 5}, Snapshot: Latency{P50: 100}},
		{Keys: 1000, SnapshotIdle: Latency{P50: 6}, Snapshot: Latency{P50: 250}},
	}}
	rep.finish(time.Second)
	want := map[string]float64{"pebble-sync": 4, "pebble-nosync": 2, "daxkv": 0, "daxkv-nosync": 0, "raw": 0}
	for _, r := range rep.Results[:5] {
		if r.Ratio != want[r.Peer] {
			t.Errorf("%s ratio %v, want %v", r.Peer, r.Ratio, want[r.Peer])
		}
	}
	if r := rep.Results[3]; r.RatioTo != "daxkv-nosync" {
		t.Errorf("a non-durable peer is compared with %q", r.RatioTo)
	}
	goals := map[string]Goal{}
	for _, g := range rep.Goals {
		if g.Workload == Snapshot {
			// 1.2x slower over 100x the keys with nothing buffered; 2.5x
			// after writes.
			if want := strings.Contains(g.Goal, "nothing buffered"); g.Met != want {
				t.Errorf("%s: met=%v ratio %v", g.Goal, g.Met, g.Ratio)
			}
			continue
		}
		goals[g.Workload+"/"+g.Peer] = g
	}
	for key, met := range map[string]bool{
		FillRandom + "/pebble-sync":   false, // 4x < 5x
		FillRandom + "/pebble-nosync": true,
		ReadRandom + "/bbolt":         true, // 3x
	} {
		g, ok := goals[key]
		if !ok || g.Met != met || g.Note != "" {
			t.Errorf("goal %s: %+v, want met=%v", key, g, met)
		}
	}
	if g := goals[FillSeq+"/pebble-sync"]; g.Goal != "" {
		t.Errorf("a goal for a workload that did not run: %+v", g)
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| pebble-sync | yes | 250 |", "4.00×", "2.00× (nosync)", "Not run: raw (writes only)"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	base := Quick()
	base.Dir = t.TempDir()

	c := base
	c.Workloads = []string{"readrandom", "fillbogus"}
	_, err := Run(ctx, c)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"fillbogus"`) || !strings.Contains(err.Error(), strings.Join(WorkloadNames(), ", ")) {
		t.Errorf("unknown workload: %v", err)
	}
	c = base
	c.Peers = []string{"leveldb"}
	_, err = Run(ctx, c)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "valid peers are daxkv, daxkv-nosync, pebble-sync") {
		t.Errorf("unknown peer: %v", err)
	}
	if got, err := SelectPeers([]string{"BBOLT", " map"}); err != nil || len(got) != 2 || got[0].Name != "bbolt" {
		t.Errorf("peer names are not case- and space-insensitive: %v %v", got, err)
	}

	// A file where the directory should be, and a directory that cannot be
	// created: errors before any store is opened.
	file := filepath.Join(base.Dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub"), "/proc/daxkv-bench-test"} {
		c = base
		c.Dir = dir
		if _, err := Run(ctx, c); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("dir %s: %v", dir, err)
		}
	}

	// Too small: more data than the filesystem can hold.
	c = base
	c.Num = 1 << 40
	start := time.Now()
	_, err = Run(ctx, c)
	if err == nil || !strings.Contains(err.Error(), "free") || !strings.Contains(err.Error(), "needs about") {
		t.Errorf("a run larger than the filesystem: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the space check took %v: it must come before any work", time.Since(start))
	}
	if left, _ := os.ReadDir(base.Dir); len(left) != 1 {
		t.Errorf("failed runs left files: %v", left)
	}

	for _, bad := range []func(*Config){
		func(c *Config) { c.Threads = 0 },
		func(c *Config) { c.Runs = 0 },
		func(c *Config) { c.KeySize = 2 }, // too short for the indices
		func(c *Config) { c.RecoveryFills = []float64{1.5} },
		func(c *Config) { c.Dir = "" },
	} {
		c = base
		bad(&c)
		if _, err := Run(ctx, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad config %+v: %v", c, err)
		}
	}
}
