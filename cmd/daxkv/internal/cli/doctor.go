package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/region"
)

// doctorReport is what `daxkv doctor --json` prints. The JSON names are
// stable: scripts and bug reports depend on them.
type doctorReport struct {
	CPU     cpuReport     `json:"cpu"`
	Flush   flushReport   `json:"flush"`
	Region  *regionReport `json:"region"` // null without --path
	Measure measureReport `json:"measure"`
}

type cpuReport struct {
	Arch       string `json:"arch"`
	CacheLine  int    `json:"cache_line"`
	CLWB       bool   `json:"clwb"`
	CLFLUSHOPT bool   `json:"clflushopt"`
	CLFLUSH    bool   `json:"clflush"`
	NTStores   bool   `json:"nt_stores"` // SSE2 MOVNTI/MOVNTDQ
	AVX2       bool   `json:"avx2"`
	AVX512F    bool   `json:"avx512f"`
	DCPOP      bool   `json:"dcpop"` // arm64 DC CVAP
	EADR       bool   `json:"eadr"`
}

// flushReport is the CPU flush mode the store would use on persistent
// memory, and why.
type flushReport struct {
	Requested string `json:"requested"` // "auto" or a forced mode
	Source    string `json:"source"`    // "default", "--flush", "DAXKV_FLUSH" or the config file
	Mode      string `json:"mode"`      // what Resolve picked
	Reason    string `json:"reason"`
	Copy      string `json:"copy"` // instruction set of non-temporal copies
}

// regionReport is region.ProbePath's verdict for --path plus the flush mode
// the store would use on that region.
type regionReport struct {
	region.Probe
	FlushMode   string `json:"flush_mode"`
	FlushReason string `json:"flush_reason"`
}

func newDoctorCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report this machine's persistence features, the modes daxkv would pick, and measured flush costs",
		Long: `doctor prints the CPU's persistence features (CLWB, CLFLUSHOPT, CLFLUSH,
non-temporal stores, AVX2, AVX-512, eADR), the flush mode daxkv would use
and why (DAXKV_FLUSH or --flush can force one), and with --path the mode the
region would be mapped in (pmem, emulated or pagecache) with the MAP_SYNC
result and filesystem.

It then measures, as medians of several rounds: the cost of flushing and
fencing one 64-byte line, and the bandwidth of persistent copies of 4 KiB
and 64 KiB. With --path the measurement runs on a scratch file created next
to the region (same filesystem, removed afterwards); without --path, or if
that directory is not writable, on anonymous memory. The region itself is
never written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := a.doctor(cmd)
			if err != nil {
				return err
			}
			return a.emit(rep, rep.writeText)
		},
	}
}

func (a *app) doctor(cmd *cobra.Command) (*doctorReport, error) {
	feat := flush.Detect()
	rep := &doctorReport{CPU: cpuReport{
		Arch:       feat.Arch,
		CacheLine:  feat.CacheLine,
		CLWB:       feat.CLWB,
		CLFLUSHOPT: feat.CLFLUSHOPT,
		CLFLUSH:    feat.CLFLUSH,
		NTStores:   feat.SSE2,
		AVX2:       feat.AVX2,
		AVX512F:    feat.AVX512F,
		DCPOP:      feat.DCPOP,
		EADR:       feat.EADR,
	}}

	requested, src, err := a.flushMode()
	if err != nil {
		return nil, err
	}
	mode, err := flush.Resolve(requested)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.settingLabel("flush"), err)
	}
	ck, err := flush.ResolveCopy(flush.CopyAuto)
	if err != nil {
		return nil, err
	}
	rep.Flush = flushReport{
		Requested: requested.String(),
		Source:    src,
		Mode:      mode.String(),
		Reason:    flushReason(requested, mode, a.settingLabel("flush"), feat),
		Copy:      ck.String(),
	}

	measureMode := mode
	path := a.path()
	if path != "" {
		probe, err := region.ProbePath(path)
		if err != nil {
			return nil, err
		}
		rr := &regionReport{Probe: probe}
		measureMode, rr.FlushReason = regionFlush(probe, requested, mode)
		rr.FlushMode = measureMode.String()
		rep.Region = rr
	}

	rep.Measure, err = measure(cmd.Context(), path, measureMode)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// flushReason explains the mode Resolve picked. Auto follows PMDK's order:
// eADR (no flush needed) > CLWB > CLFLUSHOPT > CLFLUSH on x86, DC CVAP >
// DC CVAC on arm64.
func flushReason(requested, mode flush.Mode, given string, f flush.Features) string {
	if requested != flush.Auto {
		return "forced by " + given
	}
	switch mode {
	case flush.EADR:
		return "eADR: every NVDIMM region's persistence domain is the CPU cache; flushes are skipped, fences kept"
	case flush.CLWB:
		return "CLWB is the best flush this CPU has: it writes lines back without evicting them"
	case flush.CLFLUSHOPT:
		return "no CLWB; CLFLUSHOPT writes back and evicts, without serialising"
	case flush.CLFLUSH:
		return "no CLWB or CLFLUSHOPT; CLFLUSH writes back and evicts, one line at a time"
	case flush.DCCVAP:
		return "DCPOP: DC CVAP cleans lines to the point of persistence"
	case flush.DCCVAC:
		return "no DCPOP; DC CVAC cleans lines to the point of coherency only"
	case flush.Msync:
		return fmt.Sprintf("no cache-line flush instruction on %s; dirty pages are written with msync", f.Arch)
	}
	return ""
}

// regionFlush is the flush mode the store uses on a probed region: the CPU
// mode where flushes reach the medium, msync where the file lives in the
// page cache. A forced mode is kept, with a warning when it cannot make a
// page-cache file durable.
func regionFlush(p region.Probe, requested, cpuMode flush.Mode) (flush.Mode, string) {
	if p.Mode != region.PageCache {
		return cpuMode, fmt.Sprintf("%s mapping: CPU flushes reach the medium", p.Mode)
	}
	if requested == flush.Auto {
		return flush.Msync, "page-cache file: CPU flushes do not reach the disk, msync does"
	}
	if cpuMode == flush.Msync {
		return cpuMode, "forced msync"
	}
	return cpuMode, fmt.Sprintf("forced %s: on a page-cache file this survives a process crash, not a power loss", cpuMode)
}

func (r *doctorReport) writeText(w io.Writer) error {
	c := r.CPU
	cpu := section{title: fmt.Sprintf("CPU (%s, %d-byte lines)", c.Arch, c.CacheLine)}
	switch c.Arch {
	case "amd64", "386":
		cpu.add("CLWB", "%s", yesNo(c.CLWB))
		cpu.add("CLFLUSHOPT", "%s", yesNo(c.CLFLUSHOPT))
		cpu.add("CLFLUSH", "%s", yesNo(c.CLFLUSH))
		cpu.add("NT stores (SSE2)", "%s", yesNo(c.NTStores))
		cpu.add("AVX2", "%s", yesNo(c.AVX2))
		cpu.add("AVX-512F", "%s", yesNo(c.AVX512F))
	case "arm64":
		cpu.add("DC CVAP (DCPOP)", "%s", yesNo(c.DCPOP))
	}
	cpu.add("eADR", "%s", yesNo(c.EADR))

	fl := section{title: "Flush"}
	fl.add("mode", "%s", r.Flush.Mode)
	fl.add("why", "%s", r.Flush.Reason)
	fl.add("NT copy", "%s", r.Flush.Copy)

	sections := []section{cpu, fl}
	if g := r.Region; g != nil {
		s := section{title: "Region " + g.Path}
		s.add("kind", "%s", g.Kind)
		s.add("filesystem", "%s", orDash(g.FSType))
		switch {
		case g.Kind == region.KindDevDax:
			s.add("MAP_SYNC", "not needed (device DAX)")
		case g.MapSync:
			s.add("MAP_SYNC", "accepted")
		default:
			s.add("MAP_SYNC", "refused: %s", orDash(g.MapSyncErr))
		}
		s.add("mode", "%s", g.Mode)
		s.add("why", "%s", g.Reason)
		s.add("flush here", "%s (%s)", g.FlushMode, g.FlushReason)
		sections = append(sections, s)
	}

	m := r.Measure
	title := fmt.Sprintf("Measured (%s, median of %d rounds)", m.Mode, m.Rounds)
	if m.Skipped != "" {
		title = fmt.Sprintf("Not measured (%s)", m.Mode)
	}
	s := section{title: title}
	s.add("memory", "%s", m.describe())
	if m.Note != "" {
		s.add("note", "%s", m.Note)
	}
	if m.Skipped != "" {
		s.add("skipped", "%s", m.Skipped)
	} else {
		s.add("flush+fence 64 B", "%s", fmtNs(*m.FlushLineNs))
		s.add("persist copy 4 KiB", "%s", fmtRate(*m.Copy4KGBps))
		s.add("persist copy 64 KiB", "%s", fmtRate(*m.Copy64KGBps))
	}
	sections = append(sections, s)
	return writeSections(w, sections...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func fmtRate(gbps float64) string {
	if gbps < 0.001 {
		return fmt.Sprintf("%.0f KB/s", gbps*1e6)
	}
	if gbps < 1 {
		return fmt.Sprintf("%.0f MB/s", gbps*1000)
	}
	return fmt.Sprintf("%.2f GB/s", gbps)
}

// isDevice reports whether path names a device node (devdax), which the
// doctor must not write and cannot put a scratch file beside.
func isDevice(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeDevice != 0
}
