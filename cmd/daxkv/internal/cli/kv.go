package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/daxkv/daxkv/store"
)

// putReport is what `daxkv put --json` prints.
type putReport struct {
	Key string `json:"key"`
	Len int    `json:"len"`
}

// delReport is what `daxkv del --json` prints.
type delReport struct {
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"` // false: the key did not exist
}

// stdin is where --value-file - and load - read; tests replace it.
var stdin io.Reader = os.Stdin

func newPutCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Store VALUE (or the contents of --value-file) under KEY",
		Long: `put stores VALUE under KEY on the main branch (or --branch), durably:
when put returns, the write survives a crash of this process. With
--value-file the value is the file's contents (- reads standard input) and
VALUE is not given.

Keys are 1 to 1024 bytes. Prints nothing on success (--json: the key and
the value length).`,
		Example: "  daxkv put user:42 '{\"name\":\"Ada\"}'\n  daxkv put photo:1 --value-file photo.jpg\n  echo hello | daxkv put greeting --value-file -",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPut(args)
		},
	}
	cmd.Flags().String("value-file", "", "read the value from this file (- for standard input)")
	addRefFlags(cmd, false)
	return cmd
}

func (a *app) runPut(args []string) (err error) {
	key := []byte(args[0])
	file := a.v.GetString("value-file")
	var value []byte
	switch {
	case file != "" && len(args) == 2:
		return usageErrorf("give VALUE or --value-file, not both")
	case file == "" && len(args) == 1:
		return usageErrorf("put needs a VALUE or --value-file")
	case file == "-":
		if value, err = io.ReadAll(stdin); err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
	case file != "":
		if value, err = os.ReadFile(file); err != nil {
			return err
		}
	default:
		value = []byte(args[1])
	}
	db, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	w, err := a.writeTarget(db)
	if err != nil {
		return err
	}
	if err := w.Put(key, value); err != nil {
		return fmt.Errorf("put %s: %w", quoteKey(key), err)
	}
	return a.emit(putReport{Key: args[0], Len: len(value)}, func(io.Writer) error { return nil })
}

func newGetCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value stored under KEY",
		Long: `get writes the value stored under KEY (on main, --branch or --snapshot)
to standard output exactly as stored, byte for byte (when standard output
is a terminal, a newline is added after a value that does not end in one).
A missing key is an error: exit status 1.

--json prints {"key", "key_encoding", "value", "value_encoding", "len"}:
the value is a JSON string when it is valid UTF-8 (value_encoding
"string"), base64 otherwise (value_encoding "base64").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runGet([]byte(args[0]))
		},
	}
	addRefFlags(cmd, true)
	return cmd
}

func (a *app) runGet(key []byte) (err error) {
	db, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	r, err := a.readTarget(db)
	if err != nil {
		return err
	}
	value, err := r.Get(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("key %s not found", quoteKey(key))
	case err != nil:
		return fmt.Errorf("get %s: %w", quoteKey(key), err)
	}
	return a.emit(newKVJSON(key, value, true), func(w io.Writer) error {
		if _, err := w.Write(value); err != nil {
			return err
		}
		if isTerminal(w) && !bytes.HasSuffix(value, []byte("\n")) {
			_, err = io.WriteString(w, "\n")
		}
		return err
	})
}

func newDelCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY",
		Long: `del deletes KEY from the main branch (or --branch), durably. Deleting a
key that does not exist is not an error: it writes nothing and says so on
standard error. --json prints {"key", "deleted"}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDel([]byte(args[0]))
		},
	}
	addRefFlags(cmd, false)
	return cmd
}

func (a *app) runDel(key []byte) (err error) {
	db, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	w, err := a.writeTarget(db)
	if err != nil {
		return err
	}
	existed := false
	// Look and delete in one transaction, so the report is true of the
	// delete; a missing key costs no WAL record.
	err = w.Update(func(tx *store.Tx) error {
		_, err := tx.Get(key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		existed = true
		return tx.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("del %s: %w", quoteKey(key), err)
	}
	if !existed && !a.v.GetBool("json") {
		fmt.Fprintf(a.stderr, "daxkv: key %s not found; nothing deleted\n", quoteKey(key))
	}
	return a.emit(delReport{Key: string(key), Deleted: existed}, func(io.Writer) error { return nil })
}

// quoteKey renders a key for messages: escaped and in quotes.
func quoteKey(key []byte) string { return `"` + escape(key) + `"` }

// isTerminal reports whether f (a reader or writer) is a terminal. Tests
// replace it.
var isTerminal = func(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
