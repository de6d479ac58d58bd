package btree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
)

// benchTree is a 1M-key tree (16-byte random keys, 100-byte inline values)
// built by Apply in batches of 10K, shared by the benchmarks.
type benchTree struct {
	mem   []byte
	al    *alloc.Allocator
	p     flush.Persister
	root  int64
	keys  [][]byte
	nodes int
}

const (
	benchKeys  = 1 << 20
	benchBatch = 10_000
)

var (
	benchOnce sync.Once
	benchT    *benchTree
	benchErr  error
)

func benchKey(rng *rand.Rand) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, rng.Uint64())
	binary.BigEndian.PutUint64(k[8:], rng.Uint64())
	return k
}

func getBenchTree(b *testing.B) *benchTree {
	benchOnce.Do(func() { benchT, benchErr = buildBenchTree() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchT
}

func buildBenchTree() (*benchTree, error) {
	const size = 1 << 30
	mem := make([]byte, size)
	al, err := alloc.New(NodeSize, size-NodeSize)
	if err != nil {
		return nil, err
	}
	p, err := flush.New(flush.Config{Mode: flush.Auto})
	if err != nil {
		return nil, err
	}
	bt := &benchTree{mem: mem, al: al, p: p}
	tr := New(mem, al, p)
	rng := rand.New(rand.NewPCG(7, 7))
	val := bytes.Repeat([]byte{'v'}, 100)
	for len(bt.keys) < benchKeys {
		muts := make([]Mutation, 0, benchBatch)
		for i := 0; i < benchBatch && len(bt.keys)+i < benchKeys; i++ {
			muts = append(muts, Mutation{Key: benchKey(rng), Value: Value{Inline: val}})
		}
		slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
		root, z, err := tr.Apply(bt.root, muts, uint64(len(bt.keys)/benchBatch+1))
		if err != nil {
			return nil, err
		}
		if err := p.Drain(); err != nil {
			return nil, err
		}
		for _, off := range z {
			if err := al.Free(off); err != nil {
				return nil, err
			}
		}
		bt.root = root
		for _, m := range muts {
			bt.keys = append(bt.keys, m.Key)
		}
	}
	err = tr.Walk(bt.root, func(Extent, bool) error { bt.nodes++; return nil })
	return bt, err
}

func (bt *benchTree) tree() *Tree { return New(bt.mem, bt.al, bt.p) }

func BenchmarkGet(b *testing.B) {
	bt := getBenchTree(b)
	tr := bt.tree()
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := bt.keys[rng.IntN(len(bt.keys))]
		if _, ok, err := tr.Get(bt.root, k); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	bt := getBenchTree(b)
	tr := bt.tree()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			k := bt.keys[rng.IntN(len(bt.keys))]
			if _, ok, err := tr.Get(bt.root, k); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}

func BenchmarkIter(b *testing.B) {
	bt := getBenchTree(b)
	tr := bt.tree()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		it := tr.NewIter(bt.root)
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if it.Err() != nil || n != (i+1)*len(bt.keys) {
			b.Fatal(it.Err(), n)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkApply10K applies a batch of 10K new random keys to the 1M-key
// tree, keeping the base (a Ref, as a snapshot would) so every iteration
// starts from the same tree; the new version is released untimed.
func BenchmarkApply10K(b *testing.B) {
	bt := getBenchTree(b)
	tr := bt.tree()
	rng := rand.New(rand.NewPCG(3, 3))
	val := bytes.Repeat([]byte{'w'}, 100)
	written := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		muts := make([]Mutation, benchBatch)
		for j := range muts {
			muts[j] = Mutation{Key: benchKey(rng), Value: Value{Inline: val}}
		}
		slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
		if err := tr.Ref(bt.root); err != nil {
			b.Fatal(err)
		}
		before := bt.al.Stats().Used
		b.StartTimer()
		root, z, err := tr.Apply(bt.root, muts, 1<<20)
		if err == nil {
			err = bt.p.Drain()
		}
		b.StopTimer()
		if err != nil || len(z) != 0 {
			b.Fatal(err, len(z))
		}
		written += int((bt.al.Stats().Used - before) / NodeSize)
		z, err = tr.Release(root)
		if err != nil {
			b.Fatal(err)
		}
		for _, off := range z {
			if err := bt.al.Free(off); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(written)/float64(b.N), "nodes/op")
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkTreeHeap reports the Go heap a Tree holds for the 1M-key tree
// after reading every node (the verified bitset is all it keeps), per key,
// along with the tree's shape.
func BenchmarkTreeHeap(b *testing.B) {
	bt := getBenchTree(b)
	var tr *Tree
	var before, after runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr = bt.tree()
		if err := tr.Walk(bt.root, func(Extent, bool) error { return nil }); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	n, err := tr.readNode(bt.root, -1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(len(bt.keys)), "heapB/key")
	b.ReportMetric(float64(bt.nodes), "nodes")
	b.ReportMetric(float64(n.level+1), "height")
	b.ReportMetric(float64(len(bt.keys))*(16+100)/float64(bt.nodes*NodeSize)*100, "payload%")
	runtime.KeepAlive(tr)
}

// BenchmarkDirFind is the directory search alone, over the bounds of 40K
// leaves (a 1M-key tree's worth) held in DRAM: the part of a point read
// that touches no mapped memory. Random keys spread over the radix
// buckets; decimal ones ("0000000000123456", as daxkv bench writes them)
// crowd into few.
func BenchmarkDirFind(b *testing.B) {
	random := func(rng *rand.Rand) []byte { return benchKey(rng) }
	decimal := func(rng *rand.Rand) []byte { return fmt.Appendf(nil, "%016d", rng.Uint64N(1_000_000)) }
	for _, c := range []struct {
		name string
		key  func(*rand.Rand) []byte
	}{{"random", random}, {"decimal", decimal}} {
		b.Run(c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			lows := make([][]byte, 40_000)
			for i := range lows {
				lows[i] = c.key(rng)
			}
			slices.SortFunc(lows, bytes.Compare)
			lows = slices.CompactFunc(lows, bytes.Equal)
			lows[0] = nil // the first leaf's bound is empty
			d := &Dir{}
			for i, low := range lows {
				d.add(low, int64(i+1)*NodeSize)
			}
			d.index()
			probes := make([][]byte, 4096)
			for i := range probes {
				probes[i] = c.key(rng)
			}
			b.ResetTimer()
			sum := 0
			for i := 0; i < b.N; i++ {
				sum += d.find(probes[i&4095])
			}
			runtime.KeepAlive(sum)
		})
	}
}
