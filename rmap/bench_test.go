package rmap

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

var (
	benchOnce   sync.Once
	benchStream stream
)

// benchReports is a recorded walk of about a million extents, 17 refs.
func benchReports() *stream {
	benchOnce.Do(func() { benchStream = bigStream(1_000_000, 14, 2) })
	return &benchStream
}

// BenchmarkVisit is the store's rebuild: a shared walk of every ref, one
// Visit per report (ns/op is per report).
func BenchmarkVisit(b *testing.B) {
	s := benchReports()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		bl := NewBuilder()
		s.replay(bl)
	}
	b.StopTimer()
	reports := float64(b.N) * float64(len(s.recs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/reports, "ns/report")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/reports, "cpu-ns/report")
}

// reportCPU starts counting CPU time; the returned func reports it per op.
// On a loaded machine wall time counts other processes too.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if used := cpuTime() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkAdd adds distinct value extents with 16-byte keys, one ref, a
// fresh Builder for every million (the per-op cost includes compactions).
func BenchmarkAdd(b *testing.B) {
	var k [16]byte
	bl := NewBuilder()
	defer reportCPU(b)()
	for i := range b.N {
		if i%(1<<20) == 0 {
			bl = NewBuilder()
		}
		key := bigKey(&k, int32(i%(1<<20)))
		bl.Add(int64(i%(1<<20))*512, 512, Value, 0, key, key, 1)
	}
}

// BenchmarkAddMerge adds the same extents again for other refs: the merge
// path (find the record, union the ref in).
func BenchmarkAddMerge(b *testing.B) {
	const extents = 1 << 16
	var k [16]byte
	bl := NewBuilder()
	for i := range extents {
		key := bigKey(&k, int32(i))
		bl.Add(int64(i)*512, 512, Value, 0, key, key, 1)
	}
	b.ResetTimer()
	defer reportCPU(b)()
	for i := range b.N {
		key := bigKey(&k, int32(i%extents))
		bl.Add(int64(i%extents)*512, 512, Value, 0, key, key, uint32(2+i/extents%8))
	}
}

// BenchmarkFinish propagates, sorts and freezes a million extents.
func BenchmarkFinish(b *testing.B) {
	s := benchReports()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		bl := NewBuilder()
		s.replay(bl)
		start := cpuTime()
		b.StartTimer()
		bl.Finish()
		cpu += cpuTime() - start
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func benchLookup(b *testing.B, m *Map, space int64, length int64) {
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	found := 0
	for range b.N {
		for range m.Overlapping(r.Int64N(space), length) {
			found++
		}
	}
	if found == 0 {
		b.Fatal("found nothing")
	}
}

// BenchmarkLookup queries one random byte of a million extents (the
// iterator; Lookup adds the copies).
func BenchmarkLookup(b *testing.B) {
	s := benchReports()
	bl := NewBuilder()
	s.replay(bl)
	m := bl.Finish()
	b.Run("byte", func(b *testing.B) { benchLookup(b, m, s.nextID, 1) })
	b.Run("64KiB", func(b *testing.B) { benchLookup(b, m, s.nextID, 64<<10) })
	b.Run("copy", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for range b.N {
			m.Lookup(r.Int64N(s.nextID), 1)
		}
	})
	// Overlapping records (one metadata area over everything) switch the
	// map to its interval tree.
	bl = NewBuilder()
	s.replay(bl)
	bl.AddFixed(0, 1<<20+1, AllocImage)
	mo := bl.Finish()
	if mo.maxEnd == nil {
		b.Fatal("no interval tree")
	}
	b.Run("tree/byte", func(b *testing.B) { benchLookup(b, mo, s.nextID, 1) })
	b.Run("tree/64KiB", func(b *testing.B) { benchLookup(b, mo, s.nextID, 64<<10) })
}
