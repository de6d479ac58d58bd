package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

// statsReport is what `daxkv stats --json` prints: every field of
// store.Stats, sizes in bytes, durations in nanoseconds.
type statsReport struct {
	Path        string `json:"path"`
	Mode        string `json:"mode"`
	Flush       string `json:"flush"`
	Size        int64  `json:"size"`
	Used        int64  `json:"used"`
	Free        int64  `json:"free"`
	Quarantined int64  `json:"quarantined"`
	// HugeMapped is null where it cannot be known (DAX, not Linux).
	HugeMapped       *int64 `json:"huge_mapped"`
	WALSize          int64  `json:"wal_size"`
	WALUsed          int64  `json:"wal_used"`
	Extents          int    `json:"extents"`
	Generation       uint64 `json:"generation"`
	MemtableKeys     int    `json:"memtable_keys"`
	MemtableBytes    int64  `json:"memtable_bytes"`
	Checkpoints      uint64 `json:"checkpoints"`
	LastCheckpointNs int64  `json:"last_checkpoint_ns"`
	OpenTookNs       int64  `json:"open_took_ns"`
	CleanOpen        bool   `json:"clean_open"`
	RecoveredOps     uint64 `json:"recovered_ops"`
	ReadOnly         bool   `json:"read_only"`
	Broken           string `json:"broken"`
}

func newStatsCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Print the region's space, WAL and recovery figures",
		Long: `stats opens the region read-only and prints every figure the store keeps:
mode and flush mechanism, space used and free, the WAL's fill, the keys
still in memtables (replayed from the WAL, not yet checkpointed into the
tree), and how this open went: whether the last close was clean (no replay
needed) or how many WAL operations recovery replayed. "huge pages" says
whether the pages this open touched are 2 MiB pages (a tmpfs mounted
huge=always or within_size gives them; on DAX the kernel does not say).

Checkpoint counts are per open: a read-only open never checkpoints, so they
are 0 here. --json prints sizes in bytes and durations in nanoseconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			path, err := a.regionPath()
			if err != nil {
				return err
			}
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer closeStore(db, &err)
			rep := newStatsReport(path, db.Stats())
			if n, err := db.HugeMapped(); err == nil {
				rep.HugeMapped = &n
			}
			return a.emit(rep, rep.writeText)
		},
	}
}

func newStatsReport(path string, s store.Stats) statsReport {
	return statsReport{
		Path: path, Mode: s.Mode, Flush: s.Flush,
		Size: s.Size, Used: s.Used, Free: s.Free, Quarantined: s.Quarantined,
		WALSize: s.WALSize, WALUsed: s.WALUsed,
		Extents: s.Extents, Generation: s.Generation,
		MemtableKeys: s.MemtableKeys, MemtableBytes: s.MemtableBytes,
		Checkpoints: s.Checkpoints, LastCheckpointNs: int64(s.LastCheckpoint),
		OpenTookNs: int64(s.OpenTook), CleanOpen: s.CleanOpen, RecoveredOps: s.RecoveredOps,
		ReadOnly: s.ReadOnly, Broken: s.Broken,
	}
}

func (r statsReport) writeText(w io.Writer) error {
	reg := section{title: "Region " + r.Path}
	reg.add("mode", "%s (flush: %s)", r.Mode, r.Flush)
	reg.add("size", "%s", fmtBytes(r.Size))
	reg.add("used", "%s, %s (%d B)", fmtIEC(r.Used), pct(r.Used, r.Size), r.Used)
	reg.add("free", "%s", fmtBytes(r.Free))
	reg.add("quarantined", "%s", fmtBytes(r.Quarantined))
	reg.add("extents", "%s", fmtCount(int64(r.Extents)))
	reg.add("generation", "%d", r.Generation)
	switch {
	case r.HugeMapped == nil:
		reg.add("huge pages", "unknown (the kernel does not count DAX mappings; not Linux)")
	case *r.HugeMapped > 0:
		reg.add("huge pages", "yes (%s mapped with 2 MiB pages by this open)", fmtIEC(*r.HugeMapped))
	default:
		reg.add("huge pages", "none seen (4 KiB pages make random reads slower: see docs/PERFORMANCE.md)")
	}

	wal := section{title: "WAL and memtables"}
	wal.add("WAL", "%s of %s used (%s)", fmtIEC(r.WALUsed), fmtIEC(r.WALSize), pct(r.WALUsed, r.WALSize))
	wal.add("memtable keys", "%s (%s)", fmtCount(int64(r.MemtableKeys)), fmtIEC(r.MemtableBytes))

	open := section{title: "This open"}
	if r.CleanOpen {
		open.add("last close", "clean (allocator image loaded, no replay)")
	} else {
		open.add("last close", "not clean: recovered %s operations from the WAL", fmtCount(int64(r.RecoveredOps)))
	}
	open.add("open took", "%s", fmtDuration(time.Duration(r.OpenTookNs)))
	if r.Checkpoints > 0 {
		open.add("checkpoints", "%d (last took %s)", r.Checkpoints, fmtDuration(time.Duration(r.LastCheckpointNs)))
	} else {
		open.add("checkpoints", "0")
	}
	open.add("read-only", "%s", yesNo(r.ReadOnly))
	if r.Broken != "" {
		open.add("writes disabled", "%s", r.Broken)
	}
	return writeSections(w, reg, wal, open)
}

// pct renders part/whole as a percentage.
func pct(part, whole int64) string {
	if whole <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
