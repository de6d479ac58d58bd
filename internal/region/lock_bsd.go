//go:build darwin || dragonfly || freebsd || netbsd || openbsd || solaris

package region

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/internal/errs"
)

// lock takes a non-blocking exclusive flock. flock locks belong to the open
// file description, so a second Open in the same process conflicts too.
func lock(f *os.File, path string) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return nil
	case err == unix.EWOULDBLOCK:
		return fmt.Errorf("region: %s: %w (held by another open file)", path, errs.Locked)
	default:
		return fmt.Errorf("region: lock %s: %w", path, err)
	}
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

func (r *Region) protect(lo, hi int, readable bool) error {
	prot := unix.PROT_NONE
	if readable {
		prot = unix.PROT_READ
		if !r.readOnly {
			prot |= unix.PROT_WRITE
		}
	}
	if err := unix.Mprotect(r.mapping[lo:hi], prot); err != nil {
		return fmt.Errorf("region: mprotect %s [%d, %d): %w", r.path, lo, hi, err)
	}
	return nil
}
