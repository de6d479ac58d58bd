// Package poison contains memory faults raised by reads of damaged or
// inaccessible mapped memory, so that they fail one operation instead of
// killing the process.
//
// A read of poisoned persistent memory raises SIGBUS; a read of a page that
// emulated poison made inaccessible raises SIGSEGV; a read past the end of
// a truncated file raises SIGBUS. Under runtime/debug.SetPanicOnFault the
// Go runtime turns each of these into a panic carrying the faulting
// address, and Do turns that panic into a *FaultError.
//
// Limits: the guard covers the calling goroutine only (goroutines that fn
// starts are not protected), and code reached through cgo cannot be
// guarded at all, which is why daxkv has no cgo.
package poison

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/daxkv/daxkv/internal/errs"
)

// FaultError reports a memory fault caught by Do. It matches errs.Poisoned.
type FaultError struct {
	// Addr is the faulting address as the kernel reported it.
	Addr uintptr
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("memory fault at %#x", e.Addr)
}

// Is makes errors.Is(err, errs.Poisoned) hold.
func (e *FaultError) Is(target error) bool { return target == errs.Poisoned }

// Offset returns the fault address relative to the start of base (a
// mapping), and false when the address lies outside it. A fault outside
// every mapping the caller guards is a bug, not poison: callers should
// re-panic then.
func (e *FaultError) Offset(base []byte) (int64, bool) {
	if len(base) == 0 {
		return 0, false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(base)))
	if e.Addr < start || e.Addr-start >= uintptr(len(base)) {
		return 0, false
	}
	return int64(e.Addr - start), true
}

// addrError is what the runtime panics with for a fault under
// SetPanicOnFault (runtime.errorAddressString). Nil dereferences panic with
// a runtime.Error that lacks Addr, so they stay ordinary panics.
type addrError interface {
	runtime.Error
	Addr() uintptr
}

// Do runs fn with memory faults turned into a returned *FaultError. Any
// other panic in fn propagates unchanged: hiding it would hide a bug. The
// goroutine's previous SetPanicOnFault setting is restored, so calls nest.
//
// On the path without a fault Do does not allocate.
func Do(fn func()) (err error) {
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			if f, ok := r.(addrError); ok {
				err = &FaultError{Addr: f.Addr()}
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}
