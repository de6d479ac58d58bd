package poison

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/daxkv/daxkv/internal/errs"
)

var sink byte

func unsafePointerOf(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// panicOnFault reads the goroutine's current SetPanicOnFault setting.
func panicOnFault() bool {
	v := debug.SetPanicOnFault(false)
	debug.SetPanicOnFault(v)
	return v
}

// recovered runs fn and returns what it panicked with (nil if it did not).
func recovered(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

func TestNoFault(t *testing.T) {
	calls := 0
	var inside bool
	err := Do(func() { calls++; inside = panicOnFault() })
	if err != nil || calls != 1 || !inside {
		t.Fatalf("Do = %v, fn ran %d times, panic-on-fault inside = %v", err, calls, inside)
	}
}

func TestOtherPanicsPropagate(t *testing.T) {
	sentinel := errors.New("a bug")
	var nilMap map[string]int
	var nilPtr *[64]byte
	idx := 10
	cases := []struct {
		name  string
		fn    func()
		check func(r any) bool
	}{
		{"value", func() { panic(sentinel) }, func(r any) bool { return r == sentinel }},
		{"index", func() { sink = make([]byte, 3)[idx] }, isRuntimeErrorWithout("index out of range")},
		{"nil map", func() { nilMap["x"] = 1 }, isRuntimeErrorWithout("")},
		// Under SetPanicOnFault a nil dereference is still an ordinary
		// runtime error without an address: it must not pass for poison.
		{"nil pointer", func() { sink = nilPtr[7] }, isRuntimeErrorWithout("nil pointer")},
		{"nil panic", func() { panic(nil) }, func(r any) bool { _, ok := r.(*runtime.PanicNilError); return ok }},
	}
	for _, c := range cases {
		for _, prev := range []bool{false, true} {
			debug.SetPanicOnFault(prev)
			var err error
			r := recovered(func() { err = Do(c.fn) })
			if !c.check(r) || err != nil {
				t.Errorf("%s: recovered %T %v, Do returned %v", c.name, r, r, err)
			}
			if got := panicOnFault(); got != prev {
				t.Errorf("%s: panic-on-fault %v after the panic, want %v", c.name, got, prev)
			}
		}
	}
	debug.SetPanicOnFault(false)
}

func isRuntimeErrorWithout(msg string) func(any) bool {
	return func(r any) bool {
		e, ok := r.(runtime.Error)
		if !ok || !strings.Contains(e.Error(), msg) {
			return false
		}
		_, hasAddr := r.(interface{ Addr() uintptr })
		return !hasAddr
	}
}

func TestRestoresSetting(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(false))
	for _, prev := range []bool{false, true} {
		debug.SetPanicOnFault(prev)
		if err := Do(func() {}); err != nil {
			t.Fatal(err)
		}
		if got := panicOnFault(); got != prev {
			t.Errorf("panic-on-fault %v after Do, want %v", got, prev)
		}
	}
}

func TestGoexitRestoresSetting(t *testing.T) {
	done := make(chan bool)
	go func() {
		debug.SetPanicOnFault(false)
		defer func() { done <- panicOnFault() }()
		Do(func() { runtime.Goexit() })
	}()
	if <-done {
		t.Fatal("panic-on-fault left on after fn called runtime.Goexit")
	}
}

func TestFaultErrorMatches(t *testing.T) {
	var err error = &FaultError{Addr: 0xdead000}
	if !errors.Is(err, errs.Poisoned) || errors.Is(err, errs.Corrupt) {
		t.Fatal("FaultError must match errs.Poisoned and nothing else")
	}
	if got := err.Error(); got != "memory fault at 0xdead000" {
		t.Fatalf("Error() = %q", got)
	}
	var fe *FaultError
	if wrapped := errors.Join(errors.New("get k"), err); !errors.As(wrapped, &fe) || fe.Addr != 0xdead000 || !errors.Is(wrapped, errs.Poisoned) {
		t.Fatal("a wrapped FaultError is not found by errors.As / errors.Is")
	}
}

func TestOffset(t *testing.T) {
	buf := make([]byte, 100)
	base := uintptr(unsafePointerOf(buf))
	cases := []struct {
		addr uintptr
		b    []byte
		off  int64
		ok   bool
	}{
		{base, buf, 0, true},
		{base + 99, buf, 99, true},
		{base + 100, buf, 0, false},
		{base - 1, buf, 0, false},
		{base + 50, buf[10:60], 40, true},
		{base + 5, buf[10:60], 0, false},
		{base, nil, 0, false},
	}
	for _, c := range cases {
		off, ok := (&FaultError{Addr: c.addr}).Offset(c.b)
		if off != c.off || ok != c.ok {
			t.Errorf("Offset(addr base%+d) = %d, %v; want %d, %v", int64(c.addr-base), off, ok, c.off, c.ok)
		}
	}
}
