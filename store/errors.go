package store

import (
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// Sentinel errors. Every error the store returns wraps one of them, so
// callers test with errors.Is.
var (
	ErrNotFound = errs.NotFound // key, branch or snapshot does not exist
	ErrPoisoned = errs.Poisoned // the data was on poisoned (lost) memory
	ErrShutdown = errs.Shutdown // the device is gone; the store stopped serving
	ErrReadOnly = errs.ReadOnly // write to a read-only open or a snapshot
	ErrCorrupt  = errs.Corrupt  // on-media structure failed validation
	ErrNoSpace  = errs.NoSpace  // the region is full
	ErrClosed   = errs.Closed   // the DB was closed
	ErrExists   = errs.Exists   // a branch or snapshot of that name exists
	ErrLocked   = errs.Locked   // another opener holds the region
	ErrInvalid  = errs.Invalid  // bad argument
)

// PoisonError reports data lost to poisoned memory. It matches ErrPoisoned.
type PoisonError struct {
	Key   []byte // the key whose data was lost, when known
	Off   int64  // region offset of the damaged range
	Len   int64
	Refs  []string // branches and snapshots that lost it, when known
	cause error
}

func (e *PoisonError) Error() string {
	s := fmt.Sprintf("daxkv: poisoned memory at region offset %#x", e.Off)
	if e.Key != nil {
		s += fmt.Sprintf(" (key %q)", e.Key)
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrPoisoned) true.
func (e *PoisonError) Is(target error) bool { return target == ErrPoisoned }

// Unwrap exposes the underlying fault.
func (e *PoisonError) Unwrap() error { return e.cause }
