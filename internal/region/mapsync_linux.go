//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package region

import "golang.org/x/sys/unix"

// mapSync is MAP_SYNC, or 0 on architectures whose kernel lacks it.
const mapSync = unix.MAP_SYNC
