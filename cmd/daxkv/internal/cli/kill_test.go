package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadKill9 runs the real binary: load --generate with --ack-file,
// SIGKILL after a few hundred milliseconds, then checks in-process that
// every acknowledged key is there with its value, that at most the one
// batch in flight went past the last ack (a batch is all or nothing), and
// that the recovered store checks clean and takes writes. Two rounds, so
// the second also recovers from the first.
func TestLoadKill9(t *testing.T) {
	pkgDir, err := os.Getwd() // inside the module; isolate moves elsewhere
	if err != nil {
		t.Fatal(err)
	}
	isolate(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build daxkv with:", err)
	}
	bin := filepath.Join(t.TempDir(), "daxkv")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/daxkv/daxkv/cmd/daxkv")
	build.Dir, build.Env = pkgDir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	path := filepath.Join(scratchDir(t), "kill.region")
	ok(t, "init", "-p", path, "--size", "256MiB")
	const batch = 200
	for round, start := range []int64{0, 10_000_000} {
		acks := filepath.Join(t.TempDir(), "acks")
		cmd := exec.Command(bin, "load", "-p", path, "--generate", "100000000", "--start", fmt.Sprint(start),
			"--seed", fmt.Sprint(round+1), "--batch", fmt.Sprint(batch), "--ack-file", acks, "--no-progress")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the load is under way: a few batches acknowledged,
		// then some more time so the kill lands mid-stream.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if data, _ := os.ReadFile(acks); bytes.Count(data, []byte("\n")) >= 3 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: no acknowledged batch after 30s; stderr %q", round, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: load ended with %v before the kill; stderr %q", round, err, stderr.String())
		}

		last, acked, err := lastAck(acks)
		if err != nil || !acked {
			t.Fatalf("round %d: last ack: %v, %v", round, acked, err)
		}
		args := []string{"verify", "-p", path, "--ack-file", acks, "--start", fmt.Sprint(start), "--seed", fmt.Sprint(round + 1), "--json"}
		r := run(t, args...)
		v := decode[verifyReport](t, r)
		if r.code != ExitOK || v.Keys != last-start+1 || v.OK != v.Keys {
			t.Fatalf("round %d: verify after kill -9: exit %d, %+v, stderr %q", round, r.code, v, r.stderr)
		}
		t.Logf("round %d: %d keys acknowledged before the kill, all present", round, v.Keys)

		// Past the last ack: nothing, or the whole batch whose ack the
		// kill beat. Never part of a batch.
		r = ok(t, "scan", "-p", path, "--from", string(genKey(last+1)), "--keys-only")
		if n := strings.Count(r.stdout, "\n"); n != 0 && n != batch {
			t.Errorf("round %d: %d keys past the last ack, want 0 or one batch of %d", round, n, batch)
		}

		r = ok(t, "check", "-p", path, "--json")
		if c := decode[checkReport](t, r); !c.OK {
			t.Errorf("round %d: check after recovery: %v", round, c.Problems)
		}
		if s := decode[statsReport](t, ok(t, "stats", "-p", path, "--json")); s.CleanOpen || s.RecoveredOps == 0 {
			t.Errorf("round %d: stats after kill -9: clean_open %v, recovered_ops %d", round, s.CleanOpen, s.RecoveredOps)
		}
		// The recovered store takes writes.
		ok(t, "put", "-p", path, fmt.Sprintf("after-round-%d", round), "x")
	}
	// The first round's keys survived the second round's crash.
	ok(t, "get", "-p", path, "after-round-0")
	ok(t, "verify", "-p", path, "--generate", "1000", "--seed", "1")
}
