//go:build linux

package tmpfstest

import (
	"os"
	"strings"
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

// MountHuge is Mount of a tmpfs of size (e.g. "16m") with the given huge=
// policy. It skips where the system setting overrides mount policies
// (shmem_enabled deny or force), since the test would then measure that.
func MountHuge(t testing.TB, size, huge string) string {
	t.Helper()
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
	if err != nil {
		t.Skipf("no transparent huge pages for tmpfs here: %v", err)
	}
	if s := string(b); strings.Contains(s, "[deny]") || strings.Contains(s, "[force]") {
		t.Skipf("shmem_enabled overrides tmpfs mount options: %s", strings.TrimSpace(s))
	}
	return Mount(t, "size="+size+",huge="+huge)
}
