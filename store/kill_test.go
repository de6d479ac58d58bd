package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The kill -9 test: a child process (this test binary, re-executed) writes
// numbered keys and reports each acknowledged one on stdout; the parent
// kills it with SIGKILL at a random moment, reopens the region, and checks
// that every acknowledged key is there with its exact value. The region is
// kept across rounds, so later rounds also recover from earlier kills.

const killChildEnv = "DAXKV_KILL_CHILD"

// killValue is the value of key n: sizes cross the inline/extent boundary.
func killValue(n int) []byte {
	size := []int{0, 16, 100, 255, 256, 700, 3000}[n%7]
	return bytes.Repeat([]byte{byte(n), byte(n >> 8)}, size/2+1)[:size]
}

// killKey names write n's key. Writes cycle through killSlots keys, so
// that any number of rounds (make torture runs 200) keeps the store's size
// bounded: each round adds some 25K writes of 600 bytes on average, and
// without overwrites a 512 MiB region filled up after about 35 rounds.
func killKey(n int) []byte { return []byte(fmt.Sprintf("kill-%08d", n%killSlots)) }

const killSlots = 100_000

func TestKillChild(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("helper process for TestKill9")
	}
	start, _ := strconv.Atoi(os.Getenv("DAXKV_KILL_START"))
	db, err := Open(path, &Options{Size: 512 << 20, WALSize: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	out := os.Stdout
	for n := start; ; n++ {
		var err error
		if n%5 == 0 {
			// A batch of two keys: n and n+1 together.
			err = db.Update(func(tx *Tx) error {
				if err := tx.Put(killKey(n), killValue(n)); err != nil {
					return err
				}
				return tx.Put(killKey(n+1), killValue(n+1))
			})
			if err == nil {
				fmt.Fprintf(out, "%d\n%d\n", n, n+1)
				n++
			}
		} else {
			err = db.Put(killKey(n), killValue(n))
			if err == nil {
				fmt.Fprintf(out, "%d\n", n)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child put:", err)
			os.Exit(4)
		}
	}
}

func TestKill9(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	if n, err := strconv.Atoi(os.Getenv("DAXKV_KILL_ROUNDS")); err == nil && n > 0 {
		rounds = n // make torture runs more
	}
	path := filepath.Join(shmDir(t), "kill.region")
	rng := rand.New(rand.NewPCG(9, 9))
	// Create the region up front: a kill during the child's open then
	// tests a crash during recovery, not an unfinished create.
	db, err := Open(path, &Options{Size: 512 << 20, WALSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	next := 0
	unsure := map[int]bool{} // in flight at a kill: may or may not exist
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+path, "DAXKV_KILL_START="+strconv.Itoa(next))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it write for a random while, then kill it mid-stream.
		acked := next - 1 // everything before this round stays checked
		lines := bufio.NewScanner(stdout)
		deadline := time.After(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		got := make(chan int)
		go func() {
			for lines.Scan() {
				n, _ := strconv.Atoi(lines.Text())
				got <- n
			}
			close(got)
		}()
	read:
		for {
			select {
			case n, ok := <-got:
				if !ok {
					break read
				}
				acked = n
			case <-deadline:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				deadline = nil
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die by SIGKILL: %v\n%s", round, err, stderr.Bytes())
		}
		if acked == next-1 {
			t.Logf("round %d: killed before any acknowledged write", round)
		}
		db, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		// Each key holds its latest write. The writes in flight at the
		// kill (acked+1, acked+2) may have replaced the slots of the two
		// oldest in this window, so the window ends before them.
		for n := max(0, acked+3-killSlots); n <= acked; n++ {
			if unsure[n] {
				continue
			}
			v, err := db.Get(killKey(n))
			if err != nil || !bytes.Equal(v, killValue(n)) {
				_ = db.Close()
				t.Fatalf("round %d: acknowledged key %d (of %d) lost: %v", round, n, acked, err)
			}
		}
		st := db.Stats()
		if rep, err := db.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
			t.Fatalf("round %d: check after kill: %v %q", round, err, rep.Problems)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d keys acknowledged, %d WAL ops replayed, open took %v", round, acked+1, st.RecoveredOps, st.OpenTook)
		// The next child continues after what this round may have written.
		unsure[acked+1], unsure[acked+2] = true, true
		next = acked + 3
	}
}
