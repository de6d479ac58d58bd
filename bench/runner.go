package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds, from 1 ns to a minute, with 3
// significant digits.
const (
	histMin    = 1
	histMax    = int64(time.Minute)
	histDigits = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMin, histMax, histDigits) }

// runResult is one measured run.
type runResult struct {
	ops     int64
	elapsed time.Duration
	hist    *hdr.Histogram
	heap    uint64
	rss     int64
}

func (r runResult) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// Run executes the benchmark cfg describes and returns its report. Bad
// names, sizes, or a directory that is not writable or too small fail
// before any store is opened.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkDir(p); err != nil {
		return nil, err
	}
	if p.runDir, err = os.MkdirTemp(p.Dir, "daxkv-bench-"); err != nil {
		return nil, fmt.Errorf("bench: %s is not writable: %w", p.Dir, err)
	}
	defer os.RemoveAll(p.runDir)

	started := time.Now()
	r := &runner{p: p, ctx: ctx, progress: cfg.Progress, started: started}
	if r.progress == nil {
		r.progress = io.Discard
	}
	rep := &Report{Command: cfg.Command, Started: started, Config: p.Config}
	rep.Machine = describeMachine(p.runDir, p.Flush)
	for _, peer := range p.peers {
		rep.Peers = append(rep.Peers, PeerInfo{Name: peer.Name, Durable: peer.Durable, Options: peer.Options})
	}
	p.values = newValuer(p.ValueSize, p.Seed)
	p.ycsbVals = newValuer(p.YCSBValueSize, p.Seed+1)

	for _, peer := range p.peers {
		for _, group := range []string{groupFresh, groupShared, groupYCSB} {
			res, err := r.runGroup(peer, group)
			rep.Results = append(rep.Results, res...)
			if err != nil {
				return nil, err
			}
		}
	}
	own := slices.Contains(p.workloads, workloadByName(Snapshot)) || slices.Contains(p.workloads, workloadByName(Recovery))
	if own && !p.daxkvOwn {
		rep.Notes = append(rep.Notes, "snapshot and recovery: not run, they measure durable daxkv, which is not among the peers")
	}
	if p.daxkvOwn && slices.Contains(p.workloads, workloadByName(Snapshot)) {
		if rep.Snapshots, err = r.snapshots(); err != nil {
			return nil, err
		}
	}
	if p.daxkvOwn && slices.Contains(p.workloads, workloadByName(Recovery)) {
		if cfg.WriterCommand == nil {
			rep.Notes = append(rep.Notes, "recovery: not run, no writer process available (Config.WriterCommand is nil)")
		} else if rep.Recovery, err = r.recovery(cfg.WriterCommand); err != nil {
			return nil, err
		}
	}
	rep.Machine.LoadAfter = loadAvg()
	rep.finish(time.Since(started))
	return rep, nil
}

type runner struct {
	p        *plan
	ctx      context.Context
	progress io.Writer
	started  time.Time
	dirSeq   int
}

// logf prints a progress line stamped with the time since the start.
func (r *runner) logf(format string, args ...any) {
	d := time.Since(r.started).Round(time.Second)
	fmt.Fprintf(r.progress, "[%2d:%02d] "+format+"\n", append([]any{int(d.Minutes()), int(d.Seconds()) % 60}, args...)...)
}

// freshDir returns a new empty directory for one store.
func (r *runner) freshDir(peer string) (string, error) {
	r.dirSeq++
	dir := filepath.Join(r.p.runDir, fmt.Sprintf("%s-%d", peer, r.dirSeq))
	return dir, os.Mkdir(dir, 0o755)
}

// open opens a new store of peer in a fresh directory; close removes it.
func (r *runner) open(peer Peer, ycsb bool) (Store, func() error, error) {
	dir, err := r.freshDir(peer.Name)
	if err != nil {
		return nil, nil, err
	}
	s, err := peer.Open(OpenOptions{Dir: dir, RegionSize: r.p.regionSize(ycsb), Flush: r.p.Flush})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("%s: open: %w", peer.Name, err)
	}
	closeFn := func() error {
		err := s.Close()
		os.RemoveAll(dir)
		// Give the next store a clean heap: what this one held must not be
		// collected on the next one's time (FreeOSMemory forces a GC).
		debug.FreeOSMemory()
		if err != nil {
			return fmt.Errorf("%s: close: %w", peer.Name, err)
		}
		return nil
	}
	return s, closeFn, nil
}

// skipReason says why peer cannot run w, or "".
func skipReason(peer Peer, caps Caps, w *workload) string {
	switch {
	case w.needReads && !caps.Reads:
		return "writes only, no index"
	case w.needOrder && !caps.Ordered:
		return "no ordered index"
	}
	return ""
}

// runGroup runs the workloads of one group on peer.
func (r *runner) runGroup(peer Peer, group string) ([]Result, error) {
	var ws []*workload
	for _, w := range r.p.workloads {
		if w.group == group {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil, nil
	}
	if group == groupFresh {
		var out []Result
		for _, w := range ws {
			res, err := r.runFresh(peer, w)
			if err != nil {
				return out, err
			}
			out = append(out, res)
		}
		return out, nil
	}

	ycsb := group == groupYCSB
	s, closeFn, err := r.open(peer, ycsb)
	if err != nil {
		return nil, err
	}
	caps := s.Caps()
	n := r.p.Num
	if ycsb {
		n = r.p.YCSBNum
	}
	e := &genEnv{p: r.p, threads: r.p.Threads, n: n, acked: newAckCounter(n)}
	e.claimed.Store(n)
	vals := r.vals(ycsb)
	var out []Result
	loaded := false
	// Workloads that insert go last, so the others see exactly n keys.
	slices.SortStableFunc(ws, func(a, b *workload) int {
		ia, ib := ycsbMixes[a.name].insert > 0, ycsbMixes[b.name].insert > 0
		switch {
		case ia == ib:
			return 0
		case ia:
			return 1
		}
		return -1
	})
	for _, w := range ws {
		if why := skipReason(peer, caps, w); why != "" {
			out = append(out, Result{Workload: w.name, Peer: peer.Name, Durable: peer.Durable, Skipped: why})
			continue
		}
		if !loaded {
			t0 := time.Now()
			if err := r.preload(s, vals, permutation(n, r.p.Seed, 1), 0); err != nil {
				closeFn()
				return out, fmt.Errorf("%s: preload: %w", peer.Name, err)
			}
			r.logf("%-13s %-14s preloaded %d keys in %v", group, peer.Name, n, time.Since(t0).Round(time.Millisecond))
			loaded = true
		}
		if ycsb {
			m := ycsbMixes[w.name]
			e.mix = m
			passes := int64(r.p.Runs + 1)
			e.items = e.acked.limit() + int64(float64(passes*r.p.Ops)*m.insert*2)
		}
		res, err := r.measure(s, peer, w, e)
		if err != nil {
			closeFn()
			return out, err
		}
		out = append(out, res)
	}
	return out, closeFn()
}

func (r *runner) vals(ycsb bool) valuer {
	if ycsb {
		return r.p.ycsbVals
	}
	return r.p.values
}

// runFresh runs w with a new store for every run.
func (r *runner) runFresh(peer Peer, w *workload) (Result, error) {
	warm := r.p.Warmup
	var order []int64
	switch w.name {
	case FillRandom:
		order = permutation(r.p.Num, r.p.Seed, 2)
	case DeleteRandom:
		order = permutation(r.p.Num, r.p.Seed, 3)
	}
	e := &genEnv{p: r.p, threads: r.p.Threads, n: r.p.Num, order: order}
	res := Result{Workload: w.name, Peer: peer.Name, Durable: peer.Durable}
	var runs []runResult
	for run := 0; run < r.p.Runs; run++ {
		s, closeFn, err := r.open(peer, false)
		if err != nil {
			return res, err
		}
		if w.name == DeleteRandom {
			// The measured deletes hit keys 0..n-1, the warm-up ones the
			// keys after them.
			err := r.preload(s, r.p.values, permutation(r.p.Num, r.p.Seed, 1), warm)
			if err != nil {
				closeFn()
				return res, fmt.Errorf("%s: preload: %w", peer.Name, err)
			}
		}
		if warm > 0 {
			if _, err := r.runThreads(s, w, e, -1, warm); err != nil {
				closeFn()
				return res, err
			}
		}
		rr, err := r.runThreads(s, w, e, run, r.p.Num)
		if err == nil {
			r.logRun(peer, w, run, rr)
			runs = append(runs, rr)
		}
		if cerr := closeFn(); err == nil {
			err = cerr
		}
		if err != nil {
			return res, err
		}
	}
	res.setRuns(runs)
	return res, nil
}

// measure warms up, then runs w r.p.Runs times on the same store.
func (r *runner) measure(s Store, peer Peer, w *workload, e *genEnv) (Result, error) {
	res := Result{Workload: w.name, Peer: peer.Name, Durable: peer.Durable}
	total := w.ops(r.p)
	if w.name == ReadSeq {
		total = e.n
	}
	if warm := min(r.p.Warmup, total); warm > 0 {
		if _, err := r.runThreads(s, w, e, -1, warm); err != nil {
			return res, err
		}
	}
	var runs []runResult
	for run := 0; run < r.p.Runs; run++ {
		rr, err := r.runThreads(s, w, e, run, total)
		if err != nil {
			return res, err
		}
		r.logRun(peer, w, run, rr)
		runs = append(runs, rr)
	}
	res.setRuns(runs)
	return res, nil
}

func (r *runner) logRun(peer Peer, w *workload, run int, rr runResult) {
	r.logf("%-13s %-14s run %d/%d: %10.0f ops/s  p50 %-9v p99 %v", w.name, peer.Name, run+1, r.p.Runs,
		rr.opsPerSec(), time.Duration(rr.hist.ValueAtQuantile(50)), time.Duration(rr.hist.ValueAtQuantile(99)))
}

// preload writes keys order[...] and then extra keys n..n+extra-1 in
// batches of 1000, unmeasured.
func (r *runner) preload(s Store, vals valuer, order []int64, extra int64) error {
	if !s.Caps().Reads {
		return nil // nothing can read it back: the raw limit only writes
	}
	const batch = 1000
	ops := make([]Op, 0, batch)
	keys := make([][]byte, batch)
	n := int64(len(order))
	for i := int64(0); i < n+extra; i++ {
		idx := i // extra keys follow the ordered ones
		if i < n {
			idx = order[i]
		}
		keys[len(ops)] = r.p.keys.key(keys[len(ops)], idx)
		ops = append(ops, Op{Key: keys[len(ops)], Value: vals.value(idx, 0)})
		if len(ops) == batch || i == n+extra-1 {
			if err := s.Batch(ops); err != nil {
				return err
			}
			ops = ops[:0]
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// runThreads performs total operations of w (run < 0: the warm-up) on
// r.p.Threads goroutines and returns the measurement.
func (r *runner) runThreads(s Store, w *workload, e *genEnv, run int, total int64) (runResult, error) {
	threads := r.p.Threads
	var (
		wg    sync.WaitGroup
		stop  atomic.Bool
		start = make(chan struct{})
		hists = make([]*hdr.Histogram, threads)
		done  = make([]int64, threads)
		errs  = make([]error, threads)
	)
	limit := r.p.Duration
	if run < 0 && limit > 0 {
		limit = max(limit/2, time.Millisecond)
	}
	vals := r.vals(w.group == groupYCSB)
	for t := range threads {
		budget := total / int64(threads)
		if int64(t) < total%int64(threads) {
			budget++
		}
		x := &executor{s: s, e: e, keys: r.p.keys, vals: vals, hist: newHist()}
		if w.batchable && r.p.Batch > 1 {
			x.batch = r.p.Batch
		}
		hists[t] = x.hist
		gen := w.gen(e, run, t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			done[t], errs[t] = x.loop(gen, budget, &stop)
			if errs[t] != nil {
				stop.Store(true)
			}
		}()
	}
	watch := make(chan struct{})
	go func() {
		var timer <-chan time.Time
		if limit > 0 {
			timer = time.After(limit)
		}
		select {
		case <-timer:
		case <-r.ctx.Done():
		case <-watch:
		}
		stop.Store(true)
	}()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	close(watch)
	if err := r.ctx.Err(); err != nil {
		return runResult{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return runResult{}, fmt.Errorf("%s on %s: %w", w.name, s.Name(), err)
	}
	rr := runResult{elapsed: elapsed, hist: newHist()}
	for t := range threads {
		rr.ops += done[t]
		rr.hist.Merge(hists[t])
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rr.heap, rr.rss = ms.HeapInuse, rss()
	return rr, nil
}

// executor performs one thread's operations on a store.
type executor struct {
	s     Store
	e     *genEnv
	keys  keyer
	vals  valuer
	hist  *hdr.Histogram
	batch int // >1: group writes into batches of this many ops

	key, buf []byte
	ops      []Op
	opKeys   [][]byte
}

// loop runs up to budget operations (readseq chunks count their keys),
// stopping early when stop is set. It returns the count done.
func (x *executor) loop(g generator, budget int64, stop *atomic.Bool) (int64, error) {
	var op opSpec
	done := int64(0)
	for i := 0; done < budget; i++ {
		if i&31 == 0 && stop.Load() {
			break
		}
		if x.batch > 1 {
			n, err := x.doBatch(g, min(int64(x.batch), budget-done))
			done += n
			if err != nil {
				return done, err
			}
			continue
		}
		g.next(&op)
		t0 := time.Now()
		err := x.do(&op)
		d := time.Since(t0)
		if err != nil {
			return done, err
		}
		if op.kind == opSeqChunk {
			x.hist.RecordValues(max(1, int64(d)/int64(max(op.n, 1))), int64(op.n))
			done += int64(op.n)
			continue
		}
		x.hist.RecordValue(max(1, int64(d)))
		done++
	}
	return done, nil
}

// doBatch gathers n write operations into one Batch call and records its
// latency once.
func (x *executor) doBatch(g generator, n int64) (int64, error) {
	if len(x.opKeys) < int(n) {
		x.opKeys = make([][]byte, n)
	}
	x.ops = x.ops[:0]
	var op opSpec
	for i := range n {
		g.next(&op)
		x.opKeys[i] = x.keys.key(x.opKeys[i], op.idx)
		o := Op{Key: x.opKeys[i], Delete: op.kind == opDelete}
		if !o.Delete {
			o.Value = x.vals.value(op.idx, op.ver)
		}
		x.ops = append(x.ops, o)
	}
	t0 := time.Now()
	err := x.s.Batch(x.ops)
	x.hist.RecordValue(max(1, int64(time.Since(t0))))
	return n, err
}

func (x *executor) do(op *opSpec) error {
	x.key = x.keys.key(x.key, op.idx)
	switch op.kind {
	case opGet:
		return x.get()
	case opPut:
		return x.s.Put(x.key, x.vals.value(op.idx, op.ver))
	case opInsert:
		if err := x.s.Put(x.key, x.vals.value(op.idx, op.ver)); err != nil {
			return err
		}
		x.e.acked.ack(op.idx)
		return nil
	case opDelete:
		return x.s.Delete(x.key)
	case opRMW:
		if err := x.get(); err != nil {
			return err
		}
		return x.s.Put(x.key, x.vals.value(op.idx, op.ver))
	case opScan:
		return x.s.Scan(x.key, op.n, func(k, v []byte) bool { return true })
	case opSeqChunk:
		got := 0
		err := x.s.Scan(x.key, op.n, func(k, v []byte) bool { got++; return true })
		if err == nil && got != op.n {
			err = fmt.Errorf("scan from key %q returned %d keys, want %d", x.key, got, op.n)
		}
		return err
	}
	return fmt.Errorf("unknown op kind %d", op.kind)
}

// get reads x.key, which must exist with a value of the workload's size.
func (x *executor) get() error {
	var err error
	x.buf, err = x.s.Get(x.key, x.buf)
	switch {
	case err != nil:
		return fmt.Errorf("get %q: %w", x.key, err)
	case len(x.buf) != x.vals.size:
		return fmt.Errorf("get %q: value of %d bytes, want %d", x.key, len(x.buf), x.vals.size)
	}
	return nil
}
