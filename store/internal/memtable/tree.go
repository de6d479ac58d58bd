package memtable

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"runtime"
	"sort"
	"sync/atomic"
	"unsafe"
)

// The ordered map under a Table, filled by Clone (order.go): a
// copy-on-write B+tree specialised for memtable entries. Until the eighth
// session every Apply inserted into it; it replaced github.com/tidwall/btree
// because random inserts into a few hundred thousand entries were half the
// cost of a Put:
// generic items holding a string pointer made every node scanned by the GC
// and every shift a write-barriered copy, and the binary search compared
// through a function value. Here leaves hold no pointers at all (keys live
// in a chunked arena and are named by a packed reference), the search runs
// over a dense array of 8-byte key prefixes, and only a tie on the prefix
// touches key bytes.

const (
	leafCap  = 16 // entries per leaf
	innerCap = 64 // children per inner node
	maxDepth = 12 // 64^12 entries: never reached
)

// keyRef names a key in the arena: chunk<<32 | pos<<11 | len.
type keyRef uint64

const (
	refLenBits = 11 // keys are at most 1 KiB (format.MaxKeyLen), < 2^11
	refPosBits = 21 // chunks are at most 2 MiB
	maxChunk   = 1 << refPosBits
)

func makeRef(chunk, pos, n int) keyRef {
	return keyRef(uint64(chunk)<<32 | uint64(pos)<<refLenBits | uint64(n))
}

// arena holds the keys of a table. Chunks are append-only and never
// reallocated, so a snapshot may keep reading a chunk the writer is still
// appending to: the bytes it can name were written before it was taken.
// Chunk headers are written once, when the chunk is added, for the same
// reason: the fill of the current chunk is kept apart in used.
type arena struct {
	chunks [][]byte
	used   int // bytes taken in the last chunk
}

const arenaChunk = 64 << 10

func (a *arena) add(key []byte) keyRef {
	last := len(a.chunks) - 1
	if last < 0 || len(key) > len(a.chunks[last])-a.used {
		a.chunks = append(a.chunks, make([]byte, max(arenaChunk, len(key))))
		last++
		a.used = 0
	}
	pos := a.used
	a.used += copy(a.chunks[last][pos:], key)
	return makeRef(last, pos, len(key))
}

// view is a copy of a's header naming the keys added so far, for readers
// that must not see the header's later appends.
func (a *arena) view() arena {
	return arena{chunks: a.chunks[:len(a.chunks):len(a.chunks)], used: a.used}
}

func (a *arena) key(r keyRef) []byte {
	c := a.chunks[r>>32]
	pos := int(r>>refLenBits) & (maxChunk - 1)
	n := int(r & (1<<refLenBits - 1))
	return c[pos : pos+n : pos+n]
}

// slot is one entry in a leaf: no pointers, so leaves are not scanned by
// the garbage collector.
type slot struct {
	key     keyRef
	off     int64
	len     int64
	seqKind uint64 // seq<<8 | kind
}

// cowToken tags the nodes a tree may modify in place; a node with another
// token is shared with a snapshot and is copied before a write.
var cowToken atomic.Uint64

type leaf struct {
	cow    uint64
	n      int
	prefix [leafCap]uint64
	slots  [leafCap]slot
}

// inner routes to n children: child i holds the keys in [sep i-1, sep i).
type inner struct {
	cow    uint64
	n      int // children
	prefix [innerCap - 1]uint64
	sep    [innerCap - 1]keyRef
	kids   [innerCap]unsafe.Pointer // *inner above height 1, *leaf at it
}

// tree is the map itself. height 0 means the root is a leaf.
type tree struct {
	cow    uint64
	root   unsafe.Pointer
	height int
	count  int
	arena  arena
	// common is the key prefix the table was tuned for (probe); fixed
	// for the tree's life, since every stored prefix depends on it.
	common []byte
}

func newTree(common []byte) *tree {
	t := &tree{cow: cowToken.Add(1), common: common}
	t.root = unsafe.Pointer(&leaf{cow: t.cow})
	return t
}

// clone returns a read-only copy sharing every node; t copies nodes before
// writing them from now on.
func (t *tree) clone() *tree {
	c := &tree{root: t.root, height: t.height, count: t.count, common: t.common, arena: t.arena.view()}
	t.cow = cowToken.Add(1)
	return c
}

// probe is a search key: its prefix and its bytes.
type probeKey struct {
	prefix uint64
	key    []byte
}

func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// probe makes k's search key. Its prefix is the 8 bytes after common for
// keys that start with common, which keeps keys such as
// "0000000000123456" from all tying on their first 8 bytes (every tie
// reads key bytes from the arena, a cache miss each). Keys outside that
// range keep their own first bytes and sort below or above it. The map
// never decreases as keys grow, so ordering by prefix and then by key
// bytes is the keys' order whatever common is; a poor common only brings
// back ties.
func (t *tree) probe(k []byte) probeKey {
	c := t.common
	switch {
	case len(c) == 0:
		return probeKey{prefix: keyPrefix(k), key: k}
	case bytes.HasPrefix(k, c):
		return probeKey{prefix: 1<<62 + keyPrefix(k[len(c):])>>1, key: k}
	case bytes.Compare(k, c) < 0:
		return probeKey{prefix: keyPrefix(k) >> 2, key: k}
	}
	return probeKey{prefix: 3<<62 + keyPrefix(k)>>2, key: k}
}

// maxCommon caps the prefix a table is tuned for: longer ones would only
// make every probe compare more bytes.
const maxCommon = 64

// lowerBound is the first slot of l whose key is >= k. It counts the
// smaller prefixes over the whole array rather than bisecting: the loads
// are independent, so a cold leaf costs one round of parallel misses
// instead of a chain of dependent ones. Only keys that tie on the prefix
// compare key bytes, bisecting the tie.
func (t *tree) lowerBound(l *leaf, k *probeKey) int {
	lt, le := countPrefix(l.prefix[:l.n], k.prefix)
	return lt + sort.Search(le-lt, func(j int) bool {
		return bytes.Compare(t.arena.key(l.slots[lt+j].key), k.key) >= 0
	})
}

// countPrefix counts the elements of sorted p below x, and up to x.
func countPrefix(p []uint64, x uint64) (lt, le int) {
	for _, v := range p {
		if v < x {
			lt++
		}
		if v <= x {
			le++
		}
	}
	return lt, le
}

// bisectPrefix returns, for sorted p, how many elements are below x and
// how many are up to x. It bisects without branches (each step's
// direction is a coin toss, and a mispredict costs more than the step),
// for arrays too long to count in the time: an inner node's 63
// separators, whose lines warmNode has already loaded together.
func bisectPrefix(p []uint64, x uint64) (lt, le int) {
	if len(p) == 0 {
		return 0, 0
	}
	// base ends on the last element < x, or on 0 when none is.
	base, size := 0, len(p)
	for size > 1 {
		half := size >> 1
		_, borrow := bits.Sub64(p[base+half], x, 0) // 1 when p < x
		base += half & -int(borrow)
		size -= half
	}
	_, borrow := bits.Sub64(p[base], x, 0)
	lt = base + int(borrow)
	if lt == len(p) || p[lt] != x {
		return lt, lt
	}
	le = lt + 1 // prefix ties: rare unless keys share their first 8 bytes
	for le < len(p) && p[le] == x {
		le++
	}
	return lt, le
}

// child is the index of the child of in that may hold k: the number of
// separators <= k (ties on the prefix settled as in lowerBound).
func (t *tree) child(in *inner, k *probeKey) int {
	lt, le := bisectPrefix(in.prefix[:in.n-1], k.prefix)
	return lt + sort.Search(le-lt, func(j int) bool {
		return bytes.Compare(t.arena.key(in.sep[lt+j]), k.key) > 0
	})
}

// lessProbe reports whether k sorts before the stored key (p, r).
func (t *tree) lessProbe(k *probeKey, p uint64, r keyRef) bool {
	if p != k.prefix {
		return k.prefix < p
	}
	return bytes.Compare(k.key, t.arena.key(r)) < 0
}

// find returns the leaf that may hold k and the lower bound in it.
func (t *tree) find(k *probeKey) (*leaf, int) {
	n := t.root
	for h := t.height; h > 0; h-- {
		in := (*inner)(n)
		n = in.kids[t.child(in, k)]
	}
	l := (*leaf)(n)
	return l, t.lowerBound(l, k)
}

func (t *tree) get(k *probeKey) (*slot, bool) {
	l, i := t.find(k)
	if i < l.n && l.prefix[i] == k.prefix && bytes.Equal(t.arena.key(l.slots[i].key), k.key) {
		return &l.slots[i], true
	}
	return nil, false
}

// mutableLeaf and mutableInner return n itself when t owns it, else a copy
// t owns.
func (t *tree) mutableLeaf(p unsafe.Pointer) *leaf {
	l := (*leaf)(p)
	if l.cow == t.cow {
		return l
	}
	c := *l
	c.cow = t.cow
	return &c
}

func (t *tree) mutableInner(p unsafe.Pointer) *inner {
	in := (*inner)(p)
	if in.cow == t.cow {
		return in
	}
	c := *in
	c.cow = t.cow
	return &c
}

func (t *tree) full(p unsafe.Pointer, h int) bool {
	if h == 0 {
		return (*leaf)(p).n == leafCap
	}
	return (*inner)(p).n == innerCap
}

// set finds k's slot for writing, inserting one naming the arena's key
// ref (the rest zero) when k is new.
func (t *tree) set(k *probeKey, ref keyRef) *slot {
	if t.full(t.root, t.height) {
		r := &inner{cow: t.cow, n: 1}
		r.kids[0] = t.root
		t.root = unsafe.Pointer(r)
		t.height++
		t.splitChild(r, 0, t.height-1)
	}
	var n unsafe.Pointer
	if t.height == 0 {
		n = unsafe.Pointer(t.mutableLeaf(t.root))
	} else {
		n = unsafe.Pointer(t.mutableInner(t.root))
	}
	t.root = n
	for h := t.height; h > 0; h-- {
		in := (*inner)(n)
		i := t.child(in, k)
		warmNode(in.kids[i], h-1)
		if t.full(in.kids[i], h-1) {
			t.splitChild(in, i, h-1)
			if !t.lessProbe(k, in.prefix[i], in.sep[i]) {
				i++
			}
		}
		if h-1 == 0 {
			in.kids[i] = unsafe.Pointer(t.mutableLeaf(in.kids[i]))
		} else {
			in.kids[i] = unsafe.Pointer(t.mutableInner(in.kids[i]))
		}
		n = in.kids[i]
	}
	l := (*leaf)(n)
	i := t.lowerBound(l, k)
	if i < l.n && l.prefix[i] == k.prefix && bytes.Equal(t.arena.key(l.slots[i].key), k.key) {
		return &l.slots[i]
	}
	copy(l.prefix[i+1:l.n+1], l.prefix[i:l.n])
	copy(l.slots[i+1:l.n+1], l.slots[i:l.n])
	l.n++
	t.count++
	l.prefix[i] = k.prefix
	l.slots[i] = slot{key: ref}
	return &l.slots[i]
}

// splitChild splits the full child i of the mutable node in (whose child
// height is h) into two halves and adds the separator to in, which has
// room.
func (t *tree) splitChild(in *inner, i, h int) {
	var right unsafe.Pointer
	var sepPrefix uint64
	var sep keyRef
	if h == 0 {
		l := t.mutableLeaf(in.kids[i])
		in.kids[i] = unsafe.Pointer(l)
		half := l.n / 2
		r := &leaf{cow: t.cow, n: l.n - half}
		copy(r.prefix[:], l.prefix[half:l.n])
		copy(r.slots[:], l.slots[half:l.n])
		clear(l.slots[half:l.n])
		l.n = half
		sepPrefix, sep = r.prefix[0], r.slots[0].key
		right = unsafe.Pointer(r)
	} else {
		c := t.mutableInner(in.kids[i])
		in.kids[i] = unsafe.Pointer(c)
		half := c.n / 2 // children staying left
		r := &inner{cow: t.cow, n: c.n - half}
		copy(r.kids[:], c.kids[half:c.n])
		copy(r.prefix[:], c.prefix[half:c.n-1])
		copy(r.sep[:], c.sep[half:c.n-1])
		sepPrefix, sep = c.prefix[half-1], c.sep[half-1]
		clear(c.kids[half:c.n])
		c.n = half
		right = unsafe.Pointer(r)
	}
	copy(in.kids[i+2:in.n+1], in.kids[i+1:in.n])
	copy(in.prefix[i+1:in.n], in.prefix[i:in.n-1])
	copy(in.sep[i+1:in.n], in.sep[i:in.n-1])
	in.kids[i+1] = right
	in.prefix[i], in.sep[i] = sepPrefix, sep
	in.n++
}

type frame struct {
	n *inner
	i int
}

// iter walks a tree in ascending order.
type iter struct {
	t     *tree
	path  [maxDepth]frame // path[h-1] is the inner node at height h
	leaf  *leaf
	i     int
	valid bool
}

func (it *iter) first() bool {
	t := it.t
	n := t.root
	for h := t.height; h > 0; h-- {
		in := (*inner)(n)
		it.path[h-1] = frame{in, 0}
		n = in.kids[0]
	}
	it.leaf, it.i = (*leaf)(n), 0
	return it.settle()
}

func (it *iter) seekGE(k *probeKey) bool {
	t := it.t
	n := t.root
	for h := t.height; h > 0; h-- {
		in := (*inner)(n)
		i := t.child(in, k)
		it.path[h-1] = frame{in, i}
		n = in.kids[i]
	}
	it.leaf = (*leaf)(n)
	it.i = t.lowerBound(it.leaf, k)
	return it.settle()
}

func (it *iter) next() bool {
	if !it.valid {
		return false
	}
	it.i++
	return it.settle()
}

// settle moves past the end of exhausted leaves to the next entry.
func (it *iter) settle() bool {
	for it.i >= it.leaf.n {
		// Climb to the first ancestor with a next child, then descend
		// to that child's leftmost leaf.
		h := 0
		for h < it.t.height && it.path[h].i+1 >= it.path[h].n.n {
			h++
		}
		if h == it.t.height {
			it.valid = false
			return false
		}
		it.path[h].i++
		n := it.path[h].n.kids[it.path[h].i]
		for ; h > 0; h-- {
			in := (*inner)(n)
			it.path[h-1] = frame{in, 0}
			n = in.kids[0]
		}
		it.leaf, it.i = (*leaf)(n), 0
	}
	it.valid = true
	return true
}

// warmNode loads the lines of node p (height h) that an insert reads: a
// leaf's prefixes and slots, an inner node's prefixes and children. The
// loads are independent, so the node costs one round of parallel cache
// misses rather than one for its header, one for the prefixes and one for
// the child pointer or slots the search picks.
func warmNode(p unsafe.Pointer, h int) {
	var x uint64
	if h == 0 {
		l := (*leaf)(p)
		for j := 0; j < leafCap; j += 8 {
			x |= l.prefix[j]
		}
		for j := 0; j < leafCap; j += 2 {
			x |= uint64(l.slots[j].key)
		}
	} else {
		in := (*inner)(p)
		for j := 0; j < innerCap-1; j += 8 {
			x |= in.prefix[j]
		}
		for j := 0; j < innerCap; j += 8 {
			x |= uint64(uintptr(in.kids[j]))
		}
	}
	runtime.KeepAlive(x)
}
