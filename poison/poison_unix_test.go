//go:build unix

package poison

import (
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/internal/errs"
)

func addrOf(b []byte) uintptr { return uintptr(unsafePointerOf(b)) }

// guardedPages maps n anonymous pages and makes page bad inaccessible.
func guardedPages(t testing.TB, n, bad int) []byte {
	t.Helper()
	ps := os.Getpagesize()
	m, err := unix.Mmap(-1, 0, n*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	for i := range m {
		m[i] = byte(i)
	}
	if bad >= 0 {
		if err := unix.Mprotect(m[bad*ps:(bad+1)*ps], unix.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// wantFault checks that err is a *FaultError inside page of m (at exactly
// want when want is not 0).
func wantFault(t *testing.T, err error, m []byte, page int, want uintptr) {
	t.Helper()
	var fe *FaultError
	if !errors.As(err, &fe) || !errors.Is(err, errs.Poisoned) {
		t.Fatalf("Do = %v (%T), want a *FaultError", err, err)
	}
	if want != 0 && fe.Addr != want {
		t.Fatalf("fault at %#x, want %#x", fe.Addr, want)
	}
	ps := int64(os.Getpagesize())
	off, ok := fe.Offset(m)
	if !ok || off/ps != int64(page) {
		t.Fatalf("fault offset %d (%v), want inside page %d", off, ok, page)
	}
}

func TestFaultOnProtectedPage(t *testing.T) {
	ps := os.Getpagesize()
	m := guardedPages(t, 3, 1)

	err := Do(func() { sink = m[ps+123] })
	wantFault(t, err, m, 1, addrOf(m[ps+123:]))
	if off, _ := err.(*FaultError).Offset(m); off != int64(ps+123) {
		t.Fatalf("Offset = %d, want %d", off, ps+123)
	}

	// Bulk readers the store uses fault the same way: memmove (copy) and
	// assembly checksums, both reading into the bad page from a good one.
	var dst [64]byte
	wantFault(t, Do(func() { copy(dst[:], m[ps-32:]) }), m, 1, 0)
	wantFault(t, Do(func() { crc32.Checksum(m[ps-100:ps+100], crc32.MakeTable(crc32.Castagnoli)) }), m, 1, 0)
	wantFault(t, Do(func() { m[2*ps-1] = 1 }), m, 1, addrOf(m[2*ps-1:]))

	// The goroutine is fine afterwards and healthy pages still read.
	if err := Do(func() { sink = m[0] + m[2*ps] }); err != nil {
		t.Fatal(err)
	}
}

// A read past the end of a truncated file raises a real SIGBUS.
func TestSIGBUSPastEOF(t *testing.T) {
	ps := os.Getpagesize()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 2*ps), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := f.Truncate(int64(ps)); err != nil {
		t.Fatal(err)
	}
	wantFault(t, Do(func() { sink = m[ps+5] }), m, 1, addrOf(m[ps+5:]))
	if err := Do(func() { sink = m[ps-1] }); err != nil {
		t.Fatalf("page 0 is still inside the file: %v", err)
	}
}

func TestNested(t *testing.T) {
	ps := os.Getpagesize()
	m := guardedPages(t, 2, 1)
	var inner error
	outer := Do(func() {
		inner = Do(func() { sink = m[ps] })
		// The inner Do must leave the guard on for the rest of the outer fn.
		sink = m[ps+1]
	})
	wantFault(t, inner, m, 1, addrOf(m[ps:]))
	wantFault(t, outer, m, 1, addrOf(m[ps+1:]))
	if panicOnFault() {
		t.Fatal("panic-on-fault left on after nested Do")
	}
}

func TestNoAllocation(t *testing.T) {
	m := guardedPages(t, 1, -1)
	var dst [64]byte
	fn := func() { copy(dst[:], m[64:128]) }
	if n := testing.AllocsPerRun(1000, func() {
		if err := Do(fn); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Do allocates %v times per call without a fault", n)
	}
}

var dst64 [64]byte

// BenchmarkRead64 is the unguarded baseline for BenchmarkDoRead64.
func BenchmarkRead64(b *testing.B) {
	m := guardedPages(b, 1, -1)
	fn := func() { copy(dst64[:], m[64:128]) }
	for b.Loop() {
		fn()
	}
}

func BenchmarkDoRead64(b *testing.B) {
	m := guardedPages(b, 1, -1)
	fn := func() { copy(dst64[:], m[64:128]) }
	b.ReportAllocs()
	for b.Loop() {
		if err := Do(fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoFault(b *testing.B) {
	m := guardedPages(b, 1, 0)
	b.ReportAllocs()
	for b.Loop() {
		if Do(func() { sink = m[0] }) == nil {
			b.Fatal("no fault")
		}
	}
}

func TestSetLateKill(t *testing.T) {
	if err := SetLateKill(); err != nil {
		t.Fatal(err)
	}
}
