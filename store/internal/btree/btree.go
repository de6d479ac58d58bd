// Package btree is the copy-on-write B+tree the store checkpoints its
// memtables into. Nodes are 4 KiB extents in the mapped region (format in
// node.go); values are inline in leaves or live in their own extents.
//
// Every branch and snapshot is a root. Nodes and value extents carry
// reference counts in the allocator, as in Rodeh's "B-trees, Shadowing,
// and Clones": a node's count is the number of parents and roots pointing
// at it, a value extent's the number of leaves pointing at it. Cloning a
// tree is one Ref of its root; an update shadows the path it touches and
// pushes sharing down one level at a time (apply.go); releasing a root
// recurses only where a count reaches zero (refs.go).
//
// A Tree holds no roots and no per-tree state besides a bitset of nodes
// whose checksum it has verified, so any number of goroutines may read
// (Get, NewIter, Walk, Diff, Check) while one goroutine at a time writes
// (Apply, Ref, Release). Readers see nodes in place: keys and inline values
// they return are slices of the mapping, valid while the nodes stay
// allocated (the store's epochs ensure that).
package btree

import (
	"fmt"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/bitset"
	"github.com/daxkv/daxkv/internal/errs"
)

// Extents is what the tree needs from the refcounted extent allocator;
// *alloc.Allocator satisfies it.
type Extents interface {
	// Alloc returns a new extent of n bytes with refcount 1.
	Alloc(n, align int64) (off int64, err error)
	// Free returns a zombie (refcount 0) extent to free space.
	Free(off int64) error
	Incref(off int64) error
	// Decref drops one reference; at zero the extent is a zombie that
	// stays allocated until Free.
	Decref(off int64) (remaining uint32, err error)
	// Refs reports the refcount of the extent starting at off, and
	// whether such an extent exists.
	Refs(off int64) (uint32, bool)
}

// extentLener is optionally implemented by the allocator; Check uses it to
// verify that a value fits its extent.
type extentLener interface {
	Len(off int64) (int64, bool)
}

// Value is a value as stored in a leaf: small values inline, bigger ones in
// their own extent written by the store.
type Value struct {
	Inline []byte // inline bytes; a slice of the mapping when read
	Ext    int64  // extent offset; 0 means inline
	Len    int64  // value length
}

// Loc is where a point lookup found a value: Len bytes inline at region
// offset Off, or, when Ext, in the value extent at Off. Lookups return a
// Loc rather than a Value because it is small enough for the compiler to
// keep in registers: a Value is copied through the stack at every return,
// and on the read path those copies cost more than the rest of the call.
type Loc struct {
	Off int64
	Len int64
	Ext bool
}

// ValueOf is the Value at l; inline bytes are a slice of the mapping. l
// must come from a lookup that found the key: it is not checked again.
func (t *Tree) ValueOf(l Loc) Value {
	if l.Ext {
		return Value{Ext: l.Off, Len: l.Len}
	}
	return Value{Inline: t.mem[l.Off : l.Off+l.Len : l.Off+l.Len], Len: l.Len}
}

// Tree reads and writes copy-on-write B+trees in one mapped region.
type Tree struct {
	mem      []byte
	ext      Extents
	p        flush.Persister
	verified *bitset.Set // nodes (by offset/NodeSize) whose CRC has been checked, or that it wrote
}

// New returns a Tree over mem, the whole mapped region (node and extent
// offsets index into it). ext holds the refcounts; p persists new nodes.
// A Tree for reading alone (a recovery walk before the allocator exists)
// may have a nil ext: writers then fail with errs.Invalid and Check skips
// its refcount checks.
func New(mem []byte, ext Extents, p flush.Persister) *Tree {
	return &Tree{
		mem:      mem,
		ext:      ext,
		p:        p,
		verified: bitset.New(int64(len(mem)) / NodeSize),
	}
}

// readNode returns a validated view of the node at off. The CRC and every
// entry are checked the first time this Tree reads the node (a bit in
// t.verified remembers it); the header on every read. level
// is the level the caller expects (-1: any); demanding parent level - 1 on
// every descent is what makes cycles impossible.
func (t *Tree) readNode(off int64, level int) (node, error) {
	if off <= 0 || off%NodeSize != 0 || off > int64(len(t.mem))-NodeSize {
		return node{}, corruptf(off, "node offset outside the region")
	}
	b := t.mem[off : off+NodeSize : off+NodeSize]
	idx := off / NodeSize
	verified := t.verified.Has(idx)
	if !verified {
		if got, want := nodeCRC(b), le.Uint32(b[offCRC:]); got != want {
			return node{}, corruptf(off, "checksum %#x, stored %#x", got, want)
		}
	}
	n, err := parseNode(b, off, int64(len(t.mem)))
	if err != nil {
		return node{}, err
	}
	if !verified {
		// A node is immutable, so one full pass buys every later read.
		if err := n.validate(); err != nil {
			return node{}, err
		}
		t.verified.Add(idx)
	}
	if level >= 0 && n.level != level {
		return node{}, corruptf(off, "level %d, expected %d", n.level, level)
	}
	return n, nil
}

// writable reports whether the Tree can change refcounts.
func (t *Tree) writable() error {
	if t.ext == nil {
		return fmt.Errorf("btree: tree opened without an allocator: %w", errs.Invalid)
	}
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 || len(key) > MaxKey {
		return fmt.Errorf("btree: key length %d not in 1..%d: %w", len(key), MaxKey, errs.Invalid)
	}
	return nil
}
