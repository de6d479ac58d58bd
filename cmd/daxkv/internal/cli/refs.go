package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

// Snapshots and branches: `daxkv snapshot ...`, `daxkv branch ...`,
// `daxkv clone`, and the --branch / --snapshot flags of the data commands.

const refsHelp = `A snapshot is a read-only copy of a branch as of the moment it is taken;
a branch is a writable copy of a branch or snapshot. Both are O(1): they
share every tree node and value with their source until one side writes,
the way reflinked files share blocks. Branch and snapshot names share one
namespace: 1 to 255 bytes, no '/' and no control characters. "main" is
the branch every store starts with.`

// refJSON is one branch or snapshot under --json.
type refJSON struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"` // "branch" or "snapshot"
	Created time.Time `json:"created,omitzero"`
	Seq     uint64    `json:"seq,omitempty"`    // WAL sequence number its tree holds up to
	Parent  string    `json:"parent,omitempty"` // the ref it was made from, if it still exists
	// Space, in list only: bytes only this ref holds (deleting it frees
	// them) and bytes of everything it reaches, shared included.
	Used  *int64 `json:"used,omitempty"`
	Refer *int64 `json:"refer,omitempty"`
}

func newRefJSON(r store.RefInfo) refJSON {
	return refJSON{Name: r.Name, Kind: r.Kind.String(), Created: r.Created, Seq: r.Seq, Parent: r.Parent}
}

// refDoneJSON reports a ref operation under --json.
type refDoneJSON struct {
	Action string `json:"action"` // "created", "deleted", "restored"
	refJSON
	From string `json:"from,omitempty"` // restore: the snapshot
}

func newSnapshotCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Create, list, delete, diff and restore snapshots",
		Long:  refsHelp,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Snapshot a branch (main unless --from)",
		Long: `snapshot create makes a read-only snapshot of a branch holding every
write acknowledged before it. It costs one checkpoint, whatever the size
of the store.`,
		Example: "  daxkv snapshot create before-migration\n  daxkv snapshot create dev-1 --from dev",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.refOp(func(db *store.DB) (refDoneJSON, error) {
				info, err := db.CreateSnapshot(args[0], a.v.GetString("from"))
				return refDoneJSON{Action: "created", refJSON: newRefJSON(info)}, err
			})
		},
	}
	create.Flags().String("from", "", "branch to snapshot (default main)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List snapshots with their space",
		Long: `snapshot list prints every snapshot, oldest first, with the space it
accounts for, as zfs list does: USED is what only this snapshot holds
(deleting it frees that), REFER what it reaches in all, shared data
included. Counting walks every tree once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runRefList(store.KindSnapshot) },
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a snapshot and free what only it held",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.refOp(func(db *store.DB) (refDoneJSON, error) {
				return refDoneJSON{Action: "deleted", refJSON: refJSON{Name: args[0], Kind: "snapshot"}}, db.DeleteSnapshot(args[0])
			})
		},
	}
	diff := &cobra.Command{
		Use:   "diff FROM TO",
		Short: "List the keys that differ between two snapshots or branches",
		Long: `snapshot diff prints the keys whose values differ between FROM and TO
(snapshots or branches), in key order, one per line: "+ key" added in TO,
"- key" removed, "M key" modified. Subtrees the two share are skipped
without being read, so the time follows the number of changes, not the
size of the store.

` + escapeHelp + `

--json prints one JSON object per line (JSON Lines): {"key",
"key_encoding", "change"} with change "added", "removed" or "modified".`,
		Example: "  daxkv snapshot diff before-migration main",
		Args:    cobra.ExactArgs(2),
		RunE:    func(cmd *cobra.Command, args []string) error { return a.runDiff(args[0], args[1]) },
	}
	restore := &cobra.Command{
		Use:   "restore BRANCH SNAPSHOT",
		Short: "Make a branch exactly what a snapshot holds",
		Long: `snapshot restore rolls BRANCH back (or forward) to SNAPSHOT in one atomic,
crash-safe commit: its writes since then are gone. Other branches and
snapshots do not change.`,
		Example: "  daxkv snapshot restore main before-migration",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.refOp(func(db *store.DB) (refDoneJSON, error) {
				if err := db.Restore(args[0], args[1]); err != nil {
					return refDoneJSON{}, err
				}
				return refDoneJSON{Action: "restored", refJSON: refJSON{Name: args[0], Kind: "branch"}, From: args[1]}, nil
			})
		},
	}
	cmd.AddCommand(create, list, del, diff, restore)
	return cmd
}

func newBranchCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "branch",
		Short: "Create, list and delete branches",
		Long:  refsHelp,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a writable branch of a branch or snapshot (main unless --from)",
		Long: `branch create makes a writable branch sharing everything with --from (a
branch or a snapshot; default main) until one of them is written. Write to
it with put and del --branch NAME; read it with get and scan --branch NAME.`,
		Example: "  daxkv branch create experiment --from before-migration\n  daxkv put --branch experiment k v",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.createBranch(args[0], a.v.GetString("from"))
		},
	}
	create.Flags().String("from", "", "branch or snapshot to branch from (default main)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List branches with their space",
		Long: `branch list prints every branch, oldest first, with USED (what only this
branch holds: deleting it frees that) and REFER (what it reaches in all,
shared data included).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runRefList(store.KindBranch) },
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a branch (not main) and free what only it held",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.refOp(func(db *store.DB) (refDoneJSON, error) {
				return refDoneJSON{Action: "deleted", refJSON: refJSON{Name: args[0], Kind: "branch"}}, db.DeleteBranch(args[0])
			})
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func newCloneCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "clone SNAPSHOT NEWBRANCH",
		Short: "Make a writable branch of a snapshot (branch create --from)",
		Long: `clone makes NEWBRANCH, a writable branch sharing everything with SNAPSHOT
(or a branch) until one of them is written: the same as
"daxkv branch create NEWBRANCH --from SNAPSHOT".`,
		Example: "  daxkv clone before-migration replay\n  daxkv get --branch replay user:42",
		Args:    cobra.ExactArgs(2),
		RunE:    func(cmd *cobra.Command, args []string) error { return a.createBranch(args[1], args[0]) },
	}
}

func (a *app) createBranch(name, from string) error {
	return a.refOp(func(db *store.DB) (refDoneJSON, error) {
		if err := db.CreateBranch(name, from); err != nil {
			return refDoneJSON{}, err
		}
		infos, err := db.Branches()
		for _, r := range infos {
			if r.Name == name {
				return refDoneJSON{Action: "created", refJSON: newRefJSON(r)}, err
			}
		}
		return refDoneJSON{Action: "created", refJSON: refJSON{Name: name, Kind: "branch"}}, err
	})
}

// refOp opens the store for writing, runs op and reports its result.
func (a *app) refOp(op func(db *store.DB) (refDoneJSON, error)) (err error) {
	db, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	rep, err := op(db)
	if err != nil {
		return err
	}
	return a.emit(rep, func(w io.Writer) error {
		switch {
		case rep.Action == "restored":
			_, err = fmt.Fprintf(w, "Restored branch %s to snapshot %s\n", rep.Name, rep.From)
		case rep.Parent != "":
			_, err = fmt.Fprintf(w, "%s %s %s from %s\n", capitalize(rep.Action), rep.Kind, rep.Name, rep.Parent)
		default:
			_, err = fmt.Fprintf(w, "%s %s %s\n", capitalize(rep.Action), rep.Kind, rep.Name)
		}
		return err
	})
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// refListJSON is what `snapshot list --json` and `branch list --json` print.
type refListJSON struct {
	Refs []refJSON `json:"refs"`
}

func (a *app) runRefList(kind store.RefKind) (err error) {
	db, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	space, err := db.RefSpace(a.cmd.Context())
	if err != nil {
		return err
	}
	out := refListJSON{Refs: []refJSON{}}
	for _, s := range space {
		if s.Kind != kind {
			continue
		}
		r := newRefJSON(s.RefInfo)
		r.Used, r.Refer = &s.Unique, &s.Refer
		out.Refs = append(out.Refs, r)
	}
	return a.emit(out, func(w io.Writer) error {
		if len(out.Refs) == 0 {
			_, err := fmt.Fprintf(w, "No %ss\n", kind)
			return err
		}
		// Names and dates left, figures right, as zfs list prints them.
		rows := [][]string{{"NAME", "USED", "REFER", "SEQ", "CREATED", "FROM"}}
		for _, r := range out.Refs {
			rows = append(rows, []string{escape([]byte(r.Name)), fmtIEC(*r.Used), fmtIEC(*r.Refer), fmt.Sprint(r.Seq),
				r.Created.Local().Format("2006-01-02 15:04:05"), escape([]byte(r.Parent))})
		}
		return writeTable(w, rows, []bool{false, true, true, true, false, false})
	})
}

// diffJSON is one line of `snapshot diff --json`.
type diffJSON struct {
	Key         string `json:"key"`
	KeyEncoding string `json:"key_encoding"`
	Change      string `json:"change"`
}

func (a *app) runDiff(from, to string) (err error) {
	db, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	w := bufio.NewWriterSize(a.stdout, 64<<10)
	enc := json.NewEncoder(w)
	asJSON := a.v.GetBool("json")
	mark := map[store.Change]string{store.Added: "+", store.Removed: "-", store.Modified: "M"}
	err = db.Diff(from, to, func(key []byte, c store.Change) error {
		if asJSON {
			d := diffJSON{Change: c.String()}
			d.Key, d.KeyEncoding = jsonText(key)
			return enc.Encode(d)
		}
		w.WriteString(mark[c])
		w.WriteByte(' ')
		w.WriteString(escape(key))
		return w.WriteByte('\n')
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Data commands on other refs: --branch and --snapshot.

// addRefFlags gives a data command --branch, and --snapshot when it only
// reads.
func addRefFlags(cmd *cobra.Command, reads bool) {
	cmd.Flags().String("branch", "", "work on this branch (default main)")
	if reads {
		cmd.Flags().String("snapshot", "", "read this snapshot instead of a branch")
	}
}

// refReader is what get and scan read: the DB (main), a *Branch or a
// *Snapshot.
type refReader interface {
	Get(key []byte) ([]byte, error)
	View(fn func(v *store.View) error) error
}

// refWriter is what put and del write: the DB (main) or a *Branch.
type refWriter interface {
	Put(key, value []byte) error
	Update(fn func(tx *store.Tx) error) error
}

// readTarget returns the ref named by --branch or --snapshot, else main.
func (a *app) readTarget(db *store.DB) (refReader, error) {
	branch, snap := a.v.GetString("branch"), a.v.GetString("snapshot")
	switch {
	case branch != "" && snap != "":
		return nil, usageErrorf("give --branch or --snapshot, not both")
	case snap != "":
		s, err := db.Snapshot(snap)
		if err != nil {
			return nil, refError(err, "snapshot", snap)
		}
		return s, nil
	case branch != "":
		b, err := db.Branch(branch)
		if err != nil {
			return nil, refError(err, "branch", branch)
		}
		return b, nil
	}
	return db, nil
}

// writeTarget returns the branch named by --branch, else main.
func (a *app) writeTarget(db *store.DB) (refWriter, error) {
	name := a.v.GetString("branch")
	if name == "" {
		return db, nil
	}
	b, err := db.Branch(name)
	if err != nil {
		return nil, refError(err, "branch", name)
	}
	return b, nil
}

// refError says which ref an open failed on, with advice for the usual
// mistakes.
func refError(err error, kind, name string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no %s named %q (see daxkv %s list)", kind, name, kind)
	case errors.Is(err, store.ErrReadOnly):
		return fmt.Errorf("%q is a snapshot, which is read-only: read it with --snapshot, or write to a clone (daxkv clone %s NEWBRANCH)", name, name)
	}
	return err
}

// writeTable prints rows in columns two spaces apart; right[i] aligns
// column i to the right.
func writeTable(w io.Writer, rows [][]string, right []bool) error {
	width := make([]int, len(right))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		line := ""
		for i, c := range r {
			if i > 0 {
				line += "  "
			}
			if right[i] {
				line += strings.Repeat(" ", width[i]-len(c)) + c
			} else if i < len(r)-1 {
				line += c + strings.Repeat(" ", width[i]-len(c))
			} else {
				line += c
			}
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
