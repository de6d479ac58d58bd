package flush

import (
	"os"
	"strings"
	"testing"
)

func TestDetectMatchesCPUInfo(t *testing.T) {
	flags := cpuinfoFlags(t)
	f := Detect()
	for _, c := range []struct {
		flag string
		got  bool
	}{
		{"clwb", f.CLWB}, {"clflushopt", f.CLFLUSHOPT}, {"clflush", f.CLFLUSH},
		{"sse2", f.SSE2}, {"avx2", f.AVX2}, {"avx512f", f.AVX512F},
	} {
		if want := flags[c.flag]; c.got != want {
			t.Errorf("Detect().%s = %v, /proc/cpuinfo says %v", c.flag, c.got, want)
		}
	}
	if f.CacheLine != 64 || f.Arch != "amd64" {
		t.Errorf("Detect() = %+v", f)
	}
}

// cpuinfoFlags returns the flags of the first CPU in /proc/cpuinfo.
func cpuinfoFlags(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			m := map[string]bool{}
			for _, f := range strings.Fields(v) {
				m[f] = true
			}
			return m
		}
	}
	t.Skip("/proc/cpuinfo has no flags line")
	return nil
}
