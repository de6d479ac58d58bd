package rmap

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

var (
	fuzzOnce   sync.Once
	fuzzMaps   [2]*Map
	fuzzModels [2]*model
)

// fuzzFixtures are two maps of 300 extents over about 1 MiB: one with
// disjoint extents (the scan), one with overlaps (the interval tree).
func fuzzFixtures() {
	for i := range fuzzMaps {
		r := rand.New(rand.NewPCG(uint64(i), 9))
		b, md := NewBuilder(), newModel()
		var exts []Owner
		off := int64(0)
		for range 300 {
			e := Owner{Off: off, Len: 1 + r.Int64N(4000), Kind: Value, Refs: randomRefs(r, 4)}
			e.Lo = randomKey(r)
			e.Hi = e.Lo
			if i == 1 && r.IntN(3) == 0 {
				e.Len += r.Int64N(20000)
			}
			exts = append(exts, e)
			off += 1 + r.Int64N(4000)
		}
		addAll(r, b, md, exts)
		fuzzMaps[i], fuzzModels[i] = b.Finish(), md
	}
}

// FuzzLookup: any arguments, including overflowing ones, give the brute
// force answer and never panic.
func FuzzLookup(f *testing.F) {
	f.Add(int64(0), int64(1))
	f.Add(int64(-1), int64(2))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(int64(math.MinInt64), int64(math.MaxInt64))
	f.Add(int64(500000), int64(0))
	f.Add(int64(500000), int64(100000))
	f.Fuzz(func(t *testing.T, off, length int64) {
		fuzzOnce.Do(fuzzFixtures)
		for i, m := range fuzzMaps {
			checkLookup(t, m, fuzzModels[i], off, length)
		}
	})
}

// FuzzBuild decodes a sequence of Builder calls and checks the map against
// the model, refs included: Visit's parents are worked out the plain way
// (the last node per level in the model's own terms), and refs by search
// over those edges.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x02\x01\x03\x00\x10\x10\x01\x02\x00\x03\x00\x11\x10\x01\x01\x00\x03\x00\x12\x01\x01\x00\x00"))
	seed := make([]byte, 400)
	for i := range seed {
		seed[i] = byte(i * 37)
	}
	f.Add(seed)
	f.Fuzz(fuzzBuildOne)
}

func fuzzBuildOne(t *testing.T, data []byte) {
	// The brute force is quadratic: keep to a few hundred calls.
	data = slices.Clone(data[:min(len(data), 3000)])
	defer func(old int) { minCompact = old }(minCompact)
	minCompact = 4 // compact often: in the middle of walks, over repeats
	b, md := NewBuilder(), newModel()
	var (
		path   = map[int]int{} // level -> model index of the last node visited
		kids   = map[int][]int{}
		direct = map[int][]uint32{}
		ref    uint32
		inWalk bool
	)
	next := func(n int) []byte {
		if len(data) < n {
			data = append(data, make([]byte, n-len(data))...)
		}
		v := data[:n]
		data = data[n:]
		return v
	}
	keyOf := func(c byte) []byte {
		if c%5 == 0 {
			return nil
		}
		return []byte{'a' + c%5}
	}
	for len(data) > 0 {
		a := next(6)
		op, off := a[0]%4, int64(binary.LittleEndian.Uint16(a[1:]))*64
		length, kind, level := int64(int8(a[3]))*64, Kind(1+a[4]%3), int(int8(a[5]))%4
		lo, hi := keyOf(a[4]/3), keyOf(a[5]/4)
		switch op {
		case 0:
			r := uint32(a[5] % 8)
			b.Add(off, length, kind, level, lo, hi, r)
			i := md.report(off, length, kind, level, lo, hi)
			direct[i] = append(direct[i], r)
		case 1:
			b.AddFixed(off, length, kind+3)
			md.report(off, length, kind+3, 0, nil, nil)
		case 2:
			ref, inWalk = uint32(a[1]%8), true
			b.StartWalk(ref)
			clear(path)
		case 3:
			b.Visit(off, length, kind, level, lo, hi)
			i := md.report(off, length, kind, level, lo, hi)
			p, ok := -1, false
			switch {
			case kind == Value:
				p, ok = path[0]
			case kind == Node && level >= 0:
				p, ok = path[level+1]
			}
			if ok {
				kids[p] = append(kids[p], i)
			} else if inWalk {
				direct[i] = append(direct[i], ref)
			}
			if kind == Node && level >= 0 {
				for l := range path {
					if l < level {
						delete(path, l)
					}
				}
				path[level] = i
			}
		}
	}
	for i, refs := range direct {
		for _, r := range refs {
			seen := map[int]bool{}
			for todo := []int{i}; len(todo) > 0; {
				x := todo[len(todo)-1]
				todo = todo[:len(todo)-1]
				if !seen[x] {
					seen[x] = true
					md.addRef(x, r)
					todo = append(todo, kids[x]...)
				}
			}
		}
	}
	m := b.Finish()
	checkLookup(t, m, md, math.MinInt64, math.MaxInt64)
	checkLookup(t, m, md, 0, math.MaxInt64)
	for _, c := range edgeCases(rand.New(rand.NewPCG(1, 1)), md) {
		checkLookup(t, m, md, c[0], c[1])
	}
}
