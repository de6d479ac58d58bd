package btree

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"sort"
)

// Dir is a DRAM copy of one tree's routing: the lower bound and offset of
// every leaf, in key order. A point lookup through it binary-searches a
// dense array that stays in the CPU caches and then reads a single node,
// where a descent reads one node per level, each a cache and TLB miss on
// the mapping. This is the FPTree arrangement (inner nodes in DRAM, leaves
// in persistent memory) kept as a cache: the tree on media stays complete
// and a missing or stale Dir only costs speed, never correctness.
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
	sample []uint64 // prefix[0], prefix[dirBlock], prefix[2*dirBlock], ...
	leaf   []int64  // leaf offsets
	lowEnd []uint32 // leaf i's lower bound is lows[lowEnd[i-1]:lowEnd[i]]
	lows   []byte
}

// dirBlock is how many prefixes find scans after bisecting the samples.
const dirBlock = 32

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

// index computes common, the prefixes and the samples once every bound
// is in.
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
	d.prefix = make([]uint64, len(d.leaf))
	for i := range d.prefix {
		if low := d.low(i); len(low) > len(d.common) {
			d.prefix[i] = dirPrefix(low[len(d.common):])
		}
		if i%dirBlock == 0 {
			d.sample = append(d.sample, d.prefix[i])
		}
	}
}

// find returns the leaf that may hold key: the last one whose lower bound
// is <= key. The first leaf's bound is empty, below every key.
func (d *Dir) find(key []byte) int64 {
	if !bytes.HasPrefix(key, d.common) {
		// Every bound but the first starts with common.
		if bytes.Compare(key, d.common) < 0 {
			return d.leaf[0]
		}
		return d.leaf[len(d.leaf)-1]
	}
	kp := dirPrefix(key[len(d.common):])
	// Bisect the samples (every dirBlock-th prefix, a few KiB that stay in
	// L1), then count inside one block: a dozen well-predicted steps
	// instead of a bisection's twenty mispredicted ones over the whole
	// array. Ties on the prefix are settled on the key bytes after.
	lo, hi := 0, len(d.sample)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.sample[m] <= kp {
			lo = m + 1
		} else {
			hi = m
		}
	}
	// Blocks before lo-1 hold only prefixes <= kp, blocks from lo on only
	// greater ones: the last prefix <= kp is in block lo-1.
	start := max(lo-1, 0) * dirBlock
	ub := start
	for _, p := range d.prefix[start:min(start+dirBlock, len(d.prefix))] {
		if p <= kp {
			ub++
		}
	}
	if ub == 0 || d.prefix[ub-1] != kp {
		return d.leaf[max(ub-1, 0)] // no tie: the last bound below
	}
	// Bounds sharing key's prefix (keys like "00000000123" share all 8
	// bytes) are settled by bisecting their key bytes: the last bound
	// <= key among them, else the last bound below them.
	tie := sort.Search(ub, func(i int) bool { return d.prefix[i] >= kp })
	n := sort.Search(ub-tie, func(j int) bool { return bytes.Compare(d.low(tie+j), key) > 0 })
	return d.leaf[max(tie+n-1, 0)]
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

// GetDir is Get through a directory of the tree at d.Root(): one node read.
func (t *Tree) GetDir(d *Dir, key []byte) (Value, bool, error) {
	if err := checkKey(key); err != nil {
		return Value{}, false, err
	}
	if d.root == 0 {
		return Value{}, false, nil
	}
	off := d.find(key)
	t.warm(off)
	n, err := t.readNode(off, 0)
	if err != nil {
		return Value{}, false, err
	}
	return n.lookup(key)
}

// warmLines is how much of a node warm touches: all of it. The header and
// slots alone (6 lines) did as well for keys whose 4-byte slot prefixes
// differ, but keys that share them ("0000000000123456") make the search
// read a key from the heap at every step, and those misses then overlap
// too (decimal keys: 1.33-1.60 -> 0.97-1.28 µs a Get).
const warmLines = NodeSize / 64

// warm loads one byte from each line of the node at off, so their cache
// misses overlap instead of following one another down a binary search.
func (t *Tree) warm(off int64) {
	if off <= 0 || off > int64(len(t.mem))-NodeSize {
		return // readNode reports it
	}
	b := t.mem[off : off+warmLines*64]
	var x byte
	for i := 0; i < len(b); i += 64 {
		x |= b[i]
	}
	runtime.KeepAlive(x) // or the unused loads are compiled away
}
