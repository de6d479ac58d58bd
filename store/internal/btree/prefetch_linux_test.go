package btree

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/poison"
)

// TestPrefetchReadsOnlyTheDirectory: the store runs Prefetch before a
// read's first access to the mapping, outside the fault guard, so
// Prefetch must read the directory alone. With the whole region
// unreadable (PROT_NONE), prefetches of every kind of key must not fault
// (the calls run under poison.Do so that a load fails this test instead
// of killing the binary): through directories with and without
// fingerprints, for keys whose bounds tie on their prefixes (the
// directory search's key-bisecting path), and for an empty tree. Then
// the fingerprints are made to point at positions up to the node's end,
// as a stale or damaged directory could: Go's bounds check on the
// prefetched address keeps them inside the node.
func TestPrefetchReadsOnlyTheDirectory(t *testing.T) {
	const size = 64 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer func() { _ = unix.Munmap(mem) }()
	e := newEnvOn(t, mem, false)
	var dirs []*Dir
	var keys [][]byte
	for _, name := range []func(int) string{
		func(i int) string { return fmt.Sprintf("k%07d", i*13) },
		func(i int) string { return fmt.Sprintf("%c%020d", 'a'+i/1000, i) }, // prefixes tie
	} {
		_, d, m := dirTree(t, e, 3000, name)
		fd, _, err := e.tr.Fingerprint(d, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d, fd)
		for k := range m {
			keys = append(keys, []byte(k), []byte(k+"x"), []byte(k[:len(k)-1]))
		}
	}
	dirs = append(dirs, &Dir{})
	keys = append(keys, []byte{0}, []byte{0xff}, []byte("k"), []byte(strings.Repeat("\xff", MaxKey)))

	prefetchAll := func(what string) {
		t.Helper()
		if err := unix.Mprotect(mem, unix.PROT_NONE); err != nil {
			t.Fatal(err)
		}
		ferr := poison.Do(func() {
			for _, d := range dirs {
				for _, k := range keys {
					e.tr.Prefetch(d, k)
				}
			}
		})
		if err := unix.Mprotect(mem, unix.PROT_READ|unix.PROT_WRITE); err != nil {
			t.Fatal(err)
		}
		if ferr != nil {
			t.Fatalf("%s: Prefetch read the region: %v", what, ferr)
		}
	}
	prefetchAll("directories as built")
	for _, d := range dirs {
		for i := range d.fps {
			d.fps[i] = d.fps[i]&^fpPosMask | uint32(NodeSize-1-i%256)
		}
	}
	prefetchAll("fingerprints pointing at the nodes' ends")
}
