package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// checkReport is what `daxkv check --json` prints.
type checkReport struct {
	Path     string   `json:"path"`
	OK       bool     `json:"ok"`
	Refs     int      `json:"refs"`    // branches and snapshots checked
	Nodes    int      `json:"nodes"`   // distinct tree nodes
	Values   int      `json:"values"`  // distinct value extents
	Extents  int      `json:"extents"` // live extents in the allocator
	Bytes    int64    `json:"bytes"`   // bytes those extents hold
	Problems []string `json:"problems"`
}

func newCheckCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the store's structure: trees, value checksums, refcounts, allocator",
		Long: `check opens the region read-only and verifies it: every tree is sound with
valid checksums, every value extent's header and checksum match the key
that names it, every reachable extent is allocated with the right
refcount, and the allocator's bookkeeping is consistent.

It prints the counts and, if the store is inconsistent, every problem
found (the first 1000); then it exits with status 1.`,
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
			cr, err := db.Check(cmd.Context())
			if err != nil {
				return fmt.Errorf("check %s: %w", path, err)
			}
			rep := checkReport{
				Path: path, OK: len(cr.Problems) == 0,
				Refs: cr.Refs, Nodes: cr.Nodes, Values: cr.Values, Extents: cr.Extents, Bytes: cr.Bytes,
				Problems: cr.Problems,
			}
			if rep.Problems == nil {
				rep.Problems = []string{}
			}
			if err := a.emit(rep, rep.writeText); err != nil {
				return err
			}
			if !rep.OK {
				return fmt.Errorf("check %s: %s found; the store is inconsistent", path, plural(int64(len(rep.Problems)), "problem", "problems"))
			}
			return nil
		},
	}
}

func (r checkReport) writeText(w io.Writer) error {
	verdict := "consistent"
	if !r.OK {
		verdict = "INCONSISTENT: " + plural(int64(len(r.Problems)), "problem", "problems")
	}
	s := section{title: fmt.Sprintf("Check %s: %s", r.Path, verdict)}
	s.add("refs", "%s (branches and snapshots)", fmtCount(int64(r.Refs)))
	s.add("tree nodes", "%s", fmtCount(int64(r.Nodes)))
	s.add("value extents", "%s", fmtCount(int64(r.Values)))
	s.add("live extents", "%s holding %s", fmtCount(int64(r.Extents)), fmtIEC(r.Bytes))
	if err := writeSections(w, s); err != nil {
		return err
	}
	for _, p := range r.Problems {
		if _, err := fmt.Fprintf(w, "  problem: %s\n", p); err != nil {
			return err
		}
	}
	return nil
}
