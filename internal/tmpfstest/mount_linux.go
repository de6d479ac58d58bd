//go:build linux

package tmpfstest

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Mount mounts a tmpfs with the given options (e.g. "size=16m,huge=advise")
// on a fresh directory, unmounted when the test ends. It skips the test
// where this process may not mount (not root, no CAP_SYS_ADMIN) or the
// kernel refuses the options.
func Mount(t testing.TB, options string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		t.Skipf("cannot mount a tmpfs with %q here: %v", options, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
