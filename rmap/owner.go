package rmap

import (
	"fmt"
	"strings"
)

// Kind tells what lives in an extent.
type Kind uint8

const (
	// Node is a B+tree node; Owner.Lo and Owner.Hi bound the keys under it,
	// [Lo, Hi), nil meaning unbounded.
	Node Kind = iota + 1
	// Value is a value extent; Owner.Lo and Owner.Hi are its key.
	Value
	// Catalog is one copy of the catalog of refs.
	Catalog
	// WAL is the write-ahead log ring.
	WAL
	// Superblock is the superblock or its backup copy.
	Superblock
	// Slot is a commit slot.
	Slot
	// AllocImage is an allocator image saved at a clean close.
	AllocImage
)

var kindNames = [...]string{Node: "node", Value: "value", Catalog: "catalog", WAL: "wal",
	Superblock: "superblock", Slot: "slot", AllocImage: "alloc-image"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Owner is one extent found by a lookup and what it holds.
type Owner struct {
	Off, Len int64
	Kind     Kind
	// Level is the node level (0 = leaf; -1 = an unreadable root whose
	// level is unknown); 0 for everything else.
	Level int
	// Lo and Hi: for a Node, the keys under it lie in [Lo, Hi), nil meaning
	// unbounded. For a Value, both are its key (if the extent was reported
	// under several keys, the smallest and the largest, inclusive). Nil for
	// metadata areas.
	Lo, Hi []byte
	// Refs are the IDs of the refs that reach the extent, ascending; nil
	// for metadata areas and for extents no ref was given for.
	Refs []uint32
}

// Contains reports whether ref reaches o.
func (o Owner) Contains(ref uint32) bool {
	for _, r := range o.Refs {
		if r == ref {
			return true
		}
	}
	return false
}

// String describes o for logs and error messages, e.g.
// `node L1 ["a", "m") at [4096, +4096) refs [1 3]`.
func (o Owner) String() string {
	var s strings.Builder
	s.WriteString(o.Kind.String())
	switch o.Kind {
	case Node:
		fmt.Fprintf(&s, " L%d [%s, %s)", o.Level, bound(o.Lo, "-inf"), bound(o.Hi, "+inf"))
	case Value:
		if string(o.Lo) == string(o.Hi) {
			fmt.Fprintf(&s, " %q", o.Lo)
		} else {
			fmt.Fprintf(&s, " [%s, %s]", bound(o.Lo, "-inf"), bound(o.Hi, "+inf"))
		}
	}
	fmt.Fprintf(&s, " at [%d, +%d)", o.Off, o.Len)
	if o.Refs != nil {
		fmt.Fprintf(&s, " refs %v", o.Refs)
	}
	return s.String()
}

func bound(k []byte, none string) string {
	if k == nil {
		return none
	}
	return fmt.Sprintf("%q", k)
}
