package btree

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrefetchReadsOnlyTheDirectory: the store runs Prefetch before a
// read's first access to the mapping, so Prefetch must read the directory
// alone and never fault. With the whole region unreadable (PROT_NONE) a
// load from it kills the process; prefetches of every kind of key must
// not. Then the fingerprints are made to point at every position up to
// the node's end, as a stale or damaged directory could: the prefetches
// must stay inside the node.
func TestPrefetchReadsOnlyTheDirectory(t *testing.T) {
	const size = 64 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer func() { _ = unix.Munmap(mem) }()
	e := newEnvOn(t, mem, false)
	_, fd, m := fingerprintedTree(t, e, 3000)
	keys := [][]byte{{0}, {0xff}, []byte(strings.Repeat("\xff", MaxKey)), []byte("k"), []byte("k0000000"), []byte("k9999999")}
	for k := range m {
		keys = append(keys, []byte(k), []byte(k+"x"))
	}
	empty := &Dir{}
	if err := unix.Mprotect(mem, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e.tr.Prefetch(fd, k)
		e.tr.Prefetch(empty, k)
	}
	for i := range fd.fps {
		fd.fps[i] = fd.fps[i]&^fpPosMask | uint32(NodeSize-1-i%256)
	}
	for _, k := range keys {
		e.tr.Prefetch(fd, k)
	}
	if err := unix.Mprotect(mem, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
}
