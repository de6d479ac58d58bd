package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

func newScanCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List keys and values in key order",
		Long: `scan prints the keys in [--from, --to) in ascending byte order, one per
line: the key, a tab, the value. Without --from or --to that side is open.
--limit stops after N keys (0: no limit); --keys-only leaves the values out.
It reads main unless --branch or --snapshot names another ref.

` + escapeHelp + `

The lines are what load reads, so "daxkv scan | daxkv load -p OTHER" copies
a store. --json prints one JSON object per line (JSON Lines) with the
fields of get --json; with --keys-only, no value field.

The scan reads one consistent view: writes that commit while it runs are
not seen.`,
		Example: "  daxkv scan --from user: --to user; --limit 10",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.runScan() },
	}
	f := cmd.Flags()
	f.String("from", "", "first key (inclusive); default: the smallest")
	f.String("to", "", "end key (exclusive); default: past the largest")
	f.String("limit", "0", "print at most N keys (0: all)")
	f.Bool("keys-only", false, "print keys only")
	addRefFlags(cmd, true)
	return cmd
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

func (a *app) runScan() (err error) {
	var from, to []byte
	if s := a.v.GetString("from"); s != "" {
		from = []byte(s)
	}
	if s := a.v.GetString("to"); s != "" {
		to = []byte(s)
	}
	if from != nil && to != nil && bytes.Compare(from, to) >= 0 {
		return usageErrorf("%s must sort before %s (the range is [from, to))", a.settingLabel("from"), a.settingLabel("to"))
	}
	limit, err := a.intSetting("limit", 0)
	if err != nil {
		return err
	}
	keysOnly := a.v.GetBool("keys-only")
	asJSON := a.v.GetBool("json")

	db, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	r, err := a.readTarget(db)
	if err != nil {
		return err
	}

	w := bufio.NewWriterSize(a.stdout, 64<<10)
	enc := json.NewEncoder(w)
	n := int64(0)
	err = r.View(func(v *store.View) error {
		return v.Scan(from, to, func(key, value []byte) error {
			if limit > 0 && n == limit {
				return errStop
			}
			n++
			if asJSON {
				return enc.Encode(newKVJSON(key, value, !keysOnly))
			}
			w.WriteString(escape(key))
			if !keysOnly {
				w.WriteByte('\t')
				w.WriteString(escape(value))
			}
			return w.WriteByte('\n')
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		w.Flush() // what was read before the failure is still true
		return err
	}
	return w.Flush()
}
