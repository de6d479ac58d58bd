package btree

// Get returns the value stored under key in the tree rooted at root. The
// lookup binary-searches each node in place; nothing is decoded or
// allocated. Inline bytes are a slice of the mapping.
func (t *Tree) Get(root int64, key []byte) (Value, bool, error) {
	if err := checkKey(key); err != nil {
		return Value{}, false, err
	}
	if root == 0 {
		return Value{}, false, nil
	}
	n, err := t.readNode(root, -1)
	if err != nil {
		return Value{}, false, err
	}
	for !n.leaf() {
		i, err := n.route(key)
		if err != nil {
			return Value{}, false, err
		}
		c, err := n.child(i)
		if err != nil {
			return Value{}, false, err
		}
		if n, err = t.readNode(c, n.level-1); err != nil {
			return Value{}, false, err
		}
	}
	return n.lookup(key)
}

// lookup finds key in leaf n.
func (n *node) lookup(key []byte) (Value, bool, error) {
	i, ok, err := n.search(key)
	if err != nil || !ok {
		return Value{}, false, err
	}
	v, err := n.value(i)
	if err != nil {
		return Value{}, false, err
	}
	return v, true, nil
}
