//go:build linux

package btree

import (
	"os"

	"golang.org/x/sys/unix"
)

// benchRegion maps anonymous memory for the benchmark region. A DAX
// mapping is normally backed by 2 MiB pages; DAXKV_BENCH_HUGE=1 asks for
// transparent huge pages to model that (4 KiB pages make every node a TLB
// miss).
func benchRegion(size int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	if os.Getenv("DAXKV_BENCH_HUGE") == "1" {
		if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
			return nil, err
		}
	}
	return mem, nil
}
