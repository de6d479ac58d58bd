package format

import (
	"bytes"
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// Geometry constants. They are recorded in the superblock so a future
// version can change them without misreading old regions.
const (
	Version        = 1
	SuperblockSize = 4096
	SlotSize       = 256
	Slot0Off       = 4096
	Slot1Off       = 6144
	WALOff         = 8192
	UnitSize       = 256
	NodeSize       = 4096

	// MinWALSize and MinExtentSize bound the smallest usable region.
	MinWALSize    = 64 << 10
	MinExtentSize = 128 << 10
	// MaxWALSize caps the default WAL; a larger ring only delays checkpoints.
	MaxWALSize = 256 << 20
)

// MinRegionSize is the smallest region Open will create.
const MinRegionSize = WALOff + MinWALSize + MinExtentSize + SuperblockSize

var superMagic = [8]byte{'D', 'A', 'X', 'K', 'V', 'S', 'B', 0}

// superLen is the encoded length; the rest of the 4 KiB block is zero.
const superLen = 8 + 4 + 4 + 16 + 8 + 4 + 4 + 8*4 + 8 + 4

// Superblock describes the region's geometry. It is written once, at
// format time, to offset 0 and to the last 4 KiB of the region.
type Superblock struct {
	Version  uint32
	Features uint32 // incompatible-feature bits; none defined yet
	UUID     [16]byte
	Size     int64
	UnitSize uint32
	NodeSize uint32
	WALOff   int64
	WALSize  int64
	ExtOff   int64
	ExtSize  int64
	Created  int64 // unix nanoseconds
}

// DefaultWALSize derives the WAL size from the region size: 1/16 of it,
// clamped to [MinWALSize, MaxWALSize] and rounded down to 4 KiB.
func DefaultWALSize(size int64) int64 {
	w := size / 16
	w = min(max(w, MinWALSize), MaxWALSize)
	return w &^ (4096 - 1)
}

// NewSuperblock lays out a region of size bytes with a WAL of walSize
// bytes (0 = DefaultWALSize). It reports errs.Invalid when the region is
// too small or the sizes are not 4 KiB multiples.
func NewSuperblock(size, walSize int64, uuid [16]byte, created int64) (Superblock, error) {
	if size%4096 != 0 {
		return Superblock{}, fmt.Errorf("%w: region size %d is not a multiple of 4096", errs.Invalid, size)
	}
	if size < MinRegionSize {
		return Superblock{}, fmt.Errorf("%w: region size %d is below the minimum of %d bytes", errs.Invalid, size, MinRegionSize)
	}
	if walSize == 0 {
		walSize = DefaultWALSize(size)
	}
	if walSize%4096 != 0 || walSize < MinWALSize {
		return Superblock{}, fmt.Errorf("%w: WAL size %d must be a multiple of 4096 and at least %d", errs.Invalid, walSize, MinWALSize)
	}
	sb := Superblock{
		Version:  Version,
		UUID:     uuid,
		Size:     size,
		UnitSize: UnitSize,
		NodeSize: NodeSize,
		WALOff:   WALOff,
		WALSize:  walSize,
		ExtOff:   WALOff + walSize,
		Created:  created,
	}
	sb.ExtSize = size - SuperblockSize - sb.ExtOff
	if sb.ExtSize < MinExtentSize {
		return Superblock{}, fmt.Errorf("%w: region of %d bytes leaves %d bytes for data after a %d-byte WAL (need %d)",
			errs.Invalid, size, sb.ExtSize, walSize, MinExtentSize)
	}
	return sb, nil
}

// BackupOff is where the backup superblock lives in a region of size bytes.
func BackupOff(size int64) int64 { return size - SuperblockSize }

// Encode writes the superblock into b (at least superLen bytes; normally the
// 4 KiB block).
func (sb *Superblock) Encode(b []byte) {
	_ = b[superLen-1]
	copy(b[0:8], superMagic[:])
	le.PutUint32(b[8:], sb.Version)
	le.PutUint32(b[12:], sb.Features)
	copy(b[16:32], sb.UUID[:])
	le.PutUint64(b[32:], uint64(sb.Size))
	le.PutUint32(b[40:], sb.UnitSize)
	le.PutUint32(b[44:], sb.NodeSize)
	le.PutUint64(b[48:], uint64(sb.WALOff))
	le.PutUint64(b[56:], uint64(sb.WALSize))
	le.PutUint64(b[64:], uint64(sb.ExtOff))
	le.PutUint64(b[72:], uint64(sb.ExtSize))
	le.PutUint64(b[80:], uint64(sb.Created))
	le.PutUint32(b[88:], Checksum(b[:88]))
}

// IsSuperblock reports whether b starts with the superblock magic: the
// file is (or was meant to be) a daxkv region.
func IsSuperblock(b []byte) bool {
	return len(b) >= 8 && bytes.Equal(b[:8], superMagic[:])
}

// DecodeSuperblock parses and validates a superblock read from a region of
// regionSize bytes. Every error wraps errs.Corrupt, except an unknown
// format version, which wraps errs.Invalid (the region is fine, this build
// cannot read it).
func DecodeSuperblock(b []byte, regionSize int64) (Superblock, error) {
	var sb Superblock
	if len(b) < superLen {
		return sb, fmt.Errorf("%w: superblock truncated", errs.Corrupt)
	}
	if !IsSuperblock(b) {
		return sb, fmt.Errorf("%w: no daxkv superblock (bad magic)", errs.Corrupt)
	}
	if got, want := le.Uint32(b[88:]), Checksum(b[:88]); got != want {
		return sb, fmt.Errorf("%w: superblock checksum %08x, want %08x", errs.Corrupt, got, want)
	}
	sb.Version = le.Uint32(b[8:])
	sb.Features = le.Uint32(b[12:])
	copy(sb.UUID[:], b[16:32])
	sb.Size = int64(le.Uint64(b[32:]))
	sb.UnitSize = le.Uint32(b[40:])
	sb.NodeSize = le.Uint32(b[44:])
	sb.WALOff = int64(le.Uint64(b[48:]))
	sb.WALSize = int64(le.Uint64(b[56:]))
	sb.ExtOff = int64(le.Uint64(b[64:]))
	sb.ExtSize = int64(le.Uint64(b[72:]))
	sb.Created = int64(le.Uint64(b[80:]))
	if sb.Version != Version {
		return sb, fmt.Errorf("%w: region format version %d, this build reads version %d", errs.Invalid, sb.Version, Version)
	}
	if sb.Features != 0 {
		return sb, fmt.Errorf("%w: region uses unknown features %#x", errs.Invalid, sb.Features)
	}
	if err := sb.validate(regionSize); err != nil {
		return sb, err
	}
	return sb, nil
}

func (sb *Superblock) validate(regionSize int64) error {
	bad := func(what string, args ...any) error {
		return fmt.Errorf("%w: superblock: "+what, append([]any{errs.Corrupt}, args...)...)
	}
	switch {
	case sb.UnitSize != UnitSize || sb.NodeSize != NodeSize:
		return bad("unit %d / node %d sizes unsupported", sb.UnitSize, sb.NodeSize)
	case sb.Size != regionSize:
		return bad("records size %d but the region is %d bytes", sb.Size, regionSize)
	case sb.WALOff != WALOff || sb.WALSize < MinWALSize || sb.WALSize%4096 != 0 || sb.WALSize > regionSize:
		return bad("WAL at %d size %d is invalid", sb.WALOff, sb.WALSize)
	case sb.ExtOff != sb.WALOff+sb.WALSize || sb.ExtSize < MinExtentSize ||
		sb.ExtOff+sb.ExtSize != sb.Size-SuperblockSize:
		return bad("extent space [%d,+%d) does not fit the region", sb.ExtOff, sb.ExtSize)
	}
	return nil
}
