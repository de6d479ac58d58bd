package memtable

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
)

func TestApplyNewestWins(t *testing.T) {
	tb := New()
	tb.Apply([]Entry{{Key: []byte("a"), Off: 1, Len: 1, Seq: 5, Kind: Put}})
	tb.Apply([]Entry{{Key: []byte("a"), Off: 4096, Len: 300, Seq: 3, Kind: PutExt}}) // late, older
	e, ok := tb.Get([]byte("a"))
	if !ok || e.Off != 1 || e.Seq != 5 {
		t.Fatalf("older op overwrote newer: %+v", e)
	}
	if s := tb.Superseded(); len(s) != 1 || s[0] != 4096 {
		t.Fatalf("late extent not superseded: %v", s)
	}
	tb.Apply([]Entry{{Key: []byte("a"), Off: 8192, Len: 300, Seq: 6, Kind: PutExt},
		{Key: []byte("a"), Seq: 6, Kind: Delete}}) // same batch: the later op wins
	e, _ = tb.Get([]byte("a"))
	if e.Kind != Delete {
		t.Fatalf("want tombstone, got %+v", e)
	}
	if s := tb.Superseded(); len(s) != 2 || s[1] != 8192 {
		t.Fatalf("replaced extent not superseded: %v", s)
	}
}

func TestKeysAreCopied(t *testing.T) {
	tb := New()
	k := []byte("key")
	tb.Apply([]Entry{{Key: k, Seq: 1, Kind: Put}})
	k[0] = 'X'
	if _, ok := tb.Get([]byte("key")); !ok {
		t.Fatal("table aliases the caller's key")
	}
}

func TestCloneIsStableAndIterates(t *testing.T) {
	tb := New()
	model := map[string]int64{}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("k%05d", rng.IntN(3000))
		tb.Apply([]Entry{{Key: []byte(k), Off: int64(i), Seq: uint64(i + 1), Kind: Put}})
		model[k] = int64(i)
	}
	snap := tb.Clone()
	tb.Apply([]Entry{{Key: []byte("k00000"), Off: -1, Seq: 1 << 40, Kind: Put},
		{Key: []byte("zzz"), Seq: 1 << 40, Kind: Put}})
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	it := snap.NewIter()
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		e := it.Entry()
		if string(e.Key) != keys[i] || e.Off != model[keys[i]] {
			t.Fatalf("at %d: %s=%d want %s=%d", i, e.Key, e.Off, keys[i], model[keys[i]])
		}
		i++
	}
	if i != len(keys) {
		t.Fatalf("iterated %d of %d", i, len(keys))
	}
	if !it.SeekGE([]byte("k01000x")) || bytes.Compare(it.Entry().Key, []byte("k01000x")) < 0 {
		t.Fatal("SeekGE")
	}
}

func TestConcurrentApplyAndRead(t *testing.T) {
	tb := New()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := []byte(fmt.Sprintf("w%d-%d", w, i))
				e := []Entry{{Key: k, Off: int64(i), Seq: uint64(i + 1), Kind: Put}}
				tb.Prefetch(&e[0]) // Apply uses the hash it keeps
				tb.Apply(e)
				if e, ok := tb.Get(k); !ok || !bytes.Equal(e.Key, k) || e.Off != int64(i) {
					t.Errorf("lost %s", k)
					return
				}
				if i%500 == 0 {
					tb.Clone().Ascend(func(*Entry) bool { return true })
				}
			}
		}(w)
	}
	wg.Wait()
	if tb.Len() != 8000 {
		t.Fatalf("len %d", tb.Len())
	}
}

// TestFrozenCloneWhileReading has readers Get, Prefetch and Clone a table
// while it is frozen and its first Clone sorts the log, for -race.
func TestFrozenCloneWhileReading(t *testing.T) {
	tb := New()
	const n = 20000
	for i := range n {
		tb.Apply([]Entry{{Key: fmt.Appendf(nil, "k%06d", i*7919%n), Off: int64(i), Seq: uint64(i + 1), Kind: Put}})
	}
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			for i := range 3000 {
				k := fmt.Appendf(nil, "k%06d", (i*31+r)%n)
				tb.Prefetch(&Entry{Key: k})
				if _, ok := tb.Get(k); !ok {
					t.Errorf("lost %s", k)
					return
				}
				if i%1000 == r {
					got := 0
					var last []byte
					tb.Clone().Ascend(func(e *Entry) bool {
						if last != nil && bytes.Compare(last, e.Key) >= 0 {
							t.Errorf("out of order: %s after %s", e.Key, last)
						}
						last = e.Key
						got++
						return true
					})
					if got != n {
						t.Errorf("snapshot of %d keys, want %d", got, n)
					}
				}
			}
		})
	}
	tb.Freeze()
	wg.Wait()
	defer func() {
		if recover() == nil {
			t.Error("Apply on a frozen table did not panic")
		}
	}()
	tb.Apply([]Entry{{Key: []byte("late"), Seq: n + 1, Kind: Put}})
}

// TestRadixSortPrefix checks the radix sort against a comparison sort,
// with prefixes whose digits are all equal, mostly equal or random.
func TestRadixSortPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for _, n := range []int{1, 2, 100, radixMin, 3 * radixMin} {
		for _, mask := range []uint64{0, 0xff, 0xffff_0000_0000, 0xf0f0_0000_ffff_0001, ^uint64(0)} {
			run := make([]ordered, n)
			for i := range run {
				run[i].prefix = 0x1234_5678_9abc_def0 ^ rng.Uint64()&mask
				run[i].off = int64(i)
			}
			want := slices.Clone(run)
			slices.SortStableFunc(want, func(x, y ordered) int { return cmp.Compare(x.prefix, y.prefix) })
			radixSortPrefix(run)
			if !slices.Equal(run, want) {
				t.Fatalf("n %d mask %#x: radix sort differs from a stable sort", n, mask)
			}
		}
	}
}

// TestIndexCollisions drives the hash index with chosen hashes: keys that
// share a tag and a home cell, runs that wrap past the last cell, and
// absent keys that hash like present ones.
func TestIndexCollisions(t *testing.T) {
	var x hashIndex
	x.init(0)
	var log entryLog
	var a arena
	last := uint64(minIndexCells - 1)
	hashes := map[string]uint64{}
	for i := range 40 {
		k := fmt.Sprintf("key%d", i)
		h := (uint64(7)<<20 | last) << 32 // one tag, home cell the last one
		if i%3 == 1 {
			h = (uint64(i)<<20 | last) << 32 // other tags, same home
		}
		if _, ok := x.find(h, []byte(k), &log, &a); ok {
			t.Fatalf("%s found before insert", k)
		}
		pos := log.add(slot{key: a.add([]byte(k)), off: int64(i)})
		x.insert(h, pos)
		hashes[k] = h
	}
	for round := range 3 {
		for k, h := range hashes {
			pos, ok := x.find(h, []byte(k), &log, &a)
			if !ok || string(a.key(log.at(pos).key)) != k {
				t.Fatalf("round %d: find(%s) = %d %v", round, k, pos, ok)
			}
		}
		x.grow() // moves cells by their stored hash bits alone
	}
	if _, ok := x.find((uint64(7)<<20|last)<<32, []byte("absent"), &log, &a); ok {
		t.Fatal("found an absent key sharing a tag and home cell")
	}
}

// TestIndexSizing checks what a table's index holds before it grows: the
// next power of two at twice the keys asked for, capped, with a small
// start for a table that stays small.
func TestIndexSizing(t *testing.T) {
	for _, c := range []struct{ keys, cells int }{
		{0, minIndexCells}, {1, minIndexCells}, {512, minIndexCells}, {513, 2048},
		{1 << 18, 1 << 19}, {1<<18 + 1, 1 << 20}, {1 << 40, 2 * maxSizedKeys},
	} {
		tb := NewSized(c.keys)
		if tb.index.want != c.cells {
			t.Errorf("NewSized(%d): sized for %d cells, want %d", c.keys, tb.index.want, c.cells)
		}
		tb.Apply([]Entry{{Key: []byte("a"), Seq: 1, Kind: Put}})
		if len(tb.index.cells) != minIndexCells {
			t.Errorf("NewSized(%d): starts at %d cells", c.keys, len(tb.index.cells))
		}
	}
	tb := NewSized(1 << 16)
	for i := range minIndexCells/2 + 1 {
		tb.Apply([]Entry{{Key: fmt.Appendf(nil, "%d", i), Seq: uint64(i + 1), Kind: Put}})
	}
	if len(tb.index.cells) != 1<<17 {
		t.Fatalf("first growth to %d cells, want %d", len(tb.index.cells), 1<<17)
	}
	next := NewAfter(tb)
	if next.index.want != cellsFor(minIndexCells/2+1) {
		t.Fatalf("NewAfter sized for %d cells", next.index.want)
	}
}

// TestLateOlderWriteAfterOrdering applies an older op late to a key the
// tree already holds: it must lose in the live table, in later snapshots
// and in the frozen one, and its extent must be released.
func TestLateOlderWriteAfterOrdering(t *testing.T) {
	tb := New()
	k := []byte("k")
	tb.Apply([]Entry{{Key: k, Off: 5, Seq: 5, Kind: Put}})
	first := tb.Clone()
	tb.Apply([]Entry{{Key: k, Off: 4096, Len: 300, Seq: 3, Kind: PutExt}})
	check := func(what string, e Entry, ok bool, off int64) {
		t.Helper()
		if !ok || e.Off != off {
			t.Fatalf("%s: %v %+v, want off %d", what, ok, e, off)
		}
	}
	e, ok := tb.Get(k)
	check("live", e, ok, 5)
	e, ok = tb.Clone().Get(k)
	check("clone after the late op", e, ok, 5)
	if s := tb.Superseded(); len(s) != 1 || s[0] != 4096 {
		t.Fatalf("late extent not superseded: %v", s)
	}
	tb.Apply([]Entry{{Key: k, Off: 7, Seq: 7, Kind: Put}})
	e, ok = tb.Clone().Get(k)
	check("clone after a newer op", e, ok, 7)
	e, ok = first.Get(k)
	check("first clone", e, ok, 5)
	tb.Freeze()
	e, ok = tb.Clone().Get(k)
	check("frozen", e, ok, 7)
}

// TestEdgeKeys puts an empty key and a 1 KiB key in a table and reads them
// live, through an active snapshot and through a frozen one; an empty
// frozen table iterates and finds nothing.
func TestEdgeKeys(t *testing.T) {
	empty := New()
	empty.Freeze()
	s := empty.Clone()
	it := s.NewIter()
	if s.Len() != 0 || it.First() || it.SeekGE(nil) || it.Next() || it.Valid() {
		t.Fatal("empty frozen table iterates")
	}
	if _, ok := s.Get(nil); ok {
		t.Fatal("empty frozen table finds a key")
	}
	long := bytes.Repeat([]byte{0xff}, 1024)
	tb := New()
	tb.Apply([]Entry{{Key: nil, Off: 1, Seq: 1, Kind: Put}, {Key: long, Off: 2, Seq: 1, Kind: Put}})
	for _, snap := range []func() *Snapshot{tb.Clone, func() *Snapshot { tb.Freeze(); return tb.Clone() }} {
		s := snap()
		var got []int64
		s.Ascend(func(e *Entry) bool { got = append(got, e.Off); return true })
		if !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("order %v", got)
		}
		for _, c := range []struct {
			k   []byte
			off int64
		}{{nil, 1}, {long, 2}} {
			if e, ok := s.Get(c.k); !ok || e.Off != c.off {
				t.Fatalf("snapshot Get(%d bytes) = %v %+v", len(c.k), ok, e)
			}
			if e, ok := tb.Get(c.k); !ok || e.Off != c.off {
				t.Fatalf("live Get(%d bytes) = %v %+v", len(c.k), ok, e)
			}
		}
	}
}

// TestSharedPrefix compares the prefix a table tracks key by key with its
// definition: the common prefix of the smallest and largest keys, at
// most maxCommon bytes.
func TestSharedPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	for range 2000 {
		base := bytes.Repeat([]byte{'p'}, rng.IntN(80))
		tb := New()
		var keys [][]byte
		for i := range 1 + rng.IntN(6) {
			k := slices.Clone(base[:rng.IntN(len(base)+1)])
			for range rng.IntN(4) {
				k = append(k, byte('o'+rng.IntN(3)))
			}
			keys = append(keys, k)
			tb.Apply([]Entry{{Key: k, Seq: uint64(i + 1), Kind: Put}})
		}
		lo, hi := slices.MinFunc(keys, bytes.Compare), slices.MaxFunc(keys, bytes.Compare)
		n := 0
		for n < min(len(lo), len(hi), maxCommon) && lo[n] == hi[n] {
			n++
		}
		want := lo[:n]
		if tb.Len() < 2 {
			want = nil
		}
		if got := tb.sharedPrefix(); !bytes.Equal(got, want) {
			t.Fatalf("keys %q: shared prefix %q, want %q", keys, got, want)
		}
	}
}

// TestSnapshotsSeeWholeBatches has one writer overwrite a set of keys, a
// batch at a time, while readers clone the table: every snapshot must
// show all keys from one batch, never a mix, as the tree is filled in
// under them.
func TestSnapshotsSeeWholeBatches(t *testing.T) {
	tb := New()
	const keys, batches = 300, 400
	batch := make([]Entry, keys)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				s := tb.Clone()
				var seq uint64
				n := 0
				s.Ascend(func(e *Entry) bool {
					if n == 0 {
						seq = e.Seq
					}
					if e.Seq != seq || e.Off != int64(seq) {
						t.Errorf("snapshot mixes batches %d and %d", seq, e.Seq)
						return false
					}
					n++
					return true
				})
				if n != 0 && n != keys {
					t.Errorf("snapshot of %d keys", n)
				}
			}
		})
	}
	for b := range batches {
		for i := range batch {
			batch[i] = Entry{Key: fmt.Appendf(nil, "k%04d", i*7%keys), Off: int64(b + 1), Seq: uint64(b + 1), Kind: Put}
		}
		tb.Apply(batch)
	}
	close(done)
	wg.Wait()
}

func BenchmarkApply(b *testing.B) {
	tb := New()
	key := make([]byte, 16)
	val := make([]byte, 100)
	rng := rand.New(rand.NewPCG(1, 1))
	e := []Entry{{Len: int64(len(val)), Kind: Put}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		e[0].Key, e[0].Seq = key, uint64(i)
		tb.Apply(e)
	}
}

// TestTreeModel drives the tree through random inserts, overwrites and
// clones against sorted models: keys come from a tiny alphabet so prefix
// ties, keys shorter than the prefix and zero bytes are common, and
// enough of them to split leaves and inner nodes several levels deep.
// Each run tunes the table for another common prefix (probe), which keys
// start with, sort below or sort above.
func TestTreeModel(t *testing.T) {
	for _, common := range []string{"", "a", "\x01a", "a\xff\x00", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		t.Run(fmt.Sprintf("%x", common), func(t *testing.T) { testTreeModel(t, []byte(common)) })
	}
}

func testTreeModel(t *testing.T, common []byte) {
	rng := rand.New(rand.NewPCG(5, 5))
	alphabet := []byte{0, 1, 'a', 0xff}
	randKey := func() []byte {
		k := make([]byte, 1+rng.IntN(12))
		for j := range k {
			k[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(2) == 0 {
			// Half the keys start with common or a prefix of it, so
			// all three of probe's ranges fill up.
			k = append(slices.Clone(common[:rng.IntN(len(common)+1)]), k...)
		}
		return k
	}
	type clone struct {
		snap  *Snapshot
		model map[string]int64
	}
	tb := newTable(common, 0)
	model := map[string]int64{}
	var clones []clone
	for i := 0; i < 60000; i++ {
		k := randKey()
		tb.Apply([]Entry{{Key: k, Off: int64(i), Seq: uint64(i + 1), Kind: Put}})
		model[string(k)] = int64(i)
		if i%7919 == 0 {
			clones = append(clones, clone{tb.Clone(), maps.Clone(model)})
		}
	}
	clones = append(clones, clone{tb.Clone(), model})
	// The live table answers from its hash index, and once frozen its
	// snapshot is the sorted log rather than the tree.
	for k, off := range model {
		if e, ok := tb.Get([]byte(k)); !ok || e.Off != off {
			t.Fatalf("live Get(%x) = %v %d, want %d", k, ok, e.Off, off)
		}
	}
	for range 2000 {
		k := randKey()
		e, found := tb.Get(k)
		if off, inModel := model[string(k)]; found != inModel || found && e.Off != off {
			t.Fatalf("live Get(%x) = %v %d, model %v %d", k, found, e.Off, inModel, off)
		}
		if l, ok := tb.Find(k); ok != found || l != e.Loc() {
			t.Fatalf("live Find(%x) = %v %+v, Get %v %+v", k, ok, l, found, e)
		}
	}
	for k := range model {
		e, _ := tb.Get([]byte(k))
		if l, ok := tb.Find([]byte(k)); !ok || l != e.Loc() || l.Kind != Put {
			t.Fatalf("live Find(%x) = %v %+v, Get %+v", k, ok, l, e)
		}
	}
	tb.Freeze()
	clones = append(clones, clone{tb.Clone(), model})
	for ci, c := range clones {
		keys := slices.Sorted(maps.Keys(c.model))
		if c.snap.Len() != len(keys) {
			t.Fatalf("clone %d: len %d, model %d", ci, c.snap.Len(), len(keys))
		}
		i := 0
		c.snap.Ascend(func(e *Entry) bool {
			if i >= len(keys) || string(e.Key) != keys[i] || e.Off != c.model[keys[i]] {
				t.Fatalf("clone %d: entry %d is %x=%d, want %x", ci, i, e.Key, e.Off, keys[min(i, len(keys)-1)])
			}
			i++
			return true
		})
		if i != len(keys) {
			t.Fatalf("clone %d: iterated %d of %d", ci, i, len(keys))
		}
		for j := 0; j < 2000; j++ {
			k := randKey()
			want := sort.SearchStrings(keys, string(k))
			it := c.snap.NewIter()
			ok := it.SeekGE(k)
			if ok != (want < len(keys)) || ok && string(it.Entry().Key) != keys[want] {
				t.Fatalf("clone %d: SeekGE(%x) = %v %x, want index %d of %d", ci, k, ok, it.Entry().Key, want, len(keys))
			}
			e, found := c.snap.Get(k)
			off, inModel := c.model[string(k)]
			if found != inModel || found && e.Off != off {
				t.Fatalf("clone %d: Get(%x) = %v %d, model %v %d", ci, k, found, e.Off, inModel, off)
			}
			if l, ok := c.snap.Find(k); ok != found || l != e.Loc() {
				t.Fatalf("clone %d: Find(%x) = %v %+v, Get %v %+v", ci, k, ok, l, found, e)
			}
		}
	}
}

// TestBisectPrefix checks the inner nodes' bisection against the leaves'
// count on sorted arrays with runs of equal prefixes, at every length a
// node can have.
func TestBisectPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for n := 0; n <= innerCap; n++ {
		for range 200 {
			p := make([]uint64, n)
			for i := range p {
				p[i] = rng.Uint64N(8) // few values: many ties
			}
			slices.Sort(p)
			x := rng.Uint64N(10)
			lt, le := bisectPrefix(p, x)
			wlt, wle := countPrefix(p, x)
			if lt != wlt || le != wle {
				t.Fatalf("bisectPrefix(%v, %d) = %d, %d; want %d, %d", p, x, lt, le, wlt, wle)
			}
		}
	}
}

// TestNewAfter checks a table takes the prefix its predecessor's keys
// share, and still orders and finds keys outside it.
func TestNewAfter(t *testing.T) {
	prev := New()
	if got := NewAfter(prev).tree.common; len(got) != 0 {
		t.Fatalf("after an empty table: common %q", got)
	}
	for i, k := range []string{"0000000000123456", "0000000000999999", "0000000000000001"} {
		prev.Apply([]Entry{{Key: []byte(k), Seq: uint64(i + 1), Kind: Put}})
	}
	next := NewAfter(prev)
	if got := string(next.tree.common); got != "0000000000" {
		t.Fatalf("common %q, want 0000000000", got)
	}
	keys := []string{"0000000000555555", "000000000", "0000000001", "1", "", "0000000000", "00000000009"}
	for i, k := range keys {
		next.Apply([]Entry{{Key: []byte(k), Off: int64(i), Seq: uint64(i + 1), Kind: Put}})
	}
	snap := next.Clone()
	var got []string
	snap.Ascend(func(e *Entry) bool { got = append(got, string(e.Key)); return true })
	if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	for i, k := range keys {
		if e, ok := next.Get([]byte(k)); !ok || e.Off != int64(i) {
			t.Errorf("Get(%q) = %v %v", k, e, ok)
		}
	}
}

// TestProbeOrder checks probe never maps a larger key to a smaller prefix,
// for keys around common: common itself, its prefixes, keys one byte past
// it, empty keys and keys with high first bytes.
func TestProbeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for range 300 {
		common := make([]byte, rng.IntN(13))
		for i := range common {
			common[i] = byte(rng.IntN(256))
		}
		tr := newTree(common)
		keys := [][]byte{{}, common, append(slices.Clone(common), 0), append(slices.Clone(common), 0xff)}
		for range 200 {
			k := slices.Clone(common[:rng.IntN(len(common)+1)])
			for range rng.IntN(12) {
				k = append(k, byte(rng.IntN(256)))
			}
			if len(k) > 0 && rng.IntN(4) == 0 {
				k[rng.IntN(len(k))] ^= 0x80
			}
			keys = append(keys, k)
		}
		slices.SortFunc(keys, bytes.Compare)
		for i := 1; i < len(keys); i++ {
			a, b := tr.probe(keys[i-1]), tr.probe(keys[i])
			if a.prefix > b.prefix {
				t.Fatalf("common %x: probe(%x) = %#x > probe(%x) = %#x", common, keys[i-1], a.prefix, keys[i], b.prefix)
			}
		}
	}
}

// BenchmarkFirstClone measures what the first Clone after 400K random
// 16-byte keys costs: a checkpoint's of a frozen table (it sorts the log)
// and a view's of an active one (it sorts them and fills the tree).
func BenchmarkFirstClone(b *testing.B) {
	for _, frozen := range []bool{true, false} {
		b.Run(fmt.Sprintf("frozen=%v", frozen), func(b *testing.B) {
			const n = 400_000
			rng := rand.New(rand.NewPCG(3, 3))
			key := make([]byte, 16)
			for b.Loop() {
				b.StopTimer()
				tb := New()
				for i := range n {
					for j := range key {
						key[j] = byte(rng.Uint32())
					}
					tb.Apply([]Entry{{Key: key, Seq: uint64(i + 1), Kind: Put}})
				}
				if frozen {
					tb.Freeze()
				}
				b.StartTimer()
				tb.Clone()
			}
		})
	}
}
