package btree

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"runtime"
	"sort"
)

// Dir is a DRAM copy of one tree's routing: the lower bound and offset of
// every leaf, in key order. A point lookup through it picks a radix
// bucket, bisects the few entries of a dense array in it (both stay in the
// CPU caches) and then reads a single node, where a descent reads one node
// per level, each a cache and TLB miss on the mapping. This is the FPTree
// arrangement (inner nodes in DRAM, leaves in persistent memory) kept as a
// cache: the tree on media stays complete and a missing or stale Dir only
// costs speed, never correctness. With fingerprints (fingerprint.go) a
// lookup reads only the entry it wants.
//
// A Dir describes the tree exactly as it was at root; trees never change in
// place, so it stays right for as long as that root is allocated. Callers
// must use it only with the root it was built from (Root).
type Dir struct {
	root int64
	// common is the prefix every lower bound but the first (empty) one
	// shares; prefix holds the 8 bytes after it. Keys such as
	// "0000000000123456" or "user1234..." would otherwise all tie on
	// their first 8 bytes.
	common []byte
	prefix []uint64 // 8-byte big-endian prefix of each bound after common
	// radix[b] is the first leaf whose prefix's bucket is >= b, for b up
	// to and including the number of buckets: a key's bucket bounds its
	// leaf to a handful of candidates (see bucket).
	radix      []uint32
	radixSkip  uint     // leading bits every prefix but the first shares
	radixTop   uint64   // those bits
	radixShift uint     // 64 - bits in a bucket number
	leaf       []int64  // leaf offsets; bit 0 set: the leaf's slot prefixes tie (leafTied)
	lowEnd     []uint32 // leaf i's lower bound is lows[lowEnd[i-1]:lowEnd[i]]
	lows       []byte
	// Leaf i's fingerprints (fingerprint.go) are fps[fpStart[i]:
	// fpStart[i+1]], taken from the node written by generation fpGen[i].
	// All nil until Fingerprint adds them.
	fpStart []uint32
	fpGen   []uint64
	fps     []uint32
}

// leafTied marks, in the low bit of a leaf offset (offsets are multiples
// of NodeSize), a leaf whose bounds share their first prefixLen bytes: every
// key in it does too, so its slot prefixes all tie and a lookup reads keys
// from the heap at every step of its search.
const leafTied = 1

// Root is the root the directory was built from.
func (d *Dir) Root() int64 { return d.root }

// Leaves is the number of leaves.
func (d *Dir) Leaves() int { return len(d.leaf) }

func dirPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func (d *Dir) low(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = d.lowEnd[i-1]
	}
	return d.lows[start:d.lowEnd[i]]
}

func (d *Dir) add(low []byte, leaf int64) {
	d.leaf = append(d.leaf, leaf)
	d.lows = append(d.lows, low...)
	d.lowEnd = append(d.lowEnd, uint32(len(d.lows)))
}

// index computes common, the prefixes and the radix table once every
// bound is in.
func (d *Dir) index() {
	if len(d.leaf) > 1 {
		d.common = d.low(1)
		for i := 2; i < len(d.leaf) && len(d.common) > 0; i++ {
			low := d.low(i)
			n := 0
			for n < len(d.common) && n < len(low) && d.common[n] == low[n] {
				n++
			}
			d.common = d.common[:n]
		}
		d.common = bytes.Clone(d.common)
	}
	for i := 0; i+1 < len(d.leaf); i++ {
		lo, hi := d.low(i), d.low(i+1)
		if len(lo) >= prefixLen && len(hi) >= prefixLen && bytes.Equal(lo[:prefixLen], hi[:prefixLen]) {
			d.leaf[i] |= leafTied
		}
	}
	d.prefix = make([]uint64, len(d.leaf))
	for i := range d.prefix {
		if low := d.low(i); len(low) > len(d.common) {
			d.prefix[i] = dirPrefix(low[len(d.common):])
		}
	}
	// About eight leaves a bucket when prefixes spread evenly (4 bytes of
	// table per 8 leaves); skewed prefixes only make buckets wider. The
	// bits all prefixes share (decimal keys share the high nibble of
	// every byte but only the first one's counts) are skipped.
	rbits := min(max(bits.Len(uint(len(d.prefix)))-3, 1), 20)
	d.radixShift = uint(64 - rbits)
	if n := len(d.prefix); n > 2 {
		d.radixSkip = uint(bits.LeadingZeros64(d.prefix[1] ^ d.prefix[n-1]))
		if d.radixSkip > 0 && d.radixSkip < 64 {
			d.radixTop = d.prefix[1] >> (64 - d.radixSkip)
		} else {
			d.radixSkip = 0 // one prefix repeated: nothing to skip to
		}
	}
	d.radix = make([]uint32, 1<<rbits+1)
	i := 0
	for b := range d.radix {
		for i < len(d.prefix) && d.bucket(d.prefix[i]) < uint64(b) {
			i++
		}
		d.radix[b] = uint32(i)
	}
}

// bucket is the radix bucket of prefix p: the bits after the shared ones.
// Prefixes whose shared bits differ go to the first or last bucket, so
// bucket never decreases as p grows: a bucket below kp's holds only
// prefixes below kp.
func (d *Dir) bucket(p uint64) uint64 {
	if d.radixSkip > 0 {
		switch top := p >> (64 - d.radixSkip); {
		case top < d.radixTop:
			return 0
		case top > d.radixTop:
			return uint64(len(d.radix)) - 2
		}
		p <<= d.radixSkip
	}
	return p >> d.radixShift
}

// find returns the index of the leaf that may hold key: the last one whose
// lower bound is <= key. The first leaf's bound is empty, below every key.
func (d *Dir) find(key []byte) int {
	if !bytes.HasPrefix(key, d.common) {
		// Every bound but the first starts with common.
		if bytes.Compare(key, d.common) < 0 {
			return 0
		}
		return len(d.leaf) - 1
	}
	kp := dirPrefix(key[len(d.common):])
	// Prefixes before the key's bucket are below kp and those after it
	// above, so the last prefix <= kp is in the bucket or just before it.
	// Bisect the bucket without branches: each step's direction is a coin
	// toss, and a mispredict costs more than the step. base ends on the
	// bucket's last prefix <= kp (or its first when none is), and ub is the
	// count of prefixes <= kp.
	b := d.bucket(kp)
	lo, hi := int(d.radix[b]), int(d.radix[b+1])
	ub := lo
	if p := d.prefix[lo:hi]; len(p) > 0 {
		base, size := 0, len(p)
		for size > 1 {
			half := size >> 1
			// borrow is 1 when kp < p[base+half], else 0; the mask
			// keeps half only when that prefix is <= kp.
			_, borrow := bits.Sub64(kp, p[base+half], 0)
			base += half & (int(borrow) - 1)
			size -= half
		}
		_, borrow := bits.Sub64(kp, p[base], 0)
		ub += base + 1 - int(borrow)
	}
	if ub == 0 || d.prefix[ub-1] != kp {
		return max(ub-1, 0) // no tie: the last bound below
	}
	// Bounds sharing key's prefix (keys like "00000000123" share all 8
	// bytes) are settled by bisecting their key bytes: the last bound
	// <= key among them, else the last bound below them.
	tie := sort.Search(ub, func(i int) bool { return d.prefix[i] >= kp })
	n := sort.Search(ub-tie, func(j int) bool { return bytes.Compare(d.low(tie+j), key) > 0 })
	return max(tie+n-1, 0)
}

// BuildDir reads the internal nodes of the tree at root (never its leaves)
// and returns its directory. The caller keeps root allocated meanwhile.
func (t *Tree) BuildDir(root int64) (*Dir, error) {
	d := &Dir{root: root}
	if root == 0 {
		return d, nil
	}
	n, err := t.readNode(root, -1)
	if err != nil {
		return nil, err
	}
	if n.leaf() {
		d.add(nil, root)
	} else if err := t.dirVisit(d, n, nil); err != nil {
		return nil, err
	}
	d.index()
	return d, nil
}

// dirVisit adds the leaves under internal node n, whose own lower bound is
// lo, in key order.
func (t *Tree) dirVisit(d *Dir, n node, lo []byte) error {
	for i := 0; i < n.count; i++ {
		low := lo
		if i > 0 {
			k, err := n.key(i)
			if err != nil {
				return err
			}
			low = k
		}
		c, err := n.child(i)
		if err != nil {
			return err
		}
		if n.level == 1 {
			d.add(low, c)
			continue
		}
		cn, err := t.readNode(c, n.level-1)
		if err != nil {
			return err
		}
		if err := t.dirVisit(d, cn, low); err != nil {
			return err
		}
	}
	return nil
}

// FindDir is Find through a directory of the tree at d.Root(): one node
// read.
func (t *Tree) FindDir(d *Dir, key []byte) (Loc, bool, error) {
	if err := checkKey(key); err != nil {
		return Loc{}, false, err
	}
	if d.root == 0 {
		return Loc{}, false, nil
	}
	i := d.find(key)
	e := d.leaf[i]
	off := e &^ leafTied
	if d.fpStart != nil {
		if l, ok, err := t.fpFind(d, i, off, key); ok || err != nil {
			return l, ok, err
		}
	}
	// A lookup reads the header and slots, then one entry, unless the
	// slot prefixes tie (keys like "0000000000123456"): then it reads a
	// key from the heap at every step, and loading the whole node at once
	// lets those misses overlap.
	if e&leafTied != 0 {
		t.warm(off, NodeSize)
	} else {
		t.warm(off, warmSlotLines*64)
	}
	n, err := t.readNode(off, 0)
	if err != nil {
		return Loc{}, false, err
	}
	if e&leafTied == 0 && n.count > 1 && n.slotPrefix(0) == n.slotPrefix(n.count-1) {
		t.warmRange(off+int64(n.heap), off+NodeSize) // bounds did not tell
	}
	return n.lookup(key)
}

// warmSlotLines is how much of a node a lookup warms: the header and the
// slots of up to 44 entries. Loading a whole node costs about three
// times as much as these six lines (its 64 misses queue for the line fill
// buffers), while a lookup needs only them and the entry it finds.
const warmSlotLines = 6

// warm loads the first n bytes of the node at off, one load per line at
// once, so their misses overlap instead of following one another down a
// search.
func (t *Tree) warm(off, n int64) {
	if !t.nodeInRegion(off) {
		return // readNode reports it
	}
	t.warmRange(off, off+n)
}

// nodeInRegion reports whether a node at off lies inside the mapping.
func (t *Tree) nodeInRegion(off int64) bool {
	return off > 0 && off <= int64(len(t.mem))-NodeSize
}

// warmRange loads one byte from each line of mem[from:to]; callers keep
// the range inside one node.
func (t *Tree) warmRange(from, to int64) {
	b := t.mem[from&^63 : to]
	var x byte
	for i := 0; i < len(b); i += 64 {
		x |= b[i]
	}
	runtime.KeepAlive(x) // or the unused loads are compiled away
}
