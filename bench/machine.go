package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/region"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	// Features is flush.Detect(); FlushMode what the store's auto mode
	// resolves to.
	Features  string `json:"features"`
	FlushMode string `json:"flush_mode"`
	// Dir, its filesystem and the mode a region there gets
	// (region.ProbePath): pmem, emulated or pagecache.
	Dir        string `json:"dir"`
	FSType     string `json:"fs_type"`
	Mode       string `json:"mode"`
	ModeReason string `json:"mode_reason"`
	MapSync    bool   `json:"map_sync"`
	// Revision is the VCS revision the binary was built from ("+
	// modified" when the tree had changes), "" when not stamped.
	Revision   string `json:"revision,omitempty"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// describeMachine fills Machine; dir is a writable directory on the
// benchmark's filesystem, where a scratch file is probed.
func describeMachine(dir string, requested flush.Mode) Machine {
	f := flush.Detect()
	m := Machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Kernel:     readTrim("/proc/sys/kernel/osrelease"),
		GoVersion:  runtime.Version(),
		Features:   f.String(),
		Dir:        filepath.Dir(dir),
		LoadBefore: loadAvg(),
	}
	if requested == flush.Auto {
		requested, _ = flush.ModeFromEnv()
	}
	if mode, err := flush.Resolve(requested); err == nil {
		m.FlushMode = mode.String()
	}
	m.MemoryBytes = memTotal()
	m.Revision = revision()
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, make([]byte, 4096), 0o600); err == nil {
		if p, err := region.ProbePath(probe); err == nil {
			m.FSType, m.Mode, m.ModeReason, m.MapSync = p.FSType, string(p.Mode), p.Reason, p.MapSync
		} else {
			m.ModeReason = err.Error()
		}
		os.Remove(probe)
	}
	return m
}

// revision reads the VCS stamp go build put into the binary.
func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " + uncommitted changes"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(12, len(rev))] + modified
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// cpuModel is the first "model name" of /proc/cpuinfo, or the arch.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// memTotal is MemTotal of /proc/meminfo in bytes, 0 when unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb << 10
		}
	}
	return 0
}

// loadAvg is the 1, 5 and 15 minute load averages, "" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}
