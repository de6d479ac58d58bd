package cli

import (
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `daxkv version` prints. The JSON names are stable.
type versionInfo struct {
	Version  string `json:"version"`  // module version, "(devel)" for a local build
	Revision string `json:"revision"` // VCS commit, "" when the build did not record it
	Time     string `json:"time"`     // commit time (RFC 3339), "" when unknown
	Modified bool   `json:"modified"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

func newVersionCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the daxkv version, VCS revision and Go toolchain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := readVersion()
			return a.emit(info, func(w io.Writer) error {
				s := section{title: "daxkv " + info.Version}
				rev := info.Revision
				if rev == "" {
					rev = "unknown (built without VCS stamping)"
				} else if info.Modified {
					rev += " (modified)"
				}
				s.add("revision", "%s", rev)
				if info.Time != "" {
					s.add("time", "%s", info.Time)
				}
				s.add("go", "%s", info.Go)
				s.add("platform", "%s/%s", info.OS, info.Arch)
				return writeSections(w, s)
			})
		},
	}
}

func readVersion() versionInfo {
	info := versionInfo{
		Version: "(devel)",
		Go:      runtime.Version(),
		OS:      runtime.GOOS,
		Arch:    runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
