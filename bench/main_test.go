package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestMain doubles as the recovery benchmark's writer: the tests start
// this binary again with WriterEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(WriterEnv) != "" {
		if err := RunWriter(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testWriter re-executes the test binary as the writer child.
func testWriter() *exec.Cmd { return exec.Command(os.Args[0], "-test.run=^$") }

// shmDir is a temporary directory on tmpfs where there is one (the mode
// the benchmark is meant for), else the test's temp dir.
func shmDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "daxkv-bench-test-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}
