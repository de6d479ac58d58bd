package bench

import (
	"math"
	"slices"
	"testing"
)

// drain takes n operations from a generator.
func drain(g generator, n int) []opSpec {
	out := make([]opSpec, n)
	for i := range out {
		g.next(&out[i])
	}
	return out
}

func testEnv(t *testing.T, threads int) *genEnv {
	t.Helper()
	c := Defaults()
	c.Dir, c.Num, c.Ops, c.YCSBNum = t.TempDir(), 10_000, 10_000, 10_000
	p, err := newPlan(c)
	if err != nil {
		t.Fatal(err)
	}
	e := &genEnv{p: p, threads: threads, n: 10_000, acked: newAckCounter(10_000), items: 10_000}
	e.claimed.Store(10_000)
	e.order = permutation(e.n, p.Seed, 2)
	return e
}

// Every workload's operations depend only on the seed, the run and the
// thread: two generators built alike agree, other runs differ.
func TestGeneratorsDeterministic(t *testing.T) {
	for _, w := range workloads {
		if w.gen == nil {
			continue
		}
		t.Run(w.name, func(t *testing.T) {
			e1, e2 := testEnv(t, 2), testEnv(t, 2)
			if m, ok := ycsbMixes[w.name]; ok {
				e1.mix, e2.mix = m, m
			}
			for _, th := range []int{0, 1} {
				a, b := drain(w.gen(e1, 0, th), 500), drain(w.gen(e2, 0, th), 500)
				if !slices.Equal(a, b) {
					t.Fatalf("thread %d: two generators with one seed disagree", th)
				}
			}
			if w.name == ReadSeq || w.name == FillSeq {
				return // ordered by definition
			}
			if a, b := drain(w.gen(e1, 0, 0), 500), drain(w.gen(e1, 1, 0), 500); slices.Equal(a, b) && w.group != groupFresh {
				t.Error("runs 0 and 1 draw the same operations")
			}
		})
	}
}

// Fill and delete workloads visit every key exactly once across threads,
// and their warm-up uses keys outside the measured ones.
func TestOrderedWorkloadsCoverKeys(t *testing.T) {
	for _, name := range []string{FillSeq, FillRandom, DeleteRandom} {
		w := workloadByName(name)
		e := testEnv(t, 3)
		seen := make([]bool, e.n)
		for th := range 3 {
			n := e.n / 3
			if int64(th) < e.n%3 {
				n++
			}
			for _, op := range drain(w.gen(e, 0, th), int(n)) {
				if seen[op.idx] {
					t.Fatalf("%s: key %d twice", name, op.idx)
				}
				seen[op.idx] = true
			}
		}
		if i := slices.Index(seen, false); i >= 0 {
			t.Fatalf("%s: key %d never visited", name, i)
		}
		for _, op := range drain(w.gen(e, -1, 0), 100) {
			if op.idx < e.n {
				t.Fatalf("%s: warm-up touches measured key %d", name, op.idx)
			}
		}
	}
	if e := testEnv(t, 1); slices.IsSorted(e.order) {
		t.Error("fillrandom's order is sorted")
	}
}

func TestKeysAndValues(t *testing.T) {
	k, err := newKeyer(16, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(k.key(nil, 42)); got != "0000000000000042" {
		t.Errorf("key 42 = %q", got)
	}
	if string(k.key(nil, 9)) > string(k.key(nil, 10)) {
		t.Error("key order is not index order")
	}
	if _, err := newKeyer(4, 100_000); err == nil {
		t.Error("4-byte keys accepted for 100000 indices")
	}
	v1, v2 := newValuer(100, 7), newValuer(100, 7)
	if string(v1.value(5, 0)) != string(v2.value(5, 0)) || len(v1.value(5, 0)) != 100 {
		t.Error("values are not a function of seed, key and version")
	}
	if string(v1.value(5, 0)) == string(v1.value(5, 1)) || string(v1.value(5, 0)) == string(v1.value(6, 0)) {
		t.Error("another version or key gives the same value")
	}
}

// The zipfian generator follows P(rank) ∝ 1/rank^0.99: the two top items
// exactly (Gray's method computes them directly), the rest through its
// approximation, so only their total share is checked.
func TestZipfianSkew(t *testing.T) {
	const n, draws = 1000, 400_000
	z := newZipfian(n, ycsbZipfConstant)
	r := newRand(1, 99)
	counts := make([]int, n)
	for range draws {
		counts[z.next(r, n)]++
	}
	zeta := zetaRange(0, n, ycsbZipfConstant)
	for rank := 0; rank < 2; rank++ {
		want := draws / math.Pow(float64(rank+1), ycsbZipfConstant) / zeta
		if got := float64(counts[rank]); math.Abs(got-want)/want > 0.05 {
			t.Errorf("item %d drawn %v times, want about %.0f", rank, got, want)
		}
	}
	head := 0
	for _, c := range counts[:100] {
		head += c
	}
	if got, want := float64(head)/draws, zetaRange(0, 100, ycsbZipfConstant)/zeta; math.Abs(got-want)/want > 0.1 {
		t.Errorf("top 10%% of items drawn %.3f of the time, want about %.3f", got, want)
	}
	if ratio := float64(counts[0]) / float64(counts[1]); ratio < 1.8 || ratio > 2.2 {
		t.Errorf("top/second = %.2f, want about 1.99", ratio)
	}
	// Growing the item count extends zeta instead of recomputing it.
	z2 := newZipfian(10, ycsbZipfConstant)
	z2.next(r, n)
	if math.Abs(z2.zetan-zeta) > 1e-9 {
		t.Errorf("incremental zeta %v, want %v", z2.zetan, zeta)
	}
}

// The scrambled zipfian keeps the skew but scatters the popular keys over
// the key space, as YCSB's does.
func TestScrambledZipfian(t *testing.T) {
	const n, draws = 10_000, 200_000
	s := newScrambledZipfian(n)
	r := newRand(1, 7)
	counts := make([]int, n)
	for range draws {
		k := s.next(r)
		if k < 0 || k >= n {
			t.Fatalf("key %d outside [0,%d)", k, n)
		}
		counts[k]++
	}
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	slices.Reverse(sorted)
	top := 0
	for _, c := range sorted[:n/100] {
		top += c
	}
	// The hottest 1% of keys hold about the 100 most popular of YCSB's
	// 10^10 items: zeta(100)/zeta(10^10) ≈ 20% of draws (uniform: 1%).
	if share := float64(top) / draws; share < 0.15 {
		t.Errorf("hottest 1%% of keys get %.0f%% of draws, want a zipfian skew", 100*share)
	}
	// Scattered: the hottest 10 keys are not the first 10 indices.
	firstTen := 0
	for _, c := range counts[:10] {
		firstTen += c
	}
	if firstTen > sorted[0]+sorted[1] {
		t.Errorf("the first indices are the hot ones: not scrambled")
	}
	if fnv64(0) == fnv64(1) || int64(fnv64(12345)) < 0 {
		t.Error("fnv64 is broken")
	}
}

// Skewed-latest (YCSB D) favours the newest keys and follows the insert
// limit as it grows.
func TestSkewedLatest(t *testing.T) {
	const draws = 100_000
	l := newSkewedLatest(1000)
	r := newRand(1, 3)
	recent := 0
	for range draws {
		k := l.next(r, 1000)
		if k < 0 || k >= 1000 {
			t.Fatalf("key %d outside [0,1000)", k)
		}
		if k >= 990 {
			recent++
		}
	}
	if share := float64(recent) / draws; share < 0.3 {
		t.Errorf("newest 1%% of keys get %.0f%% of reads, want most", 100*share)
	}
	for range 1000 {
		if k := l.next(r, 5000); k < 0 || k >= 5000 {
			t.Fatalf("after growth: key %d outside [0,5000)", k)
		}
	}
	if k := l.next(r, 1); k != 0 {
		t.Errorf("one key: drew %d", k)
	}
}

// YCSB mixes come out in their proportions; reads never choose a key that
// is not acknowledged yet.
func TestYCSBMix(t *testing.T) {
	for name, m := range ycsbMixes {
		e := testEnv(t, 1)
		e.mix = m
		g := workloadByName(name).gen(e, 0, 0)
		counts := map[opKind]int{}
		const n = 20_000
		for _, op := range drain(g, n) {
			counts[op.kind]++
			if op.kind != opInsert && op.idx >= e.acked.limit() {
				t.Fatalf("%s: op on key %d, not yet inserted", name, op.idx)
			}
			if op.kind == opScan && (op.n < 1 || op.n > ycsbMaxScan) {
				t.Fatalf("%s: scan length %d", name, op.n)
			}
		}
		for kind, want := range map[opKind]float64{opGet: m.read, opPut: m.update, opInsert: m.insert, opScan: m.scan, opRMW: m.rmw} {
			if got := float64(counts[kind]) / n; math.Abs(got-want) > 0.015 {
				t.Errorf("%s: op kind %d share %.3f, want %.3f", name, kind, got, want)
			}
		}
	}
}

func TestAckCounter(t *testing.T) {
	a := newAckCounter(10)
	a.ack(12)
	a.ack(11)
	if a.limit() != 10 {
		t.Fatalf("limit %d before 10 is acknowledged", a.limit())
	}
	a.ack(10)
	if a.limit() != 13 {
		t.Fatalf("limit %d, want 13", a.limit())
	}
}
