package btree

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// corruptEnv builds a tree and lists its nodes with their key ranges.
func corruptEnv(t *testing.T) (e *env, root int64, m model, nodes []Extent) {
	e = newEnv(t, 16<<20, false)
	muts, m := e.batch(model{}, 3000, 0)
	root, _ = e.apply(0, muts)
	err := e.tr.Walk(root, func(x Extent, _ bool) error {
		if x.Kind == KindNode {
			x.Lo, x.Hi = bytes.Clone(x.Lo), bytes.Clone(x.Hi)
			nodes = append(nodes, x)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if heightOf(t, e.tr, root) < 2 {
		t.Fatal("tree too small to corrupt inner nodes")
	}
	return e, root, m, nodes
}

// keyUnder returns a model key in [x.Lo, x.Hi).
func keyUnder(t *testing.T, m model, x Extent) []byte {
	keys := m.keys()
	i, _ := slices.BinarySearch(keys, string(x.Lo))
	if i == len(keys) || (x.Hi != nil && keys[i] >= string(x.Hi)) {
		t.Fatalf("no key under node %#x", x.Off)
	}
	return []byte(keys[i])
}

// expectCorrupt runs every reader over a damaged tree: each must fail with
// errs.Corrupt (Get only for a key whose path crosses the damage), none
// may panic, and writers must fail without changing the allocator.
func expectCorrupt(t *testing.T, e *env, root int64, key []byte, what string) {
	t.Helper()
	tr := e.fresh() // nothing verified yet, as after a restart
	if _, _, err := tr.Get(root, key); !isCorrupt(err) {
		t.Errorf("%s: Get = %v, want errs.Corrupt", what, err)
	}
	it := tr.NewIter(root)
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if !isCorrupt(it.Err()) {
		t.Errorf("%s: full iteration (%d keys) ended with %v, want errs.Corrupt", what, n, it.Err())
	}
	if it.SeekGE(key); !isCorrupt(it.Err()) {
		t.Errorf("%s: SeekGE = %v, want errs.Corrupt", what, it.Err())
	}
	if err := tr.Walk(root, func(Extent, bool) error { return nil }); !isCorrupt(err) {
		t.Errorf("%s: Walk = %v, want errs.Corrupt", what, err)
	}
	errList := tr.Check(root)
	if len(errList) == 0 || !isCorrupt(errors.Join(errList...)) {
		t.Errorf("%s: Check = %v, want errs.Corrupt", what, errList)
	}
	if _, err := tr.Diff(root, 0, func([]byte, *Value, *Value) error { return nil }); !isCorrupt(err) {
		t.Errorf("%s: Diff = %v, want errs.Corrupt", what, err)
	}
	before := e.al.Stats()
	if _, _, err := tr.Apply(root, []Mutation{{Key: key, Delete: true}}, 99); !isCorrupt(err) {
		t.Errorf("%s: Apply = %v, want errs.Corrupt", what, err)
	}
	if _, err := tr.Release(root); !isCorrupt(err) {
		t.Errorf("%s: Release = %v, want errs.Corrupt", what, err)
	}
	if after := e.al.Stats(); after != before {
		t.Errorf("%s: failed writers changed the allocator: %+v -> %+v", what, before, after)
	}
}

// TestCorruptBitFlips flips random bits in random nodes.
func TestCorruptBitFlips(t *testing.T) {
	e, root, m, nodes := corruptEnv(t)
	pristine := bytes.Clone(e.mem)
	trials := 80
	if testing.Short() {
		trials = 30
	}
	for i := 0; i < trials; i++ {
		copy(e.mem, pristine)
		x := nodes[e.rng.IntN(len(nodes))]
		pos := e.rng.IntN(NodeSize)
		e.mem[x.Off+int64(pos)] ^= 1 << e.rng.IntN(8)
		key := keyUnder(t, m, x)
		expectCorrupt(t, e, root, key, "bit flip")
		// The error names the damaged node, so the store can tell which
		// key range and which refs are affected.
		_, _, err := e.fresh().Get(root, key)
		var ne *NodeError
		if !errors.As(err, &ne) || ne.Off != x.Off {
			t.Fatalf("Get error %v does not name node %#x", err, x.Off)
		}
	}
	copy(e.mem, pristine)
	e.verify(e.fresh(), root, m)
}

// TestCorruptStructure damages nodes and then fixes their checksum, so the
// structural checks (not the CRC) must catch it: bad slots, lengths,
// levels, cycles, misdirected writes, unsorted keys.
func TestCorruptStructure(t *testing.T) {
	e, root, m, nodes := corruptEnv(t)
	pristine := bytes.Clone(e.mem)
	var leaf, inner Extent
	for _, x := range nodes {
		if x.Level == 0 && leaf.Off == 0 {
			leaf = x
		}
		if x.Level == 1 && inner.Off == 0 {
			inner = x
		}
	}
	// rootNode is the root's extent: its Lo/Hi are nil.
	rootNode := nodes[0]
	slot := func(i int) int { return hdrSize + slotSize*i }
	cases := []struct {
		name string
		x    Extent
		edit func(b []byte)
	}{
		{"magic", leaf, func(b []byte) { b[offMagic] ^= 0xff }},
		{"version", leaf, func(b []byte) { b[offVersion] = 9 }},
		{"kind", leaf, func(b []byte) { b[offKind] = kindInternal }},
		{"leaf level", leaf, func(b []byte) { b[offLevel] = 1; b[offKind] = kindInternal }},
		{"count zero", leaf, func(b []byte) { le.PutUint16(b[offCount:], 0) }},
		{"count huge", leaf, func(b []byte) { le.PutUint16(b[offCount:], 0xffff) }},
		{"heap below slots", leaf, func(b []byte) { le.PutUint16(b[offHeap:], hdrSize) }},
		{"heap past end", leaf, func(b []byte) { le.PutUint16(b[offHeap:], NodeSize+1) }},
		{"self", leaf, func(b []byte) { le.PutUint64(b[offSelf:], uint64(leaf.Off+NodeSize)) }},
		{"slot past end", leaf, func(b []byte) { le.PutUint16(b[slot(0):], NodeSize-1) }},
		{"slot into slots", leaf, func(b []byte) { le.PutUint16(b[slot(1):], hdrSize) }},
		{"key too long", leaf, func(b []byte) { le.PutUint16(b[slot(0)+2:], MaxKey+1) }},
		{"empty leaf key", leaf, func(b []byte) { le.PutUint16(b[slot(0)+2:], 0) }},
		{"keys swapped", leaf, func(b []byte) {
			s0, s1 := slices.Clone(b[slot(0):slot(1)]), slices.Clone(b[slot(1):slot(2)])
			copy(b[slot(0):], s1)
			copy(b[slot(1):], s0)
		}},
		{"value tag", leaf, func(b []byte) {
			pos, klen := int(le.Uint16(b[slot(0):])), int(le.Uint16(b[slot(0)+2:]))
			b[pos+klen] = 7
		}},
		{"inline length", leaf, func(b []byte) {
			klen := int(le.Uint16(b[slot(0)+2:]))
			le.PutUint16(b[slot(0):], uint16(NodeSize-klen-2)) // key ends 2 bytes before the end
			b[NodeSize-2] = tagInline
			b[NodeSize-1] = 200
		}},
		{"child is itself", inner, func(b []byte) { setChild(b, 0, inner.Off) }},
		{"child is the root", inner, func(b []byte) { setChild(b, 0, rootNode.Off) }},
		{"child zero", inner, func(b []byte) { setChild(b, 0, 0) }},
		{"child unaligned", inner, func(b []byte) { setChild(b, 0, NodeSize+8) }},
		{"child outside", inner, func(b []byte) { setChild(b, 0, int64(len(e.mem))) }},
		{"child negative", inner, func(b []byte) { setChild(b, 0, -NodeSize) }},
		{"first separator", inner, func(b []byte) { le.PutUint16(b[slot(0)+2:], 1) }},
		{"inner level", inner, func(b []byte) { b[offLevel] = 3 }},
	}
	for _, c := range cases {
		copy(e.mem, pristine)
		b := e.mem[c.x.Off : c.x.Off+NodeSize]
		c.edit(b)
		le.PutUint32(b[offCRC:], nodeCRC(b))
		expectCorrupt(t, e, root, keyUnder(t, m, c.x), c.name)
	}

	// A node copied to the wrong place (a misdirected write) and pointed
	// at: its self field gives it away.
	copy(e.mem, pristine)
	spare, err := e.al.Alloc(NodeSize, NodeSize)
	if err != nil {
		t.Fatal(err)
	}
	copy(e.mem[spare:spare+NodeSize], e.mem[leaf.Off:leaf.Off+NodeSize])
	parent := findParent(t, e, nodes, leaf.Off)
	pb := e.mem[parent.Off : parent.Off+NodeSize]
	for i := 0; i < int(le.Uint16(pb[offCount:])); i++ {
		if childAt(pb, i) == leaf.Off {
			setChild(pb, i, spare)
		}
	}
	le.PutUint32(pb[offCRC:], nodeCRC(pb))
	expectCorruptRead(t, e, root, keyUnder(t, m, leaf), "misdirected")

	copy(e.mem, pristine)
	e.verify(e.fresh(), root, m)
}

// TestBadSeparator: a separator that does not bound its child passes every
// per-node check; Check finds it, and Apply refuses to copy the child.
func TestBadSeparator(t *testing.T) {
	e := newEnv(t, 1<<20, false)
	leafA := &dnode{items: []item{{key: []byte("a")}, {key: []byte("b")}}}
	leafB := &dnode{items: []item{{key: []byte("c")}, {key: []byte("d")}}}
	top := &dnode{level: 1, items: []item{{node: leafA}, {key: []byte("cc"), node: leafB}}}
	root := e.writeNodes(top, leafA, leafB)
	errList := e.tr.Check(root)
	if len(errList) != 1 || !isCorrupt(errList[0]) {
		t.Fatalf("Check = %v, want one errs.Corrupt", errList)
	}
	t.Logf("Check: %v", errList[0])
	before := e.al.Stats()
	if _, _, err := e.tr.Apply(root, []Mutation{{Key: []byte("d"), Delete: true}}, 2); !isCorrupt(err) {
		t.Fatalf("Apply = %v, want errs.Corrupt", err)
	}
	if after := e.al.Stats(); after != before {
		t.Fatalf("allocator changed: %+v -> %+v", before, after)
	}
}

// writeNodes allocates and writes hand-made nodes (parents first in the
// list) and returns the first one's offset.
func (e *env) writeNodes(nodes ...*dnode) int64 {
	e.tb.Helper()
	for _, d := range nodes {
		off, err := e.al.Alloc(NodeSize, NodeSize)
		if err != nil {
			e.tb.Fatal(err)
		}
		d.off = off
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		d := nodes[i]
		d.encode(e.mem[d.off:d.off+NodeSize], 1, d.off)
	}
	return nodes[0].off
}

// expectCorruptRead is expectCorrupt for damage a Get must find.
func expectCorruptRead(t *testing.T, e *env, root int64, key []byte, what string) {
	t.Helper()
	if _, _, err := e.fresh().Get(root, key); !isCorrupt(err) {
		t.Errorf("%s: Get = %v, want errs.Corrupt", what, err)
	}
	if errList := e.fresh().Check(root); len(errList) == 0 {
		t.Errorf("%s: Check finds nothing", what)
	}
}

func childAt(b []byte, i int) int64 {
	s := hdrSize + slotSize*i
	pos, klen := int(le.Uint16(b[s:])), int(le.Uint16(b[s+2:]))
	return int64(le.Uint64(b[pos+klen:]))
}

func setChild(b []byte, i int, off int64) {
	s := hdrSize + slotSize*i
	pos, klen := int(le.Uint16(b[s:])), int(le.Uint16(b[s+2:]))
	le.PutUint64(b[pos+klen:], uint64(off))
}

func findParent(t *testing.T, e *env, nodes []Extent, child int64) Extent {
	for _, x := range nodes {
		if x.Level == 0 {
			continue
		}
		b := e.mem[x.Off : x.Off+NodeSize]
		for i := 0; i < int(le.Uint16(b[offCount:])); i++ {
			if childAt(b, i) == child {
				return x
			}
		}
	}
	t.Fatalf("no parent for %#x", child)
	return Extent{}
}

// TestVerifiedOnce: the CRC is checked on a Tree's first read of a node,
// not again (damage after that is Check's and scrub's to find).
func TestVerifiedOnce(t *testing.T) {
	e, root, m, nodes := corruptEnv(t)
	tr := e.fresh()
	leaf := nodes[len(nodes)-1]
	key := keyUnder(t, m, leaf)
	if _, ok, err := tr.Get(root, key); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// Damage free space between slots and heap: only the CRC covers it.
	b := e.mem[leaf.Off : leaf.Off+NodeSize]
	heap := int(le.Uint16(b[offHeap:]))
	if heap <= hdrSize+slotSize*int(le.Uint16(b[offCount:])) {
		t.Fatal("leaf has no free space")
	}
	b[heap-1] ^= 0x80
	if _, _, err := tr.Get(root, key); isCorrupt(err) {
		t.Fatalf("Get re-verified a checked node: %v", err)
	}
	if errList := tr.Check(root); len(errList) == 0 {
		t.Fatal("Check trusted the verified cache")
	}
	if _, _, err := e.fresh().Get(root, key); !isCorrupt(err) {
		t.Fatalf("a fresh Tree did not verify: %v", err)
	}
}

// TestWalkOnCorrupt: with OnCorrupt set, a walk reports the damaged node
// (and its key range) and goes on past it; everything else is reported.
func TestWalkOnCorrupt(t *testing.T) {
	e, root, _, nodes := corruptEnv(t)
	all := map[int64]bool{}
	if err := e.tr.Walk(root, func(x Extent, _ bool) error { all[x.Off] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	leaf := nodes[len(nodes)/2]
	if leaf.Level != 0 {
		for _, x := range nodes {
			if x.Level == 0 {
				leaf = x
				break
			}
		}
	}
	var under []int64 // value extents of the leaf, which the walk cannot see
	n, err := e.tr.readNode(leaf.Off, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.refs(func(off int64) error { under = append(under, off); return nil }); err != nil {
		t.Fatal(err)
	}
	e.mem[leaf.Off+100] ^= 1
	w := e.fresh().NewWalker()
	var bad []Extent
	w.OnCorrupt = func(x Extent, err error) error {
		if !isCorrupt(err) {
			return err
		}
		bad = append(bad, x)
		return nil
	}
	seen := map[int64]bool{}
	if err := w.Walk(root, func(x Extent, _ bool) error { seen[x.Off] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Off != leaf.Off || !bytes.Equal(bad[0].Lo, leaf.Lo) || !bytes.Equal(bad[0].Hi, leaf.Hi) {
		t.Fatalf("OnCorrupt saw %+v, want the leaf %#x", bad, leaf.Off)
	}
	for _, off := range under {
		delete(all, off)
	}
	if len(seen) != len(all) {
		t.Fatalf("walk past the damage saw %d extents, want %d", len(seen), len(all))
	}
}
