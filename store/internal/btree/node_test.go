package btree

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNodeSearch checks the in-place search (slot prefixes, then heap keys)
// against a plain binary search, with keys made to tie on their prefixes:
// short keys, trailing zero bytes, shared first four bytes.
func TestNodeSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	alphabet := []byte{0, 1, 'a', 0xff}
	randKey := func() []byte {
		k := make([]byte, 1+rng.IntN(7))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	for round := 0; round < 300; round++ {
		set := map[string]bool{}
		for len(set) < 1+rng.IntN(150) {
			set[string(randKey())] = true
		}
		keys := slices.Sorted(maps.Keys(set))
		d := &dnode{}
		for _, k := range keys {
			d.items = append(d.items, item{key: []byte(k), val: Value{Inline: []byte{1}}})
		}
		if sizeOf(d.items, 0) > nodeCap {
			continue
		}
		buf := make([]byte, NodeSize)
		d.encode(buf, 1, NodeSize)
		n, err := parseNode(buf, NodeSize, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.validate(); err != nil {
			t.Fatal(err)
		}
		for probe := 0; probe < 100; probe++ {
			k := randKey()
			want, wantOK := slices.BinarySearch(keys, string(k))
			got, ok, err := n.search(k)
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("search(%x) = %d, %v, %v; want %d, %v (keys %x)", k, got, ok, err, want, wantOK, keys)
			}
		}
		// The same keys as separators of an internal node route to the
		// last separator <= key.
		in := &dnode{level: 1}
		for i, k := range keys {
			it := item{key: []byte(k), child: NodeSize}
			if i == 0 {
				it.key = nil
			}
			in.items = append(in.items, it)
		}
		if sizeOf(in.items, 1) > nodeCap {
			continue
		}
		in.encode(buf, 1, NodeSize)
		if n, err = parseNode(buf, NodeSize, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := n.validate(); err != nil {
			t.Fatal(err)
		}
		for probe := 0; probe < 100; probe++ {
			k := randKey()
			i, found := slices.BinarySearch(keys[1:], string(k))
			want := i // entries 1.. hold keys[1:]; want the last <= k
			if found {
				want = i + 1
			}
			if got, err := n.route(k); err != nil || got != want {
				t.Fatalf("route(%x) = %d, %v; want %d", k, got, err, want)
			}
		}
	}
}

// TestSeparator: the separator is the shortest prefix of hi above lo.
func TestSeparator(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for i := 0; i < 20000; i++ {
		a, b := make([]byte, 1+rng.IntN(6)), make([]byte, 1+rng.IntN(6))
		for j := range a {
			a[j] = byte(rng.IntN(3))
		}
		for j := range b {
			b[j] = byte(rng.IntN(3))
		}
		c := bytes.Compare(a, b)
		if c == 0 {
			continue
		}
		lo, hi := a, b
		if c > 0 {
			lo, hi = b, a
		}
		s := separator(lo, hi)
		if bytes.Compare(s, lo) <= 0 || bytes.Compare(s, hi) > 0 || !bytes.HasPrefix(hi, s) {
			t.Fatalf("separator(%x, %x) = %x", lo, hi, s)
		}
		if len(s) > 1 && bytes.Compare(s[:len(s)-1], lo) > 0 {
			t.Fatalf("separator(%x, %x) = %x is not the shortest", lo, hi, s)
		}
	}
}

// TestCapacity: a node holds two maximal entries of either kind, and
// pack never makes a node that does not fit.
func TestCapacity(t *testing.T) {
	big := bytes.Repeat([]byte{'k'}, MaxKey)
	leafItem := item{key: big, val: Value{Inline: make([]byte, InlineMax-1)}}
	if s := itemSize(0, &leafItem); s != maxLeafItem || 2*s > nodeCap {
		t.Fatalf("largest leaf entry %d bytes, node capacity %d", s, nodeCap)
	}
	inner := item{key: big, child: NodeSize}
	if s := itemSize(1, &inner); s != maxInternalItem || 2*s > nodeCap {
		t.Fatalf("largest internal entry %d bytes, node capacity %d", s, nodeCap)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for round := 0; round < 200; round++ {
		var items []item
		for i := rng.IntN(60); i >= 0; i-- {
			k := make([]byte, 1+rng.IntN(MaxKey))
			items = append(items, item{key: k, val: Value{Inline: make([]byte, rng.IntN(InlineMax))}})
		}
		total := sizeOf(items, 0)
		nodes := pack(items, 0)
		n := 0
		for _, d := range nodes {
			if s := sizeOf(d.items, 0); s > nodeCap || len(d.items) == 0 {
				t.Fatalf("packed node of %d bytes, %d entries", s, len(d.items))
			}
			n += len(d.items)
		}
		if n != len(items) {
			t.Fatalf("pack lost entries: %d of %d", n, len(items))
		}
		// One node when everything fits; when leaves must split, no
		// fewer than filling each to the brim would give and no more than
		// filling each to splitFill (room left for later inserts).
		least, cur := 1, 0
		for i := range items {
			if s := itemSize(0, &items[i]); cur+s > nodeCap {
				least, cur = least+1, s
			} else {
				cur += s
			}
		}
		most := least
		if least > 1 {
			most = max(least, (total+splitFill-1)/splitFill)
		}
		if len(nodes) < least || len(nodes) > most {
			t.Fatalf("%d bytes packed into %d nodes, want %d..%d", total, len(nodes), least, most)
		}
	}
}
