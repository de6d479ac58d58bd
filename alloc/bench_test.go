package alloc

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

const benchExtents = 1 << 20

// reportCPU starts counting CPU time; the returned func reports it per op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if used := cpuTime() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// nodes returns an allocator holding n packed 4 KiB nodes in a space with
// 25% to spare, and their offsets.
func nodes(b *testing.B, n int) (*Allocator, []int64) {
	b.Helper()
	a := mustNew(b, 0, int64(n)*5/4*4096)
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = mustAlloc(b, a, 4096, 4096)
	}
	return a, offs
}

// fragment frees a random tenth of the extents, leaving holes everywhere.
func fragment(b *testing.B, a *Allocator, offs []int64, r *rand.Rand) []int64 {
	b.Helper()
	r.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	k := len(offs) / 10
	for _, off := range offs[:k] {
		release(b, a, off)
	}
	return offs[k:]
}

// releaseFast is release without t.Helper, which costs as much as the
// operations measured.
func releaseFast(b *testing.B, a *Allocator, off int64) {
	if _, err := a.Decref(off); err != nil {
		b.Fatal(err)
	}
	if err := a.Free(off); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAllocFree4K: with 1M live 4 KiB nodes and holes everywhere, each
// op frees a random node and allocates a new one.
func BenchmarkAllocFree4K(b *testing.B) {
	a, offs := nodes(b, benchExtents)
	r := rand.New(rand.NewPCG(1, 1))
	offs = fragment(b, a, offs, r)
	done := reportCPU(b)
	for b.Loop() {
		i := r.IntN(len(offs))
		releaseFast(b, a, offs[i])
		off, err := a.Alloc(4096, 4096)
		if err != nil {
			b.Fatal(err)
		}
		offs[i] = off
	}
	done()
}

// BenchmarkAllocFreeMixed: 1M extents of mixed sizes (nodes and values from
// 300 B to 16 KiB); each op frees a random one and allocates a new one of a
// random kind, so free space fragments.
func BenchmarkAllocFreeMixed(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	size := func() (int64, int64) {
		if r.IntN(2) == 0 {
			return 4096, 4096
		}
		return 300 + r.Int64N(16<<10), 0
	}
	a := mustNew(b, 0, benchExtents*6<<10*5/4)
	offs := make([]int64, benchExtents)
	for i := range offs {
		n, align := size()
		offs[i] = mustAlloc(b, a, n, align)
	}
	offs = fragment(b, a, offs, r)
	done := reportCPU(b)
	for b.Loop() {
		i := r.IntN(len(offs))
		releaseFast(b, a, offs[i])
		n, align := size()
		off, err := a.Alloc(n, align)
		if err != nil {
			b.Fatal(err)
		}
		offs[i] = off
	}
	done()
	b.ReportMetric(float64(a.Stats().FreeRanges), "freeRanges")
}

func BenchmarkIncrefDecref(b *testing.B) {
	a, offs := nodes(b, benchExtents)
	r := rand.New(rand.NewPCG(3, 3))
	done := reportCPU(b)
	for b.Loop() {
		off := offs[r.IntN(len(offs))]
		if err := a.Incref(off); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Decref(off); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

func benchLoad(b *testing.B, fragmented bool) {
	a, offs := nodes(b, benchExtents)
	if fragmented {
		fragment(b, a, offs, rand.New(rand.NewPCG(4, 4)))
	}
	img, err := a.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	s := a.Stats()
	done := reportCPU(b)
	for b.Loop() {
		if _, err := Load(0, s.Size, img); err != nil {
			b.Fatal(err)
		}
	}
	done()
	b.ReportMetric(float64(len(img))/float64(s.Extents), "imageB/extent")
	b.ReportMetric(float64(s.FreeRanges), "freeRanges")
}

// BenchmarkLoad1M: open after a clean close, 1M packed nodes.
func BenchmarkLoad1M(b *testing.B) { benchLoad(b, false) }

// BenchmarkLoad1MFragmented: 900K nodes with 100K one-node holes.
func BenchmarkLoad1MFragmented(b *testing.B) { benchLoad(b, true) }

func BenchmarkMarshal1M(b *testing.B) {
	a, _ := nodes(b, benchExtents)
	done := reportCPU(b)
	for b.Loop() {
		if _, err := a.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkRebuild1M: a crash rebuild of 1M nodes reported in random order.
func BenchmarkRebuild1M(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	order := r.Perm(benchExtents)
	done := reportCPU(b)
	for b.Loop() {
		bl := NewBuilder(0, benchExtents*5/4*4096)
		for _, i := range order {
			if err := bl.Ref(int64(i)*4096, 4096); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := bl.Finish(); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// heapAfter returns the live heap bytes that build leaves behind.
func heapAfter(build func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, v
}

// BenchmarkHeapPerExtent reports Go heap bytes per extent for 1M extents in
// several shapes; ns/op is meaningless here. The map case is the obvious
// alternative representation, for comparison.
func BenchmarkHeapPerExtent(b *testing.B) {
	const n = benchExtents
	report := func(b *testing.B, build func() any) {
		var bytes uint64
		var keep any
		for b.Loop() {
			bytes, keep = heapAfter(build)
		}
		runtime.KeepAlive(keep)
		b.ReportMetric(float64(bytes)/n, "heapB/extent")
	}
	b.Run("nodes-allocated", func(b *testing.B) {
		report(b, func() any { a, _ := nodes(b, n); return a })
	})
	b.Run("nodes-loaded", func(b *testing.B) {
		a, _ := nodes(b, n)
		img, _ := a.MarshalBinary()
		a = nil
		report(b, func() any { l, _ := Load(0, n*5/4*4096, img); return l })
	})
	b.Run("nodes-fragmented", func(b *testing.B) { // 10% freed: free index included
		report(b, func() any {
			a, offs := nodes(b, n*10/9)
			fragment(b, a, offs, rand.New(rand.NewPCG(6, 6)))
			return a
		})
	})
	b.Run("values-64K", func(b *testing.B) {
		report(b, func() any {
			a := mustNew(b, 0, n*64<<10)
			for range n {
				mustAlloc(b, a, 64<<10, 0)
			}
			return a
		})
	})
	b.Run("values-mixed", func(b *testing.B) { // 300 B to 64 KiB
		report(b, func() any {
			r := rand.New(rand.NewPCG(7, 7))
			a := mustNew(b, 0, n*33<<10)
			for range n {
				mustAlloc(b, a, 300+r.Int64N(64<<10), 0)
			}
			return a
		})
	})
	b.Run("map-baseline", func(b *testing.B) {
		report(b, func() any {
			m := map[int64]struct{ units, refs uint32 }{}
			for i := range int64(n) {
				m[i*4096] = struct{ units, refs uint32 }{16, 1}
			}
			return m
		})
	})
}
