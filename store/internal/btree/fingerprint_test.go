package btree

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

// TestFingerprintReuse: after a batch that changes a few leaves, the next
// directory reuses the fingerprints of the others and reads only the
// changed ones; every key is still found by its fingerprint.
func TestFingerprintReuse(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	root, d, m := dirTree(t, e, 5000, func(i int) string { return fmt.Sprintf("tenant-a/users/%08d/profile", i*7) })
	first, reused, err := e.tr.Fingerprint(d, nil, nil)
	if err != nil || reused != 0 {
		t.Fatalf("first Fingerprint: reused %d, %v", reused, err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, _, err := e.tr.Fingerprint(d, nil, stop); !errors.Is(err, ErrStopped) {
		t.Fatalf("Fingerprint with stop closed: %v, want ErrStopped", err)
	}
	if _, reused, err := e.tr.Fingerprint(d, first, nil); err != nil || reused != d.Leaves() {
		t.Fatalf("Fingerprint of the same tree: reused %d of %d, %v", reused, d.Leaves(), err)
	}

	// Overwrite three keys far apart: three leaves change.
	var batch []Mutation
	for _, i := range []int{10, 2500, 4990} {
		k := fmt.Sprintf("tenant-a/users/%08d/profile", i*7)
		v := []byte("new")
		batch = append(batch, Mutation{Key: []byte(k), Value: e.value(v)})
		m[k] = v
	}
	slices.SortFunc(batch, func(a, b Mutation) int { return bytes.Compare(a.Key, b.Key) })
	root2, _ := e.apply(root, batch)
	d2, err := e.tr.BuildDir(root2)
	if err != nil {
		t.Fatal(err)
	}
	second, reused, err := e.tr.Fingerprint(d2, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reused != d2.Leaves()-3 {
		t.Errorf("reused %d of %d leaves, want all but the 3 rewritten", reused, d2.Leaves())
	}
	e.fpPrev[e.tr] = second
	e.checkFingerprints(e.tr, d2, m)
}

// TestFingerprintSpread: keys that differ only in their middle bytes (a
// fixed prefix and suffix of 8 bytes or more) get different fingerprints,
// so a lookup compares few keys.
func TestFingerprintSpread(t *testing.T) {
	seen := map[uint32]int{}
	const n = 4096
	for i := 0; i < n; i++ {
		seen[fingerprint(fmt.Appendf(nil, "tenant-a/users/%08d/profile", i))]++
	}
	// 512 values: a uniform hash fills nearly all of them with 8 keys each.
	most := 0
	for _, c := range seen {
		most = max(most, c)
	}
	if len(seen) < 1<<fpHashBits*9/10 || most > 32 {
		t.Fatalf("%d keys take %d fingerprint values, up to %d keys on one", n, len(seen), most)
	}
}

// dirTree builds a tree of the n keys key(0..n-1), in ascending order, and
// its directory without fingerprints.
func dirTree(t *testing.T, e *env, n int, key func(i int) string) (int64, *Dir, model) {
	t.Helper()
	m := model{}
	var muts []Mutation
	for i := 0; i < n; i++ {
		k := key(i)
		v := []byte("value of " + k)
		muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
		m[k] = v
	}
	root, _ := e.apply(0, muts)
	d, err := e.tr.BuildDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, d, m
}

// fingerprintedTree builds a tree of n keys and its fingerprinted
// directory.
func fingerprintedTree(t *testing.T, e *env, n int) (int64, *Dir, model) {
	t.Helper()
	root, d, m := dirTree(t, e, n, func(i int) string { return fmt.Sprintf("k%07d", i*13) })
	fd, _, err := e.tr.Fingerprint(d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return root, fd, m
}

// middleLeaf is the leaf in the middle of fd: its index, offset and node.
func middleLeaf(t *testing.T, e *env, fd *Dir) (int, int64, node) {
	t.Helper()
	i := fd.Leaves() / 2
	off := fd.leaf[i] &^ leafTied
	n, err := e.tr.readNode(off, 0)
	if err != nil {
		t.Fatal(err)
	}
	return i, off, n
}

// TestFindDirUsesFingerprints: with a leaf's slot array wiped after its
// fingerprints were taken, FindDir still finds every key of that leaf,
// which only the fingerprints can do; the slot search then cannot.
func TestFindDirUsesFingerprints(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	root, fd, m := fingerprintedTree(t, e, 3000)
	_, off, n := middleLeaf(t, e, fd)
	keys := make([]string, 0, n.count)
	for j := 0; j < n.count; j++ {
		k, _ := n.key(j)
		keys = append(keys, string(k))
	}
	clear(e.mem[off+hdrSize : off+hdrSize+int64(slotSize*n.count)])
	for _, k := range keys {
		v, ok, err := getDir(e.tr, fd, []byte(k))
		if err != nil || !ok || !bytes.Equal(e.bytesOf(v), m[k]) {
			t.Fatalf("FindDir(%q) with the slots wiped = %q, %v, %v", k, e.bytesOf(v), ok, err)
		}
	}
	if _, ok, err := e.tr.Get(root, []byte(keys[0])); ok && err == nil {
		t.Fatal("the slot search found a key in the wiped leaf: the test shows nothing")
	}
}

// TestFingerprintDamagedLeaf: a leaf that fails validation gets no
// fingerprints, the others do, and reads of the damaged leaf's keys
// report the damage through the slot path.
func TestFingerprintDamagedLeaf(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	root, fd, m := fingerprintedTree(t, e, 3000)
	i, off, n := middleLeaf(t, e, fd)
	damaged, _ := n.key(0)
	damagedKey := string(damaged)
	e.mem[off+NodeSize-1] ^= 0xff // the CRC no longer matches
	tr := e.fresh()               // checks CRCs again
	d, err := tr.BuildDir(root)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := tr.Fingerprint(d, nil, nil)
	if err != nil {
		t.Fatalf("Fingerprint with one damaged leaf: %v", err)
	}
	if f.fpStart[i] != f.fpStart[i+1] || f.fpGen[i] != noGen {
		t.Fatalf("damaged leaf %d has %d fingerprints", i, f.fpStart[i+1]-f.fpStart[i])
	}
	if got := len(f.fps); got != len(m)-n.count {
		t.Fatalf("%d fingerprints, want %d (all but the damaged leaf's)", got, len(m)-n.count)
	}
	if _, _, err := getDir(tr, f, []byte(damagedKey)); !errors.Is(err, errs.Corrupt) {
		t.Fatalf("FindDir of a key in the damaged leaf: %v, want errs.Corrupt", err)
	}
}
