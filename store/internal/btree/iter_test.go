package btree

import (
	"testing"
)

// TestIterDamageAfterValidation damages a leaf in place after a Tree has
// validated it (its verified bit is set, so readNode will not look at it
// again) and iterates with that same Tree: the fast decoding path must
// report out-of-bounds slots and entries as errs.Corrupt, never panic or
// return slices outside the node.
func TestIterDamageAfterValidation(t *testing.T) {
	e, root, m, nodes := corruptEnv(t)
	var leaf Extent
	for _, x := range nodes {
		if x.Level == 0 {
			leaf = x
			break
		}
	}
	img := e.mem[leaf.Off : leaf.Off+NodeSize]
	orig := append([]byte(nil), img...)
	n, err := parseNode(img, leaf.Off, int64(len(e.mem)))
	if err != nil {
		t.Fatal(err)
	}
	i := n.count / 2
	s := hdrSize + slotSize*i
	pos, klen := int(le.Uint16(img[s:])), int(le.Uint16(img[s+2:]))
	tag := pos + klen
	damage := []struct {
		what string
		fn   func(b []byte)
	}{
		{"slot pos past the node", func(b []byte) { le.PutUint16(b[s:], NodeSize-1) }},
		{"slot pos in the slot array", func(b []byte) { le.PutUint16(b[s:], hdrSize) }},
		{"zero key length", func(b []byte) { le.PutUint16(b[s+2:], 0) }},
		{"key length past MaxKey", func(b []byte) { le.PutUint16(b[s+2:], MaxKey+1) }},
		{"key length past the node", func(b []byte) { le.PutUint16(b[s+2:], uint16(NodeSize-pos)) }},
		{"bad value tag", func(b []byte) { b[tag] = 7 }},
		{"extent value out of range", func(b []byte) { b[tag] = tagExtent }},
		{"extent length past the region", func(b []byte) {
			b[tag] = tagExtent
			le.PutUint64(b[tag+1:], UnitSize)
			le.PutUint64(b[tag+9:], uint64(len(e.mem)))
		}},
		{"extent value past the node", func(b []byte) {
			le.PutUint16(b[s:], uint16(NodeSize-klen-10))
			b[NodeSize-10] = tagExtent
		}},
		{"inline value past the node", func(b []byte) {
			le.PutUint16(b[s:], uint16(NodeSize-klen-3))
			b[NodeSize-3] = tagInline
			b[NodeSize-2] = 200
		}},
	}
	for _, d := range damage {
		copy(img, orig)
		tr := e.fresh()
		want := 0
		it := tr.NewIter(root)
		for ok := it.First(); ok; ok = it.Next() {
			want++
		}
		if it.Err() != nil || want != len(m) {
			t.Fatalf("intact tree: %d keys, err %v; want %d", want, it.Err(), len(m))
		}
		d.fn(img)
		got := 0
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if len(k) == 0 || len(k) > MaxKey {
				t.Errorf("%s: key of %d bytes", d.what, len(k))
			}
			got++
		}
		if !isCorrupt(it.Err()) {
			t.Errorf("%s: iteration over %d keys ended with %v, want errs.Corrupt", d.what, got, it.Err())
		}
		if it.SeekGE(keyUnder(t, m, leaf)); it.Err() == nil {
			for it.Next() {
			}
		}
		if !isCorrupt(it.Err()) {
			t.Errorf("%s: SeekGE then Next ended with %v, want errs.Corrupt", d.what, it.Err())
		}
	}
	copy(img, orig)
}
