package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Report is everything one run measured.
type Report struct {
	Command   string          `json:"command"`
	Started   time.Time       `json:"started"`
	Took      Duration        `json:"took"`
	Machine   Machine         `json:"machine"`
	Config    Config          `json:"config"`
	Peers     []PeerInfo      `json:"peers"`
	Results   []Result        `json:"results"`
	Snapshots []SnapshotPoint `json:"snapshots,omitempty"`
	Recovery  []RecoveryPoint `json:"recovery,omitempty"`
	Goals     []Goal          `json:"goals"`
	Notes     []string        `json:"notes,omitempty"`
}

// PeerInfo is a peer as the report documents it.
type PeerInfo struct {
	Name    string `json:"name"`
	Durable bool   `json:"durable"`
	Options string `json:"options"`
}

// Goal is one of the targets daxkv is measured against.
type Goal struct {
	Goal     string  `json:"goal"`
	Workload string  `json:"workload"`
	Daxkv    string  `json:"daxkv"`
	Peer     string  `json:"peer"`
	Target   float64 `json:"target"` // daxkv/peer throughput ratio to reach
	Ratio    float64 `json:"ratio"`
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"` // why it could not be judged
}

// targetText is "≥ 5×" for a throughput goal (daxkv ÷ peer), "≤ 2×" for
// a flatness goal (daxkv against itself).
func (g Goal) targetText() string {
	if g.Peer == "" {
		return fmt.Sprintf("≤ %g×", g.Target)
	}
	return fmt.Sprintf("≥ %g×", g.Target)
}

type goalSpec struct {
	text        string
	workloads   []string
	daxkv, peer string
	target      float64
}

// goalSpecs are the targets: durable writes at least 5x Pebble with
// Sync and at least Pebble with NoSync; random reads at least 1.5x bbolt.
var goalSpecs = []goalSpec{
	{"durable writes ≥ 5× Pebble (Sync)", []string{FillSeq, FillRandom, Overwrite}, "daxkv", "pebble-sync", 5},
	{"durable writes ≥ Pebble (NoSync)", []string{FillSeq, FillRandom, Overwrite}, "daxkv", "pebble-nosync", 1},
	{"random reads ≥ 1.5× bbolt", []string{ReadRandom, YCSBC}, "daxkv", "bbolt", 1.5},
}

func (rep *Report) result(workload, peer string) *Result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Workload == workload && r.Peer == peer {
			return r
		}
	}
	return nil
}

// finish computes the ratios and the goals.
func (rep *Report) finish(took time.Duration) {
	rep.Took = Duration(took)
	setRatios(rep.Results)
	rep.Goals = nil
	for _, g := range goalSpecs {
		for _, w := range g.workloads {
			d, p := rep.result(w, g.daxkv), rep.result(w, g.peer)
			if d == nil && p == nil {
				continue
			}
			goal := Goal{Goal: g.text, Workload: w, Daxkv: g.daxkv, Peer: g.peer, Target: g.target}
			switch {
			case d == nil || d.Skipped != "" || d.OpsPerSec == 0:
				goal.Note = g.daxkv + " not run"
			case p == nil || p.Skipped != "" || p.OpsPerSec == 0:
				goal.Note = g.peer + " not run"
			default:
				goal.Ratio = d.OpsPerSec / p.OpsPerSec
				goal.Met = goal.Ratio >= g.target
			}
			rep.Goals = append(rep.Goals, goal)
		}
	}
	if n := len(rep.Snapshots); n >= 2 {
		lo, hi := rep.Snapshots[0], rep.Snapshots[n-1]
		for _, c := range []struct {
			what   string
			lo, hi Latency
		}{
			{"nothing buffered", lo.SnapshotIdle, hi.SnapshotIdle},
			{fmt.Sprintf("after %d writes", snapWrites), lo.Snapshot, hi.Snapshot},
		} {
			g := Goal{Goal: fmt.Sprintf("snapshot creation flat in store size, %s (p50 at %s keys ÷ p50 at %s)", c.what, thousands(float64(hi.Keys)), thousands(float64(lo.Keys))),
				Workload: Snapshot, Daxkv: "daxkv", Target: snapFlatTarget}
			// Here the ratio is the slowdown, so smaller is better.
			g.Ratio = float64(c.hi.P50) / float64(max(c.lo.P50, 1))
			g.Met = g.Ratio <= snapFlatTarget
			rep.Goals = append(rep.Goals, g)
		}
	}
}

// snapFlatTarget is how much slower snapshot creation may get from the
// smallest store to the largest and still count as flat: a checkpoint's
// cost depends on the writes buffered and the tree's height, which grows
// by about one level per 100x keys.
const snapFlatTarget = 2

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteFiles writes RESULTS.md, results.json and the PNG plots into dir.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	plots, err := rep.writePlots(dir)
	if err != nil {
		return err
	}
	jf, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(jf); err != nil {
		jf.Close()
		return err
	}
	if err := jf.Close(); err != nil {
		return err
	}
	mf, err := os.Create(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		return err
	}
	if err := rep.WriteMarkdown(mf, plots); err != nil {
		mf.Close()
		return err
	}
	return mf.Close()
}

// WriteMarkdown writes the report; plots maps a section ("throughput-…",
// a workload name, "recovery") to the PNG file to show there.
func (rep *Report) WriteMarkdown(w io.Writer, plots map[string]string) error {
	var b strings.Builder
	img := func(key, alt string) {
		if f, ok := plots[key]; ok {
			fmt.Fprintf(&b, "\n![%s](%s)\n", alt, f)
		}
	}
	b.WriteString("# daxkv benchmark results\n\n")
	if rep.Command != "" {
		fmt.Fprintf(&b, "Command: `%s`  \n", rep.Command)
	}
	fmt.Fprintf(&b, "Started %s, took %v.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), time.Duration(rep.Took).Round(time.Second))
	rep.writeMachine(&b)
	rep.writeGoals(&b)

	for _, sec := range []struct{ title, plot, group string }{
		{"pmemkv-bench workloads", "throughput-pmemkv", ""},
		{"YCSB workloads", "throughput-ycsb", groupYCSB},
	} {
		var names []string
		for _, n := range WorkloadNames() {
			w := workloadByName(n)
			if (w.group == groupYCSB) == (sec.group == groupYCSB) && w.group != groupDaxkv && rep.hasWorkload(n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n", sec.title)
		if sec.group == groupYCSB {
			fmt.Fprintf(&b, "\n%s records of %d-byte keys and %d-byte values (YCSB's 10 fields of 100 bytes, written whole), loaded in hashed (shuffled) order; %s operations per run; request keys from YCSB's scrambled zipfian (constant 0.99), D from its skewed-latest generator; an update writes a whole new value.\n",
				thousands(float64(rep.Config.YCSBNum)), rep.Config.KeySize, rep.Config.YCSBValueSize, thousands(float64(rep.Config.Ops)))
		} else {
			fmt.Fprintf(&b, "\n%s keys of %d bytes, values of %d bytes; %s operations per run for the random-access workloads.\n",
				thousands(float64(rep.Config.Num)), rep.Config.KeySize, rep.Config.ValueSize, thousands(float64(rep.Config.Ops)))
		}
		img(sec.plot, "throughput, "+sec.title)
		for _, n := range names {
			rep.writeWorkload(&b, n)
			img("latency-"+n, "latency CDF, "+n)
		}
	}
	if len(rep.Snapshots) > 0 {
		rep.writeSnapshots(&b)
		img("snapshot", "snapshot, branch and diff latency against store size")
	}
	if len(rep.Recovery) > 0 {
		rep.writeRecovery(&b)
		img("recovery", "recovery time against WAL fill")
	}
	rep.writeMethod(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) hasWorkload(name string) bool {
	for _, r := range rep.Results {
		if r.Workload == name {
			return true
		}
	}
	return false
}

func (rep *Report) writeMachine(b *strings.Builder) {
	m := rep.Machine
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(b, "- CPU: %s, %d logical cores (GOMAXPROCS %d), %s MiB memory\n", m.CPU, m.Cores, m.GOMAXPROCS, mib(m.MemoryBytes))
	fmt.Fprintf(b, "- OS: %s/%s, kernel %s; %s\n", m.OS, m.Arch, m.Kernel, m.GoVersion)
	if m.Revision != "" {
		fmt.Fprintf(b, "- daxkv built from revision %s\n", m.Revision)
	}
	fmt.Fprintf(b, "- persistence features (flush.Detect): %s; flush mode %s\n", m.Features, m.FlushMode)
	fmt.Fprintf(b, "- directory: %s (%s): pmem mode **%s** — %s\n", m.Dir, m.FSType, m.Mode, m.ModeReason)
	if m.LoadBefore != "" {
		fmt.Fprintf(b, "- load average before the run: %s; after: %s\n", m.LoadBefore, m.LoadAfter)
	}
	b.WriteString("\n")
}

func (rep *Report) writeGoals(b *strings.Builder) {
	if len(rep.Goals) == 0 {
		return
	}
	b.WriteString("## Goals\n\n| goal | workload | measured | target | met |\n|---|---|--:|--:|---|\n")
	for _, g := range rep.Goals {
		ratio, met := "—", g.Note
		if g.Note == "" {
			ratio = fmt.Sprintf("%.2f×", g.Ratio)
			met = "**no**"
			if g.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", g.Goal, g.Workload, ratio, g.targetText(), met)
	}
	b.WriteString("\nThroughput goals compare daxkv's ops/s with the peer's (daxkv ÷ peer); the snapshot goals compare daxkv with itself (p50 at the largest store ÷ p50 at the smallest).\n")
	var short []string
	for _, g := range rep.Goals {
		if g.Note == "" && !g.Met {
			short = append(short, fmt.Sprintf("%s on %s: %.2f×, target %s", g.Goal, g.Workload, g.Ratio, g.targetText()))
		}
	}
	if len(short) > 0 {
		fmt.Fprintf(b, "\n**Where daxkv falls short** (%d of %d goals):\n\n", len(short), len(rep.Goals))
		for _, s := range short {
			fmt.Fprintf(b, "- %s\n", s)
		}
	}
	b.WriteString("\n")
}

func (rep *Report) writeWorkload(b *strings.Builder, name string) {
	w := workloadByName(name)
	fmt.Fprintf(b, "\n### %s\n\n%s.\n\n", name, w.desc)
	b.WriteString("| peer | durable | ops/s | p50 µs | p99 µs | p99.9 µs | heap MiB | RSS MiB | daxkv ÷ peer |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	var skipped []string
	for _, r := range rep.Results {
		if r.Workload != name {
			continue
		}
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", r.Peer, r.Skipped))
			continue
		}
		ratio := "—"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
			if r.RatioTo != "daxkv" {
				ratio += " (nosync)"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Peer, yesNo(r.Durable), thousands(r.OpsPerSec),
			micros(r.P50), micros(r.P99), micros(r.P999), mib(r.HeapBytes), mib(r.RSSBytes), ratio)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(b, "\nNot run: %s.\n", strings.Join(skipped, ", "))
	}
}

func (rep *Report) writeSnapshots(b *strings.Builder) {
	b.WriteString("\n## Snapshots, branches and diff (daxkv)\n\n")
	fmt.Fprintf(b, "Durable daxkv preloaded with each number of keys (%d-byte values). Creating a ref first checkpoints what the branch has buffered, so CreateSnapshot is timed twice: with nothing buffered (the clone itself), and after %d random overwrites; CreateBranch after %d overwrites. Each ref is deleted again, untimed. Diff compares two snapshots %d overwrites apart (fewer in small stores). %d timed calls of each after one warm-up call.\n\n",
		rep.Config.ValueSize, snapWrites, snapWrites, diffChanges, rep.Config.SnapshotReps)
	b.WriteString("| keys | CreateSnapshot, idle: p50 µs | p99 µs | after writes: p50 µs | p99 µs | CreateBranch p50 µs | p99 µs | Diff p50 µs | p99 µs | keys changed |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range rep.Snapshots {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", thousands(float64(p.Keys)),
			micros(p.SnapshotIdle.P50), micros(p.SnapshotIdle.P99), micros(p.Snapshot.P50), micros(p.Snapshot.P99),
			micros(p.Branch.P50), micros(p.Branch.P99), micros(p.Diff.P50), micros(p.Diff.P99), p.DiffChanges)
	}
}

func (rep *Report) writeRecovery(b *strings.Builder) {
	b.WriteString("\n## Recovery after kill -9\n\n")
	b.WriteString("A child process opens a preloaded store, writes single durable puts until the WAL holds the given fill, reports, and is killed with SIGKILL; the time is that of `store.Open` (WAL replay plus the allocator's reachability walk), median of the runs. The first row is a clean close for comparison.\n\n")
	b.WriteString("| WAL fill | WAL bytes | keys in store | ops replayed | store.Open |\n|--:|--:|--:|--:|--:|\n")
	for _, p := range rep.Recovery {
		fill := fmt.Sprintf("%.0f%%", 100*float64(p.WALBytes)/float64(max(p.WALSize, 1)))
		if p.Clean {
			fill = "clean close"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %v |\n", fill, strconv.FormatFloat(float64(p.WALBytes)/(1<<20), 'f', 1, 64)+" MiB", thousands(float64(p.Keys)),
			thousands(float64(p.Replayed)), time.Duration(p.Open).Round(10*time.Microsecond))
	}
}

func (rep *Report) writeMethod(b *strings.Builder) {
	c := rep.Config
	b.WriteString("\n## Method\n\n")
	b.WriteString("- Reproduce with `make bench` (it runs the flush micro-benchmarks, then this command with `--path $(BENCH_DIR) --out $(BENCH_OUT)`; `BENCH_FLAGS` adds flags).\n")
	fmt.Fprintf(b, "- Client threads: %d; %d measured runs per cell after a warm-up of %s operations; each run capped at %v (a fill stopped by the cap measured a smaller store than --num); figures are medians over the runs (throughput and each percentile separately); latency CDFs are the median run's.\n",
		c.Threads, c.Runs, thousands(float64(c.Warmup)), time.Duration(c.Duration))
	b.WriteString("- Every store gets the same keys in the same order and the same value bytes (random, incompressible, derived from the seed); keys are the key index in zero-padded decimal, so key order is index order.\n")
	b.WriteString("- fillseq, fillrandom and deleterandom start every run from a new store (deleterandom's preloaded); their warm-up writes or deletes keys outside the measured ones. The other pmemkv-bench workloads share one store preloaded in shuffled order, the YCSB ones another; workloads that insert run last.\n")
	b.WriteString("- Latency is measured around each call with the monotonic clock and recorded in an HDR histogram (github.com/HdrHistogram/hdrhistogram-go, 3 significant digits); readseq records each 1000-key Scan call divided by its keys.\n")
	b.WriteString("- Heap is the Go heap in use, RSS the process's resident set (mapped files included: daxkv's region and bbolt's file count once touched), both read at the end of each run, largest over the runs; every peer runs in the same process, one at a time, with a forced GC (debug.FreeOSMemory) between stores.\n")
	b.WriteString("- Plots: gonum.org/v1/plot, because it is pure Go (the module keeps building without cgo), writes PNG itself, and has log axes; bars on a log axis and the percentile axis of the CDFs are small custom plotters.\n")
	b.WriteString("- Durable rows are compared with durable daxkv, the others with daxkv-nosync (the ratio column). On tmpfs, fsync costs Pebble, bbolt and Badger a system call that writes nothing, while daxkv's CLWB+SFENCE are real instructions, so durable peers are at their fastest here; on real pmem or SSD their syncs cost far more.\n")
	b.WriteString("\n### Peers\n\n| peer | durable | options |\n|---|---|---|\n")
	for _, p := range rep.Peers {
		fmt.Fprintf(b, "| %s | %s | %s |\n", p.Name, yesNo(p.Durable), p.Options)
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// thousands formats a count with thousands separators.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// micros formats nanoseconds as microseconds with 3 significant digits.
func micros(ns int64) string {
	us := float64(ns) / 1e3
	switch {
	case us >= 100:
		return strconv.FormatFloat(us, 'f', 0, 64)
	case us >= 10:
		return strconv.FormatFloat(us, 'f', 1, 64)
	}
	return strconv.FormatFloat(us, 'f', 2, 64)
}

func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64)
}
