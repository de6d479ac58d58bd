package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/store/internal/format"
)

// Crash simulation. The store runs on a flush.Tracker, which keeps the
// image that only drained flushes reach. At every fence (OnDrain) the test
// takes crash images — the persisted image plus a random subset of the
// 8-byte words not yet durable, which is what power loss may leave — and
// opens each one. Every image must open, hold every acknowledged write,
// and show the in-flight batch either whole or not at all. The workload
// also writes to branches and makes, deletes and restores refs: every ref
// of a recovered image must equal its model, all from before the op in
// flight or all from after it.

const crashKeys = 40

func crashKey(i int) []byte { return []byte(fmt.Sprintf("key-%02d", i)) }

type kvModel map[string][]byte

// refModels is a model per ref, by name: "main", "b<n>" for branches and
// "s<n>" for snapshots.
type refModels map[string]kvModel

func (m refModels) clone() refModels {
	c := make(refModels, len(m))
	for name, kv := range m {
		c[name] = maps.Clone(kv)
	}
	return c
}

func (m refModels) equal(o refModels) bool {
	return maps.EqualFunc(m, o, func(a, b kvModel) bool { return maps.EqualFunc(a, b, bytes.Equal) })
}

// names returns the refs whose name starts with prefix ("" for all), sorted.
func (m refModels) names(prefix string) []string {
	var out []string
	for name := range m {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func diffRefModels(got, want refModels) string {
	var b strings.Builder
	for _, name := range want.names("") {
		if g, ok := got[name]; !ok {
			fmt.Fprintf(&b, " ref %s missing\n", name)
		} else if d := diffModels(g, want[name]); d != "" {
			fmt.Fprintf(&b, " ref %s:\n%s", name, d)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			fmt.Fprintf(&b, " extra ref %s\n", name)
		}
	}
	return b.String()
}

// crashSim drives one workload and checks images as it goes.
type crashSim struct {
	t      *testing.T
	rng    *rand.Rand
	work   []byte
	tr     *flush.Tracker
	db     *DB
	acked  refModels // state after every acknowledged op
	after  refModels // state if the in-flight op lands; nil when the op changes no data
	refSeq int       // names new refs
	ops    map[string]int
	landed int // images that showed the op in flight done
	images int
	every  int // check an image at every n-th drain (1 = all)
	// nested: also crash the recovery's own writes (its first checkpoint
	// and its clean close) for a share of the images.
	nested int
}

// crashOptions opens work on p. With rng set, the UUID and WAL epochs come
// from it, so that a seed replays the same bytes.
func crashOptions(work []byte, p flush.Persister, create bool, rng *rand.Rand) *Options {
	o := &Options{WALSize: 64 << 10, mapping: work, persister: p, checkpointBytes: 24 << 10, manualCheckpoints: true}
	if rng != nil {
		o.entropy = rng.Uint64
	}
	if create {
		o.Size = int64(len(work))
	}
	return o
}

func newCrashSim(t *testing.T, seed uint64, size int) *crashSim {
	s := &crashSim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), work: make([]byte, size), acked: refModels{MainBranch: {}}, every: 1, ops: map[string]int{}}
	s.tr = flush.NewTracker(s.work)
	db, err := Open("", crashOptions(s.work, s.tr, true, s.rng))
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
	landed, err := checkCrashImage(img, s.acked, s.after, nested, s.rng)
	if err != nil {
		s.t.Fatalf("crash image at drain %d (image %d): %v", s.tr.Drains(), s.images, err)
	}
	if landed {
		s.landed++
	}
}

// checkCrashImage opens img and compares it with the two allowed states.
// With nested set it also crashes the recovered store's next checkpoint
// and close at every fence and checks those images in turn.
// landed reports that the image showed the op in flight done.
func checkCrashImage(img []byte, before, after refModels, nested bool, rng *rand.Rand) (landed bool, err error) {
	tr := flush.NewTracker(img)
	db, err := Open("", crashOptions(img, tr, false, rng))
	if err != nil {
		return false, fmt.Errorf("open: %w", err)
	}
	got, err := readRefs(db)
	if err != nil {
		return false, err
	}
	if rep, err := db.Check(context.Background()); err != nil || len(rep.Problems) > 0 {
		return false, fmt.Errorf("check after recovery: %v %q", err, rep.Problems)
	}
	state := before
	if !got.equal(before) {
		if after == nil || !got.equal(after) {
			return false, fmt.Errorf("recovered state matches neither the acknowledged state nor it plus the op in flight:\n%s", diffRefModels(got, before))
		}
		state, landed = after, true
	}
	if nested {
		tr.OnDrain = func() {
			if err != nil {
				return
			}
			if _, e := checkCrashImage(tr.CrashImage(rng), state, nil, false, rng); e != nil {
				err = fmt.Errorf("crash during recovery's checkpoint/close: %w", e)
			}
		}
		if e := db.checkpoint(); e != nil && err == nil {
			err = e
		}
		if e := db.Close(); e != nil && err == nil {
			err = e
		}
		return landed, err
	}
	return landed, db.Close()
}

// readRefs reads every branch and snapshot of db.
func readRefs(db *DB) (refModels, error) {
	out := refModels{}
	for _, list := range []func() ([]RefInfo, error){db.Branches, db.Snapshots} {
		infos, err := list()
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			r, err := openRef(db, info.Name)
			if err != nil {
				return nil, err
			}
			// Main gets every point read, other refs a sample.
			step := 1
			if info.Name != MainBranch {
				step = 5
			}
			if out[info.Name], err = readRef(r, step); err != nil {
				return nil, fmt.Errorf("%s %s: %w", info.Kind, info.Name, err)
			}
		}
	}
	return out, nil
}

func readAll(db *DB) (kvModel, error) { return readRef(db, 1) }

// readRef scans one ref and checks that point reads of every step-th key
// agree.
func readRef(db reader, step int) (kvModel, error) {
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
	for i := 0; i < crashKeys; i += step {
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

// maxCrashRefs bounds the refs alive at once: each may hold a whole
// version of the data in the small region.
const maxCrashRefs = 5

// step runs one random operation with the model around it.
func (s *crashSim) step() {
	db := s.db
	s.after = s.acked.clone()
	// Writes go to main mostly, else to another branch.
	target, w := MainBranch, writer(db)
	if branches := s.acked.names("b"); len(branches) > 0 && s.rng.IntN(3) == 0 {
		target = branches[s.rng.IntN(len(branches))]
		b, err := db.Branch(target)
		if err != nil {
			s.t.Fatalf("branch %s: %v", target, err)
		}
		w = b
	}
	m := s.after[target]
	var err error
	switch r := s.rng.IntN(100); {
	case r < 42:
		k, v := crashKey(s.rng.IntN(crashKeys)), s.value()
		m[string(k)] = v
		err = w.Put(k, v)
	case r < 56:
		k := crashKey(s.rng.IntN(crashKeys))
		delete(m, string(k))
		err = w.Delete(k)
	case r < 79:
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
				delete(m, string(o.k))
			} else {
				o.v = s.value()
				m[string(o.k)] = o.v
			}
			ops = append(ops, o)
		}
		err = w.Update(func(tx *Tx) error {
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
	case r < 88:
		err = s.refStep()
	case r < 96:
		s.after = nil // no data change in flight
		err = db.checkpoint()
	default:
		s.after = nil
		if err = db.Close(); err == nil {
			s.db, err = Open("", crashOptions(s.work, s.tr, false, s.rng))
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

// run takes n steps, then checks the store holds the acknowledged state.
func (s *crashSim) run(n int) {
	for range n {
		s.step()
	}
	if got, err := readRefs(s.db); err != nil || !got.equal(s.acked) {
		s.t.Fatalf("final state: %v\n%s", err, diffRefModels(got, s.acked))
	}
}

// writer is what DB and *Branch have for writing.
type writer interface {
	Put(key, value []byte) error
	Delete(key []byte) error
	Update(fn func(tx *Tx) error) error
}

// refStep makes, deletes or restores a ref, with s.after set to the
// state it leads to.
func (s *crashSim) refStep() error {
	db := s.db
	pick := func(names []string) string { return names[s.rng.IntN(len(names))] }
	branches, snaps := s.acked.names("b"), s.acked.names("s")
	full := len(s.acked) >= maxCrashRefs
	switch r := s.rng.IntN(5); {
	case r == 0 && !full:
		s.refSeq++
		name, from := fmt.Sprint("s", s.refSeq), pick(append(branches, MainBranch))
		s.after[name] = maps.Clone(s.acked[from])
		s.ops["snapshot"]++
		_, err := db.CreateSnapshot(name, from)
		return err
	case r == 1 && !full:
		s.refSeq++
		name, from := fmt.Sprint("b", s.refSeq), pick(s.acked.names(""))
		s.after[name] = maps.Clone(s.acked[from])
		s.ops["branch"]++
		return db.CreateBranch(name, from)
	case r == 2 && len(snaps) > 0:
		name := pick(snaps)
		delete(s.after, name)
		s.ops["delete-snapshot"]++
		return db.DeleteSnapshot(name)
	case r == 3 && len(branches) > 0:
		name := pick(branches)
		delete(s.after, name)
		s.ops["delete-branch"]++
		return db.DeleteBranch(name)
	case r == 4 && len(snaps) > 0:
		dst, src := pick(append(branches, MainBranch)), pick(snaps)
		s.after[dst] = maps.Clone(s.acked[src])
		s.ops["restore"]++
		return db.Restore(dst, src)
	}
	s.after = nil
	return db.checkpoint()
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

// crashRegressions are seeds that found bugs, run with the steps and
// nesting that found them. Seeds replay the same bytes (crashOptions), but
// a change to what the store writes can move the failure elsewhere, so
// each also has a deterministic test of its own.
var crashRegressions = []struct {
	seed          uint64
	steps, nested int
	bug           string
}{
	{201, 1100, 2, "a torn commit slot completed by the recovered store's next slot write (TestTornSlotNotCompleted)"},
}

func TestCrashSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newCrashSim(t, seed, 512<<10)
			s.nested = 10
			s.run(crashSteps(t))
			// The workload must have wrapped the WAL ring several times,
			// or wraparound went untested.
			if laps := s.db.wal.End().Off / uint64(s.db.sb.WALSize); laps < 2 && !testing.Short() {
				t.Fatalf("WAL wrapped only %d times", laps)
			}
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("checked %d crash images over %d drains (%d showed the op in flight done); ref ops %v", s.images, s.tr.Drains(), s.landed, s.ops)
		})
	}
}

// TestTornSlotNotCompleted: a crash kept every word of a new commit slot
// but its generation, so recovery uses the slot before it. The recovered
// store's next commit writes that same slot with that same generation; a
// crash inside it that lets just the new generation word reach media must
// not bring back the commit that never happened. At every fence of the
// recovered store, every word of the two slots is tried on its own: each
// valid slot of such an image must be one the recovered store started
// from or wrote whole.
func TestTornSlotNotCompleted(t *testing.T) {
	work := make([]byte, 512<<10)
	tr := flush.NewTracker(work)
	db, err := Open("", crashOptions(work, tr, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Put([]byte("a"), []byte("1")))
	must(t, db.checkpoint())
	must(t, db.Put([]byte("b"), []byte("2")))
	genWord := int(format.SlotOff(1-db.slotIdx)) + 24
	var img []byte
	tr.OnDrain = func() {
		uncertain := false
		torn := tr.CrashImageFunc(func(off int) bool {
			uncertain = uncertain || off == genWord
			return off != genWord
		})
		if uncertain {
			img = torn
		}
	}
	if _, err := db.CreateSnapshot("s", MainBranch); err != nil {
		t.Fatal(err)
	}
	tr.OnDrain = nil
	must(t, db.Close())
	if img == nil {
		t.Fatal("test setup: no fence with the new slot's generation in flight")
	}

	tr2 := flush.NewTracker(img)
	written := map[format.Slot]bool{}
	noteValid := func(img []byte, check func(s format.Slot, i int) error) error {
		sb, err := format.DecodeSuperblock(img[:format.SuperblockSize], int64(len(img)))
		if err != nil {
			return err
		}
		for i := range 2 {
			off := format.SlotOff(i)
			if s, err := format.DecodeSlot(img[off:off+format.SlotSize], &sb); err == nil {
				if err := check(s, i); err != nil {
					return err
				}
			}
		}
		return nil
	}
	record := func(s format.Slot, _ int) error { written[s] = true; return nil }
	if err := noteValid(img, record); err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 {
		t.Fatalf("test setup: the torn image has %d valid slots, want 1", len(written))
	}
	var failed error
	tr2.OnDrain = func() {
		if err := noteValid(tr2.Work(), record); err != nil {
			t.Fatal(err)
		}
		var offs []int
		tr2.CrashImageFunc(func(off int) bool {
			if off >= format.Slot0Off && off < format.Slot1Off+format.SlotSize {
				offs = append(offs, off)
			}
			return false
		})
		for _, one := range offs {
			crash := tr2.CrashImageFunc(func(off int) bool { return off == one })
			err := noteValid(crash, func(s format.Slot, i int) error {
				if !written[s] {
					return fmt.Errorf("fence %d, word %d alone: slot %d is valid but was never written whole: %+v", tr2.Drains(), one, i, s)
				}
				return nil
			})
			if err != nil && failed == nil {
				failed = err
			}
		}
	}
	db, err = Open("", crashOptions(img, tr2, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	if snaps, err := db.Snapshots(); err != nil || len(snaps) != 0 {
		t.Fatalf("test setup: the torn image has snapshots %v (%v), want none", snaps, err)
	}
	must(t, db.Close())
	if failed != nil {
		t.Fatal(failed)
	}
}

func TestCrashRegressions(t *testing.T) {
	for _, r := range crashRegressions {
		t.Run(fmt.Sprint("seed", r.seed), func(t *testing.T) {
			s := newCrashSim(t, r.seed, 512<<10)
			s.nested = r.nested
			s.run(r.steps)
			must(t, s.db.Close())
		})
	}
}
