package flush

import (
	"strconv"
	"unsafe"
)

// lineFunc issues one flush instruction per line of the n bytes at p and
// returns how many it issued. The assembly loops have this shape.
type lineFunc func(p unsafe.Pointer, n uintptr) int

// ntFunc copies n bytes from src to dst with non-temporal stores. dst is
// LineSize-aligned, n is a non-zero multiple of LineSize, src is arbitrary.
// It does not fence.
type ntFunc func(dst, src unsafe.Pointer, n uintptr)

// persistCopy is the body of every CPU persister's Copy. flush may be nil
// (eADR: caches are persistent); nt may be nil (CopyGo: no NT stores).
//
// Copies from ntThreshold bytes stream the LineSize-aligned middle of dst
// with nt and write the ragged head and tail with plain stores plus a
// flush: an NT store to a partial line would need a read-modify-write
// anyway, and at most two lines take the slower path.
func persistCopy(dst, src []byte, nt ntFunc, flush lineFunc) {
	n := len(src)
	if n == 0 {
		return
	}
	dst = mustFit(dst, src)
	if nt == nil || n < ntThreshold || overlaps(dst, src) {
		// Overlap needs memmove semantics, which the forward NT loop lacks.
		copy(dst, src)
		if flush != nil {
			flush(ptr(dst), uintptr(n))
		}
		return
	}
	head := int(-uintptr(ptr(dst)) & (LineSize - 1))
	if head > 0 {
		copy(dst[:head], src[:head])
		if flush != nil {
			flush(ptr(dst), uintptr(head))
		}
	}
	off := head
	for body := (n - head) &^ (LineSize - 1); body > 0; {
		c := min(body, ntChunk)
		nt(unsafe.Pointer(&dst[off]), unsafe.Pointer(&src[off]), uintptr(c))
		off += c
		body -= c
	}
	if off < n {
		copy(dst[off:], src[off:])
		if flush != nil {
			flush(unsafe.Pointer(&dst[off]), uintptr(n-off))
		}
	}
}

// mustFit returns dst[:len(src)], panicking when dst is shorter than src:
// writing into dst's spare capacity, or copying less than asked, would
// both hide a caller's bug in persistent data.
func mustFit(dst, src []byte) []byte {
	if len(dst) < len(src) {
		panic("flush: Copy: dst (" + strconv.Itoa(len(dst)) + " bytes) is shorter than src (" + strconv.Itoa(len(src)) + " bytes)")
	}
	return dst[:len(src)]
}
