package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/region"
)

// Measurement knobs. Tests shrink them; the defaults keep doctor under a
// second on memory and a few seconds on a slow msync.
var (
	measureRounds = 7
	roundTime     = 20 * time.Millisecond
	scratchSize   = 16 << 20 // larger than L2, so copies stream through the medium
)

// measureReport holds the measured medians. The figures are null when the
// measurement was skipped (Skipped says why).
type measureReport struct {
	Medium      string   `json:"medium"`        // "file" (mapped scratch file) or "anonymous"
	Dir         string   `json:"dir,omitempty"` // the scratch file's directory, for "file"
	Note        string   `json:"note,omitempty"`
	Mode        string   `json:"mode"` // the flush mode measured
	Rounds      int      `json:"rounds"`
	Skipped     string   `json:"skipped,omitempty"`
	FlushLineNs *float64 `json:"flush_line_ns"` // one 64-byte line stored, flushed and fenced
	Copy4KGBps  *float64 `json:"copy_4k_gbps"`  // persistent copy of 4 KiB, then fence
	Copy64KGBps *float64 `json:"copy_64k_gbps"` // persistent copy of 64 KiB, then fence
}

func (m measureReport) describe() string {
	if m.Medium == "file" {
		return "mapped scratch file in " + m.Dir + " (removed)"
	}
	return "anonymous memory"
}

// measure times the persistence primitives of mode on a scratch mapping next
// to path (anonymous memory when path is "").
func measure(ctx context.Context, path string, mode flush.Mode) (measureReport, error) {
	rep := measureReport{Mode: mode.String(), Rounds: measureRounds}
	mem, syncFn, cleanup := scratchMemory(path, &rep)
	defer cleanup()

	if mode == flush.Msync && syncFn == nil {
		rep.Skipped = "msync needs a mapped file, and this measurement runs on anonymous memory"
		return rep, nil
	}
	p, err := flush.New(flush.Config{Mode: mode, Copy: flush.CopyAuto, Sync: syncFn})
	if err != nil {
		return rep, fmt.Errorf("measure %s: %w", mode, err)
	}

	// Touch every page first, so page faults do not land in the rounds.
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 0
	}

	// Cycle through the lines of one page: like a WAL record at commit, the
	// line was just written and is in cache, so the figure is the
	// write-back and fence, not a cache miss.
	const line, lines = 64, 4096 / 64
	ns, err := medianNs(ctx, func(i int) error {
		b := mem[(i%lines)*line:][:line]
		b[0] = byte(i) // dirty the line, as a real store would
		p.Flush(b)
		return p.Drain()
	})
	if err != nil {
		return rep, fmt.Errorf("measure flush: %w", err)
	}
	ns = round(ns, 1)
	rep.FlushLineNs = &ns

	src := make([]byte, 64<<10)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	for _, c := range []struct {
		size int
		out  **float64
	}{{4 << 10, &rep.Copy4KGBps}, {64 << 10, &rep.Copy64KGBps}} {
		slots := len(mem) / c.size
		ns, err := medianNs(ctx, func(i int) error {
			off := (i % slots) * c.size
			p.Copy(mem[off:off+c.size], src[:c.size])
			return p.Drain()
		})
		if err != nil {
			return rep, fmt.Errorf("measure copy: %w", err)
		}
		// Bytes per ns is GB/s. Significant digits, not decimals: an
		// msync'd copy on a busy disk can be slower than 1 MB/s, which
		// three decimals would round to 0.
		gbps := roundSig(float64(c.size)/ns, 4)
		*c.out = &gbps
	}
	return rep, nil
}

// scratchMemory maps a scratch file in path's directory, so the figures are
// those of path's medium. Without a path, for a device (which doctor must
// not write), or when the directory refuses a scratch file, it falls back
// to anonymous memory and records why in rep.Note.
func scratchMemory(path string, rep *measureReport) (mem []byte, sync func([]byte) error, cleanup func()) {
	anon := func(note string) ([]byte, func([]byte) error, func()) {
		rep.Medium = "anonymous"
		rep.Note = note
		return make([]byte, scratchSize), nil, func() {}
	}
	if path == "" {
		return anon("")
	}
	if isDevice(path) {
		return anon("the region is a device, which doctor does not write")
	}
	// The scratch file gets its own directory so its name cannot collide,
	// and region.Open creates it the way the store creates a region.
	dir := filepath.Dir(path)
	tmp, err := os.MkdirTemp(dir, ".daxkv-doctor-*")
	if err != nil {
		return anon(fmt.Sprintf("cannot create a scratch file in %s (%s)", dir, errText(err)))
	}
	r, err := region.Open(filepath.Join(tmp, "scratch"), region.Options{Size: int64(scratchSize)})
	if err != nil {
		os.RemoveAll(tmp)
		return anon(fmt.Sprintf("cannot map a scratch file in %s (%s)", dir, oneLine(err.Error())))
	}
	rep.Medium = "file"
	rep.Dir = dir
	return r.Data, r.Sync, func() {
		r.Close()
		os.RemoveAll(tmp)
	}
}

// round keeps digits decimals: the figures vary far more than that
// between runs, and shorter JSON reads better in bug reports.
func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// roundSig keeps sig significant digits.
func roundSig(x float64, sig int) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	return round(x, sig-int(math.Ceil(math.Log10(math.Abs(x)))))
}

// errText is the cause of a file error without the path, which the caller
// already names.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// medianNs runs op in batches and returns the median of measureRounds
// batches, in ns per op. The first batches calibrate the batch size to
// about roundTime each and double as warm-up; they are not counted.
func medianNs(ctx context.Context, op func(i int) error) (float64, error) {
	n, i := 1, 0
	samples := make([]float64, 0, measureRounds)
	for len(samples) < measureRounds {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		for range n {
			if err := op(i); err != nil {
				return 0, err
			}
			i++
		}
		d := time.Since(start)
		if len(samples) == 0 && d < roundTime {
			// Aim 20% past roundTime, growing at least 2x and at most 100x.
			next := n * 100
			if d > 0 {
				next = min(next, int(float64(n)*1.2*float64(roundTime)/float64(d)))
			}
			n = max(next, 2*n)
			continue
		}
		samples = append(samples, float64(d.Nanoseconds())/float64(n))
	}
	slices.Sort(samples)
	return samples[len(samples)/2], nil
}
