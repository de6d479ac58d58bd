package region

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/daxkv/daxkv/internal/errs"
)

// lock takes a non-blocking exclusive LockFileEx lock. Windows byte-range
// locks are enforced against reads and writes through other handles, so it
// covers one byte far past any region's end rather than the data. They
// belong to the handle, so a second Open in the same process conflicts too.
func lock(f *os.File, path string) error {
	ol := windows.Overlapped{Offset: ^uint32(0), OffsetHigh: ^uint32(0) >> 1}
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch {
	case err == nil:
		return nil
	case err == windows.ERROR_LOCK_VIOLATION:
		return fmt.Errorf("region: %s: %w (held by another open handle)", path, errs.Locked)
	default:
		return fmt.Errorf("region: lock %s: %w", path, err)
	}
}

// syncDir is a no-op: Windows cannot flush a directory handle, and NTFS
// journals the new entry itself.
func syncDir(string) error { return nil }

func (r *Region) protect(lo, hi int, readable bool) error {
	prot := uint32(windows.PAGE_NOACCESS)
	if readable {
		prot = windows.PAGE_READWRITE
		if r.readOnly {
			prot = windows.PAGE_READONLY
		}
	}
	var old uint32
	b := r.mapping[lo:hi]
	if err := windows.VirtualProtect(uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), prot, &old); err != nil {
		return fmt.Errorf("region: VirtualProtect %s [%d, %d): %w", r.path, lo, hi, err)
	}
	return nil
}
