package flush

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// ctrEL0 reads the cache type register (flush_arm64.s).
func ctrEL0() uint64

// dcacheLine is the stride of the DC loops: the smallest data cache line
// of any cache the DC instructions act on. Linux lets EL0 read CTR_EL0
// (SCTLR_EL1.UCT, emulated where errata need it); other systems may trap,
// so there we assume 64 bytes, the line of every arm64 core that has
// shipped with persistent memory support.
var dcacheLine = cacheLineSize()

func cacheLineSize() uintptr {
	if runtime.GOOS != "linux" {
		return LineSize
	}
	// DminLine, bits [19:16]: log2 of the line size in 4-byte words.
	line := uintptr(4) << ((ctrEL0() >> 16) & 0xf)
	if line < 16 || line > 2048 {
		return LineSize
	}
	return line
}

func cpuFeatures() Features {
	return Features{DCPOP: cpu.ARM64.HasDCPOP, CacheLine: int(dcacheLine)}
}
