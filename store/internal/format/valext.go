package format

import (
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// A value extent holds one large value, self-described so that scrub and
// the reverse map can name its owner without the index:
//
//	[0:4)   magic "DXVE"
//	[4]     version
//	[5]     kind (1 = value)
//	[6:8)   key length
//	[8:16)  value length
//	[16:20) CRC32C of the value
//	[20:24) CRC32C of bytes [0:20) and the key
//	[24:24+keyLen)        key
//	[24+keyLen: +valLen)  value
const ValueHeaderLen = 24

var valMagic = [4]byte{'D', 'X', 'V', 'E'}

const valueKind = 1

// ValueExtentLen is the extent length needed for a value: header, key and
// value rounded up to whole units.
func ValueExtentLen(keyLen int, valLen int64) int64 {
	n := ValueHeaderLen + int64(keyLen) + valLen
	return (n + UnitSize - 1) &^ (UnitSize - 1)
}

// EncodeValueHeader writes the header and the key into b (which must hold
// ValueHeaderLen+len(key) bytes). valCRC is Checksum(value).
func EncodeValueHeader(b []byte, key []byte, valLen int64, valCRC uint32) int {
	n := ValueHeaderLen + len(key)
	_ = b[n-1]
	copy(b[0:4], valMagic[:])
	b[4] = Version
	b[5] = valueKind
	le.PutUint16(b[6:], uint16(len(key)))
	le.PutUint64(b[8:], uint64(valLen))
	le.PutUint32(b[16:], valCRC)
	copy(b[ValueHeaderLen:], key)
	le.PutUint32(b[20:], ChecksumUpdate(Checksum(b[:20]), key))
	return n
}

// ValueHeader is a decoded value-extent header.
type ValueHeader struct {
	Key    []byte // aliases the extent
	ValLen int64
	ValCRC uint32
}

// DataOff is the value's offset from the start of the extent.
func (h *ValueHeader) DataOff() int64 { return ValueHeaderLen + int64(len(h.Key)) }

// DecodeValueHeader parses the header of a value extent of extLen bytes
// whose first bytes are b. Errors wrap errs.Corrupt.
func DecodeValueHeader(b []byte, extLen int64) (ValueHeader, error) {
	var h ValueHeader
	if len(b) < ValueHeaderLen || [4]byte(b[0:4]) != valMagic || b[4] != Version || b[5] != valueKind {
		return h, fmt.Errorf("%w: value extent: bad header", errs.Corrupt)
	}
	klen := int(le.Uint16(b[6:]))
	if klen == 0 || klen > MaxKeyLen || ValueHeaderLen+klen > len(b) {
		return h, fmt.Errorf("%w: value extent: bad key length %d", errs.Corrupt, klen)
	}
	key := b[ValueHeaderLen : ValueHeaderLen+klen]
	if got, want := le.Uint32(b[20:]), ChecksumUpdate(Checksum(b[:20]), key); got != want {
		return h, fmt.Errorf("%w: value extent: header checksum %08x, want %08x", errs.Corrupt, got, want)
	}
	h.Key = key
	h.ValLen = int64(le.Uint64(b[8:]))
	h.ValCRC = le.Uint32(b[16:])
	if h.ValLen < 0 || h.ValLen > extLen || ValueExtentLen(klen, h.ValLen) > extLen {
		return h, fmt.Errorf("%w: value extent: value length %d does not fit %d bytes", errs.Corrupt, h.ValLen, extLen)
	}
	return h, nil
}
