package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

// verifyReport is what `daxkv verify --json` prints.
type verifyReport struct {
	First   string `json:"first"` // first key of the range, "" when empty
	Last    string `json:"last"`
	Keys    int64  `json:"keys"` // keys checked
	OK      int64  `json:"ok"`
	Missing int64  `json:"missing"`
	Wrong   int64  `json:"wrong"` // present with another value
	// Up to maxListed examples of each.
	MissingKeys []string `json:"missing_keys"`
	WrongKeys   []string `json:"wrong_keys"`
	AckFile     string   `json:"ack_file,omitempty"`
}

const maxListed = 10

func newVerifyCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify (--generate N | --ack-file F) [--start S] [--seed X] [--value-size V]",
		Short: "Check that generated keys are all present with the right values",
		Long: `verify recomputes the keys and values load --generate writes, with the
same --start, --seed and --value-size, and checks the store holds every one
of them with exactly that value. It reports the keys that are missing or
hold another value, and exits with status 1 if there are any.

The range is N keys from --start, or with --ack-file every key from --start
up to the last index load --ack-file acknowledged (a torn last line, from a
process killed while writing it, is ignored). This is the check after a
crash: every acknowledged write must have survived.`,
		Example: "  daxkv verify --generate 1000000\n  daxkv verify --ack-file acks --start 1000000 --seed 2",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.runVerify() },
	}
	cmd.Flags().String("generate", "", "check N generated keys from --start")
	cmd.Flags().String("ack-file", "", "check the keys from --start to the last index in this load --ack-file")
	addGeneratorFlags(cmd)
	return cmd
}

func (a *app) runVerify() (err error) {
	g, start, err := a.generatorSettings()
	if err != nil {
		return err
	}
	ackFile := a.v.GetString("ack-file")
	var n int64
	switch gen := a.v.GetString("generate"); {
	case gen != "" && ackFile != "":
		return usageErrorf("give --generate or --ack-file, not both")
	case gen != "":
		if n, err = a.intSetting("generate", 0); err != nil {
			return err
		}
	case ackFile != "":
		last, ok, err := lastAck(ackFile)
		if err != nil {
			return err
		}
		if ok && last < start {
			return fmt.Errorf("%s acknowledges up to index %d, before --start %d", ackFile, last, start)
		}
		if ok {
			n = last - start + 1
		}
	default:
		return usageErrorf("verify needs --generate N or --ack-file F")
	}
	if err := checkRange(start, n); err != nil {
		return err
	}

	db, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	rep, err := verifyRange(db, g, start, n)
	if err != nil {
		return err
	}
	rep.AckFile = ackFile
	if err := a.emit(rep, rep.writeText); err != nil {
		return err
	}
	if rep.Missing > 0 || rep.Wrong > 0 {
		return fmt.Errorf("verify failed: %s of %s missing, %s wrong", fmtCount(rep.Missing), plural(rep.Keys, "key", "keys"), fmtCount(rep.Wrong))
	}
	return nil
}

// lastAck returns the last complete line of an ack file as an index; ok
// is false when the file acknowledges nothing yet.
func lastAck(name string) (last int64, ok bool, err error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, false, fmt.Errorf("ack file: %w", err)
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return 0, false, nil
	}
	line := data[bytes.LastIndexByte(data[:end], '\n')+1 : end]
	last, err = strconv.ParseInt(string(line), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("ack file %s: last line %q is not a key index", name, line)
	}
	return last, true, nil
}

// verifyRange checks generated keys [start, start+n) with one ordered scan
// instead of n lookups: scanned keys and expected keys are walked
// together, in the same order.
func verifyRange(db *store.DB, g generator, start, n int64) (verifyReport, error) {
	rep := verifyReport{MissingKeys: []string{}, WrongKeys: []string{}}
	if n == 0 {
		return rep, nil
	}
	end := start + n
	rep.First, rep.Last, rep.Keys = string(genKey(start)), string(genKey(end-1)), n
	missing := func(i int64) {
		rep.Missing++
		if len(rep.MissingKeys) < maxListed {
			rep.MissingKeys = append(rep.MissingKeys, string(genKey(i)))
		}
	}
	want := make([]byte, g.valueSize)
	i := start
	wantKey := genKey(i)
	err := db.View(func(v *store.View) error {
		return v.Scan(genKey(start), genKey(end), func(key, value []byte) error {
			for i < end && bytes.Compare(wantKey, key) < 0 {
				missing(i)
				i++
				wantKey = genKey(i)
			}
			if i == end || !bytes.Equal(wantKey, key) {
				return nil // a key in the range that load does not generate
			}
			g.value(want, i)
			if bytes.Equal(value, want) {
				rep.OK++
			} else {
				rep.Wrong++
				if len(rep.WrongKeys) < maxListed {
					rep.WrongKeys = append(rep.WrongKeys, string(key))
				}
			}
			i++
			wantKey = genKey(i)
			return nil
		})
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	for ; i < end; i++ {
		missing(i)
	}
	return rep, nil
}

func (r verifyReport) writeText(w io.Writer) error {
	if r.Keys == 0 {
		_, err := fmt.Fprintln(w, "nothing to verify: no keys acknowledged")
		return err
	}
	if r.Missing == 0 && r.Wrong == 0 {
		_, err := fmt.Fprintf(w, "verified %s, %s .. %s: all present with the right value\n", plural(r.Keys, "key", "keys"), r.First, r.Last)
		return err
	}
	s := section{title: fmt.Sprintf("verified %s, %s .. %s", plural(r.Keys, "key", "keys"), r.First, r.Last)}
	s.add("ok", "%s", fmtCount(r.OK))
	s.add("missing", "%s %v", fmtCount(r.Missing), r.MissingKeys)
	s.add("wrong value", "%s %v", fmtCount(r.Wrong), r.WrongKeys)
	return writeSections(w, s)
}
