package wal

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzReplay: whatever the ring holds and wherever the checkpoint points,
// Replay terminates, never panics, and returns only records that are
// well-formed by the documented format, in order, inside one ring's worth
// of bytes from the start.
func FuzzReplay(f *testing.F) {
	const size = MinSize
	// Seeds: a ring with small records, one with a pad and an implicit
	// wrap, and an empty one.
	ring := make([]byte, size)
	l, _, _ := openReplay(f, ring, Position{0, 1}, Options{})
	for i := range 20 {
		l.Commit(bytes.Repeat([]byte{byte(i)}, i*13))
	}
	f.Add(bytes.Clone(ring[:4096]), uint64(0), uint64(1))
	f.Add(bytes.Clone(ring[:4096]), uint64(0), uint64(2))
	ring = make([]byte, size)
	l, _, _ = openReplay(f, ring, Position{size - 200, 5}, Options{})
	for i := range 5 {
		l.Commit(bytes.Repeat([]byte{byte(i)}, 150+i*40))
	}
	f.Add(bytes.Clone(ring), uint64(size-200), uint64(5))
	f.Add([]byte{}, uint64(0), uint64(1))

	f.Fuzz(func(t *testing.T, data []byte, off, seq uint64) {
		ring := make([]byte, size)
		copy(ring, data)
		// data shorter than the ring is repeated past itself too, so short
		// inputs can reach the end of the ring.
		if n := len(data); n > 0 && n < size {
			copy(ring[size-n:], data)
		}
		start := Position{Off: off % (4 * size) &^ 7, Seq: seq}
		l, err := Open(ring, start, Options{Persister: &countPersister{}})
		if err != nil {
			t.Fatal(err)
		}
		next, count := start.Off, 0
		_, err = l.Replay(func(pos Position, payload []byte) error {
			count++
			if count > size/32 {
				t.Fatalf("more records than the ring can hold")
			}
			if pos.Off < next || pos.Off+recordLen(len(payload)) > start.Off+size {
				t.Fatalf("record at %d outside [%d, %d)", pos.Off, next, start.Off+size)
			}
			body, ok := recordValidAt(ring, pos.Off)
			if !ok || !bytes.Equal(body, payload) || len(body) > 0 && &body[0] != &payload[0] {
				t.Fatalf("record at %d is not well-formed", pos.Off)
			}
			if s := binary.LittleEndian.Uint64(ring[pos.Off%size+16:]); s != pos.Seq || s != seq+uint64(count-1) {
				t.Fatalf("record at %d: header seq %d, position seq %d", pos.Off, s, pos.Seq)
			}
			next = pos.Off + recordLen(len(payload))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Appending after whatever replayed must work or report ErrFull.
		if _, _, err := l.Commit([]byte("after")); err != nil && err != ErrFull {
			t.Fatal(err)
		}
	})
}
