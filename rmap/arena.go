package rmap

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
)

// maxKeyPos is the limit of a key position: records keep 40 bits of it.
const maxKeyPos = 1<<40 - 1

// keyCacheSize is the number of recently stored keys looked up before a key
// is stored again. The walk is depth-first, so repeats are close together:
// a node's bounds are its siblings' bounds and a child's, a leaf's Lo is
// usually its first value's key, and a value's Lo and Hi are the same key.
const keyCacheSize = 1 << 12

// keyArena stores keys back to back as uvarint length + bytes. A key is
// named by its position; position 0 is a placeholder byte and means nil, so
// a nil key and an empty one stay distinct.
type keyArena struct {
	buf   []byte
	seed  maphash.Seed
	cache *[keyCacheSize]uint64 // hash -> position of a recent key; nil once frozen
}

func newKeyArena() keyArena {
	return keyArena{buf: []byte{0}, seed: maphash.MakeSeed(), cache: new([keyCacheSize]uint64)}
}

// put stores k, or finds it among recent keys, and returns its position.
func (a *keyArena) put(k []byte) uint64 {
	if k == nil {
		return 0
	}
	slot := &a.cache[maphash.Bytes(a.seed, k)&(keyCacheSize-1)]
	if p := *slot; p != 0 && bytes.Equal(a.get(p), k) {
		return p
	}
	p := uint64(len(a.buf))
	if p+binary.MaxVarintLen64+uint64(len(k)) > maxKeyPos {
		panic("rmap: more than 1 TiB of keys")
	}
	if need := binary.MaxVarintLen64 + len(k); cap(a.buf)-len(a.buf) < need {
		a.buf = slices.Grow(a.buf, max(len(a.buf), need)) // doubling, as appendDoubling
	}
	a.buf = binary.AppendUvarint(a.buf, uint64(len(k)))
	a.buf = append(a.buf, k...)
	*slot = p
	return p
}

// get returns the key at p (nil for 0). The result must not be modified.
func (a *keyArena) get(p uint64) []byte {
	if p == 0 {
		return nil
	}
	n, w := binary.Uvarint(a.buf[p:])
	s := p + uint64(w)
	return a.buf[s : s+n : s+n]
}

// size is the bytes the key at p takes, its length prefix included.
func (a *keyArena) size(p uint64) int64 {
	n, w := binary.Uvarint(a.buf[p:])
	return int64(n) + int64(w)
}

// freeze drops the cache and trims the buffer to size.
func (a *keyArena) freeze() {
	a.buf = clipped(a.buf)
	a.cache = nil
}
