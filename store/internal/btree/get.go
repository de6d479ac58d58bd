package btree

// Get returns the value stored under key in the tree rooted at root. The
// lookup binary-searches each node in place; nothing is decoded or
// allocated. Inline bytes are a slice of the mapping.
func (t *Tree) Get(root int64, key []byte) (Value, bool, error) {
	l, ok, err := t.Find(root, key)
	if !ok {
		return Value{}, false, err
	}
	return t.ValueOf(l), true, nil
}

// Find is Get returning where the value is.
func (t *Tree) Find(root int64, key []byte) (Loc, bool, error) {
	if err := checkKey(key); err != nil {
		return Loc{}, false, err
	}
	if root == 0 {
		return Loc{}, false, nil
	}
	n, err := t.readNode(root, -1)
	if err != nil {
		return Loc{}, false, err
	}
	for !n.leaf() {
		i, err := n.route(key)
		if err != nil {
			return Loc{}, false, err
		}
		c, err := n.child(i)
		if err != nil {
			return Loc{}, false, err
		}
		if n, err = t.readNode(c, n.level-1); err != nil {
			return Loc{}, false, err
		}
	}
	return n.lookup(key)
}

// lookup finds key in leaf n.
func (n *node) lookup(key []byte) (Loc, bool, error) {
	i, ok, err := n.search(key)
	if err != nil || !ok {
		return Loc{}, false, err
	}
	pos, klen, err := n.entry(i, 1)
	if err != nil {
		return Loc{}, false, err
	}
	l, err := n.locAt(pos+klen, i)
	if err != nil {
		return Loc{}, false, err
	}
	return l, true, nil
}
