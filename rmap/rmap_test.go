package rmap

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// randomKey returns a short random key, sometimes empty (not nil).
func randomKey(r *rand.Rand) []byte {
	k := make([]byte, r.IntN(12))
	for i := range k {
		k[i] = byte('a' + r.IntN(4))
	}
	return k
}

// randomRefs returns a random non-empty subset of a pool of refs.
func randomRefs(r *rand.Rand, pool int) []uint32 {
	var refs []uint32
	for len(refs) == 0 {
		for id := range pool {
			if r.IntN(3) == 0 {
				refs = append(refs, uint32(id)*7+1)
			}
		}
	}
	return refs
}

// addAll feeds every (extent, ref) pair to both the Builder and the model,
// shuffled so that each extent's refs arrive interleaved with the others'
// and some pairs arrive twice.
func addAll(r *rand.Rand, b *Builder, md *model, exts []Owner) {
	type pair struct {
		e   int
		ref uint32
	}
	var pairs []pair
	for i, e := range exts {
		for _, ref := range e.Refs {
			pairs = append(pairs, pair{i, ref})
			if r.IntN(5) == 0 {
				pairs = append(pairs, pair{i, ref})
			}
		}
	}
	r.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	for _, p := range pairs {
		e := exts[p.e]
		b.Add(e.Off, e.Len, e.Kind, e.Level, e.Lo, e.Hi, p.ref)
		md.add(e.Off, e.Len, e.Kind, e.Level, e.Lo, e.Hi, p.ref)
	}
}

// probe checks the edge cases and count random ranges around [lo, hi).
func probe(t *testing.T, r *rand.Rand, m *Map, md *model, lo, hi int64, count int) {
	t.Helper()
	for _, c := range edgeCases(r, md) {
		checkLookup(t, m, md, c[0], c[1])
	}
	span := hi - lo + 2000
	for range count {
		off := lo - 1000 + r.Int64N(span)
		var length int64
		switch r.IntN(4) {
		case 0:
			length = 1 + r.Int64N(16)
		case 1:
			length = 1 + r.Int64N(4096)
		case 2:
			length = 1 + r.Int64N(span/4+1) // several extents
		default:
			length = r.Int64N(3) - 1 // -1, 0, 1
		}
		checkLookup(t, m, md, off, length)
	}
}

func TestLookupDisjoint(t *testing.T) {
	compacting(t, func(t *testing.T) {
		for seed := range uint64(12) {
			r := rand.New(rand.NewPCG(seed, 1))
			n := []int{1, 2, 3, 17, 100, 2000}[seed%6]
			var exts []Owner
			off := r.Int64N(1 << 20)
			for range n {
				off += r.Int64N(3) * 256 // gaps of 0, 256 or 512 bytes
				e := Owner{Off: off, Len: 256 * (1 + r.Int64N(20)), Refs: randomRefs(r, 10)}
				if r.IntN(4) == 0 {
					e.Kind, e.Level, e.Lo, e.Hi = Node, r.IntN(4), randomKey(r), randomKey(r)
				} else {
					e.Kind = Value
					e.Lo = randomKey(r)
					e.Hi = e.Lo
				}
				exts = append(exts, e)
				off += e.Len
			}
			b, md := NewBuilder(), newModel()
			addAll(r, b, md, exts)
			m := b.Finish()
			if m.maxEnd != nil {
				t.Fatal("disjoint extents got an interval tree")
			}
			if m.Len() != n {
				t.Fatalf("Len = %d, want %d", m.Len(), n)
			}
			probe(t, r, m, md, exts[0].Off, off, 1000)
		}
	})
}

func TestLookupOverlapping(t *testing.T) {
	compacting(t, func(t *testing.T) {
		sizes := []int{1000, 3000}
		for n := 1; n <= 70; n++ {
			sizes = append(sizes, n)
		}
		for seed, n := range sizes {
			r := rand.New(rand.NewPCG(uint64(seed), 2))
			space := int64(n) * 400
			var exts []Owner
			for range n {
				e := Owner{Off: r.Int64N(space), Kind: Kind(1 + r.IntN(7)), Refs: randomRefs(r, 5)}
				switch r.IntN(10) {
				case 0:
					e.Len = r.Int64N(space) // long: covers many
				case 1:
					e.Len = 0 // dropped by Finish, overlaps nothing
				case 2:
					if len(exts) > 0 { // another claim at a taken offset
						e.Off = exts[r.IntN(len(exts))].Off
					}
					e.Len = 1 + r.Int64N(2000)
				default:
					e.Len = 1 + r.Int64N(2000)
				}
				if e.Kind == Node || e.Kind == Value {
					e.Lo, e.Hi = randomKey(r), randomKey(r)
				}
				exts = append(exts, e)
			}
			b, md := NewBuilder(), newModel()
			addAll(r, b, md, exts)
			m := b.Finish()
			probe(t, r, m, md, 0, 2*space, 300)
		}
	})
}

// TestOverlappingBreak stops iterations early, in both lookup paths.
func TestOverlappingBreak(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		b := NewBuilder()
		for i := range int64(100) {
			b.Add(i*256, 256, Value, 0, nil, nil, 1)
		}
		if overlap {
			b.AddFixed(0, 100*256, WAL)
		}
		m := b.Finish()
		if (m.maxEnd != nil) != overlap {
			t.Fatalf("overlap %v: interval tree %v", overlap, m.maxEnd != nil)
		}
		all := m.Lookup(0, 1<<20)
		for stop := 1; stop <= 3; stop++ {
			n := 0
			for o := range m.Overlapping(0, 1<<20) {
				if !reflect.DeepEqual(o, all[n]) {
					t.Fatalf("overlap %v: #%d is %v, Lookup has %v", overlap, n, o, all[n])
				}
				n++
				if n == stop {
					break
				}
			}
			if n != stop {
				t.Fatalf("overlap %v: %d owners before stopping at %d", overlap, n, stop)
			}
		}
	}
}

func TestEmptyAndZeroBuilder(t *testing.T) {
	for _, b := range []*Builder{NewBuilder(), {}} {
		m := b.Finish()
		if m.Len() != 0 || m.Lookup(math.MinInt64, math.MaxInt64) != nil || len(allOwners(m)) != 0 {
			t.Fatal("empty map is not empty")
		}
		if m.MemoryBytes() <= 0 {
			t.Fatal("MemoryBytes of an empty map")
		}
	}
	var b Builder // the zero value builds
	b.StartWalk(3)
	b.Visit(4096, 4096, Node, 0, nil, nil)
	b.Add(8192, 256, Value, 0, []byte("k"), []byte("k"), 5)
	got := b.Finish().Lookup(0, 1<<20)
	if len(got) != 2 || !slices.Equal(got[0].Refs, []uint32{3}) || !slices.Equal(got[1].Refs, []uint32{5}) {
		t.Fatalf("zero Builder: %s", owners(got))
	}
}

func TestMerge(t *testing.T) {
	b := NewBuilder()
	k := func(s string) []byte { return []byte(s) }
	// One node from three refs, with different bounds and a duplicate.
	b.Add(4096, 4096, Node, 1, k("c"), k("m"), 9)
	b.Add(4096, 4096, Node, 1, k("b"), k("k"), 2)
	b.Add(4096, 4096, Node, 1, k("d"), k("n"), 9)
	b.Add(4096, 4096, Node, 1, k("c"), k("m"), 5)
	// Unbounded on one side wins.
	b.Add(1<<20, 4096, Node, 2, k("x"), nil, 1)
	b.Add(1<<20, 4096, Node, 2, nil, k("y"), 1)
	// A value, and a conflicting claim at the same offset.
	b.Add(8192, 300, Value, 0, k("key"), k("key"), 1)
	b.Add(8192, 4096, Node, 0, k("a"), k("b"), 4)
	// Clamped arguments.
	b.Add(1<<30, -5, Value, 0, k("neg"), k("neg"), 1)
	b.AddFixed(math.MaxInt64-10, math.MaxInt64, WAL)
	b.Add(2<<20, 4096, Node, 1000, nil, nil, 1)
	b.AddFixed(0, 4096, Superblock)
	b.Add(8192, 300, Value, 0, k("key"), k("key"), 0)
	m := b.Finish()

	want := []Owner{
		{Off: 0, Len: 4096, Kind: Superblock},
		{Off: 4096, Len: 4096, Kind: Node, Level: 1, Lo: k("b"), Hi: k("n"), Refs: []uint32{2, 5, 9}},
		{Off: 8192, Len: 300, Kind: Value, Lo: k("key"), Hi: k("key"), Refs: []uint32{0, 1}},
		{Off: 8192, Len: 4096, Kind: Node, Lo: k("a"), Hi: k("b"), Refs: []uint32{4}},
		{Off: 1 << 20, Len: 4096, Kind: Node, Level: 2, Refs: []uint32{1}},
		{Off: 2 << 20, Len: 4096, Kind: Node, Level: 127, Refs: []uint32{1}},
		{Off: math.MaxInt64 - 10, Len: 10, Kind: WAL},
	}
	if got := allOwners(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %s\nwant %s", owners(got), owners(want))
	}
	if m.Len() != len(want) {
		t.Fatalf("Len = %d, want %d (the zero-length extent is dropped)", m.Len(), len(want))
	}
	if got := m.Lookup(math.MaxInt64-1, 5); len(got) != 1 || got[0].Kind != WAL {
		t.Fatalf("last byte: %s", owners(got))
	}
	if got := m.Lookup(1<<30, 1); got != nil {
		t.Fatalf("zero-length extent found: %s", owners(got))
	}
}

func TestLookupResultIsCopied(t *testing.T) {
	b := NewBuilder()
	b.Add(0, 256, Value, 0, []byte("key"), []byte("key"), 1)
	m := b.Finish()
	got := m.Lookup(0, 1)
	got[0].Lo[0], got[0].Hi[1], got[0].Refs[0] = 'X', 'X', 99
	again := m.Lookup(0, 1)
	if string(again[0].Lo) != "key" || string(again[0].Hi) != "key" || again[0].Refs[0] != 1 {
		t.Fatalf("Lookup result aliases the map: %v", again[0])
	}
}

func TestOwnerString(t *testing.T) {
	for _, c := range []struct {
		o    Owner
		want string
	}{
		{Owner{Off: 4096, Len: 4096, Kind: Node, Level: 1, Lo: []byte("a"), Refs: []uint32{1, 3}},
			`node L1 ["a", +inf) at [4096, +4096) refs [1 3]`},
		{Owner{Off: 0, Len: 300, Kind: Value, Lo: []byte("k"), Hi: []byte("k"), Refs: []uint32{2}},
			`value "k" at [0, +300) refs [2]`},
		{Owner{Off: 0, Len: 300, Kind: Value, Lo: []byte("a"), Hi: []byte("b")}, `value ["a", "b"] at [0, +300)`},
		{Owner{Off: 0, Len: 4096, Kind: Slot}, `slot at [0, +4096)`},
		{Owner{Kind: 200}, `Kind(200) at [0, +0)`},
	} {
		if got := c.o.String(); got != c.want {
			t.Errorf("String = %s, want %s", got, c.want)
		}
	}
	if !(Owner{Refs: []uint32{4, 8}}).Contains(8) || (Owner{Refs: []uint32{4}}).Contains(5) {
		t.Error("Contains")
	}
}

func TestBuilderReuse(t *testing.T) {
	b := NewBuilder()
	b.StartWalk(1)
	b.Visit(0, 4096, Node, 1, nil, nil)
	b.Visit(4096, 4096, Node, 0, nil, []byte("m"))
	m1 := b.Finish()
	// After Finish the builder is empty and no walk is in progress.
	b.Visit(4096, 4096, Node, 0, nil, nil)
	m2 := b.Finish()
	if m1.Len() != 2 || m2.Len() != 1 {
		t.Fatalf("Len %d and %d", m1.Len(), m2.Len())
	}
	if got := m1.Lookup(4096, 1); len(got) != 1 || !slices.Equal(got[0].Refs, []uint32{1}) {
		t.Fatalf("first map: %s", owners(got))
	}
	if got := m2.Lookup(4096, 1); len(got) != 1 || got[0].Refs != nil {
		t.Fatalf("second map: %s", owners(got))
	}
}

// TestConcurrentLookups runs readers against one Map (run with -race).
func TestConcurrentLookups(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	b, md := NewBuilder(), newModel()
	var exts []Owner
	for i := range 2000 {
		exts = append(exts, Owner{Off: int64(i) * 512, Len: 256 + r.Int64N(512), Kind: Value,
			Lo: []byte{byte(i)}, Hi: []byte{byte(i)}, Refs: randomRefs(r, 6)})
	}
	addAll(r, b, md, exts)
	m := b.Finish()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 8))
			for range 2000 {
				off, n := r.Int64N(2000*512), r.Int64N(4000)
				if got, want := m.Lookup(off, n), md.lookup(off, n); !reflect.DeepEqual(got, want) {
					errs <- owners(got) + " != " + owners(want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestKindString(t *testing.T) {
	var names []string
	for k := Node; k <= AllocImage; k++ {
		names = append(names, k.String())
	}
	if got := strings.Join(names, " "); got != "node value catalog wal superblock slot alloc-image" {
		t.Fatal(got)
	}
	if Kind(0).String() != "Kind(0)" {
		t.Fatal(Kind(0).String())
	}
}
