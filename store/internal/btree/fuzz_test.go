package btree

import (
	"errors"
	"testing"

	"github.com/daxkv/daxkv/alloc"
)

// FuzzNode feeds arbitrary 4 KiB images to the node decoder and every
// reader and writer, as the root of a tree. With the first byte odd, the
// checksum and self offset are fixed up first so that the structural
// checks, not the CRC, have to reject the image. Nothing may panic or
// loop; errors must wrap errs.Corrupt.
//
// The region holds the fuzzed node at 4096 and a valid leaf at 8192, so a
// fuzzed internal node can point at a real child.
func FuzzNode(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(append([]byte{1}, seed...))
		f.Add(append([]byte{0}, seed...))
	}
	f.Fuzz(fuzzNode)
}

func fuzzNode(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	fix := data[0]&1 == 1
	mem := make([]byte, 3*NodeSize)
	img := mem[NodeSize : 2*NodeSize]
	copy(img, data[1:])
	if fix {
		le.PutUint64(img[offSelf:], NodeSize)
		le.PutUint32(img[offCRC:], nodeCRC(img))
	}
	validLeaf().encode(mem[2*NodeSize:], 1, 2*NodeSize)
	al, err := alloc.New(NodeSize, 2*NodeSize)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := al.Alloc(NodeSize, NodeSize); err != nil {
			t.Fatal(err)
		}
	}
	tr := New(mem, al, plainPersister{})
	const root = NodeSize
	ok := func(err error) {
		if err != nil && !isCorrupt(err) {
			t.Fatalf("error not wrapping errs.Corrupt: %v", err)
		}
	}

	if n, err := parseNode(img, root, int64(len(mem))); err == nil {
		ok(n.validate())
	}
	for _, k := range [][]byte{{0}, {'m'}, {0xff, 0xff}, []byte("key")} {
		_, _, err := tr.Get(root, k)
		ok(err)
	}
	it := tr.NewIter(root)
	steps := 0
	for v := it.First(); v; v = it.Next() {
		if steps++; steps > 2*NodeSize {
			t.Fatal("iteration does not end")
		}
	}
	ok(it.Err())
	it.SeekGE([]byte{'m'})
	ok(it.Err())
	ok(tr.Walk(root, func(Extent, bool) error { return nil }))
	ok(errors.Join(tr.Check(root)...))
	_, err = tr.Diff(root, 2*NodeSize, func([]byte, *Value, *Value) error { return nil })
	ok(err)
	_, _, err = tr.Apply(root, []Mutation{{Key: []byte("m"), Value: Value{Inline: []byte("v")}}}, 2)
	if err != nil && !isCorrupt(err) && !isNoSpace(err) {
		t.Fatalf("Apply: %v", err)
	}
	if err == nil {
		return // the image was a valid tree; Release would free its nodes
	}
	_, err = tr.Release(root)
	ok(err)
}

func validLeaf() *dnode {
	return &dnode{items: []item{
		{key: []byte("a"), val: Value{Inline: []byte("1"), Len: 1}},
		{key: []byte("m"), val: Value{Inline: []byte("2"), Len: 1}},
		{key: []byte("z"), val: Value{Ext: 2 * NodeSize, Len: 10}},
	}}
}

// fuzzSeeds returns valid node images: a leaf and an internal node.
func fuzzSeeds() [][]byte {
	leaf := make([]byte, NodeSize)
	validLeaf().encode(leaf, 1, NodeSize)
	inner := make([]byte, NodeSize)
	d := &dnode{level: 1, items: []item{{child: 2 * NodeSize}, {key: []byte("n"), child: 2 * NodeSize}}}
	d.encode(inner, 1, NodeSize)
	return [][]byte{leaf, inner}
}
