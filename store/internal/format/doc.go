// Package format defines daxkv's on-media structures that the store itself
// owns — the superblock, the commit slots, the catalog, the WAL batch
// payload and the value-extent header — with encoders and defensive
// decoders. Tree nodes belong to package btree and WAL record framing to
// package wal.
//
// Region layout (all offsets from the start of the mapping):
//
//	[0, 4096)                      primary superblock
//	[4096, 4352)                   commit slot 0
//	[6144, 6400)                   commit slot 1 (its own 256-byte media block)
//	[8192, 8192+WALSize)           WAL ring
//	[ExtOff, Size-4096)            extent space, 256-byte units
//	[Size-4096, Size)              backup superblock
//
// Every structure starts with a magic number and a version and ends with a
// CRC32C (Castagnoli) over its bytes, so a torn or stale write is detected
// rather than trusted. Decoders never trust a length they read: every field
// is bounds-checked against the buffer and the region geometry.
package format

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC32C used by every daxkv structure.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// ChecksumUpdate extends a running CRC32C.
func ChecksumUpdate(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

var le = binary.LittleEndian
