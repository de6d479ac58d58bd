package flush

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Features is what this machine offers for persistence. Detect fills it;
// `daxkv doctor` prints it.
type Features struct {
	Arch string // runtime.GOARCH

	// x86-64 (CPUID; the SIMD fields also require OS support for the
	// register state, as reported by golang.org/x/sys/cpu).
	CLWB       bool // CPUID.(7,0):EBX[24]
	CLFLUSHOPT bool // CPUID.(7,0):EBX[23]
	CLFLUSH    bool // CPUID.1:EDX[19]
	SSE2       bool
	AVX2       bool
	AVX512F    bool

	// arm64: DC CVAP (clean to the point of persistence, ARMv8.2 DCPOP).
	DCPOP bool

	// EADR: every NVDIMM region's persistence domain is the CPU cache, so
	// stores are durable once globally visible and flushes can be skipped.
	EADR bool

	// CacheLine is the stride of the flush loops in bytes.
	CacheLine int
}

// String lists the features that are present, e.g.
// "amd64 line=64 clwb clflushopt clflush sse2 avx2 avx512f".
func (f Features) String() string {
	var b strings.Builder
	b.WriteString(f.Arch)
	b.WriteString(" line=")
	b.WriteString(strconv.Itoa(f.CacheLine))
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.CLWB, "clwb"}, {f.CLFLUSHOPT, "clflushopt"}, {f.CLFLUSH, "clflush"},
		{f.SSE2, "sse2"}, {f.AVX2, "avx2"}, {f.AVX512F, "avx512f"},
		{f.DCPOP, "dcpop"}, {f.EADR, "eadr"},
	} {
		if x.on {
			b.WriteString(" ")
			b.WriteString(x.name)
		}
	}
	return b.String()
}

// sysfsRoot is where eADR detection looks for the nvdimm bus.
const sysfsRoot = "/sys"

var detected = sync.OnceValue(func() Features { return detect(sysfsRoot) })

// Detect reports this machine's features. The result is computed once.
func Detect() Features { return detected() }

func detect(sysRoot string) Features {
	f := cpuFeatures()
	f.Arch = runtime.GOARCH
	f.EADR = eadrAt(sysRoot)
	return f
}

// eadrAt reports whether sysRoot/bus/nd/devices has at least one region
// and every region's persistence_domain reads "cpu_cache". A region that
// lacks the file, or says "memory_controller", means flushes are needed.
func eadrAt(sysRoot string) bool {
	regions, _ := filepath.Glob(filepath.Join(sysRoot, "bus", "nd", "devices", "region*"))
	if len(regions) == 0 {
		return false
	}
	for _, r := range regions {
		b, err := os.ReadFile(filepath.Join(r, "persistence_domain"))
		if err != nil || strings.TrimSpace(string(b)) != "cpu_cache" {
			return false
		}
	}
	return true
}
