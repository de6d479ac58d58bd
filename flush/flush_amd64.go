package flush

import "unsafe"

// Assembly in flush_amd64.s and copy_amd64.s.

//go:noescape
func clwbLines(p unsafe.Pointer, n uintptr) int

//go:noescape
func clflushoptLines(p unsafe.Pointer, n uintptr) int

//go:noescape
func clflushLines(p unsafe.Pointer, n uintptr) int

func sfence()

//go:noescape
func ntCopySSE2(dst, src unsafe.Pointer, n uintptr)

//go:noescape
func ntCopyAVX2(dst, src unsafe.Pointer, n uintptr)

//go:noescape
func ntCopyAVX512(dst, src unsafe.Pointer, n uintptr)

func autoMode(f Features) Mode {
	switch {
	case f.EADR:
		return EADR
	case f.CLWB:
		return CLWB
	case f.CLFLUSHOPT:
		return CLFLUSHOPT
	default:
		return CLFLUSH // architectural on x86-64
	}
}

func modeSupported(m Mode, f Features) error {
	switch m {
	case CLWB:
		if !f.CLWB {
			return unsupported("clwb", "this CPU lacks CLWB (CPUID.7:EBX[24])")
		}
	case CLFLUSHOPT:
		if !f.CLFLUSHOPT {
			return unsupported("clflushopt", "this CPU lacks CLFLUSHOPT (CPUID.7:EBX[23])")
		}
	case CLFLUSH:
		if !f.CLFLUSH {
			return unsupported("clflush", "this CPU lacks CLFLUSH (CPUID.1:EDX[19])")
		}
	case EADR:
		// Only SFENCE is executed. Forcing it where the platform does not
		// have eADR is the caller's claim that caches are persistent.
	default:
		return unsupported(m.String(), "an arm64 mode, this is amd64")
	}
	return nil
}

// autoCopy prefers AVX2: like PMDK we leave AVX-512 opt-in, because on
// the Xeons that carry Optane heavy 512-bit use lowers the core clock for
// everything else running on it, and the streaming rate is bound by the
// memory, not the register width (see the benchmarks).
func autoCopy(f Features) CopyKind {
	switch {
	case f.AVX2:
		return CopyAVX2
	case f.SSE2:
		return CopySSE2
	default:
		return CopyGo // only when SSE2 was switched off with GODEBUG
	}
}

func copySupported(k CopyKind, f Features) error {
	switch k {
	case CopySSE2:
		if !f.SSE2 {
			return unsupported("sse2 copy", "this CPU lacks SSE2")
		}
	case CopyAVX2:
		if !f.AVX2 {
			return unsupported("avx2 copy", "this CPU or OS lacks AVX2")
		}
	case CopyAVX512:
		if !f.AVX512F {
			return unsupported("avx512 copy", "this CPU or OS lacks AVX-512F")
		}
	}
	return nil
}

func ntFor(k CopyKind) ntFunc {
	switch k {
	case CopySSE2:
		return ntCopySSE2
	case CopyAVX2:
		return ntCopyAVX2
	case CopyAVX512:
		return ntCopyAVX512
	}
	return nil // CopyGo
}

// newCPU builds the persister for a resolved, supported mode and kind.
func newCPU(m Mode, k CopyKind) Persister {
	nt := ntFor(k)
	switch m {
	case CLWB:
		return &clwbPersister{nt}
	case CLFLUSHOPT:
		return &clflushoptPersister{nt}
	case CLFLUSH:
		return &clflushPersister{nt}
	case EADR:
		return &eadrPersister{nt}
	}
	panic("flush: newCPU called with unresolved mode " + m.String())
}

// One small type per mode, so Flush is a direct call to its loop.

type clwbPersister struct{ nt ntFunc }

func (p *clwbPersister) Flush(b []byte) {
	if len(b) != 0 {
		clwbLines(ptr(b), uintptr(len(b)))
	}
}
func (p *clwbPersister) Drain() error         { sfence(); return nil }
func (p *clwbPersister) Copy(dst, src []byte) { persistCopy(dst, src, p.nt, clwbLines) }
func (p *clwbPersister) Mode() Mode           { return CLWB }

type clflushoptPersister struct{ nt ntFunc }

func (p *clflushoptPersister) Flush(b []byte) {
	if len(b) != 0 {
		clflushoptLines(ptr(b), uintptr(len(b)))
	}
}
func (p *clflushoptPersister) Drain() error         { sfence(); return nil }
func (p *clflushoptPersister) Copy(dst, src []byte) { persistCopy(dst, src, p.nt, clflushoptLines) }
func (p *clflushoptPersister) Mode() Mode           { return CLFLUSHOPT }

type clflushPersister struct{ nt ntFunc }

func (p *clflushPersister) Flush(b []byte) {
	if len(b) != 0 {
		clflushLines(ptr(b), uintptr(len(b)))
	}
}

// Drain fences although CLFLUSH is ordered with stores: NT stores from
// Copy are not.
func (p *clflushPersister) Drain() error         { sfence(); return nil }
func (p *clflushPersister) Copy(dst, src []byte) { persistCopy(dst, src, p.nt, clflushLines) }
func (p *clflushPersister) Mode() Mode           { return CLFLUSH }

// eadrPersister: caches are persistent, so nothing is flushed; the fence
// still drains NT stores and orders stores for the caller's protocol.
type eadrPersister struct{ nt ntFunc }

func (p *eadrPersister) Flush([]byte)         {}
func (p *eadrPersister) Drain() error         { sfence(); return nil }
func (p *eadrPersister) Copy(dst, src []byte) { persistCopy(dst, src, p.nt, nil) }
func (p *eadrPersister) Mode() Mode           { return EADR }
