package btree

// Node format (version 1). Every node is one 4 KiB extent, aligned to 4 KiB,
// little-endian, never modified after it is written (copy-on-write).
//
//	offset size field
//	0      4    magic "DKBT"
//	4      1    format version (1)
//	5      1    kind: 1 leaf, 2 internal
//	6      1    level: 0 for leaves, child level + 1 for internal nodes
//	7      1    reserved, 0
//	8      2    count: number of entries, >= 1
//	10     2    heap: offset of the lowest byte of entry data
//	12     4    CRC32C (Castagnoli) of all 4096 bytes with this field zeroed
//	16     8    gen: checkpoint generation that wrote the node
//	24     8    self: the node's own offset in the region (catches
//	            misdirected writes and stale pointers)
//	32     8*count  slot array, in key order:
//	            {pos uint16, klen uint16, prefix [4]byte}
//	...         free space (zero)
//	heap   ...  entry data, packed downwards from the end of the node
//
// The slot array holds each entry's key position, length and first four
// bytes (zero-padded), so a lookup binary-searches in place in the mapping
// without decoding the node (the bbolt page idea), and most probes are
// decided by the prefix in the slot array without touching the key in the
// heap: fewer cache lines per node, which on Optane cost ~300 ns each.
// Entry data at pos:
//
//	leaf:     key[klen] tag(1) then
//	          tag 0 (inline): vlen uint8, value[vlen]
//	          tag 1 (extent): ext uint64 (offset), len uint64 (value length)
//	internal: key[klen] child uint64
//
// Internal entry i covers keys in [key_i, key_i+1); entry 0 stores an empty
// key and covers everything below key_1 that the parent routes here.
// Separators are the shortest prefix of the right node's first key that is
// greater than the left node's last key (suffix truncation), so long keys
// do not ruin fan-out.
//
// Limits: keys 1..1024 bytes, inline values 0..255 bytes, so the largest
// leaf entry is 8+1024+1+1+255 = 1289 bytes and the largest internal entry
// 8+1024+8 = 1040 bytes: a node holds three of either (the build fails if
// it could not hold two).
//
// Every offset and length read from a node is bounds-checked before use;
// a violation is an error wrapping errs.Corrupt that names the node.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"

	"github.com/daxkv/daxkv/internal/errs"
)

const (
	// NodeSize is the size and alignment of every tree node.
	NodeSize = 4096
	// MaxKey is the longest key the tree stores.
	MaxKey = 1024
	// InlineMax bounds inline values: len(Inline) < InlineMax.
	InlineMax = 256
	// UnitSize is the alignment of value extents (the allocator unit).
	UnitSize = 256

	nodeMagic   = 0x54424b44 // "DKBT" in little-endian byte order
	nodeVersion = 1

	kindLeaf     = 1
	kindInternal = 2

	tagInline = 0
	tagExtent = 1

	hdrSize   = 32
	slotSize  = 8
	prefixLen = 4
	nodeCap   = NodeSize - hdrSize // bytes for slots plus entry data

	maxLeafItem     = slotSize + MaxKey + 1 + 1 + (InlineMax - 1)
	maxInternalItem = slotSize + MaxKey + 8

	// maxLevel bounds tree height. Fan-out is at least 3, so 40 levels
	// is far beyond any region; it stops descents on corrupt trees.
	maxLevel = 40

	// Header field offsets.
	offMagic   = 0
	offVersion = 4
	offKind    = 5
	offLevel   = 6
	offCount   = 8
	offHeap    = 10
	offCRC     = 12
	offGen     = 16
	offSelf    = 24
)

// Compile-time guarantees: a node holds at least two maximal entries of
// either kind (a negative constant converted to uint does not compile).
const (
	_ = uint(nodeCap - 2*maxLeafItem)
	_ = uint(nodeCap - 2*maxInternalItem)
)

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// NodeError reports a node that failed verification: bad checksum, header
// or entry, or disagreement with its parent. It matches errs.Corrupt. The
// store maps Off to the key ranges and refs that lost data.
type NodeError struct {
	Off    int64
	Reason string
}

func (e *NodeError) Error() string { return fmt.Sprintf("btree: node %#x: %s", e.Off, e.Reason) }

// Unwrap makes errors.Is(err, errs.Corrupt) true.
func (e *NodeError) Unwrap() error { return errs.Corrupt }

func corruptf(off int64, format string, args ...any) error {
	return &NodeError{Off: off, Reason: fmt.Sprintf(format, args...)}
}

// crcHole stands in for the CRC field while it is computed (a global: a
// local array would escape and cost an allocation per check).
var crcHole [4]byte

// nodeCRC computes the checksum of a node image with the CRC field zeroed.
func nodeCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:offCRC])
	c = crc32.Update(c, castagnoli, crcHole[:])
	return crc32.Update(c, castagnoli, b[offCRC+4:NodeSize])
}

// node is a read-only view of one node in the mapping. Its fields come from
// a header that parseNode has validated. Entry accessors bounds-check every
// slot all the same: readNode validates entries once per Tree, but views
// made by parseNode alone (Check, fuzzing) have not been.
type node struct {
	off   int64
	b     []byte // exactly NodeSize bytes
	count int
	level int
	heap  int
	gen   uint64
	lim   int64 // region size: value extents must lie below it
}

func (n *node) leaf() bool { return n.level == 0 }

// parseNode validates a node header. It does not check the CRC.
func parseNode(b []byte, off, lim int64) (node, error) {
	if len(b) != NodeSize {
		return node{}, corruptf(off, "short node (%d bytes)", len(b))
	}
	if m := le.Uint32(b[offMagic:]); m != nodeMagic {
		return node{}, corruptf(off, "bad magic %#x", m)
	}
	if v := b[offVersion]; v != nodeVersion {
		return node{}, corruptf(off, "unknown format version %d", v)
	}
	n := node{
		off:   off,
		b:     b,
		count: int(le.Uint16(b[offCount:])),
		level: int(b[offLevel]),
		heap:  int(le.Uint16(b[offHeap:])),
		gen:   le.Uint64(b[offGen:]),
		lim:   lim,
	}
	switch kind := b[offKind]; {
	case kind == kindLeaf && n.level == 0:
	case kind == kindInternal && n.level > 0 && n.level <= maxLevel:
	default:
		return node{}, corruptf(off, "kind %d at level %d", kind, n.level)
	}
	if self := int64(le.Uint64(b[offSelf:])); self != off {
		return node{}, corruptf(off, "node claims offset %#x", self)
	}
	if n.count == 0 || hdrSize+slotSize*n.count > n.heap || n.heap > NodeSize {
		return node{}, corruptf(off, "count %d, heap %d", n.count, n.heap)
	}
	return n, nil
}

// entry returns the position and length of entry i's key, checked to lie
// in the heap together with its fixed-size tail of tail bytes.
func (n *node) entry(i, tail int) (pos, klen int, err error) {
	if i < 0 || i >= n.count {
		return 0, 0, corruptf(n.off, "entry %d of %d", i, n.count)
	}
	s := hdrSize + slotSize*i
	pos = int(le.Uint16(n.b[s:]))
	klen = int(le.Uint16(n.b[s+2:]))
	if pos < n.heap || klen > MaxKey || pos+klen+tail > NodeSize || (klen == 0 && n.leaf()) {
		return 0, 0, corruptf(n.off, "entry %d at %d, key length %d", i, pos, klen)
	}
	return pos, klen, nil
}

// validate decodes every entry once: slots, keys and values in bounds, keys
// strictly ascending, internal entry 0 unkeyed and the others keyed. After
// it, accessors cannot fail and iteration order is guaranteed.
func (n *node) validate() error {
	var prev []byte
	for i := 0; i < n.count; i++ {
		k, err := n.key(i)
		if err != nil {
			return err
		}
		if p := n.slotPrefix(i); p != keyPrefix(k) {
			return corruptf(n.off, "entry %d: slot prefix %#x does not match the key", i, p)
		}
		if n.leaf() {
			if _, err := n.value(i); err != nil {
				return err
			}
		} else {
			if (i == 0) != (len(k) == 0) {
				return corruptf(n.off, "entry %d: separator of %d bytes", i, len(k))
			}
			if _, err := n.child(i); err != nil {
				return err
			}
		}
		if i > 0 && prev != nil && bytes.Compare(prev, k) >= 0 {
			return corruptf(n.off, "entry %d: keys out of order", i)
		}
		if len(k) > 0 {
			prev = k
		}
	}
	return nil
}

// key returns entry i's key, a slice of the mapping. Internal entry 0 has
// an empty key.
func (n *node) key(i int) ([]byte, error) {
	pos, klen, err := n.entry(i, 0)
	if err != nil {
		return nil, err
	}
	return n.b[pos : pos+klen : pos+klen], nil
}

// child returns internal entry i's child offset.
func (n *node) child(i int) (int64, error) {
	pos, klen, err := n.entry(i, 8)
	if err != nil {
		return 0, err
	}
	c := int64(le.Uint64(n.b[pos+klen:]))
	if c <= 0 || c%NodeSize != 0 || c > n.lim-NodeSize {
		return 0, corruptf(n.off, "entry %d: child offset %#x", i, c)
	}
	return c, nil
}

// extentRef decodes an extent value's offset and length (after its tag).
func extentRef(b []byte) (ext, vlen int64) {
	return int64(le.Uint64(b)), int64(le.Uint64(b[8:]))
}

// validExtentRef reports whether an extent value lies in a region whose
// extent space ends at lim.
func validExtentRef(ext, vlen, lim int64) bool {
	return ext > 0 && ext%UnitSize == 0 && ext < lim && vlen >= 0 && vlen <= lim-ext
}

// value decodes leaf entry i's value; Inline is a slice of the mapping.
func (n *node) value(i int) (Value, error) {
	pos, klen, err := n.entry(i, 1)
	if err != nil {
		return Value{}, err
	}
	return n.valueAt(pos+klen, i)
}

// valueAt decodes the value whose tag is at p, of entry i (for errors).
func (n *node) valueAt(p, i int) (Value, error) {
	l, err := n.locAt(p, i)
	if err != nil {
		return Value{}, err
	}
	if l.Ext {
		return Value{Ext: l.Off, Len: l.Len}, nil
	}
	at := int(l.Off - n.off)
	return Value{Inline: n.b[at : at+int(l.Len) : at+int(l.Len)], Len: l.Len}, nil
}

// locAt is valueAt as a Loc.
func (n *node) locAt(p, i int) (Loc, error) { return valueLoc(n.b, n.off, n.heap, n.lim, p, i) }

// valueLoc decodes the value whose tag is at p in b, the bytes of the node
// at off whose heap starts at heap, for entry i (for errors); a value
// extent must lie below lim. It takes the node's fields rather than a
// node so that a lookup need not build one.
func valueLoc(b []byte, off int64, heap int, lim int64, p, i int) (Loc, error) {
	if p < heap || p >= NodeSize {
		return Loc{}, corruptf(off, "entry %d: value at %d", i, p)
	}
	switch b[p] {
	case tagInline:
		if p+2 > NodeSize {
			return Loc{}, corruptf(off, "entry %d: truncated inline value", i)
		}
		vlen := int(b[p+1])
		if p+2+vlen > NodeSize {
			return Loc{}, corruptf(off, "entry %d: inline value of %d bytes overruns node", i, vlen)
		}
		return Loc{Off: off + int64(p+2), Len: int64(vlen)}, nil
	case tagExtent:
		if p+17 > NodeSize {
			return Loc{}, corruptf(off, "entry %d: truncated extent value", i)
		}
		ext, vlen := extentRef(b[p+1:])
		if !validExtentRef(ext, vlen, lim) {
			return Loc{}, corruptf(off, "entry %d: value extent %#x length %d", i, ext, vlen)
		}
		return Loc{Off: ext, Len: vlen, Ext: true}, nil
	default:
		return Loc{}, corruptf(off, "entry %d: value tag %d", i, b[p])
	}
}

// keyPrefix returns the first prefixLen bytes of key, zero-padded, as a
// big-endian number: comparing two prefixes orders their keys, unless
// they are equal.
func keyPrefix(key []byte) uint32 {
	var p [prefixLen]byte
	copy(p[:], key)
	return binary.BigEndian.Uint32(p[:])
}

// slotPrefix is the key prefix stored in slot i.
func (n *node) slotPrefix(i int) uint32 {
	return binary.BigEndian.Uint32(n.b[hdrSize+slotSize*i+prefixLen:])
}

// cmpKey compares entry i's key with key, whose keyPrefix is kp. The slot
// decides most comparisons; the key in the heap is read only on a tie.
func (n *node) cmpKey(i int, key []byte, kp uint32) (int, error) {
	if i < 0 || i >= n.count {
		return 0, corruptf(n.off, "entry %d of %d", i, n.count)
	}
	s := hdrSize + slotSize*i
	if sp := n.slotPrefix(i); sp != kp {
		if sp < kp {
			return -1, nil
		}
		return 1, nil
	}
	if klen := int(le.Uint16(n.b[s+2:])); klen <= prefixLen && len(key) <= prefixLen {
		// Equal padded prefixes of short keys: they differ at most
		// in trailing zero bytes, so the shorter one sorts first.
		return klen - len(key), nil
	}
	// A tie is most often the key being looked up: load the lines after
	// the key's together with it, so that reading the value that follows
	// does not miss again.
	if pos := int(le.Uint16(n.b[s:])); pos < NodeSize-2*64 {
		runtime.KeepAlive(n.b[pos+64] | n.b[pos+2*64])
	}
	k, err := n.key(i)
	if err != nil {
		return 0, err
	}
	return bytes.Compare(k, key), nil
}

// search returns the first leaf entry whose key is >= key, and whether it
// is equal.
func (n *node) search(key []byte) (int, bool, error) {
	kp := keyPrefix(key)
	lo, hi := 0, n.count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c, err := n.cmpKey(mid, key, kp)
		if err != nil {
			return 0, false, err
		}
		switch {
		case c < 0:
			lo = mid + 1
		case c == 0:
			return mid, true, nil
		default:
			hi = mid
		}
	}
	return lo, false, nil
}

// route returns the internal entry whose subtree may hold key: the last
// entry i >= 1 with key_i <= key, else 0.
func (n *node) route(key []byte) (int, error) {
	kp := keyPrefix(key)
	lo, hi := 1, n.count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c, err := n.cmpKey(mid, key, kp)
		if err != nil {
			return 0, err
		}
		if c <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1, nil
}

// refs calls fn for every extent this node references: children of an
// internal node, value extents of a leaf.
func (n *node) refs(fn func(off int64) error) error {
	for i := 0; i < n.count; i++ {
		var off int64
		if n.leaf() {
			v, err := n.value(i)
			if err != nil {
				return err
			}
			off = v.Ext
		} else {
			c, err := n.child(i)
			if err != nil {
				return err
			}
			off = c
		}
		if off != 0 {
			if err := fn(off); err != nil {
				return err
			}
		}
	}
	return nil
}

// itemSize is the space an entry takes in a node: slot plus data. For
// internal items it counts the key even where the entry is a node's first
// (stored empty), so packing is conservative.
func itemSize(level int, it *item) int {
	if level > 0 {
		return slotSize + len(it.key) + 8
	}
	if it.val.Ext != 0 {
		return slotSize + len(it.key) + 1 + 16
	}
	return slotSize + len(it.key) + 2 + len(it.val.Inline)
}

// encode serialises d into buf (NodeSize bytes) as the node at offset self.
// The caller has checked (pack) that the items fit and that every child
// node has been given an offset.
func (d *dnode) encode(buf []byte, gen uint64, self int64) {
	clear(buf)
	le.PutUint32(buf[offMagic:], nodeMagic)
	buf[offVersion] = nodeVersion
	if d.level == 0 {
		buf[offKind] = kindLeaf
	} else {
		buf[offKind] = kindInternal
	}
	buf[offLevel] = byte(d.level)
	le.PutUint16(buf[offCount:], uint16(len(d.items)))
	le.PutUint64(buf[offGen:], gen)
	le.PutUint64(buf[offSelf:], uint64(self))
	heap := NodeSize
	for i := range d.items {
		it := &d.items[i]
		key := it.key
		if d.level > 0 && i == 0 {
			key = nil // entry 0 of an internal node is unbounded below
		}
		var size int
		switch {
		case d.level > 0:
			size = len(key) + 8
		case it.val.Ext != 0:
			size = len(key) + 17
		default:
			size = len(key) + 2 + len(it.val.Inline)
		}
		heap -= size
		s := hdrSize + slotSize*i
		le.PutUint16(buf[s:], uint16(heap))
		le.PutUint16(buf[s+2:], uint16(len(key)))
		copy(buf[s+4:s+4+prefixLen], key) // zero-padded: buf was cleared
		p := heap + copy(buf[heap:], key)
		switch {
		case d.level > 0:
			c := it.child
			if it.node != nil {
				c = it.node.off
			}
			le.PutUint64(buf[p:], uint64(c))
		case it.val.Ext != 0:
			buf[p] = tagExtent
			le.PutUint64(buf[p+1:], uint64(it.val.Ext))
			le.PutUint64(buf[p+9:], uint64(it.val.Len))
		default:
			buf[p] = tagInline
			buf[p+1] = byte(len(it.val.Inline))
			copy(buf[p+2:], it.val.Inline)
		}
	}
	le.PutUint16(buf[offHeap:], uint16(heap))
	le.PutUint32(buf[offCRC:], nodeCRC(buf))
}

// separator returns the shortest prefix of hi that sorts after lo, given
// lo < hi. It is a valid lower bound for a node starting at hi whose left
// neighbour ends at lo.
func separator(lo, hi []byte) []byte {
	n := 0
	for n < len(lo) && n < len(hi) && lo[n] == hi[n] {
		n++
	}
	if n >= len(hi) {
		return hi // hi is a prefix of lo: lo < hi is violated; stay valid
	}
	return hi[: n+1 : n+1]
}
