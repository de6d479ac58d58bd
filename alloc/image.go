package alloc

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/daxkv/daxkv/internal/errs"
)

// Image format, version 1. All numbers are uvarints unless noted; offsets
// and lengths are in units, relative to the start of the managed space.
//
//	magic "DXAL" (4 bytes), version (1 byte)
//	start unit (absolute), size in units, extent count, quarantine count
//	extents, ascending: header = units<<2 | gapFlag<<1 | refsFlag,
//	    then if gapFlag the gap (>= 1) since the previous extent's end
//	    (or unit 0), then if refsFlag the refcount (!= 1)
//	quarantine, ascending: gap since the previous range's end (>= 1 after
//	    the first), length (>= 1)
//	CRC32C of everything before (4 bytes, little endian)
//
// Free space is not stored: it is the complement of the rest. Densely packed
// 4 KiB nodes cost one byte each.
const (
	imageMagic   = "DXAL"
	imageVersion = 1
	headerFlags  = 2
	flagGap      = 1 << 1
	flagRefs     = 1 << 0
	crcSize      = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the allocator's extents (zombies included) and
// quarantine for Load.
func (a *Allocator) MarshalBinary() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	buf := make([]byte, 0, 32+2*a.ext.count+6*len(a.quar))
	buf = append(buf, imageMagic...)
	buf = append(buf, imageVersion)
	buf = binary.AppendUvarint(buf, uint64(a.startU))
	buf = binary.AppendUvarint(buf, uint64(a.sizeU))
	buf = binary.AppendUvarint(buf, uint64(a.ext.count))
	buf = binary.AppendUvarint(buf, uint64(len(a.quar)))
	var pos int64
	a.ext.ascend(0, func(u, n int64, refs uint32) bool {
		h := uint64(n) << headerFlags
		if u > pos {
			h |= flagGap
		}
		if refs != 1 {
			h |= flagRefs
		}
		buf = binary.AppendUvarint(buf, h)
		if u > pos {
			buf = binary.AppendUvarint(buf, uint64(u-pos))
		}
		if refs != 1 {
			buf = binary.AppendUvarint(buf, uint64(refs))
		}
		pos = u + n
		return true
	})
	pos = 0
	for _, q := range a.quar {
		buf = binary.AppendUvarint(buf, uint64(q.off-pos))
		buf = binary.AppendUvarint(buf, uint64(q.n))
		pos = q.end()
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli)), nil
}

// decoder reads uvarints, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("alloc: image: %s: %w", fmt.Sprintf(format, args...), errs.Corrupt)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.buf)
	if k <= 0 {
		d.fail("%s: truncated or overlong number", what)
		return 0
	}
	d.buf = d.buf[k:]
	return v
}

// Load rebuilds the allocator saved by MarshalBinary for the space
// [start, start+size). Any damage or mismatch gives an error wrapping
// errs.Corrupt; memory use is bounded by the size of the space and of img.
func Load(start, size int64, img []byte) (*Allocator, error) {
	a, err := newEmpty(start, size)
	if err != nil {
		return nil, err
	}
	d := decoder{}
	if len(img) < len(imageMagic)+1+crcSize || string(img[:len(imageMagic)]) != imageMagic {
		d.fail("bad magic")
		return nil, d.err
	}
	body := img[:len(img)-crcSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(img[len(body):]) {
		d.fail("checksum mismatch")
		return nil, d.err
	}
	if v := body[len(imageMagic)]; v != imageVersion {
		d.fail("version %d, want %d", v, imageVersion)
		return nil, d.err
	}
	d.buf = body[len(imageMagic)+1:]
	startU, sizeU := d.uvarint("start"), d.uvarint("size")
	if d.err == nil && (startU != uint64(a.startU) || sizeU != uint64(a.sizeU)) {
		d.fail("saved for units [%d, +%d), not [%d, +%d)", startU, sizeU, a.startU, a.sizeU)
	}
	nExt, nQuar := d.uvarint("extent count"), d.uvarint("quarantine count")
	// Each extent takes at least one byte, each range two: counts beyond
	// that are lies, and checking first bounds every allocation below.
	if d.err == nil && (nExt > uint64(len(d.buf)) || nQuar > uint64(len(d.buf))/2) {
		d.fail("%d extents and %d bad ranges cannot fit in %d bytes", nExt, nQuar, len(d.buf))
	}
	a.decodeExtents(&d, int(nExt))
	a.decodeQuarantine(&d, int(nQuar))
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d bytes of trailing garbage", len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	a.deriveFree()
	return a, nil
}

func (a *Allocator) decodeExtents(d *decoder, count int) {
	if d.err != nil {
		return
	}
	var pos int64
	// Entries of the current chunk collect in run and are copied out at the
	// end of the chunk, so each chunk gets a slice of the right size.
	var run []entry
	cur := -1
	flush := func() {
		if len(run) > 0 {
			a.ext.chunks[cur] = append(make([]entry, 0, len(run)+len(run)/8), run...)
			run = run[:0]
		}
	}
	for range count {
		h := d.uvarint("extent header")
		var gap, refs uint64 = 0, 1
		if h&flagGap != 0 {
			gap = d.uvarint("extent gap")
			if gap == 0 {
				d.fail("zero gap flagged")
			}
		}
		if h&flagRefs != 0 {
			refs = d.uvarint("refcount")
			if refs == 1 || refs > math.MaxUint32 {
				d.fail("refcount %d flagged", refs)
			}
		}
		n := h >> headerFlags
		if n == 0 || n > maxExtentUnits {
			d.fail("extent length %d units", n)
		}
		// pos <= sizeU, so these comparisons cannot overflow.
		if d.err == nil && (gap > uint64(a.sizeU-pos) || n > uint64(a.sizeU-pos)-gap) {
			d.fail("extent at unit %d+%d, %d units long, passes the end at %d", pos, gap, n, a.sizeU)
		}
		if d.err != nil {
			return
		}
		u := pos + int64(gap)
		if c := int(u >> chunkShift); c != cur {
			flush()
			cur = c
		}
		run = append(run, entry{key: uint16(u & chunkMask), units: uint32(n)})
		a.ext.count++
		a.ext.longest = max(a.ext.longest, int64(n))
		if refs < refsInMap {
			run[len(run)-1].refs = uint16(refs)
		} else {
			run[len(run)-1].refs = refsInMap
			if a.ext.bigRefs == nil {
				a.ext.bigRefs = make(map[int64]uint32)
			}
			a.ext.bigRefs[u] = uint32(refs)
		}
		pos = u + int64(n)
	}
	flush()
}

func (a *Allocator) decodeQuarantine(d *decoder, count int) {
	if d.err != nil {
		return
	}
	a.quar = make([]span, 0, count)
	var pos int64
	for i := range count {
		gap, n := d.uvarint("bad range gap"), d.uvarint("bad range length")
		if d.err == nil && ((i > 0 && gap == 0) || n == 0 || gap > uint64(a.sizeU-pos) || n > uint64(a.sizeU-pos)-gap) {
			d.fail("bad range %d at unit %d+%d, %d units long", i, pos, gap, n)
		}
		if d.err != nil {
			return
		}
		s := span{pos + int64(gap), int64(n)}
		a.quar = append(a.quar, s)
		pos = s.end()
	}
}
