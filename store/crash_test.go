package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

// Crash simulation. The store runs on a flush.Tracker, which keeps the
// image that only drained flushes reach. At every fence (OnDrain) the test
// takes crash images — the persisted image plus a random subset of the
// 8-byte words not yet durable, which is what power loss may leave — and
// opens each one. Every image must open, hold every acknowledged write,
// and show the in-flight batch either whole or not at all.

const crashKeys = 40

func crashKey(i int) []byte { return []byte(fmt.Sprintf("key-%02d", i)) }

type kvModel map[string][]byte

// crashSim drives one workload and checks images as it goes.
type crashSim struct {
	t      *testing.T
	rng    *rand.Rand
	work   []byte
	tr     *flush.Tracker
	db     *DB
	acked  kvModel // state after every acknowledged op
	after  kvModel // state if the in-flight op lands; nil when the op changes no data
	images int
	every  int // check an image at every n-th drain (1 = all)
	// nested: also crash the recovery's own writes (its first checkpoint
	// and its clean close) for a share of the images.
	nested int
}

func crashOptions(work []byte, p flush.Persister, create bool) *Options {
	o := &Options{WALSize: 64 << 10, mapping: work, persister: p, checkpointBytes: 24 << 10, manualCheckpoints: true}
	if create {
		o.Size = int64(len(work))
	}
	return o
}

func newCrashSim(t *testing.T, seed uint64, size int) *crashSim {
	s := &crashSim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), work: make([]byte, size), acked: kvModel{}, every: 1}
	s.tr = flush.NewTracker(s.work)
	db, err := Open("", crashOptions(s.work, s.tr, true))
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	s.tr.OnDrain = s.onDrain
	return s
}

func (s *crashSim) onDrain() {
	if s.tr.Drains()%s.every != 0 {
		return
	}
	var img []byte
	switch s.rng.IntN(8) {
	case 0:
		img = s.tr.CrashImageMin()
	case 1:
		img = s.tr.CrashImageMax()
	default:
		img = s.tr.CrashImage(s.rng)
	}
	s.images++
	nested := s.nested > 0 && s.rng.IntN(s.nested) == 0
	if err := checkCrashImage(img, s.acked, s.after, nested, s.rng); err != nil {
		s.t.Fatalf("crash image at drain %d (image %d): %v", s.tr.Drains(), s.images, err)
	}
}

// checkCrashImage opens img and compares it with the two allowed states.
// With nested set it also crashes the recovered store's next checkpoint
// and close at every fence and checks those images in turn.
func checkCrashImage(img []byte, before, after kvModel, nested bool, rng *rand.Rand) error {
	tr := flush.NewTracker(img)
	db, err := Open("", crashOptions(img, tr, false))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	got, err := readAll(db)
	if err != nil {
		return err
	}
	if rep, err := db.Check(context.Background()); err != nil || len(rep.Problems) > 0 {
		return fmt.Errorf("check after recovery: %v %q", err, rep.Problems)
	}
	state := before
	if !maps.EqualFunc(got, before, bytes.Equal) {
		if after == nil || !maps.EqualFunc(got, after, bytes.Equal) {
			return fmt.Errorf("recovered state matches neither the acknowledged state nor it plus the in-flight batch:\n%s", diffModels(got, before))
		}
		state = after
	}
	if nested {
		tr.OnDrain = func() {
			if err != nil {
				return
			}
			if e := checkCrashImage(tr.CrashImage(rng), state, nil, false, rng); e != nil {
				err = fmt.Errorf("crash during recovery's checkpoint/close: %w", e)
			}
		}
		if e := db.checkpoint(); e != nil && err == nil {
			err = e
		}
		if e := db.Close(); e != nil && err == nil {
			err = e
		}
		return err
	}
	return db.Close()
}

func readAll(db *DB) (kvModel, error) {
	got := kvModel{}
	err := db.View(func(v *View) error {
		return v.Scan(nil, nil, func(k, val []byte) error {
			got[string(k)] = bytes.Clone(val)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	// Point reads must agree with the scan.
	for i := 0; i < crashKeys; i++ {
		k := crashKey(i)
		val, err := db.Get(k)
		want, ok := got[string(k)]
		switch {
		case errors.Is(err, ErrNotFound) && !ok:
		case err != nil:
			return nil, fmt.Errorf("get %s: %w", k, err)
		case !ok || !bytes.Equal(val, want):
			return nil, fmt.Errorf("get %s = %d bytes, scan says %d bytes (present %v)", k, len(val), len(want), ok)
		}
	}
	return got, nil
}

func diffModels(got, want kvModel) string {
	var b bytes.Buffer
	for k, v := range want {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "  missing %s (%d bytes)\n", k, len(v))
		} else if !bytes.Equal(g, v) {
			fmt.Fprintf(&b, "  %s: got %d bytes, want %d\n", k, len(g), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  extra %s\n", k)
		}
	}
	return b.String()
}

func (s *crashSim) value() []byte {
	var n int
	switch s.rng.IntN(4) {
	case 0:
		n = 0
	case 1:
		n = 256 + s.rng.IntN(1500) // own extent
	default:
		n = 1 + s.rng.IntN(255)
		if s.rng.IntN(2) == 0 {
			n = 150 + s.rng.IntN(106) // near the inline limit: fills the WAL faster
		}
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(s.rng.Uint32())
	}
	return v
}

// step runs one random operation with the model around it.
func (s *crashSim) step() {
	db := s.db
	s.after = maps.Clone(s.acked)
	var err error
	switch r := s.rng.IntN(100); {
	case r < 45:
		k, v := crashKey(s.rng.IntN(crashKeys)), s.value()
		s.after[string(k)] = v
		err = db.Put(k, v)
	case r < 60:
		k := crashKey(s.rng.IntN(crashKeys))
		delete(s.after, string(k))
		err = db.Delete(k)
	case r < 85:
		// Decide the whole batch first, so the model is complete before
		// the first fence inside Update.
		type op struct {
			k, v []byte
			del  bool
		}
		var ops []op
		for n := 2 + s.rng.IntN(5); n > 0; n-- {
			o := op{k: crashKey(s.rng.IntN(crashKeys)), del: s.rng.IntN(4) == 0}
			if o.del {
				delete(s.after, string(o.k))
			} else {
				o.v = s.value()
				s.after[string(o.k)] = o.v
			}
			ops = append(ops, o)
		}
		err = db.Update(func(tx *Tx) error {
			for _, o := range ops {
				var err error
				if o.del {
					err = tx.Delete(o.k)
				} else {
					err = tx.Put(o.k, o.v)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	case r < 95:
		s.after = nil // no data change in flight
		err = db.checkpoint()
	default:
		s.after = nil
		if err = db.Close(); err == nil {
			s.db, err = Open("", crashOptions(s.work, s.tr, false))
		}
	}
	if err != nil {
		s.t.Fatalf("op failed: %v", err)
	}
	if s.after != nil {
		s.acked = s.after
	}
	s.after = nil
}

func crashSteps(t *testing.T) int {
	if v, err := strconv.Atoi(os.Getenv("DAXKV_CRASH_STEPS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 150
	}
	return 1200
}

func TestCrashSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newCrashSim(t, seed, 512<<10)
			s.nested = 10
			for i := crashSteps(t); i > 0; i-- {
				s.step()
			}
			if _, err := readAll(s.db); err != nil {
				t.Fatal(err)
			}
			// The workload must have wrapped the WAL ring several times,
			// or wraparound went untested.
			if laps := s.db.wal.End().Off / uint64(s.db.sb.WALSize); laps < 2 && !testing.Short() {
				t.Fatalf("WAL wrapped only %d times", laps)
			}
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("checked %d crash images over %d drains; %d checkpoints", s.images, s.tr.Drains(), s.db.stats.checkpoints.Load())
		})
	}
}
