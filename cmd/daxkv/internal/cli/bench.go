package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/daxkv/daxkv/bench"
)

func newBenchCommand(a *app) *cobra.Command {
	d, q := bench.Defaults(), bench.Quick()
	cmd := &cobra.Command{
		Use:   "bench --path DIR",
		Short: "Benchmark daxkv against Pebble, bbolt, Badger, a Go map and the raw persistence limit",
		Long: `bench runs the workloads of pmemkv-bench (fillseq, fillrandom, overwrite,
readrandom, readseq, scan, deleterandom), the YCSB core workloads A to F
(zipfian 0.99; D reads the latest inserts; E scans up to 100 keys; F
read-modify-writes), and daxkv's own: snapshot (CreateSnapshot,
CreateBranch and Diff latency against store size) and recovery (store.Open
after kill -9 of a writer process, against WAL fill). daxkv's own run when
the daxkv peer is selected.

Peers: daxkv (durable) and daxkv-nosync; pebble-sync and pebble-nosync;
bbolt (synced, its default); badger-sync and badger-nosync; map (a Go map
behind a RWMutex, the DRAM ceiling); raw (the same bytes copied, flushed and
fenced into a mapped file with no index: the persistence limit). Every
store gets the same keys in the same order and the same value bytes, a
warm-up, and several runs of which the median is reported. Durable peers
are compared with durable daxkv, the others with daxkv-nosync.

--path DIR holds every store's files, in a subdirectory removed at the end;
on tmpfs (/dev/shm) daxkv runs in emulated-pmem mode. The directory must be
writable and have room for the largest store; that is checked first.

The report (markdown tables; one JSON object with --json) goes to standard
output, progress to standard error. --out DIR also writes RESULTS.md,
results.json and PNG plots there.

--quick runs every workload and peer on small counts (--num ` + strconv.FormatInt(q.Num, 10) + `, --ops ` +
			strconv.FormatInt(q.Ops, 10) + `, --ycsb-num ` + strconv.FormatInt(q.YCSBNum, 10) + `, --warmup ` +
			strconv.FormatInt(q.Warmup, 10) + `, --duration ` + q.Duration.String() + `)
in well under a minute; settings given explicitly still apply.`,
		Example: "  daxkv bench --quick --path /dev/shm/bench\n" +
			"  daxkv bench --path /dev/shm/bench --out docs/bench\n" +
			"  daxkv bench -p /dev/shm/bench --workloads fillrandom,readrandom --peers daxkv,pebble-sync --threads 2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBench(cmd) },
	}
	f := cmd.Flags()
	f.Bool("quick", false, "small counts: every workload and peer in under a minute")
	f.String("out", "", "also write RESULTS.md, results.json and PNG plots into this directory")
	f.String("workloads", "all", "comma-separated workloads: all, "+strings.Join(bench.WorkloadNames(), ", "))
	f.String("peers", "all", "comma-separated peers: all, "+strings.Join(bench.PeerNames(), ", "))
	f.String("num", strconv.FormatInt(d.Num, 10), "keys loaded or filled by the pmemkv-bench workloads")
	f.String("ops", strconv.FormatInt(d.Ops, 10), "operations per run of the random-access and YCSB workloads")
	f.String("ycsb-num", strconv.FormatInt(d.YCSBNum, 10), "records loaded for the YCSB workloads")
	f.String("threads", strconv.Itoa(d.Threads), "client goroutines per run")
	f.String("runs", strconv.Itoa(d.Runs), "measured runs per workload and peer; the median is reported")
	f.String("warmup", strconv.FormatInt(d.Warmup, 10), "unmeasured operations before the runs")
	f.String("duration", d.Duration.String(), "cap on each run (0: none)")
	f.String("key-size", strconv.Itoa(d.KeySize), "bytes per key")
	f.String("value-size", strconv.Itoa(d.ValueSize), "bytes per value, pmemkv-bench workloads")
	f.String("ycsb-value-size", strconv.Itoa(d.YCSBValueSize), "bytes per YCSB record")
	f.String("scan-length", strconv.Itoa(d.ScanLength), "keys per scan in the scan workload")
	f.String("write-batch", strconv.Itoa(d.Batch), "writes per atomic batch in fill, overwrite and delete workloads")
	f.String("seed", strconv.FormatUint(d.Seed, 10), "seed of keys orders, request keys and values")
	f.String("region-size", "0", "daxkv's region in bytes (or KiB, MiB, GiB); 0 derives it from the data")
	f.String("recovery-fills", joinFloats(d.RecoveryFills), "WAL fills (fractions) at which the recovery writer is killed")
	f.String("snapshot-sizes", joinInts(d.SnapshotSizes), "store sizes (keys) of the snapshot workload")

	// The recovery benchmark's child process: `daxkv bench writer` with
	// the job in the environment. Not for people.
	cmd.AddCommand(&cobra.Command{
		Use:    "writer",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if os.Getenv(bench.WriterEnv) == "" {
				return errors.New("bench writer is started by daxkv bench, with " + bench.WriterEnv + " set")
			}
			return bench.RunWriter(a.stdout)
		},
	})
	return cmd
}

func (a *app) runBench(cmd *cobra.Command) error {
	cfg, err := a.benchConfig(cmd)
	if err != nil {
		return err
	}
	rep, err := bench.Run(cmd.Context(), cfg)
	if errors.Is(err, bench.ErrInvalid) {
		return &usageError{strings.TrimPrefix(err.Error(), bench.ErrInvalid.Error()+": ")}
	}
	if err != nil {
		return err
	}
	if out := a.v.GetString("out"); out != "" {
		if err := rep.WriteFiles(out); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "wrote %s\n", filepath.Join(out, "RESULTS.md"))
	}
	return a.emit(rep, func(w io.Writer) error { return rep.WriteMarkdown(w, nil) })
}

// benchConfig builds the run from the settings: the --quick or default
// profile, then every setting given by flag, environment or config file.
func (a *app) benchConfig(cmd *cobra.Command) (cfg bench.Config, err error) {
	cfg = bench.Defaults()
	if a.v.GetBool("quick") {
		cfg = bench.Quick()
	}
	cfg.Dir = a.path()
	if cfg.Dir == "" {
		return cfg, usageErrorf("no directory: give --path DIR (it holds every store's files), DAXKV_PATH or path: in daxkv.yaml")
	}
	cfg.Workloads = strings.Split(a.v.GetString("workloads"), ",")
	cfg.Peers = strings.Split(a.v.GetString("peers"), ",")
	given := func(name string) bool { return a.source(name) != "default" }

	ints := []struct {
		name string
		dst  *int64
	}{{"num", &cfg.Num}, {"ops", &cfg.Ops}, {"ycsb-num", &cfg.YCSBNum}, {"warmup", &cfg.Warmup}}
	for _, s := range ints {
		if given(s.name) {
			n, err := a.benchInt(s.name)
			if err != nil {
				return cfg, err
			}
			*s.dst = n
		}
	}
	smallInts := []struct {
		name string
		dst  *int
	}{{"threads", &cfg.Threads}, {"runs", &cfg.Runs}, {"key-size", &cfg.KeySize}, {"value-size", &cfg.ValueSize},
		{"ycsb-value-size", &cfg.YCSBValueSize}, {"scan-length", &cfg.ScanLength}, {"write-batch", &cfg.Batch}}
	for _, s := range smallInts {
		if given(s.name) {
			n, err := a.benchInt(s.name)
			if err != nil {
				return cfg, err
			}
			if n > 1<<30 {
				return cfg, usageErrorf("%s: too large", a.settingLabel(s.name))
			}
			*s.dst = int(n)
		}
	}
	if given("seed") {
		n, err := a.benchInt("seed")
		if err != nil {
			return cfg, err
		}
		cfg.Seed = uint64(n)
	}
	if given("duration") {
		d, err := time.ParseDuration(strings.TrimSpace(a.v.GetString("duration")))
		if err != nil || d < 0 {
			return cfg, usageErrorf("%s: want a duration such as 5s or 500ms (0: no cap)", a.settingLabel("duration"))
		}
		cfg.Duration = d
	}
	if given("region-size") {
		n, err := benchSize(a.v.GetString("region-size"))
		if err != nil {
			return cfg, usageErrorf("%s: %v", a.settingLabel("region-size"), err)
		}
		cfg.RegionSize = n
	}
	if given("recovery-fills") {
		cfg.RecoveryFills = nil
		for _, s := range splitList(a.v.GetString("recovery-fills")) {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return cfg, usageErrorf("%s: %q is not a number", a.settingLabel("recovery-fills"), s)
			}
			cfg.RecoveryFills = append(cfg.RecoveryFills, x)
		}
	}
	if given("snapshot-sizes") {
		cfg.SnapshotSizes = nil
		for _, s := range splitList(a.v.GetString("snapshot-sizes")) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return cfg, usageErrorf("%s: %q is not a whole number", a.settingLabel("snapshot-sizes"), s)
			}
			cfg.SnapshotSizes = append(cfg.SnapshotSizes, n)
		}
	}
	if cfg.Flush, _, err = a.flushMode(); err != nil {
		return cfg, err
	}
	cfg.Command = benchCommandLine(cmd)
	cfg.Progress = a.stderr
	cfg.WriterCommand = writerCommand()
	return cfg, nil
}

// benchInt reads a whole-number setting, naming where it came from when
// it is not one.
func (a *app) benchInt(name string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(a.v.GetString(name)), 10, 64)
	if err != nil {
		return 0, usageErrorf("%s: not a whole number", a.settingLabel(name))
	}
	return n, nil
}

// benchSize reads bytes, or a whole number of KiB, MiB or GiB.
func benchSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	shift := 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"kib", 10}, {"mib", 20}, {"gib", 30}, {"b", 0}} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > 1<<(62-shift) {
		return 0, fmt.Errorf("want bytes or a whole number of KiB, MiB or GiB, not %q", s)
	}
	return n << shift, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ",")
}

// benchCommandLine reconstructs the command line from the flags that were
// set, for the report.
func benchCommandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name, f.Value.String())
	})
	return strings.Join(parts, " ")
}

// writerCommand re-executes this binary as `daxkv bench writer`. A test
// binary is not daxkv, so there the recovery workload is left out.
func writerCommand() func() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil || strings.HasSuffix(filepath.Base(exe), ".test") {
		return nil
	}
	return func() *exec.Cmd { return exec.Command(exe, "bench", "writer") }
}
