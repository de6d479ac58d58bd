package btree

import (
	"bytes"
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// CheckOption configures Check.
type CheckOption func(*checker)

// MaxErrors stops Check after n problems (default 100; n <= 0: no limit).
func MaxErrors(n int) CheckOption { return func(c *checker) { c.max = n } }

// Check verifies the tree rooted at root and returns every problem found
// (each wraps errs.Corrupt), or nil. It recomputes every checksum instead
// of trusting the verified cache, and checks: headers and entry bounds,
// key order within nodes, that separators bound their children, levels
// decreasing by one, generations not increasing downwards, value lengths
// within the region (and within their extent when the allocator reports
// lengths), each node reached once, and every node and value extent
// allocated with a refcount of at least one (when the Tree has an
// allocator). A corrupt node's subtree is skipped; the rest is still
// checked.
func (t *Tree) Check(root int64, opts ...CheckOption) []error {
	c := &checker{t: t, max: 100, seen: sparseSet{}}
	for _, o := range opts {
		o(c)
	}
	if root != 0 {
		c.node(root, -1, nil, nil, ^uint64(0))
	}
	return c.errs
}

type checker struct {
	t    *Tree
	max  int
	errs []error
	seen sparseSet
}

func (c *checker) full() bool { return c.max > 0 && len(c.errs) >= c.max }

func (c *checker) add(err error) { c.errs = append(c.errs, err) }

// extent checks that an extent the tree references is allocated.
func (c *checker) extent(off int64, what string) {
	if c.t.ext == nil {
		return
	}
	if r, ok := c.t.ext.Refs(off); !ok || r == 0 {
		c.add(fmt.Errorf("btree: %s %#x is referenced but not allocated (refs %d): %w", what, off, r, errs.Corrupt))
	}
}

func (c *checker) node(off int64, level int, lo, hi []byte, parentGen uint64) {
	if c.full() {
		return
	}
	t := c.t
	if off <= 0 || off%NodeSize != 0 || off > int64(len(t.mem))-NodeSize {
		c.add(corruptf(off, "node offset outside the region"))
		return
	}
	if !c.seen.add(off) {
		c.add(corruptf(off, "reached twice in one tree"))
		return
	}
	c.extent(off, "node")
	b := t.mem[off : off+NodeSize : off+NodeSize]
	if got, want := nodeCRC(b), le.Uint32(b[offCRC:]); got != want {
		c.add(corruptf(off, "checksum %#x, stored %#x", got, want))
		return
	}
	n, err := parseNode(b, off, int64(len(t.mem)))
	if err == nil {
		err = n.validate()
	}
	if err != nil {
		c.add(err)
		return
	}
	if level >= 0 && n.level != level {
		c.add(corruptf(off, "level %d, expected %d", n.level, level))
		return
	}
	if n.gen > parentGen {
		c.add(corruptf(off, "generation %d newer than its parent's %d", n.gen, parentGen))
	}
	// validate checked the order within the node; the first and last
	// keys must also lie within the range the parent gives.
	first := 0
	if !n.leaf() {
		first = 1
	}
	if first < n.count {
		k, _ := n.key(first)
		if lo != nil && bytes.Compare(k, lo) < 0 {
			c.add(corruptf(off, "key %q below the lower bound %q", k, lo))
		}
		k, _ = n.key(n.count - 1)
		if hi != nil && bytes.Compare(k, hi) >= 0 {
			c.add(corruptf(off, "key %q not below the upper bound %q", k, hi))
		}
	}
	for i := 0; i < n.count && !c.full(); i++ {
		k, _ := n.key(i)
		if n.leaf() {
			v, _ := n.value(i)
			if v.Ext != 0 {
				c.value(off, k, v)
			}
			continue
		}
		child, _ := n.child(i)
		clo, chi := lo, hi
		if i > 0 {
			clo = k
		}
		if i+1 < n.count {
			chi, _ = n.key(i + 1)
		}
		c.node(child, n.level-1, clo, chi, n.gen)
	}
}

func (c *checker) value(leaf int64, key []byte, v Value) {
	if !c.seen.add(v.Ext) {
		c.add(corruptf(leaf, "key %q: value extent %#x referenced twice in one tree", key, v.Ext))
		return
	}
	c.extent(v.Ext, "value extent")
	if l, ok := c.t.ext.(extentLener); ok {
		if n, ok := l.Len(v.Ext); ok && v.Len > n {
			c.add(corruptf(leaf, "key %q: value of %d bytes in an extent of %d", key, v.Len, n))
		}
	}
}
