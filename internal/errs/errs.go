// Package errs holds the sentinel errors shared by every daxkv package.
// Package store re-exports them (store.ErrNotFound == errs.NotFound), so
// lower layers can wrap them and callers match with errors.Is.
package errs

import "errors"

var (
	NotFound = errors.New("daxkv: not found")
	Poisoned = errors.New("daxkv: data lost to poisoned memory")
	Shutdown = errors.New("daxkv: store shut down")
	ReadOnly = errors.New("daxkv: read-only")
	Corrupt  = errors.New("daxkv: corrupt")
	NoSpace  = errors.New("daxkv: no space left in region")
	Closed   = errors.New("daxkv: closed")
	Exists   = errors.New("daxkv: already exists")
	Locked   = errors.New("daxkv: region locked by another opener")
	Invalid  = errors.New("daxkv: invalid argument")
)
