package rmap

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// A stream is a recorded walk of a big forest: the store's reports, compact
// enough to replay a million of them without the forest model's cost.
type stream struct {
	recs    []streamRec
	extents int   // distinct extents
	nextID  int64 // the forest's allocation pointer: every offset is below it
}

type streamRec struct {
	off, n   int64
	loK, hiK int32
	kind     Kind
	level    int8
	walk     uint32 // nonzero: StartWalk(walk) before this report
}

// bigStream records the walk of a forest of about extents extents: one
// tree with 97% of values in their own extents, snapshots sharing it all,
// branches that diverge a little.
func bigStream(extents, snapshots, branches int) stream {
	f := newForest(1, extents, 64, 97)
	for id := uint32(2); id < uint32(2+snapshots); id++ {
		f.clone(id, 1)
	}
	for id := uint32(2 + snapshots); id < uint32(2+snapshots+branches); id++ {
		f.clone(id, 1)
		for range 100 {
			f.update(id, false)
		}
	}
	var s stream
	w := f.walker()
	for _, ref := range f.refIDs() {
		walk := ref
		w.walk(f.roots[ref], func(r report) {
			s.recs = append(s.recs, streamRec{r.off, r.n, int32(r.loK), int32(r.hiK), r.kind, int8(r.level), walk})
			walk = 0
			if r.first {
				s.extents++ // offsets are unique in a sound forest
			}
		})
	}
	s.nextID = f.next
	return s
}

// bigKey writes the 16-byte key with index i ("user:" and 11 digits) into
// buf, or returns nil for noKey.
func bigKey(buf *[16]byte, i int32) []byte {
	if i == noKey {
		return nil
	}
	copy(buf[:], "user:")
	for j := 15; j >= 5; j-- {
		buf[j] = byte('0' + i%10)
		i /= 10
	}
	return buf[:]
}

// replay feeds the stream to b in walk mode.
func (s *stream) replay(b *Builder) {
	var lo, hi [16]byte
	for i := range s.recs {
		r := &s.recs[i]
		if r.walk != 0 {
			b.StartWalk(r.walk)
		}
		b.Visit(r.off, r.n, r.kind, int(r.level), bigKey(&lo, r.loK), bigKey(&hi, r.hiK))
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMillion builds the map of a million extents and reports what it costs.
// It checks that MemoryBytes accounts for the heap the map really holds,
// that the layout stays compact, and spot-checks lookups.
func TestMillion(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a million extents: not with -short or -race")
	}
	const snapshots, branches = 14, 2
	s := bigStream(1_000_000, snapshots, branches)

	base := heapAlloc()
	b := NewBuilder()
	start := time.Now()
	s.replay(b)
	build := time.Since(start)
	buildHeap := heapAlloc() - base
	extents := s.extents

	start = time.Now()
	m := b.Finish()
	finish := time.Since(start)
	b = nil
	mapHeap := int64(heapAlloc() - base)

	t.Logf("%d reports, %d extents, %d refs, 16-byte keys", len(s.recs), extents, 1+snapshots+branches)
	t.Logf("walk mode: %v to Visit (%.0f ns/report, %.1fM reports/s), %v to Finish",
		build, float64(build.Nanoseconds())/float64(len(s.recs)), float64(len(s.recs))/build.Seconds()/1e6, finish)
	t.Logf("heap: builder %.1f B/extent; map %.1f B/extent measured, MemoryBytes %.1f B/extent; %d ref sets",
		float64(buildHeap)/float64(extents), float64(mapHeap)/float64(m.Len()),
		float64(m.MemoryBytes())/float64(m.Len()), m.sets.count())

	if m.Len() != extents {
		t.Fatalf("Len %d after Finish, %d before", m.Len(), extents)
	}
	// The measured heap may include a little of the runtime's own; the
	// map must not hold more than it says.
	if mapHeap > m.MemoryBytes()+m.MemoryBytes()/20+1<<20 {
		t.Errorf("map holds %d bytes of heap, MemoryBytes says %d", mapHeap, m.MemoryBytes())
	}
	// 32-byte records, 16-byte keys stored about once per extent, a few
	// shared ref sets: anything near 64 bytes means the layout regressed.
	if per := float64(m.MemoryBytes()) / float64(m.Len()); per > 60 {
		t.Errorf("%.1f bytes per extent", per)
	}
	// Every reported extent is found with its kind and length; the shared
	// root names every snapshot.
	r := rand.New(rand.NewPCG(1, 1))
	for range 10000 {
		want := s.recs[r.IntN(len(s.recs))]
		got := m.Lookup(want.off+r.Int64N(want.n), 1)
		if len(got) != 1 || got[0].Off != want.off || got[0].Len != want.n || got[0].Kind != want.kind {
			t.Fatalf("Lookup in %+v: %s", want, owners(got))
		}
	}
	root := m.Lookup(s.recs[0].off, 1)
	if len(root) != 1 || !slices.Equal(root[0].Refs, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
		t.Fatalf("root of ref 1: %s", owners(root))
	}

	// Direct mode: the same extents, each Added for one ref.
	start = time.Now()
	b = NewBuilder()
	var lo, hi [16]byte
	for i := range s.recs {
		rr := &s.recs[i]
		b.Add(rr.off, rr.n, rr.kind, int(rr.level), bigKey(&lo, rr.loK), bigKey(&hi, rr.hiK), 1)
	}
	add := time.Since(start)
	t.Logf("direct mode: %v to Add (%.0f ns/call, %.1fM calls/s)",
		add, float64(add.Nanoseconds())/float64(len(s.recs)), float64(len(s.recs))/add.Seconds()/1e6)
	if n := b.Finish().Len(); n != extents {
		t.Fatalf("direct mode: %d extents, walk mode %d", n, extents)
	}
}
