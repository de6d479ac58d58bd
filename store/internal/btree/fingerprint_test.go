package btree

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestFingerprintReuse: after a batch that changes a few leaves, the next
// directory reuses the fingerprints of the others and reads only the
// changed ones; every key is still found by its fingerprint.
func TestFingerprintReuse(t *testing.T) {
	e := newEnv(t, 64<<20, false)
	m := model{}
	var muts []Mutation
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("tenant-a/users/%08d/profile", i*7)
		v := []byte("v" + k)
		muts = append(muts, Mutation{Key: []byte(k), Value: e.value(v)})
		m[k] = v
	}
	root, _ := e.apply(0, muts)
	d, err := e.tr.BuildDir(root)
	if err != nil {
		t.Fatal(err)
	}
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
