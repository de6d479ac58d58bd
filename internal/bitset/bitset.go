// Package bitset is a set of integers in [0, n), safe for concurrent use.
// A large set allocates its memory in chunks on first use: a region of a
// terabyte indexed by 256-byte unit costs only the chunks covering what was
// touched.
package bitset

import "sync/atomic"

const (
	chunkShift = 15 // bits per chunk: 32768, 4 KiB
	chunkWords = 1 << chunkShift / 64
)

type chunk [chunkWords]atomic.Uint64

// Set is a sparse bitset. The zero value is an empty set of size 0.
type Set struct {
	n      int64
	chunks []atomic.Pointer[chunk]
}

// eagerBits: a set this small gets all its chunks at New (at most 2 MiB),
// so that its first Adds do not allocate.
const eagerBits = 1 << 24

// New returns an empty set of the integers [0, n).
func New(n int64) *Set {
	n = max(n, 0)
	s := &Set{n: n, chunks: make([]atomic.Pointer[chunk], (n+1<<chunkShift-1)>>chunkShift)}
	if n <= eagerBits {
		slab := make([]chunk, len(s.chunks))
		for i := range s.chunks {
			s.chunks[i].Store(&slab[i])
		}
	}
	return s
}

// Has reports whether i is in the set; false outside [0, n).
func (s *Set) Has(i int64) bool {
	if uint64(i) >= uint64(s.n) {
		return false
	}
	c := s.chunks[i>>chunkShift].Load()
	return c != nil && c[i>>6&(chunkWords-1)].Load()&(1<<(i&63)) != 0
}

// Add puts i in the set; outside [0, n) it does nothing.
func (s *Set) Add(i int64) {
	if uint64(i) >= uint64(s.n) {
		return
	}
	p := &s.chunks[i>>chunkShift]
	c := p.Load()
	if c == nil {
		c = new(chunk)
		if !p.CompareAndSwap(nil, c) {
			c = p.Load()
		}
	}
	c[i>>6&(chunkWords-1)].Or(1 << (i & 63))
}
