package format

import (
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// A commit slot names the durable state of the store. Two slots alternate:
// a checkpoint writes the older one out of place, persists it, and from then
// on the valid slot with the higher generation is the state. A torn slot
// fails its checksum and the other one stands.
type Slot struct {
	Gen uint64
	// Catalog copies: two extents holding the same catalog, so a damaged
	// one is served from its twin.
	Catalog    [2]int64
	CatalogLen int64
	// WAL replay starts here.
	WALOff uint64
	WALSeq uint64
	// Allocator image, present only after a clean close (0 otherwise).
	AllocOff int64
	AllocLen int64
}

var slotMagic = [4]byte{'D', 'X', 'C', 'S'}

const slotLen = 4 + 4 + 16 + 8 + 8*2 + 8 + 8 + 8 + 8 + 8 + 4

// SlotChecksumWord is the offset in a slot of the aligned 8-byte word that
// holds its checksum: zeroing it, one atomic store, invalidates the slot.
const SlotChecksumWord = 88

// SlotOff gives the offset of slot i (0 or 1).
func SlotOff(i int) int64 {
	if i == 0 {
		return Slot0Off
	}
	return Slot1Off
}

// Encode writes the slot into b (SlotSize bytes). uuid ties the slot to its
// region, so slots left over from an earlier format of the same file are
// not mistaken for current ones.
func (s *Slot) Encode(b []byte, uuid [16]byte) {
	_ = b[slotLen-1]
	copy(b[0:4], slotMagic[:])
	le.PutUint32(b[4:], Version)
	copy(b[8:24], uuid[:])
	le.PutUint64(b[24:], s.Gen)
	le.PutUint64(b[32:], uint64(s.Catalog[0]))
	le.PutUint64(b[40:], uint64(s.Catalog[1]))
	le.PutUint64(b[48:], uint64(s.CatalogLen))
	le.PutUint64(b[56:], s.WALOff)
	le.PutUint64(b[64:], s.WALSeq)
	le.PutUint64(b[72:], uint64(s.AllocOff))
	le.PutUint64(b[80:], uint64(s.AllocLen))
	le.PutUint32(b[SlotChecksumWord:], Checksum(b[:SlotChecksumWord]))
}

// DecodeSlot parses a commit slot. An error (always wrapping errs.Corrupt)
// means the slot is not a valid state; the caller uses the other slot.
// Extent references are checked against sb's extent space.
func DecodeSlot(b []byte, sb *Superblock) (Slot, error) {
	var s Slot
	if len(b) < slotLen {
		return s, fmt.Errorf("%w: commit slot truncated", errs.Corrupt)
	}
	if [4]byte(b[0:4]) != slotMagic {
		return s, fmt.Errorf("%w: commit slot: bad magic", errs.Corrupt)
	}
	if got, want := le.Uint32(b[88:]), Checksum(b[:88]); got != want {
		return s, fmt.Errorf("%w: commit slot checksum %08x, want %08x", errs.Corrupt, got, want)
	}
	if v := le.Uint32(b[4:]); v != Version {
		return s, fmt.Errorf("%w: commit slot version %d", errs.Corrupt, v)
	}
	if [16]byte(b[8:24]) != sb.UUID {
		return s, fmt.Errorf("%w: commit slot belongs to another region", errs.Corrupt)
	}
	s.Gen = le.Uint64(b[24:])
	s.Catalog[0] = int64(le.Uint64(b[32:]))
	s.Catalog[1] = int64(le.Uint64(b[40:]))
	s.CatalogLen = int64(le.Uint64(b[48:]))
	s.WALOff = le.Uint64(b[56:])
	s.WALSeq = le.Uint64(b[64:])
	s.AllocOff = int64(le.Uint64(b[72:]))
	s.AllocLen = int64(le.Uint64(b[80:]))
	for _, c := range s.Catalog {
		if !sb.ValidExtent(c, s.CatalogLen) {
			return s, fmt.Errorf("%w: commit slot names catalog [%d,+%d) outside extent space", errs.Corrupt, c, s.CatalogLen)
		}
	}
	if s.AllocOff != 0 && !sb.ValidExtent(s.AllocOff, s.AllocLen) {
		return s, fmt.Errorf("%w: commit slot names allocator image [%d,+%d) outside extent space", errs.Corrupt, s.AllocOff, s.AllocLen)
	}
	return s, nil
}

// ValidExtent reports whether [off, off+n) is a unit-aligned, non-empty
// range inside the extent space.
func (sb *Superblock) ValidExtent(off, n int64) bool {
	return n > 0 && off%UnitSize == 0 && off >= sb.ExtOff &&
		n <= sb.ExtSize && off-sb.ExtOff <= sb.ExtSize-n
}

// PickSlot chooses the current state from the two slots' decode results:
// the valid one with the higher generation. ok is false when neither is
// valid.
func PickSlot(s0 Slot, err0 error, s1 Slot, err1 error) (s Slot, index int, ok bool) {
	switch {
	case err0 == nil && err1 == nil:
		if s1.Gen > s0.Gen {
			return s1, 1, true
		}
		return s0, 0, true
	case err0 == nil:
		return s0, 0, true
	case err1 == nil:
		return s1, 1, true
	}
	return Slot{}, 0, false
}
