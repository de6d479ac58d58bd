package bench

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Workload names, in report order.
const (
	FillSeq      = "fillseq"
	FillRandom   = "fillrandom"
	Overwrite    = "overwrite"
	ReadRandom   = "readrandom"
	ReadSeq      = "readseq"
	ScanWorkload = "scan"
	DeleteRandom = "deleterandom"
	YCSBA        = "ycsb-a"
	YCSBB        = "ycsb-b"
	YCSBC        = "ycsb-c"
	YCSBD        = "ycsb-d"
	YCSBE        = "ycsb-e"
	YCSBF        = "ycsb-f"
	Snapshot     = "snapshot"
	Recovery     = "recovery"
)

// Workload groups decide which store a workload runs on.
const (
	groupFresh  = "fresh"  // every run starts from a new store
	groupShared = "shared" // one store, preloaded once, pmemkv-bench values
	groupYCSB   = "ycsb"   // one store, preloaded once, YCSB records
	groupDaxkv  = "daxkv"  // daxkv's own measurements (snapshot, recovery)
)

type opKind uint8

const (
	opGet opKind = iota
	opPut
	opInsert // a new key claimed from the shared insert counter (YCSB D, E)
	opDelete
	opScan
	opRMW      // read, then write a new value (YCSB F)
	opSeqChunk // readseq: n keys in order from idx
)

// opSpec is one operation a generator asks for.
type opSpec struct {
	kind opKind
	idx  int64  // key index
	n    int    // scan length, or keys in a readseq chunk
	ver  uint64 // value version for writes
}

// workload describes one benchmark.
type workload struct {
	name, desc string
	group      string
	needReads  bool // the peer must read (not the raw limit)
	needOrder  bool // the peer must have an ordered index (not the map)
	batchable  bool // --batch groups its writes
	// ops is how many operations one run performs.
	ops func(p *plan) int64
	// gen returns thread t's operations for a run (run < 0: warm-up).
	gen func(e *genEnv, run, t int) generator
}

// generator yields operations; the runner decides how many to take.
type generator interface{ next(op *opSpec) }

// genEnv is what the generators of one (peer, workload) share.
type genEnv struct {
	p       *plan
	threads int
	n       int64   // keys the store holds before the run
	order   []int64 // fillrandom's or deleterandom's key order
	// YCSB inserts claim new indices from claimed; reads choose among
	// acknowledged ones (below acked.limit()), as YCSB's acknowledged
	// counter does.
	claimed atomic.Int64
	acked   *ackCounter
	items   int64 // key space of the scrambled zipfian
	mix     ycsbMix
}

// ackCounter tracks which claimed indices are written: limit is the
// lowest index not yet acknowledged, so every index below it exists even
// when threads finish out of order.
type ackCounter struct {
	mu      sync.Mutex
	lim     atomic.Int64
	pending map[int64]bool
}

func newAckCounter(start int64) *ackCounter {
	a := &ackCounter{pending: map[int64]bool{}}
	a.lim.Store(start)
	return a
}

func (a *ackCounter) limit() int64 { return a.lim.Load() }

func (a *ackCounter) ack(i int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.lim.Load()
	if i != l {
		a.pending[i] = true
		return
	}
	for l++; a.pending[l]; l++ {
		delete(a.pending, l)
	}
	a.lim.Store(l)
}

// orderGen walks a sequence of indices (order, or base+i when order is
// nil), thread t taking elements t, t+threads, ...
type orderGen struct {
	kind      opKind
	order     []int64
	base, pos int64
	step      int64
}

func (g *orderGen) next(op *opSpec) {
	idx := g.base + g.pos
	if g.order != nil {
		idx = g.order[g.pos]
	}
	*op = opSpec{kind: g.kind, idx: idx}
	g.pos += g.step
}

// uniformGen draws keys uniformly from [0, n).
type uniformGen struct {
	kind opKind
	r    *rand.Rand
	n    int64
	scan int
}

func (g *uniformGen) next(op *opSpec) {
	*op = opSpec{kind: g.kind, idx: g.r.Int64N(g.n), n: g.scan, ver: g.r.Uint64()}
}

// seqGen reads thread t's slice of the key space in chunks.
type seqGen struct{ pos, end int64 }

// seqChunk keys are read per Scan call in readseq.
const seqChunk = 1000

func (g *seqGen) next(op *opSpec) {
	n := min(seqChunk, g.end-g.pos)
	*op = opSpec{kind: opSeqChunk, idx: g.pos, n: int(n)}
	g.pos += n
}

// ycsbMix is the operation mix of a YCSB core workload.
type ycsbMix struct {
	read, update, insert, scan, rmw float64
	latest                          bool // requestdistribution=latest (D), else zipfian
}

var ycsbMixes = map[string]ycsbMix{
	YCSBA: {read: 0.5, update: 0.5},
	YCSBB: {read: 0.95, update: 0.05},
	YCSBC: {read: 1},
	YCSBD: {read: 0.95, insert: 0.05, latest: true},
	YCSBE: {scan: 0.95, insert: 0.05},
	YCSBF: {read: 0.5, rmw: 0.5},
}

// ycsbMaxScan is YCSB's maxscanlength; lengths are uniform in [1, it].
const ycsbMaxScan = 100

type ycsbGen struct {
	e      *genEnv
	r      *rand.Rand
	zipf   *scrambledZipfian
	latest *skewedLatest
}

func (g *ycsbGen) key() int64 {
	lim := g.e.acked.limit()
	if g.latest != nil {
		return g.latest.next(g.r, lim)
	}
	for {
		// YCSB redraws keys that are not inserted yet.
		if k := g.zipf.next(g.r); k < lim {
			return k
		}
	}
}

func (g *ycsbGen) next(op *opSpec) {
	m := g.e.mix
	u := g.r.Float64()
	*op = opSpec{ver: g.r.Uint64()}
	switch {
	case u < m.read:
		op.kind, op.idx = opGet, g.key()
	case u < m.read+m.update:
		op.kind, op.idx = opPut, g.key()
	case u < m.read+m.update+m.scan:
		op.kind, op.idx, op.n = opScan, g.key(), 1+g.r.IntN(ycsbMaxScan)
	case u < m.read+m.update+m.scan+m.rmw:
		op.kind, op.idx = opRMW, g.key()
	default:
		op.kind, op.idx = opInsert, g.e.claimed.Add(1)-1
	}
}

// runStream separates the random streams of warm-up and runs.
func runStream(name string, run, t int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return mix64(h ^ uint64(int64(run)+1)<<32 ^ uint64(t))
}

func opsNum(p *plan) int64 { return p.Num }
func opsOps(p *plan) int64 { return p.Ops }

var workloads = []*workload{
	{
		name: FillSeq, desc: "puts of keys in ascending order into an empty store", group: groupFresh, batchable: true, ops: opsNum,
		gen: func(e *genEnv, run, t int) generator {
			if run < 0 {
				return &orderGen{kind: opPut, base: e.n, pos: int64(t), step: int64(e.threads)}
			}
			return &orderGen{kind: opPut, pos: int64(t), step: int64(e.threads)}
		},
	},
	{
		name: FillRandom, desc: "puts of keys in random order into an empty store", group: groupFresh, batchable: true, ops: opsNum,
		gen: func(e *genEnv, run, t int) generator {
			if run < 0 {
				return &orderGen{kind: opPut, base: e.n, pos: int64(t), step: int64(e.threads)}
			}
			return &orderGen{kind: opPut, order: e.order, pos: int64(t), step: int64(e.threads)}
		},
	},
	{
		name: Overwrite, desc: "puts of new values to existing keys chosen uniformly", group: groupShared, batchable: true, ops: opsOps,
		gen: func(e *genEnv, run, t int) generator {
			return &uniformGen{kind: opPut, r: newRand(e.p.Seed, runStream(Overwrite, run, t)), n: e.n}
		},
	},
	{
		name: ReadRandom, desc: "gets of existing keys chosen uniformly", group: groupShared, needReads: true, ops: opsOps,
		gen: func(e *genEnv, run, t int) generator {
			return &uniformGen{kind: opGet, r: newRand(e.p.Seed, runStream(ReadRandom, run, t)), n: e.n}
		},
	},
	{
		name: ReadSeq, desc: "every key in key order (per key; each thread scans its slice, 1000 keys per Scan call)", group: groupShared,
		needReads: true, needOrder: true, ops: opsNum,
		gen: func(e *genEnv, run, t int) generator {
			lo, hi := e.n*int64(t)/int64(e.threads), e.n*int64(t+1)/int64(e.threads)
			return &seqGen{pos: lo, end: hi}
		},
	},
	{
		name: ScanWorkload, desc: "range scans of --scan-length keys from a uniformly chosen start", group: groupShared,
		needReads: true, needOrder: true, ops: opsOps,
		gen: func(e *genEnv, run, t int) generator {
			sl := int64(e.p.ScanLength)
			return &uniformGen{kind: opScan, r: newRand(e.p.Seed, runStream(ScanWorkload, run, t)), n: max(1, e.n-sl+1), scan: e.p.ScanLength}
		},
	},
	{
		name: DeleteRandom, desc: "deletes of every key in random order", group: groupFresh, batchable: true, ops: opsNum,
		gen: func(e *genEnv, run, t int) generator {
			if run < 0 {
				return &orderGen{kind: opDelete, base: e.n, pos: int64(t), step: int64(e.threads)}
			}
			return &orderGen{kind: opDelete, order: e.order, pos: int64(t), step: int64(e.threads)}
		},
	},
	ycsbWorkload(YCSBA, "50% reads, 50% updates, zipfian"),
	ycsbWorkload(YCSBB, "95% reads, 5% updates, zipfian"),
	ycsbWorkload(YCSBC, "100% reads, zipfian"),
	ycsbWorkload(YCSBD, "95% reads, 5% inserts, reads skewed to the latest inserts"),
	ycsbWorkload(YCSBE, "95% scans of 1 to 100 keys, 5% inserts, zipfian"),
	ycsbWorkload(YCSBF, "50% reads, 50% read-modify-writes, zipfian"),
	{
		name: Snapshot, desc: "daxkv only: CreateSnapshot, CreateBranch and Diff latency against store size", group: groupDaxkv,
	},
	{
		name: Recovery, desc: "daxkv only: store.Open after kill -9 of a writer, against WAL fill", group: groupDaxkv,
	},
}

func ycsbWorkload(name, desc string) *workload {
	m := ycsbMixes[name]
	return &workload{
		name: name, desc: desc, group: groupYCSB, needReads: true, needOrder: m.scan > 0, ops: opsOps,
		gen: func(e *genEnv, run, t int) generator {
			g := &ycsbGen{e: e, r: newRand(e.p.Seed, runStream(name, run, t))}
			if m.latest {
				g.latest = newSkewedLatest(e.acked.limit())
			} else {
				g.zipf = newScrambledZipfian(e.items)
			}
			return g
		},
	}
}

// WorkloadNames lists the valid workload names in report order.
func WorkloadNames() []string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return names
}

func workloadByName(name string) *workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

// SelectWorkloads checks names ("all", or an empty list, means every
// workload) and returns them in report order; an unknown name is an error
// listing the valid ones.
func SelectWorkloads(names []string) ([]string, error) {
	want, err := selectNames(names, WorkloadNames(), "workload")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range WorkloadNames() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
