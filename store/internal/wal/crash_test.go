package wal

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

// crashModel is what the crash simulation knows: the durable checkpoint,
// the acknowledged records after it, and which commits were started in
// the current run.
type crashModel struct {
	mu       sync.Mutex
	ckpt     Position
	acked    map[uint64]ackedRec // by seq, from ckpt.Seq on
	maxAcked uint64              // highest acked seq, ckpt.Seq-1 when none
	// Ids are handed out in increasing order before each Commit: the ids
	// of this run's commits are firstID+1 up to nextID's current value.
	// checkImage runs on a snapshot and needs no lock.
	firstID uint64
	nextID  *atomic.Uint64
}

type ackedRec struct {
	id  uint64
	pos Position
}

// checkImage replays a crash image from the model's checkpoint. It must
// give a gap-free run of seqs, every acknowledged record with its id, and
// beyond those only records of commits started in this run that are part
// of the group being drained (seq <= inflight).
func (m *crashModel) checkImage(img []byte, inflight uint64) ([]ackedRec, error) {
	l, err := Open(img, m.ckpt, Options{Persister: &countPersister{}, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	var got []ackedRec
	next := m.ckpt.Seq
	_, err = l.Replay(func(pos Position, p []byte) error {
		id, ok := payloadID(p)
		switch a, isAcked := m.acked[pos.Seq]; {
		case pos.Seq != next:
			return fmt.Errorf("seq %d after %d", pos.Seq, next-1)
		case !ok:
			return fmt.Errorf("seq %d: payload not written by any commit", pos.Seq)
		case isAcked && (a.id != id || a.pos != pos):
			return fmt.Errorf("seq %d: record %d at %+v, acknowledged %d at %+v", pos.Seq, id, pos, a.id, a.pos)
		case !isAcked && (id <= m.firstID || id > m.nextID.Load()):
			return fmt.Errorf("seq %d: record %d was never committed in this run (phantom)", pos.Seq, id)
		case !isAcked && pos.Seq > inflight:
			return fmt.Errorf("seq %d: beyond the group being drained (last %d)", pos.Seq, inflight)
		}
		got = append(got, ackedRec{id, pos})
		next++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if next <= m.maxAcked {
		return nil, fmt.Errorf("replay ends at seq %d, seq %d was acknowledged", next, m.maxAcked)
	}
	return got, nil
}

// TestCrashSimulation commits random records on a Tracker and, at every
// Drain, checks several images of a power loss just before that fence.
// Each run ends in one of those crashes and the next run recovers from
// it, so records a crash left behind are tested against later runs.
func TestCrashSimulation(t *testing.T) {
	for _, writers := range []int{1, 4} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			crashSim(t, writers, uint64(writers))
		})
	}
}

func crashSim(t *testing.T, writers int, seed uint64) {
	const (
		size          = MinSize
		runs          = 5
		imagesPerHook = 3
		maxCommits    = 20000 // per run; far more than crashAt drains need
	)
	rng := rand.New(rand.NewPCG(seed, 42))
	ring := make([]byte, size)
	for i := range ring {
		ring[i] = byte(rng.Uint32())
	}
	var nextID atomic.Uint64
	m := &crashModel{ckpt: Position{0, 1}, acked: map[uint64]ackedRec{}, nextID: &nextID}
	var recovered []ackedRec // what the previous crash image replays to
	images, groups, bigGroups, written := 0, 0, 0, uint64(0)

	for run := range runs {
		tr := flush.NewTracker(ring)
		l, got, end := openReplay(t, ring, m.ckpt, Options{Persister: tr})
		if len(got) != len(recovered) {
			t.Fatalf("run %d: recovery replayed %d records, the crash image %d", run, len(got), len(recovered))
		}
		m.acked = map[uint64]ackedRec{}
		m.firstID = nextID.Load()
		m.maxAcked = end.Seq - 1
		for i, r := range got {
			id, _ := payloadID(r.payload)
			if r.pos != recovered[i].pos || id != recovered[i].id {
				t.Fatalf("run %d: recovery record %d differs from the crash image's", run, i)
			}
			m.acked[r.pos.Seq] = ackedRec{id, r.pos}
		}
		startOff := end.Off

		var stop atomic.Bool
		var commits atomic.Int64
		var crashImg []byte
		var crashCkpt Position
		var failure error
		crashAt := 60 + rng.IntN(120) // drains into this run
		hooks := 0
		tr.OnDrain = func() {
			// Runs on the leader, between its flushes and its fence.
			inflight := l.lastWritten
			l.mu.Lock()
			first := l.durable // the group's first seq
			l.mu.Unlock()
			// Check against the model as of this fence, then let the
			// other writers go on (and queue up) while the images are
			// checked: no ring write happens until this leader returns.
			m.mu.Lock()
			if failure != nil || stop.Load() {
				m.mu.Unlock()
				return
			}
			snap := &crashModel{ckpt: m.ckpt, acked: maps.Clone(m.acked), maxAcked: m.maxAcked,
				firstID: m.firstID, nextID: m.nextID}
			m.mu.Unlock()
			hooks++
			groups++
			if inflight > first {
				bigGroups++
			}
			for i := range imagesPerHook {
				var img []byte
				switch {
				case i == 0 && hooks%8 == 0:
					img = tr.CrashImageMin()
				case i == 0 && hooks%8 == 1:
					img = tr.CrashImageMax()
				default:
					img = tr.CrashImage(rng)
				}
				images++
				got, err := snap.checkImage(img, inflight)
				if err != nil {
					m.mu.Lock()
					failure = fmt.Errorf("run %d, drain %d, image %d: %w", run, hooks, i, err)
					m.mu.Unlock()
					stop.Store(true)
					return
				}
				if hooks == crashAt && i == imagesPerHook-1 {
					crashImg, recovered, crashCkpt = img, got, snap.ckpt
					stop.Store(true)
				}
			}
		}

		var wg sync.WaitGroup
		for w := range writers {
			wrng := rand.New(rand.NewPCG(seed, uint64(run*100+w)))
			wg.Go(func() {
				for !stop.Load() {
					if commits.Add(1) > maxCommits {
						return // no crash chosen: fails below
					}
					n := 8 + wrng.IntN(2000)
					id := nextID.Add(1)
					payload := idPayload(id, n)
					for !stop.Load() {
						pos, rec, err := l.Commit(payload)
						if errors.Is(err, ErrFull) {
							checkpoint(m, l)
							runtime.Gosched()
							continue
						}
						if err != nil {
							m.mu.Lock()
							failure = err
							m.mu.Unlock()
							stop.Store(true)
							return
						}
						m.mu.Lock()
						if !bytes.Equal(rec, payload) && failure == nil {
							failure = fmt.Errorf("rec of seq %d differs from its payload", pos.Seq)
							stop.Store(true)
						}
						m.acked[pos.Seq] = ackedRec{id, pos}
						m.maxAcked = max(m.maxAcked, pos.Seq)
						m.mu.Unlock()
						if wrng.IntN(40) == 0 {
							checkpoint(m, l) // not only when full
						}
						break
					}
				}
			})
		}
		wg.Wait()
		if failure != nil {
			t.Fatal(failure)
		}
		if crashImg == nil {
			t.Fatalf("run %d ended without a crash", run)
		}
		written += l.End().Off - startOff
		copy(ring, crashImg)
		m.ckpt = crashCkpt // checkpoints after the crash never happened
	}
	laps := written / size
	t.Logf("%d images, %d groups (%d of several records), %d laps", images, groups, bigGroups, laps)
	if images < 1000 || laps < runs {
		t.Fatalf("only %d images over %d laps", images, laps)
	}
	if writers > 1 && bigGroups == 0 {
		t.Fatal("no group ever held more than one record")
	}
}

// checkpoint moves the model's checkpoint to the newest record that has
// every record before it acknowledged (so no committer still reads the
// space it frees), then truncates: the order a store follows (commit slot
// first).
func checkpoint(m *crashModel, l *Log) {
	m.mu.Lock()
	a, ok := m.acked[m.ckpt.Seq]
	if !ok {
		m.mu.Unlock()
		return
	}
	for {
		next, ok := m.acked[a.pos.Seq+1]
		if !ok {
			break
		}
		a = next
	}
	m.ckpt = a.pos
	for s := range m.acked {
		if s < a.pos.Seq {
			delete(m.acked, s)
		}
	}
	m.mu.Unlock()
	l.Truncate(a.pos)
}

// TestNoPhantomAfterCrash: a crash inside a group's Drain kept record 3
// and lost record 2. The next run rewrites record 2 with the same length
// and the same bytes, so its chain leads exactly to record 3's position
// and seq. Record 3 was never acknowledged and must never come back.
func TestNoPhantomAfterCrash(t *testing.T) {
	ring := make([]byte, MinSize)
	tr := flush.NewTracker(ring)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: tr})
	// 128-byte records: the end marker after record 2 sits in a cache line
	// of its own, so only its own flush can make it durable.
	payloads := [][]byte{bytes.Repeat([]byte{1}, 96), bytes.Repeat([]byte{2}, 96), bytes.Repeat([]byte{3}, 96)}
	var pos [4]Position
	for i, p := range payloads {
		var err error
		if pos[i+1], _, err = l.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	img := tr.Persisted()
	img[pos[2].Off+40] ^= 0xff // record 2's payload is torn
	hdr3 := bytes.Clone(img[pos[3].Off : pos[3].Off+32])

	tr2 := flush.NewTracker(img)
	l2, got, end := openReplay(t, img, Position{0, 1}, Options{Persister: tr2})
	if len(got) != 1 || end != pos[2] {
		t.Fatalf("recovery: %d records to %+v, want 1 to %+v", len(got), end, pos[2])
	}
	if p, _, err := l2.Commit(payloads[1]); err != nil || p != pos[2] {
		t.Fatalf("rewrite of record 2: %+v %v", p, err)
	}
	if l2.End() != pos[3] {
		t.Fatalf("test setup: end %+v is not record 3's position %+v", l2.End(), pos[3])
	}

	// Once Commit returns, the end marker that broke record 3's header is
	// durable, so a checkpoint at the end is safe.
	img2 := tr2.Persisted()
	if _, got, _ := openReplay(t, bytes.Clone(img2), pos[3], Options{ReadOnly: true}); len(got) != 0 {
		t.Fatalf("replay from the end after the rewrite found %d records", len(got))
	}
	// Without the marker, that replay would return record 3: the first
	// record of a replay has no predecessor to check.
	copy(img2[pos[3].Off:], hdr3)
	if _, got, _ := openReplay(t, bytes.Clone(img2), pos[3], Options{ReadOnly: true}); len(got) != 1 {
		t.Fatal("test setup: record 3 does not replay on its own")
	}
	// A crash before the marker reached media leaves record 3 whole behind
	// the new record 2: the chain (prev, and the epoch that makes the new
	// record 2 differ from the old) rejects it.
	tr3 := flush.NewTracker(img2)
	_, got, end = openReplay(t, img2, Position{0, 1}, Options{Persister: tr3})
	if len(got) != 2 || !bytes.Equal(got[1].payload, payloads[1]) || end != pos[3] {
		t.Fatalf("replay after the rewrite: %d records to %+v, want records 1 and 2", len(got), end)
	}
	// That recovery stopped at a well-formed record and broke it: a
	// checkpoint taken right away does not find it either.
	if _, got, _ := openReplay(t, tr3.Persisted(), pos[3], Options{ReadOnly: true}); len(got) != 0 {
		t.Fatalf("replay from the recovery's end found %d records", len(got))
	}
}

// TestNoSyncAndSync: with NoSync, Commit issues no Drain and its record is
// not durable until Sync.
func TestNoSyncAndSync(t *testing.T) {
	ring := make([]byte, MinSize)
	tr := flush.NewTracker(ring)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: tr, NoSync: true})
	drains := tr.Drains()
	for i := range 10 {
		if _, rec, err := l.Commit([]byte{byte(i)}); err != nil || rec[0] != byte(i) {
			t.Fatal(err)
		}
	}
	if tr.Drains() != drains {
		t.Fatalf("NoSync commits drained %d times", tr.Drains()-drains)
	}
	if _, got, _ := openReplay(t, tr.CrashImageMin(), Position{0, 1}, Options{ReadOnly: true}); len(got) != 0 {
		t.Fatalf("%d undrained records are durable", len(got))
	}
	if _, got, _ := openReplay(t, tr.CrashImageMax(), Position{0, 1}, Options{ReadOnly: true}); len(got) != 10 {
		t.Fatalf("written image replays %d records, want 10", len(got))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := openReplay(t, tr.CrashImageMin(), Position{0, 1}, Options{ReadOnly: true}); len(got) != 10 {
		t.Fatalf("after Sync %d records are durable, want 10", len(got))
	}
}

// TestTornRecordNotCompleted: a crash kept every word of a record but its
// pos word (still the end marker), so recovery stops before it. The next
// run appends at the same position with the same seq and predecessor;
// if the crash inside that append lets just the new pos word reach media,
// the old record must not come back whole. Every single word of every
// Drain of the new run is tried on its own.
func TestTornRecordNotCompleted(t *testing.T) {
	ring := make([]byte, MinSize)
	tr := flush.NewTracker(ring)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: tr})
	if _, _, err := l.Commit(idPayload(1, 64)); err != nil {
		t.Fatal(err)
	}
	torn := l.End()
	var img []byte
	tr.OnDrain = func() {
		img = tr.CrashImageFunc(func(off int) bool { return uint64(off) != torn.Off+8 })
	}
	if _, _, err := l.Commit(idPayload(2, 64)); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := openReplay(t, bytes.Clone(img), Position{0, 1}, Options{ReadOnly: true}); len(got) != 1 {
		t.Fatalf("test setup: the torn image replays %d records, want 1", len(got))
	}

	tr2 := flush.NewTracker(img)
	var failed error
	tr2.OnDrain = func() {
		var offs []int
		tr2.CrashImageFunc(func(off int) bool { offs = append(offs, off); return false })
		for _, one := range offs {
			crash := tr2.CrashImageFunc(func(off int) bool { return off == one })
			l3, err := Open(crash, Position{0, 1}, Options{Persister: &countPersister{}, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l3.Replay(func(pos Position, p []byte) error {
				if id, _ := payloadID(p); id == 2 {
					return fmt.Errorf("drain %d, word %d alone: the torn record %+v replays", tr2.Drains(), one, pos)
				}
				return nil
			})
			if err != nil && failed == nil {
				failed = err
			}
		}
	}
	l2, got, _ := openReplay(t, img, Position{0, 1}, Options{Persister: tr2})
	if len(got) != 1 {
		t.Fatalf("recovery replays %d records, want 1", len(got))
	}
	if p, _, err := l2.Commit(idPayload(3, 64)); err != nil || p != torn {
		t.Fatalf("append after recovery: %+v %v, want position %+v", p, err, torn)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}

// TestTornGroupNotCompleted: a crash lost the first record of a group and
// kept the next ones whole. The next run writes a record of the same size
// at the lost one's place, so its group ends exactly where the old second
// record starts, which then carries the next seq and is a position a
// checkpoint may start replay from. A crash while the next record goes
// there that keeps just its pos word must not bring back the old record
// (the first record of a replay has no predecessor to check).
func TestTornGroupNotCompleted(t *testing.T) {
	const plen = 64
	recLen := uint64(headerSize + plen)
	ring := make([]byte, MinSize)
	// Run 1's group: records 1, 2 and 3 chained, record 1 lost.
	const epoch = 7
	var scratch [headerSize + plen]byte
	crc1 := putRecord(scratch[:], 0, 1, 0, epoch, idPayload(1, plen), false)
	crc2 := putRecord(ring, recLen, 2, crc1, epoch, idPayload(2, plen), false)
	putRecord(ring, 2*recLen, 3, crc2, epoch, idPayload(3, plen), false)

	tr := flush.NewTracker(ring)
	l, got, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: tr})
	if len(got) != 0 {
		t.Fatalf("test setup: replay found %d records, want none", len(got))
	}
	if p, _, err := l.Commit(idPayload(11, plen)); err != nil || p.Off != 0 {
		t.Fatalf("rewrite of record 1: %+v %v", p, err)
	}
	ckpt := l.End() // where a checkpoint taken now starts replay
	if ckpt != (Position{Off: recLen, Seq: 2}) {
		t.Fatalf("test setup: end %+v, want record 2's place", ckpt)
	}
	var failed error
	tr.OnDrain = func() {
		crash := tr.CrashImageFunc(func(off int) bool { return uint64(off) == ckpt.Off+8 })
		_, got, _ := openReplay(t, crash, ckpt, Options{ReadOnly: true})
		for _, r := range got {
			if id, _ := payloadID(r.payload); id == 2 || id == 3 {
				failed = fmt.Errorf("replay from the checkpoint brings back run 1's record %d", id)
			}
		}
	}
	if _, _, err := l.Commit(idPayload(12, plen)); err != nil {
		t.Fatal(err)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}
