package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

func TestOpenValidates(t *testing.T) {
	p := &countPersister{}
	buf := make([]byte, 2*MinSize)
	cases := []struct {
		name  string
		ring  []byte
		start Position
		opts  Options
	}{
		{"no persister", buf[:MinSize], Position{0, 1}, Options{}},
		{"too small", buf[:MinSize-64], Position{0, 1}, Options{Persister: p}},
		{"not a multiple of 64", buf[:MinSize+8], Position{0, 1}, Options{Persister: p}},
		{"unaligned ring", buf[4 : 4+MinSize], Position{0, 1}, Options{Persister: p}},
		{"unaligned start", buf[:MinSize], Position{12, 1}, Options{Persister: p}},
		{"huge start", buf[:MinSize], Position{1 << 63, 1}, Options{Persister: p}},
	}
	for _, c := range cases {
		if _, err := Open(c.ring, c.start, c.opts); !errors.Is(err, errs.Invalid) {
			t.Errorf("%s: err = %v, want errs.Invalid", c.name, err)
		}
	}
	l, err := Open(buf[:MinSize], Position{0, 1}, Options{Persister: p})
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != MinSize || l.Used() != 0 || l.End() != (Position{0, 1}) {
		t.Fatalf("fresh log: size %d used %d end %+v", l.Size(), l.Used(), l.End())
	}
}

func TestCallOrder(t *testing.T) {
	ring := make([]byte, MinSize)
	l, err := Open(ring, Position{0, 1}, Options{Persister: &countPersister{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Commit([]byte("x")); !errors.Is(err, errs.Invalid) {
		t.Fatalf("Commit before Replay: %v", err)
	}
	if _, err := l.Replay(func(Position, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Replay(func(Position, []byte) error { return nil }); !errors.Is(err, errs.Invalid) {
		t.Fatalf("second Replay: %v", err)
	}
	if _, _, err := l.Commit(make([]byte, l.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) || !errors.Is(err, errs.Invalid) {
		t.Fatalf("oversized Commit: %v", err)
	}
}

func TestReplayCallbackError(t *testing.T) {
	ring := make([]byte, MinSize)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	for range 3 {
		if _, _, err := l.Commit([]byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	l2, err := Open(ring, Position{0, 1}, Options{Persister: &countPersister{}})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	if _, err := l2.Replay(func(Position, []byte) error { calls++; return stop }); err != stop {
		t.Fatalf("Replay returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("callback ran %d times after failing", calls)
	}
	if _, _, err := l2.Commit([]byte("x")); err == nil {
		t.Fatal("Commit after a failed Replay succeeded")
	}
}

func TestReadOnly(t *testing.T) {
	ring := make([]byte, MinSize)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	for i := range 5 {
		if _, _, err := l.Commit(bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	before := bytes.Clone(ring)
	ro, got, end := openReplay(t, ring, Position{0, 1}, Options{ReadOnly: true})
	if len(got) != 5 || end != l.End() {
		t.Fatalf("read-only replay: %d records, end %+v, want 5 and %+v", len(got), end, l.End())
	}
	if !bytes.Equal(before, ring) {
		t.Fatal("read-only Replay wrote to the ring")
	}
	if _, _, err := ro.Commit([]byte("x")); !errors.Is(err, errs.ReadOnly) {
		t.Fatalf("read-only Commit: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	ring := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 1))
	l, got, end := openReplay(t, ring, Position{0, 1}, Options{})
	if len(got) != 0 || end != (Position{0, 1}) {
		t.Fatalf("fresh replay: %d records, end %+v", len(got), end)
	}
	var want []replayed
	commit := func(l *Log, n int) {
		t.Helper()
		payload := randPayload(rng, n)
		endBefore := l.End()
		pos, rec, err := l.Commit(payload)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Seq != endBefore.Seq || pos.Off < endBefore.Off || !bytes.Equal(rec, payload) {
			t.Fatalf("Commit -> %+v (end before %+v), rec equal %v", pos, endBefore, bytes.Equal(rec, payload))
		}
		if cap(rec) != len(rec) {
			t.Fatalf("rec has spare capacity %d: appends would clobber the ring", cap(rec)-len(rec))
		}
		want = append(want, replayed{pos, payload})
	}
	for i := range 200 {
		commit(l, []int{0, 1, 7, 8, 9, 255, 256, 257, 4000}[i%9])
	}
	if l.Used() != int64(l.End().Off) {
		t.Fatalf("Used %d, End %+v", l.Used(), l.End())
	}
	check := func(l *Log) *Log {
		t.Helper()
		l2, got, end := openReplay(t, ring, Position{0, 1}, Options{})
		if end != l.End() {
			t.Fatalf("replay end %+v, log end %+v", end, l.End())
		}
		if len(got) != len(want) {
			t.Fatalf("replayed %d records, committed %d", len(got), len(want))
		}
		for i := range want {
			if got[i].pos != want[i].pos || !bytes.Equal(got[i].payload, want[i].payload) {
				t.Fatalf("record %d: got %+v (%d bytes), want %+v (%d bytes)",
					i, got[i].pos, len(got[i].payload), want[i].pos, len(want[i].payload))
			}
		}
		return l2
	}
	l = check(l)
	// Appends continue after the replayed records.
	for range 50 {
		commit(l, rng.IntN(600))
	}
	check(l)
}

// TestWrapManyLaps drives a small ring through many laps with random
// payload sizes, checkpointing at random records whenever the ring is full
// and now and then reopening from the checkpoint.
func TestWrapManyLaps(t *testing.T) {
	const size = MinSize
	ring := make([]byte, size)
	// Stale data from "earlier laps" that no record may be taken for.
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range ring {
		ring[i] = byte(rng.Uint32())
	}
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})

	type live struct {
		pos     Position
		payload []byte
		rec     []byte
	}
	var lives []live // every record from the checkpoint on
	ckpt := Position{0, 1}
	reopens, fulls, pads := 0, 0, 0
	for l.End().Off < 60*size {
		n := rng.IntN(5000)
		if rng.IntN(10) == 0 {
			n = 0
		}
		payload := randPayload(rng, n)
		before := l.End()
		pos, rec, err := l.Commit(payload)
		if errors.Is(err, ErrFull) {
			fulls++
			// At worst the record wastes the rest of the lap and pushes
			// the end marker into the next one.
			tail := size - before.Off%size
			if free := size - uint64(l.Used()); free >= recordLen(n)+tail+48 {
				t.Fatalf("ErrFull with %d bytes free for a %d-byte record", free, n)
			}
			// Checkpoint at a random record after the oldest (or at the
			// end), so each round frees something.
			k := 1 + rng.IntN(max(len(lives), 1))
			if k >= len(lives) {
				ckpt, lives = l.End(), nil
			} else {
				ckpt, lives = lives[k].pos, lives[k:]
			}
			l.Truncate(ckpt)
			if rng.IntN(3) == 0 {
				reopens++
				l2, got, end := openReplay(t, ring, ckpt, Options{})
				if end != l.End() || len(got) != len(lives) {
					t.Fatalf("reopen at %+v: %d records to %+v, want %d to %+v", ckpt, len(got), end, len(lives), l.End())
				}
				for i := range got {
					if got[i].pos != lives[i].pos || !bytes.Equal(got[i].payload, lives[i].payload) {
						t.Fatalf("reopen at %+v: record %d differs", ckpt, i)
					}
				}
				l = l2
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if pos.Seq != before.Seq || !bytes.Equal(rec, payload) {
			t.Fatalf("Commit -> %+v, end before %+v", pos, before)
		}
		if pos.Off != before.Off {
			pads++
			if pos.Off%size != 0 || pos.Off-before.Off >= recordLen(n) {
				t.Fatalf("record of %d bytes moved from %d to %d", n, before.Off, pos.Off)
			}
		}
		if l.Used() > l.Size() || uint64(l.Used()) != l.End().Off-ckpt.Off {
			t.Fatalf("Used %d, Size %d, End %+v, checkpoint %+v", l.Used(), l.Size(), l.End(), ckpt)
		}
		lives = append(lives, live{pos, payload, rec})
		// No Commit may overwrite a byte between the checkpoint and the end.
		for _, x := range lives {
			if !bytes.Equal(x.rec, x.payload) {
				t.Fatalf("record %+v overwritten after committing %+v", x.pos, pos)
			}
		}
	}
	t.Logf("%d laps, %d ErrFull, %d reopens, %d wraps", l.End().Off/size, fulls, reopens, pads)
	if reopens == 0 || pads == 0 {
		t.Fatal("the test did not exercise reopen and wrap")
	}
}

// TestMaxPayloadFitsAnywhere: an empty ring takes a MaxPayload record
// whatever its end's offset, so ErrFull always clears after a full Truncate.
func TestMaxPayloadFitsAnywhere(t *testing.T) {
	ring := make([]byte, MinSize)
	payload := make([]byte, MinSize/2)
	for off := uint64(0); off < MinSize; off += 8 {
		// A seq of its own, so the previous round's record never replays.
		start := Position{Off: 3*MinSize + off, Seq: off + 7}
		l, _, _ := openReplay(t, ring, start, Options{})
		max := l.MaxPayload()
		if _, _, err := l.Commit(payload[:max+1]); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("MaxPayload+1 at offset %d: %v", off, err)
		}
		pos, rec, err := l.Commit(payload[:max])
		if err != nil {
			t.Fatalf("MaxPayload at offset %d: %v", off, err)
		}
		if pos.Seq != off+7 || len(rec) != max {
			t.Fatalf("at offset %d: pos %+v", off, pos)
		}
	}
}

func TestFullThenTruncate(t *testing.T) {
	ring := make([]byte, MinSize)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	payload := bytes.Repeat([]byte{0xab}, 1000)
	var first, last Position
	n := 0
	for {
		pos, _, err := l.Commit(payload)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			first = pos
		}
		last = pos
		n++
	}
	if !errors.Is(ErrFull, errs.NoSpace) {
		t.Fatal("ErrFull does not wrap errs.NoSpace")
	}
	if free := l.Size() - l.Used(); free >= int64(recordLen(len(payload)))+markerLen {
		t.Fatalf("ErrFull with %d bytes free", free)
	}
	// Truncating up to the first record frees nothing usable: still full.
	l.Truncate(first)
	if _, _, err := l.Commit(payload); !errors.Is(err, ErrFull) {
		t.Fatalf("after Truncate(first): %v", err)
	}
	// Truncate never moves backwards nor past the end.
	l.Truncate(last)
	l.Truncate(first)
	if got := l.Used(); got != int64(l.End().Off-last.Off) {
		t.Fatalf("Truncate moved backwards: used %d", got)
	}
	l.Truncate(Position{Off: 1 << 40})
	if l.Used() != 0 {
		t.Fatalf("Truncate past the end: used %d", l.Used())
	}
	pos, _, err := l.Commit(payload)
	if err != nil || pos.Seq != last.Seq+1 {
		t.Fatalf("Commit after Truncate: %+v %v", pos, err)
	}
	_, got, _ := openReplay(t, ring, last, Options{})
	if len(got) != 2 || got[1].pos != pos {
		t.Fatalf("replay from the last checkpoint: %d records", len(got))
	}
}

// TestTornTail damages the last record every way a crash or media error
// can: each byte flipped, and its persistence cut at every word in both
// directions. Replay must stop right before it, without error, with every
// earlier record intact.
func TestTornTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, lastLen := range []int{0, 5, 128, 300, 4000} {
		ring := make([]byte, MinSize)
		for i := range ring {
			ring[i] = byte(rng.Uint32())
		}
		l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
		var want []replayed
		ckpt := Position{0, 1}
		// Two and a half laps, so the tail sits on an earlier lap's data.
		for l.End().Off < 2*MinSize+MinSize/2 {
			payload := randPayload(rng, rng.IntN(3000))
			pos, _, err := l.Commit(payload)
			if errors.Is(err, ErrFull) {
				ckpt = l.End()
				l.Truncate(ckpt)
				want = nil
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, replayed{pos, payload})
		}
		payload := randPayload(rng, lastLen)
		if l.Size()-l.Used() < 2*int64(recordLen(lastLen))+64 {
			ckpt = l.End()
			l.Truncate(ckpt)
			want = nil
		}
		before := bytes.Clone(ring)
		last, _, err := l.Commit(payload)
		if err != nil {
			t.Fatal(err)
		}
		after := bytes.Clone(ring)
		off := last.Off % MinSize
		used := int(off) + 32 + lastLen // header and payload; alignment bytes are not covered

		expectPrefix := func(what string, img []byte) {
			t.Helper()
			_, got, end := openReplay(t, img, ckpt, Options{ReadOnly: true})
			if len(got) != len(want) || end.Seq != last.Seq {
				t.Fatalf("len %d, %s: replayed %d records to %+v, want %d to seq %d",
					lastLen, what, len(got), end, len(want), last.Seq)
			}
			for i := range want {
				if got[i].pos != want[i].pos || !bytes.Equal(got[i].payload, want[i].payload) {
					t.Fatalf("len %d, %s: record %d damaged", lastLen, what, i)
				}
			}
		}
		_, got, _ := openReplay(t, bytes.Clone(after), ckpt, Options{ReadOnly: true})
		if len(got) != len(want)+1 {
			t.Fatalf("undamaged: %d records, want %d", len(got), len(want)+1)
		}
		for i := int(off); i < used; i++ {
			img := bytes.Clone(after)
			img[i] ^= 1 << (i % 8)
			expectPrefix("flipped byte", img)
		}
		words := (used - int(off) + 7) / 8
		for k := range words {
			img := bytes.Clone(after)
			// Words k and up never reached media.
			copy(img[int(off)+8*k:int(off)+8*words], before[int(off)+8*k:])
			expectPrefix("suffix lost", img)
			// Words below k+1 never reached media.
			img = bytes.Clone(after)
			copy(img[off:int(off)+8*(k+1)], before[off:])
			expectPrefix("prefix lost", img)
		}
	}
}

// TestStaleLap: a record with a correct crc but from another lap, or out
// of sequence, never replays.
func TestStaleLap(t *testing.T) {
	const size = MinSize
	ring := make([]byte, size)
	payload := []byte("stale but well-formed")
	// A record of lap 0 at offset 4096.
	putRecord(ring, 4096, 9, 0, 1, payload, false)
	if _, got, _ := openReplay(t, bytes.Clone(ring), Position{4096, 9}, Options{ReadOnly: true}); len(got) != 1 {
		t.Fatalf("the record itself does not replay (%d)", len(got))
	}
	for _, start := range []Position{{4096 + size, 9}, {4096 + 3*size, 9}, {4096, 8}, {4096, 10}} {
		if _, got, _ := openReplay(t, bytes.Clone(ring), start, Options{ReadOnly: true}); len(got) != 0 {
			t.Fatalf("start %+v replayed a record written for {4096, 9}", start)
		}
	}
	// In a chain: lap 1 has a valid record, followed by a lap-0 record in
	// the right place with the right seq and the right prev.
	base := uint64(size + 8192)
	crc := putRecord(ring, base, 20, 0, 1, payload, false)
	next := base + recordLen(len(payload))
	putRecord(ring, next-size, 21, crc, 1, payload, false)
	if _, got, _ := openReplay(t, bytes.Clone(ring), Position{base, 20}, Options{ReadOnly: true}); len(got) != 1 {
		t.Fatalf("replayed %d records, want only the lap-1 one", len(got))
	}
	// A record from the next lap (a future position) is just as wrong.
	putRecord(ring, next+size, 21, crc, 1, payload, false)
	if _, got, _ := openReplay(t, bytes.Clone(ring), Position{base, 20}, Options{ReadOnly: true}); len(got) != 1 {
		t.Fatalf("replayed %d records, want only the lap-1 one", len(got))
	}
	// The genuine successor replays.
	putRecord(ring, next, 21, crc, 1, payload, false)
	if _, got, _ := openReplay(t, bytes.Clone(ring), Position{base, 20}, Options{ReadOnly: true}); len(got) != 2 {
		t.Fatalf("replayed %d records, want 2", len(got))
	}
	// Same record, broken chain: prev is not the predecessor's crc.
	putRecord(ring, next, 21, crc+1, 1, payload, false)
	if _, got, _ := openReplay(t, bytes.Clone(ring), Position{base, 20}, Options{ReadOnly: true}); len(got) != 1 {
		t.Fatalf("replayed %d records past a broken chain", len(got))
	}
}

// TestFormat replays rings built by the test's own encoder of the
// documented format, implicit wrap and pad included, and reads records
// written by the Log with the test's own decoder.
func TestFormat(t *testing.T) {
	const size = MinSize
	check := func(name string, ring []byte, start Position, want [][]byte, end Position) {
		t.Helper()
		l, got, gotEnd := openReplay(t, ring, start, Options{})
		if len(got) != len(want) || gotEnd != end {
			t.Fatalf("%s: replayed %d records to %+v, want %d to %+v", name, len(got), gotEnd, len(want), end)
		}
		for i := range want {
			if !bytes.Equal(got[i].payload, want[i]) {
				t.Fatalf("%s: record %d differs", name, i)
			}
		}
		// The Log chains on, and its record decodes with the test's reader.
		pos, _, err := l.Commit([]byte("hello"))
		if err != nil || pos != end {
			t.Fatalf("%s: Commit after replay: %+v %v", name, pos, err)
		}
		if body, ok := recordValidAt(ring, pos.Off); !ok || string(body) != "hello" {
			t.Fatalf("%s: the Log's record does not decode: %q %v", name, body, ok)
		}
		if _, got, _ := openReplay(t, ring, start, Options{ReadOnly: true}); len(got) != len(want)+1 {
			t.Fatalf("%s: replayed %d records after the append", name, len(got))
		}
	}

	// Lap 0 ends with 24 bytes, too few for a header: the next record
	// starts lap 1 and nothing marks the skip.
	ring := make([]byte, size)
	start := Position{size - 24 - recordLen(40), 100}
	p1, p2 := bytes.Repeat([]byte{1}, 40), []byte{2, 2, 2}
	crc := putRecord(ring, start.Off, 100, 0, 7, p1, false)
	putRecord(ring, size, 101, crc, 7, p2, false)
	check("implicit wrap", ring, start, [][]byte{p1, p2}, Position{size + recordLen(3), 102})

	// 1504 bytes left in lap 1, too few for the next record: a pad fills
	// them and the record starts lap 2.
	ring = make([]byte, size)
	start = Position{size + 34000, 200}
	p1, p2 = bytes.Repeat([]byte{3}, 30000), bytes.Repeat([]byte{4}, 2000)
	crc = putRecord(ring, start.Off, 200, 0, 7, p1, false)
	if left := 2*size - (start.Off + recordLen(len(p1))); left != 1504 {
		t.Fatalf("test layout: %d bytes left", left)
	}
	crc = putRecord(ring, start.Off+recordLen(len(p1)), 201, crc, 7, nil, true)
	putRecord(ring, 2*size, 201, crc, 7, p2, false)
	check("pad", ring, start, [][]byte{p1, p2}, Position{2*size + recordLen(len(p2)), 202})
}

func TestDrainErrorIsSticky(t *testing.T) {
	ring := make([]byte, MinSize)
	p := &countPersister{}
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: p})
	if _, _, err := l.Commit([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("msync: input/output error")
	p.drainErr = bad
	if _, _, err := l.Commit([]byte("lost")); !errors.Is(err, bad) {
		t.Fatalf("Commit with a failing Drain: %v", err)
	}
	p.drainErr = nil
	if _, _, err := l.Commit([]byte("after")); !errors.Is(err, bad) {
		t.Fatalf("Commit after a failed Drain: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, bad) {
		t.Fatalf("Sync after a failed Drain: %v", err)
	}
}

func TestLeaderPanicFailsTheLog(t *testing.T) {
	ring := make([]byte, MinSize)
	p := &countPersister{}
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: p})
	p.flushPanic = true
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the fault did not propagate")
			}
		}()
		l.Commit([]byte("boom"))
	}()
	p.flushPanic = false
	if _, _, err := l.Commit([]byte("next")); !errors.Is(err, errLeaderPanic) {
		t.Fatalf("Commit after a panicked leader: %v", err)
	}
}

func TestCommitDoesNotAllocate(t *testing.T) {
	ring := make([]byte, 1<<20)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	payload := make([]byte, 128)
	var err error
	allocs := testing.AllocsPerRun(10000, func() {
		if _, _, err = l.Commit(payload); errors.Is(err, ErrFull) {
			l.Truncate(l.End())
			_, _, err = l.Commit(payload)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("Commit allocates %.1f times per call", allocs)
	}
}

// TestFullToTheByte: the record that would leave no room for the end
// marker gets ErrFull (the marker would land on the checkpoint record's
// header); the one that leaves exactly that room fits.
func TestFullToTheByte(t *testing.T) {
	const size = MinSize
	ring := make([]byte, size)
	start := Position{size / 2, 1}
	l, _, _ := openReplay(t, ring, start, Options{})
	n := 0
	for ; ; n++ {
		if _, _, err := l.Commit(make([]byte, 1000)); errors.Is(err, ErrFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	free := size - int(l.Used())
	if free < 2*32 {
		t.Fatalf("test setup: %d bytes free", free)
	}
	for _, waste := range []int{0, 8} {
		if _, _, err := l.Commit(make([]byte, free-32-waste)); !errors.Is(err, ErrFull) {
			t.Fatalf("record leaving %d bytes free: err %v, want ErrFull", waste, err)
		}
	}
	pos, _, err := l.Commit(bytes.Repeat([]byte{7}, free-32-markerLen))
	if err != nil {
		t.Fatalf("record leaving room for the marker: %v", err)
	}
	if l.Used() != size-markerLen {
		t.Fatalf("Used %d, want %d", l.Used(), size-markerLen)
	}
	_, got, _ := openReplay(t, ring, start, Options{ReadOnly: true})
	if len(got) != n+1 || got[n].pos != pos {
		t.Fatalf("replayed %d records, want %d", len(got), n+1)
	}
}

// TestReplayStaysInOneRing: a well-formed record at the right position
// and seq that runs past one ring's worth of bytes from the start would
// overlap the start record itself; replay stops before it.
func TestReplayStaysInOneRing(t *testing.T) {
	const size = MinSize
	ring := make([]byte, size)
	start := Position{8192, 1}
	pos, seq, prev := start.Off, start.Seq, uint32(0)
	add := func(n int) {
		prev = putRecord(ring, pos, seq, prev, 1, bytes.Repeat([]byte{byte(seq)}, n), false)
		pos += recordLen(n)
		seq++
	}
	add(100)
	add(28568)
	add(28576)
	if pos != size {
		t.Fatalf("test layout: lap 0 ends at %d", pos)
	}
	add(8096)
	if pos != start.Off+size-64 {
		t.Fatalf("test layout: last record at %d", pos)
	}
	// Its payload is whatever lies there: the first record's header and
	// part of its payload, left intact.
	off := pos % size
	putRecord(ring, pos, seq, prev, 1, bytes.Clone(ring[off+32:off+32+200]), false)
	if _, ok := recordValidAt(ring, pos); !ok {
		t.Fatal("test setup: the overlapping record is not well-formed")
	}
	if _, got, _ := openReplay(t, ring, start, Options{ReadOnly: true}); len(got) != 4 {
		t.Fatalf("replayed %d records, want the 4 inside one ring", len(got))
	}
}
