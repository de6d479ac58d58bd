package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

// initReport is what `daxkv init --json` prints.
type initReport struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	WALSize int64  `json:"wal_size"`
	Free    int64  `json:"free"` // extent bytes available for data
	Mode    string `json:"mode"` // pmem, emulated or pagecache
	Flush   string `json:"flush"`
}

func newInitCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --path REGION --size SIZE",
		Short: "Create a new region file and format an empty store in it",
		Long: `init creates the region file at --path with --size bytes and formats an
empty store in it. It never touches an existing path.

Sizes are bytes, or a whole number of KiB, MiB, GiB or TiB: 1GiB, 64MiB,
4096. The region size must be a multiple of 4 KiB. --wal-size defaults to
1/16 of the region, between 64 KiB and 256 MiB.

Put the file on tmpfs (/dev/shm) for emulated pmem, or on an fsdax
filesystem for real persistent memory; elsewhere the store falls back to
msync (see daxkv doctor).`,
		Example: "  daxkv init --path /dev/shm/kv.region --size 1GiB",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.runInit() },
	}
	cmd.Flags().String("size", "", "region size, e.g. 1GiB (required)")
	cmd.Flags().String("wal-size", "0", "WAL ring size, e.g. 64MiB (0: 1/16 of the region)")
	return cmd
}

func (a *app) runInit() (err error) {
	path, err := a.regionPath()
	if err != nil {
		return err
	}
	if a.v.GetString("size") == "" {
		return usageErrorf("init needs --size (e.g. --size 1GiB)")
	}
	size, err := a.sizeSetting("size")
	if err != nil {
		return err
	}
	walSize, err := a.sizeSetting("wal-size")
	if err != nil {
		return err
	}
	if size == 0 {
		return fmt.Errorf("%s: the region size must be more than 0", a.settingLabel("size"))
	}
	// Checked here because the store finds a bad WAL size only after it
	// has created the file. Half the region is a policy: a bigger WAL
	// leaves little room for data and only delays checkpoints.
	if walSize != 0 && (walSize%4096 != 0 || walSize < 64<<10 || walSize > size/2) {
		return fmt.Errorf("%s: the WAL must be a multiple of 4 KiB, at least 64 KiB and at most half the region (%s)",
			a.settingLabel("wal-size"), fmtIEC(size/2))
	}
	// store.Open would open an existing region instead of creating one;
	// init must only ever create. (A file created by someone else between
	// this check and the create is opened, never overwritten.)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; init never overwrites: remove it or pick another --path", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("init %s: %w", path, err)
	}
	db, err := a.open(path, &store.Options{Size: size, WALSize: walSize})
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	st := db.Stats()
	rep := initReport{Path: path, Size: st.Size, WALSize: st.WALSize, Free: st.Free, Mode: st.Mode, Flush: st.Flush}
	return a.emit(rep, func(w io.Writer) error {
		s := section{title: "Created " + path}
		s.add("size", "%s", fmtBytes(rep.Size))
		s.add("WAL", "%s", fmtBytes(rep.WALSize))
		s.add("free for data", "%s", fmtBytes(rep.Free))
		s.add("mode", "%s (flush: %s)", rep.Mode, rep.Flush)
		return writeSections(w, s)
	})
}
