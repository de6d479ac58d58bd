package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/store"
)

// WriterEnv names the environment variable that carries the recovery
// writer's job to the child process.
const WriterEnv = "DAXKV_BENCH_WRITER"

// writerJob is what the child writes: durable puts of keys from Start
// into the region at Path until the WAL holds Target bytes.
type writerJob struct {
	Path      string `json:"path"`
	Target    int64  `json:"target"`
	Start     int64  `json:"start"`
	KeySize   int    `json:"key_size"`
	ValueSize int    `json:"value_size"`
	Seed      uint64 `json:"seed"`
	Flush     string `json:"flush"`
}

// writerWait bounds how long a writer waits to be killed.
const writerWait = 10 * time.Minute

// RunWriter is the recovery benchmark's child: it reads its job from the
// WriterEnv variable, writes until the WAL fill is reached, prints
// "ready WALUSED WALSIZE KEYS" on stdout and waits to be killed with the
// store open. It returns only on error (or if nobody kills it).
func RunWriter(stdout io.Writer) error {
	var job writerJob
	if err := json.Unmarshal([]byte(os.Getenv(WriterEnv)), &job); err != nil {
		return fmt.Errorf("bench writer: bad %s: %w", WriterEnv, err)
	}
	mode, err := flush.ParseMode(job.Flush)
	if err != nil {
		return err
	}
	db, err := store.Open(job.Path, &store.Options{Flush: mode})
	if err != nil {
		return err
	}
	keys := keyer{size: job.KeySize}
	vals := newValuer(job.ValueSize, job.Seed)
	var kb []byte
	st := db.Stats()
	// A checkpoint would empty the WAL; it starts at half full, so a
	// target above that is never reached: give up after many laps' worth.
	maxKeys := 4 * st.WALSize / int64(job.KeySize+job.ValueSize+8)
	for n := int64(1); ; n++ {
		i := job.Start + n - 1
		kb = keys.key(kb, i)
		if err := db.Put(kb, vals.value(i, 1)); err != nil {
			return err
		}
		if n%64 != 0 {
			continue
		}
		if st = db.Stats(); st.WALUsed >= job.Target {
			fmt.Fprintf(stdout, "ready %d %d %d\n", st.WALUsed, st.WALSize, n)
			break
		}
		if n > maxKeys {
			return fmt.Errorf("bench writer: the WAL holds %d of %d bytes after %d puts and does not reach %d", st.WALUsed, st.WALSize, n, job.Target)
		}
	}
	time.Sleep(writerWait)
	return errors.New("bench writer: not killed")
}

// RecoveryPoint is one row of the recovery table.
type RecoveryPoint struct {
	Clean    bool       `json:"clean"` // a clean close, for comparison
	Fill     float64    `json:"fill"`  // the WAL fill asked for
	WALBytes int64      `json:"wal_bytes"`
	WALSize  int64      `json:"wal_size"`
	Keys     int64      `json:"keys"`     // in the store at the crash
	Replayed uint64     `json:"replayed"` // WAL operations recovery replayed
	Open     Duration   `json:"open"`     // median store.Open time
	Runs     []Duration `json:"runs"`
}

// recovery measures store.Open after a clean close and after a kill -9 at
// each WAL fill of the plan.
func (r *runner) recovery(newCmd func() *exec.Cmd) ([]RecoveryPoint, error) {
	dir, err := r.freshDir("recovery")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	base := filepath.Join(dir, "base.region")
	peer := daxkvPeer(false)
	s, err := peer.Open(OpenOptions{Dir: dir, RegionSize: r.p.regionSize(false), Flush: r.p.Flush})
	if err != nil {
		return nil, err
	}
	if err := os.Rename(filepath.Join(dir, "daxkv.region"), base); err != nil {
		s.Close()
		return nil, err
	}
	err = r.preload(s, r.p.values, permutation(r.p.Num, r.p.Seed, 1), 0)
	walSize := s.(*daxkvStore).Stats().WALSize
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("recovery: preload: %w", err)
	}
	work := filepath.Join(dir, "work.region")

	var out []RecoveryPoint
	clean := RecoveryPoint{Clean: true, WALSize: walSize, Keys: r.p.Num}
	for run := 0; run < r.p.Runs; run++ {
		if err := copyFile(work, base); err != nil {
			return nil, err
		}
		t0 := time.Now()
		db, err := store.Open(work, &store.Options{Flush: r.p.Flush})
		took := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("recovery: clean open: %w", err)
		}
		clean.Runs = append(clean.Runs, Duration(took))
		db.Close()
	}
	clean.Open = medianDuration(clean.Runs)
	r.logf("%-13s %-14s clean open: %v", Recovery, "daxkv", time.Duration(clean.Open))
	out = append(out, clean)

	for _, fill := range r.p.RecoveryFills {
		pt := RecoveryPoint{Fill: fill, WALSize: walSize}
		for run := 0; run < r.p.Runs; run++ {
			if err := copyFile(work, base); err != nil {
				return nil, err
			}
			job := writerJob{Path: work, Target: int64(fill * float64(walSize)), Start: r.p.maxIndex + 1,
				KeySize: r.p.KeySize, ValueSize: r.p.ValueSize, Seed: r.p.Seed, Flush: r.p.Flush.String()}
			walUsed, n, err := r.killWriter(newCmd, job)
			if err != nil {
				return nil, err
			}
			t0 := time.Now()
			db, err := store.Open(work, &store.Options{Flush: r.p.Flush})
			took := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("recovery: open after kill -9: %w", err)
			}
			st := db.Stats()
			// The last acknowledged put must have survived.
			last := keyer{size: r.p.KeySize}.key(nil, job.Start+n-1)
			_, gerr := db.Get(last)
			db.Close()
			if gerr != nil {
				return nil, fmt.Errorf("recovery: last acknowledged key %q after kill -9: %w", last, gerr)
			}
			pt.Runs = append(pt.Runs, Duration(took))
			pt.WALBytes, pt.Keys, pt.Replayed = walUsed, r.p.Num+n, st.RecoveredOps
		}
		pt.Open = medianDuration(pt.Runs)
		r.logf("%-13s %-14s WAL %4.0f%%: %d ops replayed, open %v", Recovery, "daxkv", 100*float64(pt.WALBytes)/float64(walSize), pt.Replayed, time.Duration(pt.Open))
		out = append(out, pt)
	}
	return out, os.Remove(work)
}

// killWriter runs a writer child until it reports its WAL fill, then
// kills it with SIGKILL. It returns the fill and the keys written.
func (r *runner) killWriter(newCmd func() *exec.Cmd, job writerJob) (walUsed, keys int64, _ error) {
	spec, err := json.Marshal(job)
	if err != nil {
		return 0, 0, err
	}
	cmd := newCmd()
	cmd.Env = append(os.Environ(), WriterEnv+"="+string(spec))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("recovery: start writer: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(outPipe)
		for sc.Scan() {
			lines <- sc.Text()
			break
		}
		close(lines)
		io.Copy(io.Discard, outPipe)
	}()
	var line string
	var ok bool
	select {
	case line, ok = <-lines:
	case <-time.After(2 * time.Minute):
	case <-r.ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := r.ctx.Err(); err != nil {
		return 0, 0, err
	}
	var size int64
	if !ok || func() bool { n, _ := fmt.Sscanf(line, "ready %d %d %d", &walUsed, &size, &keys); return n != 3 }() {
		return 0, 0, fmt.Errorf("recovery: writer did not report (%q): %s", line, bytes.TrimSpace(stderr.Bytes()))
	}
	return walUsed, keys, nil
}

func medianDuration(ds []Duration) Duration {
	f := make([]float64, len(ds))
	for i, d := range ds {
		f[i] = float64(d)
	}
	return Duration(median(f))
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
