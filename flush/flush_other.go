//go:build !amd64 && !arm64

package flush

// Architectures without flush assembly: no CPU mode can make a store
// durable from user space here, so only Msync is offered.

func cpuFeatures() Features { return Features{CacheLine: LineSize} }

func autoMode(Features) Mode { return Msync }

func modeSupported(m Mode, _ Features) error {
	return unsupported(m.String(), "no flush instructions on this architecture; use msync")
}

func autoCopy(Features) CopyKind { return CopyGo }

func copySupported(k CopyKind, _ Features) error {
	return unsupported(k.String()+" copy", "an x86 instruction set")
}

// newCPU is unreachable: resolve accepts no CPU mode here.
func newCPU(m Mode, _ CopyKind) Persister {
	panic("flush: no CPU persister on this architecture (mode " + m.String() + ")")
}
