package bench

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/daxkv/daxkv/flush"
)

// Config is one benchmark run. Zero fields take the defaults of Defaults.
type Config struct {
	// Dir holds every store's files: the run works in a fresh
	// subdirectory of it and removes that at the end.
	Dir string `json:"dir"`
	// Workloads and Peers by name; empty or "all" means every one.
	Workloads []string `json:"workloads"`
	Peers     []string `json:"peers"`

	Num     int64 `json:"num"`      // keys loaded or filled (pmemkv-bench workloads)
	Ops     int64 `json:"ops"`      // operations per run of random-access workloads
	YCSBNum int64 `json:"ycsb_num"` // records loaded for the YCSB workloads
	Threads int   `json:"threads"`
	Runs    int   `json:"runs"` // measured runs; the median is reported
	// Warmup is the number of unmeasured operations before the runs (for
	// workloads that start from a new store: before each run, on keys
	// outside the measured ones).
	Warmup int64 `json:"warmup"`
	// Duration caps each run (0: none); a run stopped early reports the
	// throughput of what it did.
	Duration      time.Duration `json:"duration_ns"`
	KeySize       int           `json:"key_size"`
	ValueSize     int           `json:"value_size"`
	YCSBValueSize int           `json:"ycsb_value_size"`
	ScanLength    int           `json:"scan_length"`
	// Batch groups the writes of fill, overwrite and delete workloads into
	// atomic batches of this many operations (1: single puts).
	Batch int    `json:"batch"`
	Seed  uint64 `json:"seed"`
	// Flush forces daxkv's and the raw limit's persistence mechanism;
	// the zero value detects it (DAXKV_FLUSH applies, as in the store).
	Flush flush.Mode `json:"flush"`
	// RegionSize is daxkv's region; 0 derives it from the data size.
	RegionSize int64 `json:"region_size"`
	// RecoveryFills are the WAL fills (fractions of the WAL) at which the
	// recovery benchmark kills its writer.
	RecoveryFills []float64 `json:"recovery_fills"`
	// SnapshotSizes are the store sizes (keys) of the snapshot benchmark;
	// SnapshotReps the timed calls of each operation at each size.
	SnapshotSizes []int64 `json:"snapshot_sizes"`
	SnapshotReps  int     `json:"snapshot_reps"`

	// Command is the command line, recorded in the report.
	Command string `json:"-"`
	// Progress receives one line per step; nil discards them.
	Progress io.Writer `json:"-"`
	// WriterCommand starts the process the recovery benchmark kills: one
	// that calls RunWriter with the WriterEnv variable (the daxkv binary
	// runs `daxkv bench writer`). Nil leaves the recovery workload out.
	WriterCommand func() *exec.Cmd `json:"-"`
}

// Defaults are pmemkv-bench's sizes (16-byte keys, 100-byte values), YCSB's
// 1 KB records (10 fields of 100 bytes), and counts that keep a full run
// of every peer near half an hour on a 2-core machine.
func Defaults() Config {
	return Config{
		Num:           1_000_000,
		Ops:           1_000_000,
		YCSBNum:       250_000,
		Threads:       1,
		Runs:          3,
		Warmup:        50_000,
		Duration:      5 * time.Second,
		KeySize:       16,
		ValueSize:     100,
		YCSBValueSize: 1000,
		ScanLength:    100,
		Batch:         1,
		Seed:          1,
		RecoveryFills: []float64{0.05, 0.1, 0.2, 0.3, 0.45},
		SnapshotSizes: []int64{10_000, 100_000, 1_000_000, 4_000_000},
		SnapshotReps:  20,
	}
}

// Quick is the --quick profile: every workload and peer in well under a
// minute, for smoke tests and CI. Its figures are noisy.
func Quick() Config {
	c := Defaults()
	c.Num, c.Ops, c.YCSBNum = 20_000, 10_000, 10_000
	c.Warmup = 2_000
	c.Duration = 100 * time.Millisecond
	c.RecoveryFills = []float64{0.1, 0.4}
	c.SnapshotSizes = []int64{2_000, 20_000}
	c.SnapshotReps = 5
	return c
}

// plan is a validated Config with its derived values.
type plan struct {
	Config
	workloads []*workload
	peers     []Peer
	runDir    string
	// maxIndex bounds every key index the run can write (inserts and
	// warm-up keys included), for the key format.
	maxIndex int64
	// daxkvOwn: durable daxkv is among the peers, so daxkv's own
	// workloads (snapshot, recovery) run.
	daxkvOwn bool
	keys     keyer
	values   valuer
	ycsbVals valuer
}

// ErrInvalid wraps configuration errors.
var ErrInvalid = errors.New("bench: invalid configuration")

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Dir == "":
		return bad("no directory: give --path DIR (it holds every store's files)")
	case c.Num < 1 || c.Ops < 1 || c.YCSBNum < 1:
		return bad("num, ops and ycsb-num must be at least 1")
	case c.Threads < 1 || c.Threads > 1024:
		return bad("threads must be between 1 and 1024, not %d", c.Threads)
	case c.Runs < 1:
		return bad("runs must be at least 1")
	case c.Warmup < 0 || c.Duration < 0:
		return bad("warmup and duration must not be negative")
	case c.KeySize < 1 || c.KeySize > 1024:
		return bad("key size must be between 1 and 1024 bytes (daxkv's limit), not %d", c.KeySize)
	case c.ValueSize < 0 || c.YCSBValueSize < 0 || c.ValueSize > 64<<20 || c.YCSBValueSize > 64<<20:
		return bad("value sizes must be between 0 and 64 MiB")
	case c.ScanLength < 1:
		return bad("scan length must be at least 1")
	case c.Batch < 1:
		return bad("batch must be at least 1")
	case c.RegionSize < 0 || c.RegionSize%4096 != 0:
		return bad("region size must be a positive multiple of 4096")
	}
	if c.SnapshotReps < 1 {
		return bad("snapshot reps must be at least 1")
	}
	for _, n := range c.SnapshotSizes {
		if n < 1 {
			return bad("snapshot sizes must be at least 1 key, not %d", n)
		}
	}
	for _, f := range c.RecoveryFills {
		if f <= 0 || f >= 1 {
			return bad("recovery fills are fractions of the WAL between 0 and 1, not %g", f)
		}
	}
	return nil
}

// newPlan validates c and resolves names and sizes. It does no I/O.
func newPlan(c Config) (*plan, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	names, err := SelectWorkloads(c.Workloads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	peers, err := SelectPeers(c.Peers)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p := &plan{Config: c, peers: peers}
	for _, peer := range peers {
		p.daxkvOwn = p.daxkvOwn || peer.Name == "daxkv"
	}
	for _, n := range names {
		p.workloads = append(p.workloads, workloadByName(n))
	}
	// Warm-up keys and YCSB inserts take indices after the loaded ones.
	passes := int64(c.Runs + 1)
	p.maxIndex = max(c.Num+c.Warmup, c.YCSBNum+passes*(c.Ops+c.Warmup))
	for _, n := range c.SnapshotSizes {
		p.maxIndex = max(p.maxIndex, n)
	}
	// The recovery writer's keys follow every other index.
	p.maxIndex += 4 * p.regionSize(false) / int64(c.KeySize+c.ValueSize+8)
	if p.keys, err = newKeyer(c.KeySize, p.maxIndex); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return p, nil
}

// has reports whether the plan runs a workload of group.
func (p *plan) has(group string) bool {
	for _, w := range p.workloads {
		if w.group == group {
			return true
		}
	}
	return false
}
