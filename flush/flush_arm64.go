package flush

import "unsafe"

// Assembly in flush_arm64.s.

//go:noescape
func dcCVAPLines(p unsafe.Pointer, n, line uintptr) int

//go:noescape
func dcCVACLines(p unsafe.Pointer, n, line uintptr) int

func dsb()

func cvapLines(p unsafe.Pointer, n uintptr) int { return dcCVAPLines(p, n, dcacheLine) }
func cvacLines(p unsafe.Pointer, n uintptr) int { return dcCVACLines(p, n, dcacheLine) }

func autoMode(f Features) Mode {
	switch {
	case f.EADR:
		return EADR
	case f.DCPOP:
		return DCCVAP
	default:
		return DCCVAC
	}
}

func modeSupported(m Mode, f Features) error {
	switch m {
	case DCCVAP:
		if !f.DCPOP {
			return unsupported("dccvap", "this CPU lacks DC CVAP (ARMv8.2 DCPOP)")
		}
	case DCCVAC, EADR:
		// DC CVAC is architectural; EADR only executes DSB.
	default:
		return unsupported(m.String(), "an x86 mode, this is arm64")
	}
	return nil
}

// autoCopy: arm64 has no streaming copy here; Copy is copy plus DC.
func autoCopy(Features) CopyKind { return CopyGo }

func copySupported(k CopyKind, _ Features) error {
	return unsupported(k.String()+" copy", "an x86 instruction set, this is arm64")
}

func newCPU(m Mode, _ CopyKind) Persister {
	switch m {
	case DCCVAP:
		return &dccvapPersister{}
	case DCCVAC:
		return &dccvacPersister{}
	case EADR:
		return &eadrPersister{}
	}
	panic("flush: newCPU called with unresolved mode " + m.String())
}

type dccvapPersister struct{}

func (*dccvapPersister) Flush(b []byte) {
	if len(b) != 0 {
		cvapLines(ptr(b), uintptr(len(b)))
	}
}
func (*dccvapPersister) Drain() error         { dsb(); return nil }
func (*dccvapPersister) Copy(dst, src []byte) { persistCopy(dst, src, nil, cvapLines) }
func (*dccvapPersister) Mode() Mode           { return DCCVAP }

type dccvacPersister struct{}

func (*dccvacPersister) Flush(b []byte) {
	if len(b) != 0 {
		cvacLines(ptr(b), uintptr(len(b)))
	}
}
func (*dccvacPersister) Drain() error         { dsb(); return nil }
func (*dccvacPersister) Copy(dst, src []byte) { persistCopy(dst, src, nil, cvacLines) }
func (*dccvacPersister) Mode() Mode           { return DCCVAC }

// eadrPersister: caches are persistent; Drain keeps the barrier.
type eadrPersister struct{}

func (*eadrPersister) Flush([]byte)         {}
func (*eadrPersister) Drain() error         { dsb(); return nil }
func (*eadrPersister) Copy(dst, src []byte) { persistCopy(dst, src, nil, nil) }
func (*eadrPersister) Mode() Mode           { return EADR }
