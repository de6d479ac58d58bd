package btree

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/daxkv/daxkv/internal/errs"
)

// Mutation is one change in an Apply batch.
type Mutation struct {
	Key    []byte
	Delete bool
	// Value is stored for a put: Inline bytes (len < InlineMax) or an
	// extent (Ext, Len). On success the caller's reference to Ext moves
	// into the tree; on error it stays with the caller.
	Value Value
}

// item is one entry of a node being rewritten in DRAM: a leaf entry
// (key, val) or an internal entry (key, child or node). Keys and inline
// values alias the mapping or the caller's mutations until encode copies
// them.
type item struct {
	key   []byte
	val   Value
	child int64  // an existing node
	node  *dnode // a node this Apply writes
}

// dnode is a node this Apply writes.
type dnode struct {
	level   int
	items   []item
	off     int64 // assigned once allocated
	written bool  // a patched leaf, allocated and written already (patch.go)
}

// minFill is the fill below which a rewritten run of nodes absorbs a clean
// neighbour (see descend).
const minFill = nodeCap / 4

// splitFill is how full leaves are made when some must be split: random
// inserts then find room in them for a few checkpoints more.
const splitFill = nodeCap * 3 / 4

// Apply writes a new version of the tree rooted at root with muts applied
// and returns its root. muts must be sorted by key with no duplicates.
//
// The caller's reference to root moves to newRoot: the old root stays
// readable only if someone else holds a reference (Ref it first to keep
// it). New nodes are written with the persister's Copy, which starts their
// write-back; the caller drains once and then commits. zombies are the
// extents whose refcount reached zero (old unshared nodes, replaced or
// deleted value extents): free them once the commit is durable and no
// reader can still see them. When nothing changes, newRoot == root.
//
// gen is the checkpoint generation, written into every new node header; it
// must not decrease from one Apply to the next (Check reports a node newer
// than its parent).
//
// On error nothing has changed: the allocator is as before, root is
// intact, and the caller still owns the value extents in muts.
//
// How it works: the paths to the mutated keys are read into DRAM, the
// changes are made there, and the rewritten nodes are then packed,
// allocated and written bottom-up. Refcount changes are planned as
// deltas while reading (refPlan) and executed only once every node has
// been allocated and written, so a failure (NoSpace, a corrupt node) can
// be undone exactly. Rodeh's rule decides the deltas for a shadowed node:
// unshared, its copy takes over its references and the node becomes a
// zombie; shared, the copy takes a new reference on every child and the
// node loses one.
//
// Rebalancing policy (bounded work): a node that grows too big is split
// into evenly filled nodes; a node left empty is dropped; a maximal run
// of rewritten siblings is repacked together, and if it is still below a
// quarter full it absorbs one adjacent untouched sibling (one extra node
// read per run). Nothing else is rebalanced: a lone underfull node stays
// until a later Apply touches it or its neighbours. A root with a single
// child is replaced by that child.
func (t *Tree) Apply(root int64, muts []Mutation, gen uint64) (newRoot int64, zombies []int64, err error) {
	if err := t.writable(); err != nil {
		return root, nil, err
	}
	if err := t.checkMutations(muts); err != nil {
		return root, nil, err
	}
	if len(muts) == 0 {
		return root, nil, nil
	}
	a := &applier{t: t, plan: newRefPlan(t), gen: gen}
	done := false
	defer func() {
		if !done {
			a.freeNew() // also when a fault in the mapping panics through here
		}
	}()
	var items []item
	var patched *dnode // the root, patched whole (descend)
	level, changed := 0, false
	if root == 0 {
		items, _, changed, err = a.mergeLeaf(nil, muts)
	} else {
		var n node
		if n, err = t.readNode(root, -1); err != nil {
			return root, nil, err
		}
		var r int64
		if r, err = a.plan.refs(root); err != nil {
			return root, nil, err
		}
		level = n.level
		items, patched, changed, err = a.descend(n, nil, nil, muts, r > 1)
	}
	if err != nil || !changed {
		return root, nil, err
	}
	if patched != nil {
		newRoot = patched.off
	} else {
		var top *dnode
		if top, newRoot, err = a.build(items, level); err != nil {
			return root, nil, err
		}
		if top != nil {
			if err := a.write(top, gen); err != nil {
				return root, nil, err
			}
			newRoot = top.off
		}
	}
	if zombies, err = a.plan.execute(); err != nil {
		return root, nil, err
	}
	done = true
	return newRoot, zombies, nil
}

func (t *Tree) checkMutations(muts []Mutation) error {
	for i := range muts {
		m := &muts[i]
		if err := checkKey(m.Key); err != nil {
			return fmt.Errorf("mutation %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(muts[i-1].Key, m.Key) >= 0 {
			return fmt.Errorf("btree: mutation %d: keys not sorted and unique: %w", i, errs.Invalid)
		}
		if m.Delete {
			continue
		}
		v := &m.Value
		if v.Ext == 0 {
			if len(v.Inline) >= InlineMax || (v.Len != 0 && v.Len != int64(len(v.Inline))) {
				return fmt.Errorf("btree: mutation %d: inline value of %d bytes (Len %d): %w", i, len(v.Inline), v.Len, errs.Invalid)
			}
			continue
		}
		if v.Inline != nil || !validExtentRef(v.Ext, v.Len, int64(len(t.mem))) {
			return fmt.Errorf("btree: mutation %d: value extent %#x length %d: %w", i, v.Ext, v.Len, errs.Invalid)
		}
		if r, ok := t.ext.Refs(v.Ext); !ok || r == 0 {
			return fmt.Errorf("btree: mutation %d: value extent %#x is not allocated (refs %d): %w", i, v.Ext, r, errs.Invalid)
		}
	}
	return nil
}

// swap is a child of an internal node replaced one for one: entry i now
// points at d, a patched node written already.
type swap struct {
	i int
	d *dnode
}

type applier struct {
	t       *Tree
	plan    refPlan
	gen     uint64
	nodes   []*dnode // allocated so far, to undo on failure
	scratch []byte   // a patched node's image (patch.go)
}

// descend applies muts (all within [lo, hi); nil hi is unbounded) to the
// subtree under n and returns the items that replace n in its parent. An
// internal node's first returned item carries lo. changed is false when
// no key was added, replaced or removed; n is then left alone. shared
// tells whether n or an ancestor on the path has more than one reference.
// When every change below an internal node replaced a child one for one,
// n is patched instead (patchInner) and returned as patched, written
// already, with no items: the parent swaps it in like a patched leaf.
func (a *applier) descend(n node, lo, hi []byte, muts []Mutation, shared bool) (items []item, patched *dnode, changed bool, err error) {
	if n.leaf() {
		items, dropped, changed, err := a.mergeLeaf(&n, muts)
		if err != nil || !changed {
			return nil, nil, false, err
		}
		if err := a.checkBounds(&n, items, lo, hi); err != nil {
			return nil, nil, false, err
		}
		if err := a.plan.shadow(&n, shared); err != nil {
			return nil, nil, false, err
		}
		for _, off := range dropped {
			if err := a.plan.release(off, false, 0); err != nil {
				return nil, nil, false, err
			}
		}
		return items, nil, true, nil
	}

	// Keys and child offsets are read from n as the routing needs them: a
	// small checkpoint visits one or two of a node's hundred or more
	// entries, and only a node that is rebuilt decodes them all below.
	if n.count > 1 {
		first, err := n.key(1)
		if err != nil {
			return nil, nil, false, err
		}
		last, err := n.key(n.count - 1)
		if err != nil {
			return nil, nil, false, err
		}
		if err := checkRange(&n, first, last, lo, hi); err != nil {
			return nil, nil, false, err
		}
	}
	// Route each group of mutations to its child, depth first.
	var sub [][]item // by child, for the children rebuilt below
	var dirty []bool
	var swapped []swap // children replaced one for one
	anyChanged, anyDirty := false, false
	for j := 0; j < len(muts); {
		ci, err := n.route(muts[j].Key)
		if err != nil {
			return nil, nil, false, err
		}
		childLo := lo
		if ci > 0 {
			if childLo, err = n.key(ci); err != nil {
				return nil, nil, false, err
			}
		}
		end, childHi := len(muts), hi
		if ci+1 < n.count {
			if childHi, err = n.key(ci + 1); err != nil {
				return nil, nil, false, err
			}
			end = j + gallop(muts[j:], childHi)
		}
		if end <= j { // separators do not bound the mutation: corrupt node
			return nil, nil, false, corruptf(n.off, "entry %d does not route its keys", ci)
		}
		off, err := n.child(ci)
		if err != nil {
			return nil, nil, false, err
		}
		c, err := a.t.readNode(off, n.level-1)
		if err != nil {
			return nil, nil, false, err
		}
		cs, err := a.shared(c.off, shared)
		if err != nil {
			return nil, nil, false, err
		}
		if c.leaf() {
			d, changed, ok, err := a.patch(&c, childLo, childHi, muts[j:end], cs)
			if err != nil {
				return nil, nil, false, err
			}
			if ok {
				// The new leaf replaces the old one under the same
				// separator; it takes no part in repacking.
				if changed {
					swapped = append(swapped, swap{ci, d})
					anyChanged = true
				}
				j = end
				continue
			}
		}
		items, pd, changed, err := a.descend(c, childLo, childHi, muts[j:end], cs)
		if err != nil {
			return nil, nil, false, err
		}
		switch {
		case pd != nil:
			swapped = append(swapped, swap{ci, pd}) // like a patched leaf
		case changed:
			if sub == nil {
				sub, dirty = make([][]item, n.count), make([]bool, n.count)
			}
			sub[ci], dirty[ci] = items, true
			anyDirty = true
		}
		anyChanged = anyChanged || changed
		j = end
	}
	if !anyChanged {
		return nil, nil, false, nil
	}
	if err := a.plan.shadow(&n, shared); err != nil {
		return nil, nil, false, err
	}
	if !anyDirty {
		d, err := a.patchInner(&n, swapped)
		if err != nil {
			return nil, nil, false, err
		}
		return nil, d, true, nil
	}
	kids, err := internalItems(&n, lo)
	if err != nil {
		return nil, nil, false, err
	}
	for _, s := range swapped {
		kids[s.i].node = s.d
	}

	// Rebuild the entry list: clean children stay, each maximal run of
	// rewritten children is repacked into as few nodes as fit.
	out := make([]item, 0, len(kids)+4)
	for i := 0; i < len(kids); {
		if !dirty[i] {
			out = append(out, kids[i])
			i++
			continue
		}
		k, size := i, 0
		for ; k < len(kids) && dirty[k]; k++ {
			size += len(sub[k])
		}
		run := make([]item, 0, size+1) // +1: room for a neighbour absorbed below
		for k = i; k < len(kids) && dirty[k]; k++ {
			run = append(run, sub[k]...)
		}
		runLo := kids[i].key
		if size := sizeOf(run, n.level-1); size > 0 && size < minFill {
			switch {
			case len(out) > 0 && out[len(out)-1].node == nil:
				// The left neighbour is untouched: pull it in front.
				left := out[len(out)-1]
				items, err := a.absorb(left, n.level-1, shared)
				if err != nil {
					return nil, nil, false, err
				}
				out = out[:len(out)-1]
				run = append(items, run...)
				runLo = left.key
			case k < len(kids) && kids[k].node == nil:
				items, err := a.absorb(kids[k], n.level-1, shared)
				if err != nil {
					return nil, nil, false, err
				}
				run = append(run, items...)
				k++
			}
		}
		out = append(out, parentItems(pack(run, n.level-1), runLo)...)
		i = k
	}
	if len(out) > 0 {
		out[0].key = lo
	}
	return out, nil, true, nil
}

// shared reports whether the node at off is shared: it has more than one
// reference, or its parent is shared (the parent's copy will take one).
func (a *applier) shared(off int64, parentShared bool) (bool, error) {
	r, err := a.plan.refs(off)
	return parentShared || r > 1, err
}

// absorb reads an untouched sibling, shadows it and returns its entries.
func (a *applier) absorb(sib item, level int, parentShared bool) ([]item, error) {
	n, err := a.t.readNode(sib.child, level)
	if err != nil {
		return nil, err
	}
	s, err := a.shared(n.off, parentShared)
	if err != nil {
		return nil, err
	}
	if err := a.plan.shadow(&n, s); err != nil {
		return nil, err
	}
	if level > 0 {
		return internalItems(&n, sib.key)
	}
	items := make([]item, n.count)
	for i := range items {
		if items[i].key, err = n.key(i); err != nil {
			return nil, err
		}
		if items[i].val, err = n.value(i); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// mergeLeaf merges muts into the entries of leaf n (nil: an empty tree).
// dropped lists value extents whose leaf reference goes away.
func (a *applier) mergeLeaf(n *node, muts []Mutation) (items []item, dropped []int64, changed bool, err error) {
	count := 0
	if n != nil {
		count = n.count
	}
	items = make([]item, 0, count+len(muts))
	i, j := 0, 0
	for i < count || j < len(muts) {
		c := 1 // only mutations left
		var k []byte
		if i < count {
			if k, err = n.key(i); err != nil {
				return nil, nil, false, err
			}
			c = -1
			if j < len(muts) {
				c = bytes.Compare(k, muts[j].Key)
			}
		}
		if c < 0 {
			v, err := n.value(i)
			if err != nil {
				return nil, nil, false, err
			}
			items = append(items, item{key: k, val: v})
			i++
			continue
		}
		m := &muts[j]
		j++
		if c == 0 {
			old, err := n.value(i)
			if err != nil {
				return nil, nil, false, err
			}
			i++
			if old.Ext != 0 {
				dropped = append(dropped, old.Ext)
			}
			changed = true
		}
		if m.Delete {
			continue
		}
		v := m.Value
		if v.Ext == 0 {
			v.Len = int64(len(v.Inline))
		}
		items = append(items, item{key: m.Key, val: v})
		changed = true
	}
	return items, dropped, changed, nil
}

// internalItems decodes an internal node's entries; entry 0 gets key lo.
func internalItems(n *node, lo []byte) ([]item, error) {
	items := make([]item, n.count)
	for i := range items {
		var err error
		if i > 0 {
			if items[i].key, err = n.key(i); err != nil {
				return nil, err
			}
		} else {
			items[0].key = lo
		}
		if items[i].child, err = n.child(i); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// checkBounds makes sure keyed items lie in [lo, hi), so that a node that
// passed its checksum but disagrees with its parent is not copied into
// the new version.
func (a *applier) checkBounds(n *node, items []item, lo, hi []byte) error {
	if len(items) == 0 {
		return nil
	}
	return checkRange(n, items[0].key, items[len(items)-1].key, lo, hi)
}

// checkRange reports node n as corrupt unless its keys from first to last
// lie in [lo, hi), the range its parent gives it (nil hi: unbounded).
func checkRange(n *node, first, last, lo, hi []byte) error {
	if (lo != nil && bytes.Compare(first, lo) < 0) || (hi != nil && bytes.Compare(last, hi) >= 0) {
		return corruptf(n.off, "keys outside the range its parent gives it")
	}
	return nil
}

// gallop is lowerBound for a key expected near the front: a child gets a
// few of a checkpoint's hundreds of thousands of mutations, and probing
// 1, 2, 4, ... ahead touches a few cache lines where a bisection of the
// whole rest touches twenty.
func gallop(muts []Mutation, key []byte) int {
	hi := 1
	for hi < len(muts) && bytes.Compare(muts[hi].Key, key) < 0 {
		hi *= 2
	}
	lo := hi / 2
	return lo + lowerBound(muts[lo:min(hi, len(muts))], key)
}

// lowerBound returns the index of the first mutation with key >= key.
func lowerBound(muts []Mutation, key []byte) int {
	i, _ := slices.BinarySearchFunc(muts, key, func(m Mutation, k []byte) int { return bytes.Compare(m.Key, k) })
	return i
}

func sizeOf(items []item, level int) int {
	size := 0
	for i := range items {
		size += itemSize(level, &items[i])
	}
	return size
}

// pack splits items into as few nodes of the given level as hold them,
// filled as evenly as the entry sizes allow.
func pack(items []item, level int) []*dnode {
	total := sizeOf(items, level)
	if total == 0 {
		return nil
	}
	// Filling each node to capacity gives the fewest nodes; then try to
	// spread the same number evenly: end each node near the average,
	// else once it reaches the average. Large entries can defeat both.
	greedy := cuts(items, level, func(cur, s int) bool { return false })
	k := len(greedy) + 1
	if level == 0 && k > 1 {
		// Splitting leaves: fill them to splitFill, not to the brim, so
		// the next checkpoints can patch their new keys in (patch.go)
		// instead of splitting them again.
		k = max(k, (total+splitFill-1)/splitFill)
	}
	target := (total + k - 1) / k
	bounds := cuts(items, level, func(cur, s int) bool { return cur+s/2 > target })
	if len(bounds) >= k {
		bounds = cuts(items, level, func(cur, s int) bool { return cur >= target })
	}
	if len(bounds) >= k {
		bounds = greedy
	}
	nodes := make([]*dnode, 0, k)
	start := 0
	for _, end := range append(bounds, len(items)) {
		nodes = append(nodes, &dnode{level: level, items: items[start:end:end]})
		start = end
	}
	return nodes
}

// cuts returns where to end nodes (indexes of the first entry of the next
// node): before an entry that does not fit, or where enough says so.
func cuts(items []item, level int, enough func(cur, s int) bool) []int {
	var bounds []int
	cur := 0
	for i := range items {
		s := itemSize(level, &items[i])
		if cur > 0 && (cur+s > nodeCap || enough(cur, s)) {
			bounds = append(bounds, i)
			cur = 0
		}
		cur += s
	}
	return bounds
}

// parentItems returns the parent entries for a run of sibling nodes whose
// range starts at lo. Between leaves the separator is the shortest key
// that divides them; between internal nodes it is the first entry's key.
func parentItems(nodes []*dnode, lo []byte) []item {
	items := make([]item, len(nodes))
	for j, d := range nodes {
		key := lo
		if j > 0 {
			if d.level == 0 {
				prev := nodes[j-1].items
				key = separator(prev[len(prev)-1].key, d.items[0].key)
			} else {
				key = d.items[0].key
			}
		}
		items[j] = item{key: key, node: d}
	}
	return items
}

// build packs the root's new entries, adds levels while there is more
// than one node and strips root levels with a single child. It returns
// either the new root node to write or the offset of an existing node
// that becomes the root (0: the tree is now empty).
func (a *applier) build(items []item, level int) (*dnode, int64, error) {
	nodes := pack(items, level)
	for len(nodes) > 1 {
		if level++; level > maxLevel {
			return nil, 0, fmt.Errorf("btree: tree taller than %d levels: %w", maxLevel, errs.Invalid)
		}
		nodes = pack(parentItems(nodes, nil), level)
	}
	if len(nodes) == 0 {
		return nil, 0, nil
	}
	d := nodes[0]
	for d.level > 0 && len(d.items) == 1 {
		if d.items[0].node == nil {
			return nil, d.items[0].child, nil // the reference d held becomes the root's
		}
		d = d.items[0].node
	}
	return d, 0, nil
}

// write allocates every node reachable from top, then encodes and copies
// them into the region (write-back started, not drained). On an
// allocation failure every node allocated so far is freed again.
func (a *applier) write(top *dnode, gen uint64) error {
	var all []*dnode
	var collect func(d *dnode)
	collect = func(d *dnode) {
		for i := range d.items {
			if c := d.items[i].node; c != nil {
				collect(c)
			}
		}
		all = append(all, d)
	}
	collect(top)
	// Allocate first: children before parents need offsets, and the only
	// expected failure (NoSpace) must strike before anything is written.
	// (Patched leaves are written already: they are unreachable until the
	// new root is committed, and freeNew returns them on failure.)
	first := len(a.nodes)
	for i, d := range all {
		if d.written {
			continue
		}
		off, err := a.allocNode()
		if err != nil {
			err = fmt.Errorf("btree: allocating node %d of %d: %w", i+1, len(all), err)
			return errors.Join(err, a.freeNew())
		}
		d.off = off
		a.nodes = append(a.nodes, d)
	}
	buf := make([]byte, NodeSize)
	for _, d := range a.nodes[first:] {
		if d.level == 0 {
			touchItems(d.items)
		}
		d.encode(buf, gen, d.off)
		a.writeNode(d.off, buf)
	}
	return nil
}

// touchItems is touchValues for a leaf about to be encoded.
func touchItems(items []item) {
	var x byte
	for i := range items {
		if k := items[i].key; len(k) > 0 {
			x |= k[0]
		}
		if v := items[i].val.Inline; len(v) > 0 {
			x |= v[0] | v[len(v)-1]
		}
	}
	runtime.KeepAlive(x)
}

// allocNode allocates a node extent and checks what the allocator gave.
func (a *applier) allocNode() (int64, error) {
	off, err := a.t.ext.Alloc(NodeSize, NodeSize)
	if err != nil {
		return 0, err
	}
	if off <= 0 || off%NodeSize != 0 || off > int64(len(a.t.mem))-NodeSize {
		_, _ = a.t.ext.Decref(off)
		_ = a.t.ext.Free(off)
		return 0, fmt.Errorf("btree: allocator returned node offset %#x: %w", off, errs.Corrupt)
	}
	return off, nil
}

// writeNode copies a finished node image into the region at off (write-
// back started, not drained). The image is what this process wrote, so
// its checksum and entries need no check on the next read; a media error
// after this shows up as a fault on the mapping, which the fault guard
// turns into an error.
func (a *applier) writeNode(off int64, img []byte) {
	a.t.verified.Add(off / NodeSize)
	a.t.p.Copy(a.t.mem[off:off+NodeSize], img)
}

// freeNew returns every node this Apply allocated.
func (a *applier) freeNew() error {
	var errList []error
	for _, d := range a.nodes {
		if _, err := a.t.ext.Decref(d.off); err != nil {
			errList = append(errList, err)
			continue
		}
		if err := a.t.ext.Free(d.off); err != nil {
			errList = append(errList, err)
		}
	}
	a.nodes = nil
	return errors.Join(errList...)
}
