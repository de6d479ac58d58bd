package flush

import "golang.org/x/sys/cpu"

// cpuid executes CPUID with the given leaf and subleaf (cpuid_amd64.s).
// x/sys/cpu does not export CLWB, CLFLUSHOPT or CLFLUSH, hence our own.
//
//go:noescape
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

func cpuFeatures() Features {
	maxLeaf, _, _, _ := cpuid(0, 0)
	_, _, _, edx1 := cpuid(1, 0)
	var ebx7 uint32
	if maxLeaf >= 7 {
		_, ebx7, _, _ = cpuid(7, 0)
	}
	return Features{
		CLFLUSH:    edx1&(1<<19) != 0,
		CLFLUSHOPT: ebx7&(1<<23) != 0,
		CLWB:       ebx7&(1<<24) != 0,
		SSE2:       cpu.X86.HasSSE2,
		AVX2:       cpu.X86.HasAVX2,
		AVX512F:    cpu.X86.HasAVX512F,
		CacheLine:  LineSize,
	}
}
