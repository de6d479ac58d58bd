package btree

// Iter walks a tree in ascending key order. Keys and inline values are
// slices of the mapping (zero-copy). An Iter is not safe for concurrent
// use; many Iters may read one tree at once.
//
// The current leaf is held apart from the stack of internal nodes above
// it, so that Next within a leaf (the common case: dozens of entries per
// leaf) is an index bump and one decode of a slot and an entry header.
type Iter struct {
	t     *Tree
	root  int64
	stack []frame // internal nodes on the path to the leaf, root first
	err   error

	// The current leaf: lb is its bytes (a node readNode has validated),
	// li the entry the iterator is at, lcount and lheap its header fields.
	lb     *[NodeSize]byte
	leaf   node
	li     int
	lcount int
	lheap  int

	key   []byte
	val   Value
	valid bool
}

type frame struct {
	n node
	i int
}

// NewIter returns an unpositioned iterator over the tree rooted at root;
// call First or SeekGE.
func (t *Tree) NewIter(root int64) *Iter {
	return &Iter{t: t, root: root, stack: make([]frame, 0, 8)}
}

// First positions the iterator at the smallest key.
func (it *Iter) First() bool {
	it.reset()
	if it.root == 0 {
		return false
	}
	n, err := it.t.readNode(it.root, -1)
	if err != nil {
		return it.fail(err)
	}
	return it.descendFirst(n)
}

// SeekGE positions the iterator at the first key >= key.
func (it *Iter) SeekGE(key []byte) bool {
	it.reset()
	if it.root == 0 {
		return false
	}
	n, err := it.t.readNode(it.root, -1)
	if err != nil {
		return it.fail(err)
	}
	for {
		if n.leaf() {
			i, _, err := n.search(key)
			if err != nil {
				return it.fail(err)
			}
			it.setLeaf(n, i)
			if i == n.count {
				return it.nextLeaf() // every key here is smaller: the answer is further right
			}
			return it.load()
		}
		i, err := n.route(key)
		if err != nil {
			return it.fail(err)
		}
		it.stack = append(it.stack, frame{n: n, i: i})
		c, err := n.child(i)
		if err != nil {
			return it.fail(err)
		}
		if n, err = it.t.readNode(c, n.level-1); err != nil {
			return it.fail(err)
		}
	}
}

// Next moves to the next key. It returns false at the end or on error.
func (it *Iter) Next() bool {
	if it.valid && it.li+1 < it.lcount {
		it.li++
		return it.load()
	}
	if !it.valid {
		return false // unpositioned, at the end, or stopped by an error
	}
	return it.nextLeaf()
}

// Valid reports whether the iterator is at a key.
func (it *Iter) Valid() bool { return it.valid }

// Key returns the current key (a slice of the mapping).
func (it *Iter) Key() []byte { return it.key }

// Value returns the current value (Inline is a slice of the mapping).
func (it *Iter) Value() Value { return it.val }

// Err returns the error that stopped the iterator, if any.
func (it *Iter) Err() error { return it.err }

func (it *Iter) reset() {
	it.stack = it.stack[:0]
	it.err = nil
	it.valid = false
	it.lb, it.leaf, it.li, it.lcount, it.lheap = nil, node{}, 0, 0, 0
	it.key, it.val = nil, Value{}
}

func (it *Iter) fail(err error) bool {
	it.err = err
	it.valid = false
	it.key, it.val = nil, Value{}
	return false
}

// setLeaf makes n, a node from readNode, the current leaf at entry i.
func (it *Iter) setLeaf(n node, i int) {
	// Leaves patched in place keep their entries in arrival order in the
	// heap, so walking the slots reads the heap at random: load the whole
	// leaf at once and let the misses overlap.
	it.t.warm(n.off, NodeSize)
	it.leaf = n
	it.lb = (*[NodeSize]byte)(n.b) // readNode's views are exactly NodeSize bytes
	it.li, it.lcount, it.lheap = i, n.count, n.heap
}

// nextLeaf moves to the first entry of the next leaf: it pops exhausted
// internal nodes and steps right in the first one that has more.
func (it *Iter) nextLeaf() bool {
	for len(it.stack) > 0 {
		f := &it.stack[len(it.stack)-1]
		f.i++
		if f.i < f.n.count {
			return it.descendFirst(node{})
		}
		it.stack = it.stack[:len(it.stack)-1]
	}
	it.lb, it.leaf, it.li, it.lcount, it.lheap = nil, node{}, 0, 0, 0
	it.valid = false
	it.key, it.val = nil, Value{}
	return false
}

// descendFirst goes down to a leaf taking the first entry of every node:
// from n if it is set (n.b != nil), else from the top frame's current
// entry.
func (it *Iter) descendFirst(n node) bool {
	if n.b == nil {
		f := &it.stack[len(it.stack)-1]
		c, err := f.n.child(f.i)
		if err != nil {
			return it.fail(err)
		}
		if n, err = it.t.readNode(c, f.n.level-1); err != nil {
			return it.fail(err)
		}
	}
	for !n.leaf() {
		c, err := n.child(0)
		if err != nil {
			return it.fail(err)
		}
		it.stack = append(it.stack, frame{n: n})
		if n, err = it.t.readNode(c, n.level-1); err != nil {
			return it.fail(err)
		}
	}
	it.setLeaf(n, 0)
	return it.load()
}

// load decodes the leaf entry at it.li. The leaf passed readNode's
// validation, so the entry is in bounds and well formed; the fast path
// still checks every offset it uses (a few compares on bytes already in
// cache), so a node changed in place after validation yields an error from
// the general decoder below, never a panic or a slice outside the node.
func (it *Iter) load() bool {
	b := it.lb
	i := it.li
	if uint(i) < uint(it.lcount) && i < (NodeSize-hdrSize)/slotSize {
		s := hdrSize + slotSize*i
		pos := int(b[s]) | int(b[s+1])<<8
		klen := int(b[s+2]) | int(b[s+3])<<8
		p := pos + klen
		if pos >= it.lheap && uint(klen-1) < MaxKey && p+2 <= NodeSize {
			switch b[p] {
			case tagInline:
				if e := p + 2 + int(b[p+1]); e <= NodeSize {
					it.key = b[pos:p:p]
					it.val = Value{Inline: b[p+2 : e : e], Len: int64(e - p - 2)}
					it.valid = true
					return true
				}
			case tagExtent:
				if p+17 <= NodeSize {
					if ext, vlen := extentRef(b[p+1:]); validExtentRef(ext, vlen, it.leaf.lim) {
						it.key = b[pos:p:p]
						it.val = Value{Ext: ext, Len: vlen}
						it.valid = true
						return true
					}
				}
			}
		}
	}
	return it.loadSlow()
}

// loadSlow decodes the current entry with the checked accessors: extent
// values, and errors for anything malformed.
func (it *Iter) loadSlow() bool {
	k, err := it.leaf.key(it.li)
	if err != nil {
		return it.fail(err)
	}
	v, err := it.leaf.value(it.li)
	if err != nil {
		return it.fail(err)
	}
	it.key, it.val, it.valid = k, v, true
	return true
}

// Inline returns the current value's bytes and true when the value is
// inline, or nil and false when it lives in an extent (see Value). It
// reads the fields one by one: copying the whole Value just after load
// wrote it word by word stalls on store forwarding.
func (it *Iter) Inline() ([]byte, bool) {
	if it.val.Ext != 0 {
		return nil, false
	}
	return it.val.Inline, true
}
