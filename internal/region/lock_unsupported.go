//go:build !linux && !windows && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd && !solaris

package region

import (
	"fmt"
	"os"
	"runtime"

	"github.com/daxkv/daxkv/internal/errs"
)

// This platform has neither file locks nor memory mapping that daxkv can
// use (mmap-go refuses too), so Open fails before anything is created.

func lock(_ *os.File, path string) error {
	return fmt.Errorf("region: %s: file locking and mapping are not supported on %s: %w", path, runtime.GOOS, errs.Invalid)
}

func syncDir(string) error { return nil }

func (r *Region) protect(int, int, bool) error {
	return fmt.Errorf("region: protect is not supported on %s: %w", runtime.GOOS, errs.Invalid)
}
