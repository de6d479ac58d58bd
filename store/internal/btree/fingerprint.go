package btree

import (
	"bytes"
	"cmp"
	"errors"
	"hash/maphash"
	"runtime"
	"slices"
	"unsafe"

	"github.com/daxkv/daxkv/internal/prefetch"
)

// Leaf fingerprints let a point lookup skip a leaf's slot array. A
// fingerprinted directory keeps, for every entry of every leaf, a short
// hash of its key with the key's length and its position in the node: one
// uint32 per key, in DRAM. A lookup reads the entry whose fingerprint
// matches straight away, so it costs one round of misses on the mapping
// instead of two (slots, then entry), and decimal keys, whose slot
// prefixes all tie, no longer need their whole leaf.
//
// Fingerprints come from a validated read of the same immutable node, so
// the position and length they give are sound. The key bytes there are
// compared before the value is used, and a lookup that matches no
// fingerprint falls back to the slot search: a fingerprint can make a hit
// faster, never turn a hit into a miss.
const (
	fpPosBits  = 12 // entry position in its node: < NodeSize
	fpKlenBits = 11 // key length: <= MaxKey
	fpHashBits = 32 - fpPosBits - fpKlenBits
	fpPosMask  = 1<<fpPosBits - 1
)

// ErrStopped is Fingerprint's error when its stop channel closes.
var ErrStopped = errors.New("btree: fingerprinting stopped")

// fpSeed keys the fingerprint hash. Fingerprints live in DRAM only, so a
// seed per process is enough.
var fpSeed = maphash.MakeSeed()

// fingerprint hashes all of key to fpHashBits bits.
func fingerprint(key []byte) uint32 {
	return uint32(maphash.Bytes(fpSeed, key) >> (64 - fpHashBits))
}

// fpTag is a fingerprint entry without its position: what a lookup for
// key compares.
func fpTag(key []byte) uint32 {
	return fingerprint(key)<<(fpPosBits+fpKlenBits) | uint32(len(key))<<fpPosBits
}

// Fingerprinted reports whether d carries leaf fingerprints.
func (d *Dir) Fingerprinted() bool { return d.fpStart != nil }

// Fingerprint returns a copy of d with fingerprints for every leaf; d is
// not changed. The fingerprints of a leaf that prev (an earlier
// fingerprinted directory of the same branch, or nil) also has are reused
// when the node at that offset is the same one: written by the same
// checkpoint generation (a freed node's offset is only rewritten by a
// later checkpoint, with a higher generation). The other leaves are read
// and validated; one that fails gets no fingerprints. It returns how many
// leaves it reused. The caller keeps d's root allocated and runs it under
// the fault guard; closing stop makes it give up with ErrStopped (a large
// tree takes seconds).
func (t *Tree) Fingerprint(d, prev *Dir, stop <-chan struct{}) (*Dir, int, error) {
	f := *d
	// No shortcut for prev.root == d.root: a freed root's offset may hold
	// the root of a later tree. Leaves are matched by offset and
	// generation, which identify a node.
	var byOff []int32 // prev's leaves in offset order
	if prev != nil && prev.Fingerprinted() {
		byOff = make([]int32, len(prev.leaf))
		for i := range byOff {
			byOff[i] = int32(i)
		}
		slices.SortFunc(byOff, func(a, b int32) int {
			return cmp.Compare(prev.leaf[a]&^leafTied, prev.leaf[b]&^leafTied)
		})
	}
	f.fpStart = make([]uint32, 1, len(d.leaf)+1)
	f.fpGen = make([]uint64, 0, len(d.leaf))
	f.fps = make([]uint32, 0, 16*len(d.leaf))
	reused := 0
	for i, e := range d.leaf {
		if i%1024 == 0 {
			select {
			case <-stop:
				return nil, 0, ErrStopped
			default:
			}
		}
		off := e &^ leafTied
		gen := noGen
		if t.nodeInRegion(off) {
			gen = le.Uint64(t.mem[off+offGen:])
		}
		if j, ok := slices.BinarySearchFunc(byOff, off, func(p int32, off int64) int {
			return cmp.Compare(prev.leaf[p]&^leafTied, off)
		}); ok && gen != noGen && prev.fpGen[byOff[j]] == gen {
			p := byOff[j]
			f.fps = append(f.fps, prev.fps[prev.fpStart[p]:prev.fpStart[p+1]]...)
			reused++
		} else if fps, err := t.leafFingerprints(f.fps, off); err == nil {
			f.fps = fps
		} else {
			// A damaged leaf gets no fingerprints (its reads take the
			// slot path, which reports the damage) and is read again
			// next time.
			gen = noGen
		}
		f.fpGen = append(f.fpGen, gen)
		f.fpStart = append(f.fpStart, uint32(len(f.fps)))
	}
	return &f, reused, nil
}

// noGen marks a leaf without fingerprints; no node has this generation.
const noGen = ^uint64(0)

// leafFingerprints reads and validates the leaf at off and appends its
// keys' fingerprints to fps. On an error fps is returned unchanged.
func (t *Tree) leafFingerprints(fps []uint32, off int64) ([]uint32, error) {
	n, err := t.readNode(off, 0)
	if err != nil {
		return fps, err
	}
	more, err := n.fingerprints(fps)
	if err != nil {
		return fps, err
	}
	return more, nil
}

// fingerprints appends the fingerprint entries of leaf n's keys to fps.
func (n *node) fingerprints(fps []uint32) ([]uint32, error) {
	for i := 0; i < n.count; i++ {
		pos, klen, err := n.entry(i, 1)
		if err != nil {
			return nil, err
		}
		fps = append(fps, fpTag(n.b[pos:pos+klen])|uint32(pos))
	}
	return fps, nil
}

// Prefetch starts loading what FindDir(d, key) will read of the mapping:
// the page walk and first line of key's leaf and, when a fingerprint
// names an entry, that entry's key and value lines, so that a caller can
// do its bookkeeping while they are in flight. It reads d only, never the
// mapping: it needs no fault guard (a prefetch takes no page fault), and
// a stale d costs wasted loads and nothing else.
func (t *Tree) Prefetch(d *Dir, key []byte) {
	if d.root == 0 {
		return
	}
	i := d.find(key)
	off := d.leaf[i] &^ leafTied
	if !t.nodeInRegion(off) {
		return
	}
	b := t.mem[off : off+NodeSize : off+NodeSize]
	prefetch.Line(unsafe.Pointer(&b[0]))
	if d.fpStart == nil {
		return
	}
	want := fpTag(key)
	for _, e := range d.fps[d.fpStart[i]:d.fpStart[i+1]] {
		if e&^fpPosMask == want {
			// The key, then the value after it: the lines fpFind loads.
			// (Prefetching only the leaf's first line, without the
			// entry's, measured 200 ns slower than no early prefetch.)
			pos := int(e & fpPosMask)
			for p := pos; p < NodeSize && p <= pos+2*64; p += 64 {
				prefetch.Line(unsafe.Pointer(&b[p]))
			}
			return
		}
	}
}

// fpFind looks key up among the fingerprints of leaf i of d, at off. ok is
// false when no entry matched: the caller then searches the slots. It
// reads the entry without the header checks of readNode (magic, level,
// self offset): the fingerprints were taken from this node after they
// passed, and nodes do not change. Every read stays inside the node
// whatever the fingerprints say.
func (t *Tree) fpFind(d *Dir, i int, off int64, key []byte) (Loc, bool, error) {
	if !t.nodeInRegion(off) {
		return Loc{}, false, nil // the slot path reports it
	}
	want := fpTag(key)
	b := t.mem[off : off+NodeSize : off+NodeSize]
	// The node is one page: touching it now starts the page walk the
	// entry's load would wait for, while the fingerprints' line loads.
	prefetch.Line(unsafe.Pointer(&b[0]))
	for _, e := range d.fps[d.fpStart[i]:d.fpStart[i+1]] {
		if e&^fpPosMask != want {
			continue
		}
		pos := int(e & fpPosMask)
		if pos+len(key) >= NodeSize {
			continue
		}
		// The value follows the key: load its lines in the same round,
		// since a match is what is expected.
		if pos < NodeSize-2*64 {
			runtime.KeepAlive(b[pos+64] | b[pos+2*64])
		}
		if !bytes.Equal(b[pos:pos+len(key)], key) {
			continue
		}
		l, err := valueLoc(b, off, hdrSize, int64(len(t.mem)), pos+len(key), -1)
		return l, err == nil, err
	}
	return Loc{}, false, nil
}
