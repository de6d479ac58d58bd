package btree

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/errs"
)

// env is a region, its allocator and a Tree over them. Offset 0 is never
// allocated (root 0 is the empty tree), as in the store where the
// superblock lives there.
type env struct {
	tb  testing.TB
	mem []byte
	al  *alloc.Allocator
	tr  *Tree
	tk  *flush.Tracker // nil when the env uses plainPersister
	rng *rand.Rand
	gen uint64
	// fpPrev is the last fingerprinted directory verify built with each
	// Tree, which the next one reuses leaves from.
	fpPrev map[*Tree]*Dir
}

func newEnv(tb testing.TB, size int64, tracked bool) *env {
	tb.Helper()
	return newEnvOn(tb, make([]byte, size), tracked)
}

// newEnvOn is newEnv on a region the caller provides.
func newEnvOn(tb testing.TB, mem []byte, tracked bool) *env {
	tb.Helper()
	size := int64(len(mem))
	al, err := alloc.New(NodeSize, size-NodeSize)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{tb: tb, mem: mem, al: al, rng: rand.New(rand.NewPCG(1, uint64(size))), fpPrev: map[*Tree]*Dir{}}
	var p flush.Persister = plainPersister{}
	if tracked {
		e.tk = flush.NewTracker(mem)
		p = e.tk
	}
	e.tr = New(mem, al, p)
	return e
}

// plainPersister only copies: for big tests where crash tracking would
// just cost memory.
type plainPersister struct{}

func (plainPersister) Flush([]byte)         {}
func (plainPersister) Drain() error         { return nil }
func (plainPersister) Copy(dst, src []byte) { copy(dst, src) }
func (plainPersister) Mode() flush.Mode     { return flush.EADR }
func (e *env) fresh() *Tree                 { return New(e.mem, e.al, plainPersister{}) }
func roundUnit(n int64) int64               { return max((n+UnitSize-1)/UnitSize*UnitSize, UnitSize) }
func extentLen(x Extent) int64              { return roundUnit(x.Len) }
func (e *env) extBytes(v Value) []byte      { return e.mem[v.Ext : v.Ext+v.Len] }
func (e *env) drain()                       { _ = e.tr.p.Drain() }
func keyString(k []byte) string             { return fmt.Sprintf("%x", k) }

// value makes the stored form of v: inline below InlineMax, otherwise a
// new extent (refcount 1, owned by the caller) holding v.
func (e *env) value(v []byte) Value {
	e.tb.Helper()
	if len(v) < InlineMax {
		return Value{Inline: v, Len: int64(len(v))}
	}
	off, err := e.al.Alloc(roundUnit(int64(len(v))), UnitSize)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.tr.p.Copy(e.mem[off:], v) // through the persister, so crash images hold it once drained
	return Value{Ext: off, Len: int64(len(v))}
}

// bytesOf returns the value's bytes.
func (e *env) bytesOf(v Value) []byte {
	if v.Ext != 0 {
		return e.extBytes(v)
	}
	return v.Inline
}

// getDir is FindDir returning the Value, as Get does.
func getDir(tr *Tree, d *Dir, key []byte) (Value, bool, error) {
	l, ok, err := tr.FindDir(d, key)
	if !ok {
		return Value{}, false, err
	}
	return tr.ValueOf(l), true, nil
}

// model is the expected content of one tree: key -> value bytes.
type model map[string][]byte

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (m model) keys() []string {
	return slices.Sorted(maps.Keys(m))
}

// randKey returns a key of 1..MaxKey bytes; lengths favour short keys but
// include the extremes.
func randKey(rng *rand.Rand) []byte {
	var n int
	switch r := rng.IntN(100); {
	case r < 50:
		n = 1 + rng.IntN(12)
	case r < 85:
		n = 13 + rng.IntN(200)
	case r < 93:
		n = MaxKey - rng.IntN(30)
	default:
		n = MaxKey
	}
	k := make([]byte, n)
	switch rng.IntN(10) {
	case 0, 1, 2, 3, 4:
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
	case 5:
		// A long common prefix: separators cannot be short, so
		// internal nodes hold only a few and the tree grows tall.
		for i := range k {
			k[i] = 'p'
			if i >= len(k)-3 {
				k[i] = byte(rng.Uint32())
			}
		}
	default:
		for i := range k {
			k[i] = byte(rng.IntN(6)) // few symbols: shared prefixes
		}
	}
	return k
}

func randValue(rng *rand.Rand) []byte {
	var n int
	switch r := rng.IntN(100); {
	case r < 5:
		n = 0
	case r < 10:
		n = InlineMax - 1
	case r < 75:
		n = rng.IntN(InlineMax)
	case r < 80:
		n = InlineMax
	default:
		n = InlineMax + rng.IntN(3000)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}

// batch makes a random sorted batch against m (puts of new keys,
// overwrites, deletes of present and absent keys) and returns it with the
// model after it. Extent values are allocated here and owned by the batch.
func (e *env) batch(m model, n int, delFrac float64) ([]Mutation, model) {
	rng := e.rng
	present := m.keys()
	chosen := map[string]Mutation{}
	for i := 0; i < n; i++ {
		var k []byte
		if len(present) > 0 && rng.IntN(2) == 0 {
			k = []byte(present[rng.IntN(len(present))])
		} else {
			k = randKey(rng)
		}
		if _, dup := chosen[string(k)]; dup {
			continue
		}
		if rng.Float64() < delFrac {
			chosen[string(k)] = Mutation{Key: k, Delete: true}
		} else {
			chosen[string(k)] = Mutation{Key: k, Value: e.value(randValue(rng))}
		}
	}
	next := m.clone()
	muts := make([]Mutation, 0, len(chosen))
	for _, k := range slices.Sorted(maps.Keys(chosen)) {
		mu := chosen[k]
		muts = append(muts, mu)
		if mu.Delete {
			delete(next, k)
		} else {
			next[k] = bytes.Clone(e.bytesOf(mu.Value))
		}
	}
	return muts, next
}

// apply runs Apply and fails the test on error.
func (e *env) apply(root int64, muts []Mutation) (int64, []int64) {
	e.tb.Helper()
	e.gen++
	r, z, err := e.tr.Apply(root, muts, e.gen)
	if err != nil {
		e.tb.Fatalf("Apply: %v", err)
	}
	return r, z
}

// verify compares the tree with m through Get, a full iteration and
// random seeks, and runs Check.
func (e *env) verify(tr *Tree, root int64, m model) {
	e.tb.Helper()
	if errList := tr.Check(root); len(errList) > 0 {
		e.tb.Fatalf("Check: %v", errors.Join(errList...))
	}
	keys := m.keys()
	it := tr.NewIter(root)
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(keys) {
			e.tb.Fatalf("iter: extra key %s", keyString(it.Key()))
		}
		if string(it.Key()) != keys[i] {
			e.tb.Fatalf("iter: key %d is %s, want %s", i, keyString(it.Key()), keyString([]byte(keys[i])))
		}
		if got := e.bytesOf(it.Value()); !bytes.Equal(got, m[keys[i]]) {
			e.tb.Fatalf("iter: key %s: value of %d bytes differs from the model's %d", keyString(it.Key()), len(got), len(m[keys[i]]))
		}
		i++
	}
	if it.Err() != nil {
		e.tb.Fatalf("iter: %v", it.Err())
	}
	if i != len(keys) {
		e.tb.Fatalf("iter: %d keys, want %d", i, len(keys))
	}
	dir, err := tr.BuildDir(root)
	if err != nil {
		e.tb.Fatalf("BuildDir: %v", err)
	}
	dir = e.checkFingerprints(tr, dir, m)
	for j := 0; j < 50; j++ {
		var k []byte
		if len(keys) > 0 && j%2 == 0 {
			k = []byte(keys[e.rng.IntN(len(keys))])
		} else {
			k = randKey(e.rng)
		}
		v, ok, err := tr.Get(root, k)
		if err != nil {
			e.tb.Fatalf("Get: %v", err)
		}
		want, wantOK := m[string(k)]
		if ok != wantOK || (ok && !bytes.Equal(e.bytesOf(v), want)) {
			e.tb.Fatalf("Get(%s) = %v, %v; want present %v", keyString(k), len(e.bytesOf(v)), ok, wantOK)
		}
		// The directory routes every key to the leaf the descent reaches.
		dv, dok, err := getDir(tr, dir, k)
		if err != nil || dok != ok || (ok && !bytes.Equal(e.bytesOf(dv), want)) {
			e.tb.Fatalf("FindDir(%s) = %v, %v, %v; Get found %v", keyString(k), len(e.bytesOf(dv)), dok, err, ok)
		}
		// SeekGE lands on the first model key >= k.
		idx, _ := slices.BinarySearch(keys, string(k))
		if !it.SeekGE(k) {
			if it.Err() != nil {
				e.tb.Fatalf("SeekGE: %v", it.Err())
			}
			if idx != len(keys) {
				e.tb.Fatalf("SeekGE(%s): end, want %s", keyString(k), keyString([]byte(keys[idx])))
			}
			continue
		}
		if idx == len(keys) || string(it.Key()) != keys[idx] {
			e.tb.Fatalf("SeekGE(%s) = %s, want index %d of %d", keyString(k), keyString(it.Key()), idx, len(keys))
		}
		// and iterates on from there in order
		for n := 0; n < 3 && idx+1 < len(keys); n++ {
			idx++
			if !it.Next() || string(it.Key()) != keys[idx] {
				e.tb.Fatalf("Next after SeekGE: %s, want %s (err %v)", keyString(it.Key()), keyString([]byte(keys[idx])), it.Err())
			}
		}
	}
}

// recount rebuilds refcounts from a walk of every live root (the way the
// store recovers after a crash) and compares them with the allocator's,
// extent by extent. Zombies must have been freed.
func (e *env) recount(roots []int64) {
	e.tb.Helper()
	b := alloc.NewBuilder(NodeSize, int64(len(e.mem))-NodeSize)
	w := e.tr.NewWalker()
	for _, r := range roots {
		err := w.Walk(r, func(x Extent, first bool) error {
			if x.Kind == KindValue && x.Lo == nil {
				return fmt.Errorf("value extent %#x without its key", x.Off)
			}
			return b.Ref(x.Off, extentLen(x))
		})
		if err != nil {
			e.tb.Fatalf("Walk: %v", err)
		}
	}
	rebuilt, err := b.Finish()
	if err != nil {
		e.tb.Fatal(err)
	}
	type ext struct {
		off, n int64
		refs   uint32
	}
	list := func(a *alloc.Allocator) []ext {
		var out []ext
		a.Extents(func(off, n int64, refs uint32) bool {
			out = append(out, ext{off, n, refs})
			return true
		})
		return out
	}
	got, want := list(e.al), list(rebuilt)
	if !slices.Equal(got, want) {
		var sb strings.Builder
		gm := map[int64]ext{}
		for _, x := range got {
			gm[x.off] = x
		}
		wm := map[int64]ext{}
		for _, x := range want {
			wm[x.off] = x
			if g, ok := gm[x.off]; !ok || g != x {
				fmt.Fprintf(&sb, "  walk %+v, allocator %+v (present %v)\n", x, g, ok)
			}
		}
		for _, x := range got {
			if _, ok := wm[x.off]; !ok {
				fmt.Fprintf(&sb, "  allocator %+v not reachable\n", x)
			}
		}
		e.tb.Fatalf("refcounts differ from a recount (%d vs %d extents):\n%s", len(got), len(want), sb.String())
	}
}

// free frees zombies after checking that they are zombies and that no live
// root still reaches them.
func (e *env) free(zombies []int64, roots []int64) {
	e.tb.Helper()
	if len(zombies) == 0 {
		return
	}
	reach := map[int64]bool{}
	w := e.tr.NewWalker()
	for _, r := range roots {
		if err := w.Walk(r, func(x Extent, first bool) error { reach[x.Off] = true; return nil }); err != nil {
			e.tb.Fatalf("Walk: %v", err)
		}
	}
	for _, z := range zombies {
		if r, ok := e.al.Refs(z); !ok || r != 0 {
			e.tb.Fatalf("zombie %#x has refs %d (allocated %v)", z, r, ok)
		}
		if reach[z] {
			e.tb.Fatalf("zombie %#x is still reachable from a live root", z)
		}
		if err := e.al.Free(z); err != nil {
			e.tb.Fatal(err)
		}
	}
}

func isCorrupt(err error) bool { return errors.Is(err, errs.Corrupt) }

func isInvalid(err error) bool { return errors.Is(err, errs.Invalid) }

// recovered opens a crash image as recovery would (refcounts rebuilt from
// a walk of root) and checks that root holds m.
func (e *env) recovered(img []byte, root int64, m model) {
	e.tb.Helper()
	size := int64(len(img))
	b := alloc.NewBuilder(NodeSize, size-NodeSize)
	walker := New(img, e.al, plainPersister{})
	err := walker.Walk(root, func(x Extent, first bool) error { return b.Ref(x.Off, extentLen(x)) })
	if err != nil {
		e.tb.Fatalf("recovery walk: %v", err)
	}
	al, err := b.Finish()
	if err != nil {
		e.tb.Fatal(err)
	}
	ie := *e
	ie.mem, ie.al = img, al
	ie.tr = New(img, al, plainPersister{})
	ie.verify(ie.tr, root, m)
}

// checkFingerprints fingerprints dir, reusing the last directory verify
// built with tr (whose tree the model batches have since changed, and
// whose freed nodes later batches may have reused), and checks that every
// model key is found by its fingerprint alone, with its value, and that
// absent keys are not. It returns the fingerprinted directory.
func (e *env) checkFingerprints(tr *Tree, dir *Dir, m model) *Dir {
	e.tb.Helper()
	fd, _, err := tr.Fingerprint(dir, e.fpPrev[tr], nil)
	if err != nil {
		e.tb.Fatalf("Fingerprint: %v", err)
	}
	e.fpPrev[tr] = fd
	if dir.Fingerprinted() || !fd.Fingerprinted() {
		e.tb.Fatalf("Fingerprint changed its input or returned no fingerprints")
	}
	if got := len(fd.fps); got != len(m) {
		e.tb.Fatalf("%d fingerprints for %d keys", got, len(m))
	}
	for k, want := range m {
		i := fd.find([]byte(k))
		l, ok, err := tr.fpFind(fd, i, fd.leaf[i]&^leafTied, []byte(k))
		if err != nil || !ok {
			e.tb.Fatalf("fingerprint lookup of %s: %v, %v", keyString([]byte(k)), ok, err)
		}
		if v := tr.ValueOf(l); !bytes.Equal(e.bytesOf(v), want) {
			e.tb.Fatalf("fingerprint lookup of %s: %d bytes, want %d", keyString([]byte(k)), len(e.bytesOf(v)), len(want))
		}
	}
	// Absent keys: random ones, and present ones with the last byte
	// changed (same length, same leaf: only the key compare tells).
	absent := make([][]byte, 0, 100)
	for k := range m {
		if len(absent) == 50 {
			break
		}
		near := []byte(k)
		near[len(near)-1]++
		absent = append(absent, near)
	}
	for j := 0; j < 50; j++ {
		absent = append(absent, randKey(e.rng))
	}
	for _, k := range absent {
		if _, present := m[string(k)]; present || len(fd.leaf) == 0 {
			continue
		}
		i := fd.find(k)
		if _, ok, err := tr.fpFind(fd, i, fd.leaf[i]&^leafTied, k); ok || err != nil {
			e.tb.Fatalf("fingerprint lookup of absent %s: %v, %v", keyString(k), ok, err)
		}
	}
	return fd
}
