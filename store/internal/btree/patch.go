package btree

import (
	"fmt"
	"runtime"
)

// Patching a leaf: the common checkpoint case is a handful of mutations
// landing in a leaf of a few dozen entries, which then neither splits nor
// underflows. Decoding every entry, merging and re-encoding it costs
// several microseconds a leaf and bounds sustained random writes; copying
// the node image and editing the copy (shift a few slots, append the new
// entries to the heap) costs a fraction of that. Leaves that would split or
// fall under minFill take the general path (mergeLeaf, pack), which also
// compacts the heap space that replaced entries leave behind.

// patchLeaf returns a new image of leaf n with muts applied, in a dnode
// whose raw holds it, or ok false when the general path must do it.
// changed is false when no mutation altered the leaf. dropped lists value
// extents whose reference from this leaf goes away. lo and hi bound the
// keys n may hold, as the parent says (nil hi: unbounded).
func (a *applier) patchLeaf(n *node, lo, hi []byte, muts []Mutation) (d *dnode, dropped []int64, changed, ok bool, err error) {
	if n.count == 0 {
		return nil, nil, false, false, nil
	}
	// The bounds check the general path makes on its merged items: the
	// old entries must lie in [lo, hi) (the mutations do, by routing).
	first, err := n.key(0)
	if err != nil {
		return nil, nil, false, false, err
	}
	last, err := n.key(n.count - 1)
	if err != nil {
		return nil, nil, false, false, err
	}
	if err := checkRange(n, first, last, lo, hi); err != nil {
		return nil, nil, false, false, err
	}

	touchValues(muts)
	raw := a.image(n)
	cp := node{off: n.off, b: raw, count: n.count, level: 0, heap: n.heap, lim: n.lim}
	// Only deletes and shrinking values can take the leaf under minFill;
	// a leaf that only grows is no worse filled than before.
	shrank := false
	for i := range muts {
		m := &muts[i]
		at, found, err := cp.search(m.Key)
		if err != nil {
			return nil, nil, false, false, err
		}
		if m.Delete {
			if !found {
				continue
			}
			old, err := cp.value(at)
			if err != nil {
				return nil, nil, false, false, err
			}
			if old.Ext != 0 {
				dropped = append(dropped, old.Ext)
			}
			s := hdrSize + slotSize*at
			end := hdrSize + slotSize*cp.count
			copy(raw[s:end-slotSize], raw[s+slotSize:end])
			clear(raw[end-slotSize : end])
			cp.count--
			changed, shrank = true, true
			continue
		}
		size := leafValueSize(&m.Value)
		if found {
			old, err := cp.value(at)
			if err != nil {
				return nil, nil, false, false, err
			}
			if old.Ext != 0 {
				dropped = append(dropped, old.Ext)
			}
			changed = true
			pos, klen, err := cp.entry(at, 1)
			if err != nil {
				return nil, nil, false, false, err
			}
			shrank = shrank || size < leafValueSize(&old)
			if leafValueSize(&old) == size {
				putLeafValue(raw[pos+klen:], &m.Value) // same size: in place
				continue
			}
			// Append a fresh copy; the old bytes become dead heap space.
			if cp.heap-(len(m.Key)+size) < hdrSize+slotSize*cp.count {
				return nil, nil, false, false, nil
			}
			cp.heap -= len(m.Key) + size
			copy(raw[cp.heap:], m.Key)
			putLeafValue(raw[cp.heap+len(m.Key):], &m.Value)
			le.PutUint16(raw[hdrSize+slotSize*at:], uint16(cp.heap))
			continue
		}
		if cp.heap-(len(m.Key)+size) < hdrSize+slotSize*(cp.count+1) {
			return nil, nil, false, false, nil
		}
		cp.heap -= len(m.Key) + size
		copy(raw[cp.heap:], m.Key)
		putLeafValue(raw[cp.heap+len(m.Key):], &m.Value)
		s := hdrSize + slotSize*at
		end := hdrSize + slotSize*cp.count
		copy(raw[s+slotSize:end+slotSize], raw[s:end])
		putSlot(raw[s:], cp.heap, m.Key)
		cp.count++
		changed = true
	}
	if !changed {
		return nil, nil, false, true, nil
	}
	if cp.count == 0 || (shrank && cp.liveSize() < minFill) {
		return nil, nil, false, false, nil // underflow: rebalance on the general path
	}
	le.PutUint16(raw[offCount:], uint16(cp.count))
	le.PutUint16(raw[offHeap:], uint16(cp.heap))
	if d, err = a.writeImage(raw, 0); err != nil {
		return nil, nil, false, false, err
	}
	return d, dropped, true, true, nil
}

// leafValueSize is the encoded size of a leaf value after its key: tag,
// then a length byte and the bytes, or extent offset and length.
func leafValueSize(v *Value) int {
	if v.Ext != 0 {
		return 1 + 16
	}
	return 2 + len(v.Inline)
}

func putLeafValue(b []byte, v *Value) {
	if v.Ext != 0 {
		b[0] = tagExtent
		le.PutUint64(b[1:], uint64(v.Ext))
		le.PutUint64(b[9:], uint64(v.Len))
		return
	}
	b[0] = tagInline
	b[1] = byte(len(v.Inline))
	copy(b[2:], v.Inline)
}

// putSlot writes a slot: entry position, key length, zero-padded prefix.
func putSlot(s []byte, pos int, key []byte) {
	le.PutUint16(s, uint16(pos))
	le.PutUint16(s[2:], uint16(len(key)))
	clear(s[4 : 4+prefixLen])
	copy(s[4:4+prefixLen], key)
}

// liveSize is what the entries of leaf n would take in a compact node, in
// itemSize terms (slots included).
func (n *node) liveSize() int {
	size := 0
	for i := 0; i < n.count; i++ {
		v, err := n.value(i)
		if err != nil {
			return 0 // the general path reports it
		}
		s := hdrSize + slotSize*i
		size += slotSize + int(le.Uint16(n.b[s+2:])) + leafValueSize(&v)
	}
	return size
}

// patch tries patchLeaf on leaf c and, when it applies, plans the
// reference changes the general path would: the old leaf is shadowed and
// the extents of replaced values released.
func (a *applier) patch(c *node, lo, hi []byte, muts []Mutation, shared bool) (d *dnode, changed, ok bool, err error) {
	d, dropped, changed, ok, err := a.patchLeaf(c, lo, hi, muts)
	if err != nil || !ok || !changed {
		return nil, false, ok, err
	}
	if err := a.plan.shadow(c, shared); err != nil {
		return nil, false, false, err
	}
	for _, off := range dropped {
		if err := a.plan.release(off, false, 0); err != nil {
			return nil, false, false, err
		}
	}
	return d, true, true, nil
}

// touchValues loads the first key byte and the first and last byte of
// the inline value of each mutation at once. The values sit in the WAL in
// arrival order (the keys in the memtable's arena likewise), so a
// checkpoint reads them at random: issued together, their cache misses
// overlap instead of stalling the copies one after another.
func touchValues(muts []Mutation) {
	var x byte
	for i := range muts {
		x |= muts[i].Key[0]
		if v := muts[i].Value.Inline; len(v) > 0 {
			x |= v[0] | v[len(v)-1]
		}
	}
	runtime.KeepAlive(x)
}

// patchInner writes a copy of internal node n in which the children that
// swapped replaces one for one (patched leaves or inner nodes, written
// already) are swapped in. Keys and the other children stay as they are,
// so the copy is n's image with some child offsets changed: a small
// checkpoint rewrites its paths without decoding and re-encoding every
// internal node on them (each holds a hundred or more entries). The
// caller has shadowed n.
func (a *applier) patchInner(n *node, swapped []swap) (*dnode, error) {
	raw := a.image(n)
	for _, s := range swapped {
		pos, klen, err := n.entry(s.i, 8)
		if err != nil {
			return nil, err
		}
		le.PutUint64(raw[pos+klen:], uint64(s.d.off))
	}
	return a.writeImage(raw, n.level)
}

// image copies every byte of node n into the applier's scratch buffer,
// which held another node's image, and returns it for editing.
func (a *applier) image(n *node) []byte {
	if a.scratch == nil {
		a.scratch = make([]byte, NodeSize)
	}
	copy(a.scratch, n.b)
	return a.scratch
}

// writeImage allocates a node for an edited image, stamps its generation,
// offset and checksum and writes it now, so that one scratch buffer serves
// every patched node of the Apply. The node is unreachable until the new
// root is committed, and freeNew returns it on failure.
func (a *applier) writeImage(raw []byte, level int) (*dnode, error) {
	off, err := a.allocNode()
	if err != nil {
		return nil, fmt.Errorf("btree: allocating a patched node: %w", err)
	}
	d := &dnode{level: level, off: off, written: true}
	a.nodes = append(a.nodes, d)
	le.PutUint64(raw[offGen:], a.gen)
	le.PutUint64(raw[offSelf:], uint64(off))
	le.PutUint32(raw[offCRC:], nodeCRC(raw))
	a.writeNode(off, raw)
	return d, nil
}
