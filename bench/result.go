package bench

import (
	"slices"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one (workload, peer) cell of the report. Throughput and each
// latency percentile are the medians over the runs, taken separately.
type Result struct {
	Workload string `json:"workload"`
	Peer     string `json:"peer"`
	Durable  bool   `json:"durable"`
	// Skipped says why the peer did not run this workload.
	Skipped string `json:"skipped,omitempty"`

	OpsPerSec float64   `json:"ops_per_sec"`
	RunsOps   []float64 `json:"runs_ops_per_sec"`
	Ops       int64     `json:"ops"` // operations in the median run
	P50       int64     `json:"p50_ns"`
	P99       int64     `json:"p99_ns"`
	P999      int64     `json:"p999_ns"`
	Max       int64     `json:"max_ns"`
	// HeapBytes (Go heap in use) and RSSBytes (the process's resident set,
	// mapped files included) at the end of a run, the largest over runs.
	HeapBytes int64 `json:"heap_bytes"`
	RSSBytes  int64 `json:"rss_bytes"`
	// Ratio is daxkv's throughput over this peer's, daxkv taken in the
	// same durability class (durable daxkv for durable peers, NoSync
	// daxkv for the others); 0 when there is no such daxkv result.
	Ratio   float64 `json:"ratio,omitempty"`
	RatioTo string  `json:"ratio_to,omitempty"`

	// hist is the latency histogram of the median run, for the plots.
	hist *hdr.Histogram
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianIndex is the run whose throughput is the median (the lower middle
// one for an even count).
func medianIndex(xs []float64) int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	return idx[(len(idx)-1)/2]
}

func (r *Result) setRuns(runs []runResult) {
	if len(runs) == 0 {
		return
	}
	var p50, p99, p999, mx []float64
	r.RunsOps = nil
	for _, rr := range runs {
		r.RunsOps = append(r.RunsOps, rr.opsPerSec())
		p50 = append(p50, float64(rr.hist.ValueAtQuantile(50)))
		p99 = append(p99, float64(rr.hist.ValueAtQuantile(99)))
		p999 = append(p999, float64(rr.hist.ValueAtQuantile(99.9)))
		mx = append(mx, float64(rr.hist.Max()))
		r.HeapBytes = max(r.HeapBytes, int64(rr.heap))
		r.RSSBytes = max(r.RSSBytes, rr.rss)
	}
	r.OpsPerSec = median(r.RunsOps)
	r.P50, r.P99, r.P999, r.Max = int64(median(p50)), int64(median(p99)), int64(median(p999)), int64(median(mx))
	mid := runs[medianIndex(r.RunsOps)]
	r.Ops, r.hist = mid.ops, mid.hist
}

// ratioBase is the daxkv peer a result is compared with.
func ratioBase(durable bool) string {
	if durable {
		return "daxkv"
	}
	return "daxkv-nosync"
}

// setRatios fills Ratio for every result from the daxkv results of the
// same workload.
func setRatios(results []Result) {
	ops := map[[2]string]float64{}
	for _, r := range results {
		if r.Skipped == "" {
			ops[[2]string{r.Workload, r.Peer}] = r.OpsPerSec
		}
	}
	for i := range results {
		r := &results[i]
		base := ratioBase(r.Durable)
		d, ok := ops[[2]string{r.Workload, base}]
		if r.Skipped != "" || !ok || r.OpsPerSec <= 0 || r.Peer == base {
			continue
		}
		r.Ratio, r.RatioTo = d/r.OpsPerSec, base
	}
}

// Duration is a time.Duration that reads as text in JSON ("1.5s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what MarshalText wrote, so results.json reads back.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
