package memtable

import (
	"bytes"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/daxkv/daxkv/internal/prefetch"
)

// A table answers point operations from a hash index over a log of its
// entries, and keeps its ordered tree for scans and snapshots only. An
// insert into the tree of a few hundred thousand entries misses the cache
// on its last inner node and its leaf; a hash insert misses once, on its
// index cell, and the log is appended in order. The tree catches up in
// sorted runs when order is needed (Table.order).

// entryLog holds a table's newest slot for each key, in the order keys
// first arrived. Chunks are never reallocated and hold no pointers.
type entryLog struct {
	chunks [][]slot
	n      int
}

const logChunkBits = 12

// maxLogEntries bounds a table: homes in the hash index come from 32 hash
// bits, enough for the 2^32 cells 2^31 keys take. (It would be 64 GiB of
// log; a checkpoint comes long before.)
const maxLogEntries = 1 << 31

func (l *entryLog) at(pos uint32) *slot {
	return &l.chunks[pos>>logChunkBits][pos&(1<<logChunkBits-1)]
}

func (l *entryLog) add(s slot) uint32 {
	if l.n == maxLogEntries {
		panic("memtable: table full")
	}
	if l.n>>logChunkBits == len(l.chunks) {
		l.chunks = append(l.chunks, make([]slot, 1<<logChunkBits))
	}
	pos := uint32(l.n)
	*l.at(pos) = s
	l.n++
	return pos
}

// hashIndex maps a key to its log position by open addressing with linear
// probing. A cell is tag<<32 | pos+1 (zero is empty), the tag being the
// top 32 bits of the key's hash. The cell's home is the tag's low bits,
// so growing needs only the cells; the tag's other bits let a probe skip
// cells of other keys without reading their key bytes, a cache miss
// each. Up to 2^31 keys, so that homes fit the tag.
type hashIndex struct {
	cells []uint64 // nil until the first insert
	want  int      // cells the first growth jumps to
	// published is cells, for Prefetch, which runs without the lock.
	published atomic.Pointer[[]uint64]
}

const minIndexCells = 1 << 10

// init sizes the index to hold keys keys. It starts at minIndexCells,
// allocated by the first insert, and its first growth jumps to the full
// size: a table that stays empty costs nothing and one that stays small
// 8 KiB, while a busy one rehashes only a few hundred keys.
func (x *hashIndex) init(keys int) { x.want = cellsFor(keys) }

// cellsFor is the index size that holds keys keys at a load of at most
// one half, which keeps probe runs short.
func cellsFor(keys int) int {
	return max(minIndexCells, 1<<bits.Len(uint(max(2*keys, 1)-1)))
}

func (x *hashIndex) setCells(c []uint64) {
	x.cells = c
	x.published.Store(&c)
}

// prefetch starts loading the cell a probe for the key hashed to h starts
// at; it may be from a smaller index the table has since outgrown.
func (x *hashIndex) prefetch(h uint64) {
	if c := x.published.Load(); c != nil {
		prefetch.Line(unsafe.Pointer(&(*c)[h>>32&uint64(len(*c)-1)]))
	}
}

// keySeed seeds every table's hash, so that a hash taken before the
// table that applies it is known (Prefetch) stays valid.
var keySeed = maphash.MakeSeed()

func hashKey(key []byte) uint64 { return maphash.Bytes(keySeed, key) }

// find returns the log position of key, whose hash is h.
func (x *hashIndex) find(h uint64, key []byte, log *entryLog, a *arena) (uint32, bool) {
	if x.cells == nil {
		return 0, false
	}
	mask := uint64(len(x.cells) - 1)
	tag := h >> 32
	for i := tag & mask; ; i = (i + 1) & mask {
		c := x.cells[i]
		if c == 0 {
			return 0, false
		}
		if c>>32 == tag {
			pos := uint32(c) - 1
			if bytes.Equal(a.key(log.at(pos).key), key) {
				return pos, true
			}
		}
	}
}

// insert adds the key hashed to h at log position pos, known to be
// absent before. Positions are dense, so pos keys are already in.
func (x *hashIndex) insert(h uint64, pos uint32) {
	if x.cells == nil {
		x.setCells(make([]uint64, minIndexCells))
	}
	if 2*(int(pos)+1) > len(x.cells) {
		x.grow()
	}
	x.placeCell(h>>32<<32 | uint64(pos+1))
}

func (x *hashIndex) placeCell(c uint64) {
	mask := uint64(len(x.cells) - 1)
	i := c >> 32 & mask
	for x.cells[i] != 0 {
		i = (i + 1) & mask
	}
	x.cells[i] = c
}

// grow doubles the index, or makes it the size it was made for. Cells
// keep the hash bits their home is taken from, so they move without
// their keys being read or hashed again: one pass over the old cells.
func (x *hashIndex) grow() {
	old := x.cells
	x.setCells(make([]uint64, max(2*len(old), x.want)))
	for _, c := range old {
		if c != 0 {
			x.placeCell(c)
		}
	}
}
