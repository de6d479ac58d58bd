package flush

import "unsafe"

// LineSize is the cache-line size the x86 flush loops step by and the
// granularity the Tracker models. Layout code that wants two objects never
// to share a flush unit should align them to LineSize.
const LineSize = 64

// ntThreshold is the copy size from which Copy uses non-temporal stores,
// as in PMDK: below it the cache pollution is cheaper than the NT setup.
const ntThreshold = 256

// ntChunk bounds one non-temporal assembly call. Assembly functions cannot
// be preempted, so huge copies are split to keep GC pauses short.
const ntChunk = 1 << 20

// lineCount is the pure-Go reference for the flush loops: how many lines
// of size line (a power of two) the n bytes at addr touch.
func lineCount(addr, n, line uintptr) int {
	if n == 0 {
		return 0
	}
	first := addr &^ (line - 1)
	last := (addr + n - 1) &^ (line - 1)
	return int((last-first)/line) + 1
}

// ptr is the address of b's first element (valid even when len(b) == 0).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// overlaps reports whether a and b share any byte.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(ptr(a)), uintptr(ptr(b))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// goLines is the pure-Go flush loop: it computes the line range and issues
// no instruction. It is the reference the assembly loops are tested
// against, and with persistCopy(dst, src, nil, goLines) the reference copy.
func goLines(p unsafe.Pointer, n uintptr) int { return lineCount(uintptr(p), n, LineSize) }
