//go:build !linux

package region

import (
	"io/fs"
	"time"
)

// ctimeOf is zero where fs.FileInfo carries no inode change time.
func ctimeOf(fs.FileInfo) time.Time { return time.Time{} }
