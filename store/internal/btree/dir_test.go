package btree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestDirCommonPrefix builds a tree whose separators all share a long
// prefix while its first and last leaves also hold keys without it, and
// reads every key (and some absent ones) through the directory.
func TestDirCommonPrefix(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	m := model{}
	keys := []string{"a1", "b2", "m", "m00000", "z9", "zz"}
	for i := 0; i < 3000; i++ {
		keys = append(keys, fmt.Sprintf("m%010d", i*7))
	}
	slices.Sort(keys)
	var muts []Mutation
	for _, k := range keys {
		v := []byte("v-" + k)
		muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
		m[k] = v
	}
	root, _ := e.apply(0, muts)
	d, err := e.tr.BuildDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.Leaves() < 3 || !bytes.HasPrefix(d.common, []byte("m0000")) {
		t.Fatalf("%d leaves, common prefix %q: the test wants many leaves under a long common prefix", d.Leaves(), d.common)
	}
	t.Logf("common %q, %d leaves, last low %q", d.common, d.Leaves(), d.low(d.Leaves()-1))
	probes := append([]string{"", "0", "a", "m0", "m0000000000", "m9", "n", "z", "zzz", "\xff"}, keys...)
	for _, k := range probes {
		if k == "" {
			continue
		}
		v, ok, err := getDir(e.tr, d, []byte(k))
		want, wantOK := m[k]
		if err != nil || ok != wantOK || (ok && !bytes.Equal(e.bytesOf(v), want)) {
			t.Fatalf("FindDir(%q) = %q, %v, %v; want %q, %v", k, e.bytesOf(v), ok, err, want, wantOK)
		}
	}
}

// TestDirTiedLeaves checks the directory's tie marks: a marked leaf has
// every slot prefix equal (the mark is sound), leaves of decimal keys are
// marked, and leaves of scattered keys are not.
func TestDirTiedLeaves(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     func(i int) string
		wantAll bool // every leaf between the first and the last marked; else none
	}{
		{"decimal", func(i int) string { return fmt.Sprintf("%016d", i*13) }, true},
		{"scattered", func(i int) string { return fmt.Sprintf("%08x", uint32(i)*2654435761) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 64<<20, false)
			var muts []Mutation
			for i := 0; i < 5000; i++ {
				muts = append(muts, Mutation{Key: []byte(tc.key(i)), Value: e.value([]byte("v"))})
			}
			slices.SortFunc(muts, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
			root, _ := e.apply(0, muts)
			d, err := e.tr.BuildDir(root)
			if err != nil {
				t.Fatal(err)
			}
			marked := 0
			for i, off := range d.leaf {
				if off&leafTied == 0 {
					continue
				}
				marked++
				n, err := e.tr.readNode(off&^leafTied, 0)
				if err != nil {
					t.Fatal(err)
				}
				for j := 1; j < n.count; j++ {
					if n.slotPrefix(j) != n.slotPrefix(0) {
						t.Fatalf("leaf %d marked tied, but slot %d prefix %#x differs from %#x", i, j, n.slotPrefix(j), n.slotPrefix(0))
					}
				}
			}
			want := 0
			if tc.wantAll {
				want = d.Leaves() - 2 // the first and last have an open bound
			}
			if d.Leaves() < 10 || marked != want {
				t.Fatalf("%d of %d leaves marked, want %d", marked, d.Leaves(), want)
			}
		})
	}
}

// TestDirFindShapes checks find against a plain search over the bounds for
// bound sets whose prefixes spread, crowd into few radix buckets, share
// leading bits or repeat, with probes inside and outside their range.
func TestDirFindShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	randBytes := func(n int, alphabet string) []byte {
		k := make([]byte, n)
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	shapes := map[string]func() []byte{
		"random":    func() []byte { return binary.BigEndian.AppendUint64(nil, rng.Uint64()) },
		"decimal":   func() []byte { return fmt.Appendf(nil, "%016d", rng.Uint64N(1_000_000)) },
		"lowercase": func() []byte { return randBytes(1+rng.IntN(12), "abcdefghijklmnopqrstuvwxyz") },
		"tiny":      func() []byte { return randBytes(1+rng.IntN(10), "\x00\x01a\xff") },
		"samehead":  func() []byte { return append([]byte("prefix--"), randBytes(1+rng.IntN(3), "xy")...) },
	}
	for name, gen := range shapes {
		for _, n := range []int{1, 2, 3, 17, 5000} {
			lows := [][]byte{nil} // the first leaf's bound is empty
			for len(lows) < n {
				lows = append(lows, gen())
			}
			slices.SortFunc(lows[1:], bytes.Compare)
			lows = slices.CompactFunc(lows, bytes.Equal)
			d := &Dir{}
			for i, low := range lows {
				d.add(low, int64(i+1)*NodeSize)
			}
			d.index()
			probe := func(k []byte) {
				// The last bound <= k.
				want := sort.Search(len(lows), func(i int) bool { return bytes.Compare(lows[i], k) > 0 }) - 1
				if got := d.find(k); got != max(want, 0) {
					t.Fatalf("%s, %d bounds: find(%q) = %d, want %d", name, len(lows), k, got, want)
				}
			}
			for _, low := range lows {
				probe(low)
				if len(low) > 0 {
					probe(low[:len(low)-1])
					probe(append(slices.Clone(low), 0))
				}
			}
			for range 2000 {
				probe(gen())
				probe(randBytes(1+rng.IntN(12), "\x00\x01\x2f\x30\x39\x3a\x60a\x7b\xff"))
			}
		}
	}
}
