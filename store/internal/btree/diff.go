package btree

import "bytes"

// Diff reports every key whose value differs between the trees rooted at a
// and b, in ascending key order: old == nil means the key was added in b,
// new == nil that it was removed, both set that it was modified. Values
// are equal when their inline bytes are, or when they name the same
// extent with the same length (two extents with equal contents differ).
//
// The two trees are walked together, and a subtree whose node offset is
// the same on both sides is skipped without being read, so the cost
// follows the changes, not the size (the way btrfs compares snapshots).
// visited counts the nodes read.
func (t *Tree) Diff(a, b int64, fn func(key []byte, old, new *Value) error) (visited int, err error) {
	if a == b {
		return 0, nil
	}
	ca := diffCursor{t: t, visited: &visited}
	cb := diffCursor{t: t, visited: &visited}
	if err := ca.start(a); err != nil {
		return visited, err
	}
	if err := cb.start(b); err != nil {
		return visited, err
	}
	for !ca.done() || !cb.done() {
		var err error
		switch la, lb := ca.level(), cb.level(); {
		case ca.done() || cb.done():
			// One side is exhausted: the rest of the other is all
			// additions (b) or removals (a).
			c, removed := &cb, false
			if cb.done() {
				c, removed = &ca, true
			}
			if c.level() > 0 {
				err = c.descend()
				break
			}
			k, v := c.entry()
			if removed {
				err = fn(k, &v, nil)
			} else {
				err = fn(k, nil, &v)
			}
			c.next()
		case la > lb:
			err = ca.descend()
		case lb > la:
			err = cb.descend()
		case la > 0:
			if ca.child() == cb.child() {
				ca.next() // the same subtree on both sides
				cb.next()
				break
			}
			// Open the side that starts first; both when they start
			// together. Keys below the other side's start must be
			// reported before it moves.
			switch c := bytes.Compare(ca.key(), cb.key()); {
			case c < 0:
				err = ca.descend()
			case c > 0:
				err = cb.descend()
			default:
				if err = ca.descend(); err == nil {
					err = cb.descend()
				}
			}
		default:
			ka, va := ca.entry()
			kb, vb := cb.entry()
			switch c := bytes.Compare(ka, kb); {
			case c < 0:
				err = fn(ka, &va, nil)
				ca.next()
			case c > 0:
				err = fn(kb, nil, &vb)
				cb.next()
			default:
				if !sameValue(va, vb) {
					err = fn(ka, &va, &vb)
				}
				ca.next()
				cb.next()
			}
		}
		if err != nil {
			return visited, err
		}
	}
	return visited, nil
}

func sameValue(a, b Value) bool {
	if a.Ext != 0 || b.Ext != 0 {
		return a.Ext == b.Ext && a.Len == b.Len
	}
	return bytes.Equal(a.Inline, b.Inline)
}

// diffCursor is a position in one tree: a path of nodes whose last frame's
// entry is the current element, a subtree (internal) or a key (leaf).
type diffCursor struct {
	t       *Tree
	stack   []diffFrame
	visited *int
}

type diffFrame struct {
	n  node
	i  int
	lo []byte // lower bound of the node's range (nil: unbounded)
}

func (c *diffCursor) start(root int64) error {
	if root == 0 {
		return nil
	}
	return c.push(root, -1, nil)
}

func (c *diffCursor) push(off int64, level int, lo []byte) error {
	n, err := c.t.readNode(off, level)
	if err != nil {
		return err
	}
	*c.visited++
	c.stack = append(c.stack, diffFrame{n: n, lo: lo})
	return nil
}

func (c *diffCursor) done() bool { return len(c.stack) == 0 }

func (c *diffCursor) top() *diffFrame { return &c.stack[len(c.stack)-1] }

func (c *diffCursor) level() int {
	if c.done() {
		return -1
	}
	return c.top().n.level
}

// key returns the lower bound of the current element. readNode validated
// every entry of the node, so the accessors here cannot fail.
func (c *diffCursor) key() []byte {
	f := c.top()
	if f.i == 0 && !f.n.leaf() {
		return f.lo
	}
	k, _ := f.n.key(f.i)
	return k
}

func (c *diffCursor) child() int64 {
	f := c.top()
	off, _ := f.n.child(f.i)
	return off
}

func (c *diffCursor) entry() ([]byte, Value) {
	f := c.top()
	k, _ := f.n.key(f.i)
	v, _ := f.n.value(f.i)
	return k, v
}

// descend opens the current (internal) element.
func (c *diffCursor) descend() error {
	f := c.top()
	return c.push(c.child(), f.n.level-1, c.key())
}

// next moves past the current element, climbing out of finished nodes.
func (c *diffCursor) next() {
	for !c.done() {
		f := c.top()
		if f.i++; f.i < f.n.count {
			return
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
}
