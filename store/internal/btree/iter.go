package btree

// Iter walks a tree in ascending key order. Keys and inline values are
// slices of the mapping (zero-copy). An Iter is not safe for concurrent
// use; many Iters may read one tree at once.
type Iter struct {
	t     *Tree
	root  int64
	stack []frame // root first; the last frame is a leaf when valid
	err   error
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
	it.stack = append(it.stack, frame{n: n})
	return it.descendFirst()
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
			it.stack = append(it.stack, frame{n: n, i: i})
			if i == n.count {
				return it.Next() // every key here is smaller: the answer is further right
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
	if it.err != nil || len(it.stack) == 0 {
		it.valid = false
		return false
	}
	// Pop exhausted nodes, step right in the first one that has more.
	for {
		f := &it.stack[len(it.stack)-1]
		f.i++
		if f.i < f.n.count {
			break
		}
		it.stack = it.stack[:len(it.stack)-1]
		if len(it.stack) == 0 {
			it.valid = false
			return false
		}
	}
	return it.descendFirst()
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
	it.key, it.val = nil, Value{}
}

func (it *Iter) fail(err error) bool {
	it.err = err
	it.valid = false
	it.key, it.val = nil, Value{}
	return false
}

// descendFirst follows the top frame's current entry down to a leaf,
// taking the first entry of every node below it.
func (it *Iter) descendFirst() bool {
	for {
		f := it.stack[len(it.stack)-1]
		if f.n.leaf() {
			return it.load()
		}
		c, err := f.n.child(f.i)
		if err != nil {
			return it.fail(err)
		}
		n, err := it.t.readNode(c, f.n.level-1)
		if err != nil {
			return it.fail(err)
		}
		it.stack = append(it.stack, frame{n: n})
	}
}

// load reads the leaf entry the top frame points at.
func (it *Iter) load() bool {
	f := &it.stack[len(it.stack)-1]
	k, err := f.n.key(f.i)
	if err != nil {
		return it.fail(err)
	}
	v, err := f.n.value(f.i)
	if err != nil {
		return it.fail(err)
	}
	it.key, it.val, it.valid = k, v, true
	return true
}
