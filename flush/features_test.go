package flush

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeSysfs builds root/bus/nd/devices/<region>/persistence_domain with
// the given contents; "" means the region has no such file.
func fakeSysfs(t *testing.T, regions map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, domain := range regions {
		dir := filepath.Join(root, "bus", "nd", "devices", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if domain == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "persistence_domain"), []byte(domain), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestEADRDetection(t *testing.T) {
	for _, c := range []struct {
		name    string
		regions map[string]string
		want    bool
	}{
		{"no nvdimm bus", nil, false},
		{"one cpu_cache region", map[string]string{"region0": "cpu_cache\n"}, true},
		{"all cpu_cache", map[string]string{"region0": "cpu_cache\n", "region1": "cpu_cache"}, true},
		{"one memory_controller", map[string]string{"region0": "cpu_cache\n", "region1": "memory_controller\n"}, false},
		{"region without the file", map[string]string{"region0": "cpu_cache\n", "region1": ""}, false},
		{"only non-region devices", map[string]string{"namespace0.0": "cpu_cache\n"}, false},
		{"empty domain", map[string]string{"region0": "\n"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := fakeSysfs(t, c.regions)
			if c.regions == nil {
				root = filepath.Join(root, "absent")
			}
			if got := eadrAt(root); got != c.want {
				t.Fatalf("eadrAt = %v, want %v", got, c.want)
			}
			if f := detect(root); f.EADR != c.want {
				t.Fatalf("detect(root).EADR = %v, want %v", f.EADR, c.want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	f := Detect()
	if f.Arch != runtime.GOARCH {
		t.Errorf("Arch = %q", f.Arch)
	}
	if f.CacheLine < 16 || f.CacheLine&(f.CacheLine-1) != 0 {
		t.Errorf("CacheLine = %d, want a power of two >= 16", f.CacheLine)
	}
	s := f.String()
	if !strings.HasPrefix(s, runtime.GOARCH+" line=") {
		t.Errorf("String() = %q", s)
	}
	if f.CLWB != strings.Contains(s, " clwb") {
		t.Errorf("String() = %q disagrees with CLWB=%v", s, f.CLWB)
	}
	t.Logf("features: %s", s)
}
