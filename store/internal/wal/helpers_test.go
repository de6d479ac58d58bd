package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

// countPersister does plain copies and counts calls; onDrain, when set,
// runs at the start of each Drain.
type countPersister struct {
	flushes, copies, drains atomic.Int64
	onDrain                 func()
	drainErr                error
	flushPanic              bool
}

func (p *countPersister) Flush(b []byte) {
	if p.flushPanic {
		panic("injected flush fault")
	}
	p.flushes.Add(1)
}

func (p *countPersister) Drain() error {
	p.drains.Add(1)
	if p.onDrain != nil {
		p.onDrain()
	}
	return p.drainErr
}

func (p *countPersister) Copy(dst, src []byte) {
	copy(dst, src)
	p.copies.Add(1)
}

func (p *countPersister) Mode() flush.Mode { return flush.CLWB }

// replayed is one record as Replay handed it out (payload copied).
type replayed struct {
	pos     Position
	payload []byte
}

// openReplay opens ring at start and replays it, copying every payload.
func openReplay(t testing.TB, ring []byte, start Position, opts Options) (*Log, []replayed, Position) {
	t.Helper()
	if opts.Persister == nil {
		opts.Persister = &countPersister{}
	}
	l, err := Open(ring, start, opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", start, err)
	}
	var got []replayed
	end, err := l.Replay(func(pos Position, payload []byte) error {
		got = append(got, replayed{pos, bytes.Clone(payload)})
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return l, got, end
}

// randPayload returns n random bytes.
func randPayload(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// idPayload returns a self-describing payload of n >= 8 bytes: the id,
// then bytes derived from it, so a replayed record can be checked without
// knowing in advance which commit it came from.
func idPayload(id uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, id)
	fillFrom(b[8:], id)
	return b
}

func fillFrom(b []byte, id uint64) {
	x := id*0x9e3779b97f4a7c15 + uint64(len(b))
	for i := range b {
		x = x*6364136223846793005 + 1442695040888963407
		b[i] = byte(x >> 56)
	}
}

// payloadID checks a payload made by idPayload and returns its id.
func payloadID(p []byte) (uint64, bool) {
	if len(p) < 8 {
		return 0, false
	}
	id := binary.LittleEndian.Uint64(p)
	want := make([]byte, len(p)-8)
	fillFrom(want, id)
	return id, bytes.Equal(want, p[8:])
}

// The test's own reading of the documented record format, independent of
// the package's encoder and scanner.
var testCRC = crc32.MakeTable(crc32.Castagnoli)

const testPad = 1 << 31

// putRecord writes a record (or a pad record when pad is set) at absolute
// position pos and returns its crc.
func putRecord(ring []byte, pos, seq uint64, prev, epoch uint32, payload []byte, pad bool) uint32 {
	off := pos % uint64(len(ring))
	h := ring[off : off+32]
	length := uint32(len(payload))
	if pad {
		length = testPad
		payload = nil
	}
	binary.LittleEndian.PutUint32(h[4:], length)
	binary.LittleEndian.PutUint64(h[8:], pos)
	binary.LittleEndian.PutUint64(h[16:], seq)
	binary.LittleEndian.PutUint32(h[24:], prev)
	binary.LittleEndian.PutUint32(h[28:], epoch)
	copy(ring[off+32:], payload)
	crc := crc32.Update(crc32.Checksum(payload, testCRC), testCRC, h[4:])
	binary.LittleEndian.PutUint32(h, crc)
	return crc
}

// recordValidAt reports whether the bytes at absolute position pos form a
// record with a correct crc that claims pos, and returns its payload.
func recordValidAt(ring []byte, pos uint64) ([]byte, bool) {
	size := uint64(len(ring))
	off := pos % size
	if off+32 > size {
		return nil, false
	}
	h := ring[off : off+32]
	length := uint64(binary.LittleEndian.Uint32(h[4:]))
	if off+32+length > size {
		return nil, false
	}
	body := ring[off+32 : off+32+length]
	buf := append(bytes.Clone(body), h[4:]...)
	ok := crc32.Checksum(buf, testCRC) == binary.LittleEndian.Uint32(h) &&
		binary.LittleEndian.Uint64(h[8:]) == pos
	return body, ok
}

// recordLen is the ring space a record of n payload bytes takes.
func recordLen(n int) uint64 { return uint64(32 + (n+7)&^7) }
