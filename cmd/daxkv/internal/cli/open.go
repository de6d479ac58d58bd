package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/daxkv/daxkv/store"
)

// openStore opens the existing region named by the path setting. Readers
// (get, scan, stats, check, verify) open it read-only, so they can never
// write to a store; a region still has one opener at a time either way.
func (a *app) openStore(readOnly bool) (*store.DB, error) {
	path, err := a.regionPath()
	if err != nil {
		return nil, err
	}
	return a.open(path, &store.Options{ReadOnly: readOnly})
}

// open opens (or with opts.Size creates) the store at path, with the
// flush mode setting, and turns the errors users hit into advice.
func (a *app) open(path string, opts *store.Options) (*store.DB, error) {
	mode, _, err := a.flushMode()
	if err != nil {
		return nil, err
	}
	opts.Flush = mode
	db, err := store.Open(path, opts)
	if err == nil {
		return db, nil
	}
	switch {
	case errors.Is(err, store.ErrLocked):
		return nil, fmt.Errorf("region %s is in use: %s; a region has one opener at a time, so wait for that process to finish or stop it", path, lockHolder(err))
	case opts.Size == 0 && (errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist)):
		return nil, fmt.Errorf("no region at %s: create one with daxkv init --path %s --size 1GiB", path, path)
	}
	return nil, fmt.Errorf("open %s: %w", path, err)
}

// lockHolder pulls the holder out of a lock error: the region package ends
// it with "(held by pid N (comm))" where /proc/locks tells. Failing that,
// it says what is known.
func lockHolder(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, store.ErrLocked.Error()); ok {
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") && rest != "(holder unknown)" {
			return rest[1 : len(rest)-1]
		}
	}
	return "another process holds it"
}

// closeStore closes db, keeping the first error: a failed close after a
// successful write means the last checkpoint did not happen, which the
// user must hear about (the data itself is in the WAL).
func closeStore(db *store.DB, err *error) {
	if cerr := db.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close: %w", cerr)
	}
}
