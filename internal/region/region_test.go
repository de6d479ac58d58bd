package region

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/daxkv/daxkv/internal/errs"
)

var sink byte

func dataAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// faultAt runs fn with faults turned into panics and reports the faulting
// address, if fn faulted. Other panics propagate.
func faultAt(fn func()) (addr uintptr, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			addr, faulted = e.Addr(), true
		}
	}()
	fn()
	return 0, false
}

func mustOpen(t *testing.T, path string, opts Options) *Region {
	t.Helper()
	r, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", path, opts, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Size: 1000},
		{Size: -Alignment},
		{Size: Alignment + 1},
		{Size: Alignment, ForceMode: "fast"},
	} {
		path := filepath.Join(dir, "r")
		_, err := Open(path, o)
		if !errors.Is(err, errs.Invalid) {
			t.Errorf("Open(%+v) = %v, want errs.Invalid", o, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%+v) left a file behind (stat: %v)", o, err)
		}
	}
}

func TestCreateReopenClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	const size = 16 * Alignment

	r, err := Open(path, Options{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Created || r.Size() != size || len(r.Data) != size || r.Path() != path {
		t.Fatalf("created region: Created=%v Size=%d len=%d Path=%q", r.Created, r.Size(), len(r.Data), r.Path())
	}
	if !bytes.Equal(r.Data, make([]byte, size)) {
		t.Fatal("a new region is not zero-filled")
	}
	copy(r.Data[size-5:], "hello")
	if err := r.Sync(r.Data[size-5:]); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.Sync(nil); !errors.Is(err, errs.Closed) {
		t.Errorf("Sync after Close = %v, want errs.Closed", err)
	}
	if err := r.Protect(nil, false); !errors.Is(err, errs.Closed) {
		t.Errorf("Protect after Close = %v, want errs.Closed", err)
	}

	// Reopen: the data is there, and a different Size is ignored.
	r = mustOpen(t, path, Options{Size: 2 * size})
	if r.Created || r.Size() != size || string(r.Data[size-5:]) != "hello" {
		t.Fatalf("reopened: Created=%v Size=%d tail=%q", r.Created, r.Size(), r.Data[size-5:])
	}
	if fi, _ := os.Stat(path); fi.Size() != size {
		t.Fatalf("reopen changed the size to %d", fi.Size())
	}
}

func TestMissingIsNotCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	for _, o := range []Options{{}, {ReadOnly: true, Size: Alignment}} {
		_, err := Open(path, o)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(missing, %+v) = %v, want fs.ErrNotExist", o, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(missing, %+v) created the file", o)
		}
	}
}

func TestLockedInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r := mustOpen(t, path, Options{Size: Alignment})
	r.Data[0] = 42

	// A second opener, even read-only or asking to create, is refused and
	// must not disturb the first one's file.
	for _, o := range []Options{{}, {ReadOnly: true}, {Size: 2 * Alignment}} {
		r2, err := Open(path, o)
		if !errors.Is(err, errs.Locked) {
			if r2 != nil {
				r2.Close()
			}
			t.Fatalf("second Open(%+v) = %v, want errs.Locked", o, err)
		}
		t.Logf("second Open: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != Alignment || r.Data[0] != 42 {
		t.Fatalf("the holder's file was disturbed: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = mustOpen(t, path, Options{})
	if r.Data[0] != 42 {
		t.Fatal("data lost across reopen")
	}
}

func TestReadOnlyIsNotWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	w := mustOpen(t, path, Options{Size: 2 * Alignment})
	copy(w.Data, "daxkv")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r := mustOpen(t, path, Options{ReadOnly: true})
	if string(r.Data[:5]) != "daxkv" {
		t.Fatalf("read-only view reads %q", r.Data[:5])
	}
	addr, faulted := faultAt(func() { r.Data[Alignment+7] = 1 })
	if !faulted {
		t.Fatal("a store into a read-only mapping did not fault")
	}
	if want := dataAddr(r.Data[Alignment+7:]); addr != want {
		t.Errorf("fault at %#x, want %#x", addr, want)
	}
	// Restoring protection on a read-only region must not make it writable.
	if err := r.Protect(r.Data[:1], false); err != nil {
		t.Fatal(err)
	}
	if err := r.Protect(r.Data[:1], true); err != nil {
		t.Fatal(err)
	}
	sink = r.Data[0]
	if _, faulted := faultAt(func() { r.Data[0] = 1 }); !faulted {
		t.Fatal("Protect(readable) made a read-only region writable")
	}
}

func TestSyncRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r := mustOpen(t, path, Options{Size: 4 * Alignment})
	for _, b := range [][]byte{nil, r.Data, r.Data[5:10], r.Data[len(r.Data)-1:], r.Data[Alignment-1 : Alignment+1]} {
		if err := r.Sync(b); err != nil {
			t.Errorf("Sync(len %d): %v", len(b), err)
		}
	}
	if err := r.Sync(make([]byte, 10)); !errors.Is(err, errs.Invalid) {
		t.Errorf("Sync(foreign slice) = %v, want errs.Invalid", err)
	}
	if err := r.Protect(make([]byte, 10), false); !errors.Is(err, errs.Invalid) {
		t.Errorf("Protect(foreign slice) = %v, want errs.Invalid", err)
	}
}

func TestProtectFaultsPageOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r := mustOpen(t, path, Options{Size: 64 * Alignment})
	ps := r.PageSize()
	if ps <= 0 || len(r.Data)%ps != 0 || len(r.Data) < 3*ps {
		t.Skipf("page size %d does not fit three times in the test region", ps)
	}
	for i := range r.Data {
		r.Data[i] = byte(i)
	}
	// Two bytes inside page 1 protect the whole of page 1 and nothing else.
	if err := r.Protect(r.Data[ps+100:ps+102], false); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{ps, ps + 101, 2*ps - 1} {
		addr, faulted := faultAt(func() { sink = r.Data[off] })
		if !faulted || addr != dataAddr(r.Data[off:]) {
			t.Errorf("read at %d: faulted=%v addr=%#x, want a fault at %#x", off, faulted, addr, dataAddr(r.Data[off:]))
		}
	}
	for _, off := range []int{0, ps - 1, 2 * ps} {
		if _, faulted := faultAt(func() { sink = r.Data[off] }); faulted {
			t.Errorf("read at %d faulted; only page 1 is protected", off)
		}
	}
	if err := r.Protect(r.Data[ps+100:ps+102], true); err != nil {
		t.Fatal(err)
	}
	if _, faulted := faultAt(func() { r.Data[ps+5]++ }); faulted {
		t.Fatal("page still inaccessible after Protect(readable)")
	}
	if r.Data[ps+6] != byte(ps+6) {
		t.Fatal("Protect changed the page contents")
	}
}

// fileState is everything Open must leave alone on an existing file.
type fileState struct {
	data  []byte
	size  int64
	mod   time.Time
	ctime time.Time // inode change time where the OS has one
	perm  fs.FileMode
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{data, fi.Size(), fi.ModTime(), ctimeOf(fi), fi.Mode()}
}

func TestForeignFileUntouched(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 5000, 2 * Alignment} {
		path := filepath.Join(dir, "foreign")
		data := make([]byte, size)
		rand.Read(data)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		before := stateOf(t, path)
		for _, o := range []Options{{}, {Size: 1 << 20}, {ReadOnly: true}, {ForceMode: PageCache}, {ForceMode: "bogus"}} {
			r, err := Open(path, o)
			if err == nil {
				// A well-sized file maps (the store rejects its magic
				// later); mapping alone must not change it.
				sink = r.Data[0]
				r.Close()
			} else if size%Alignment == 0 && size > 0 && o.ForceMode != "bogus" {
				t.Errorf("Open(%d-byte file, %+v): %v", size, o, err)
			} else if !errors.Is(err, errs.Invalid) {
				t.Errorf("Open(%d-byte file, %+v) = %v, want errs.Invalid", size, o, err)
			}
		}
		after := stateOf(t, path)
		if !bytes.Equal(before.data, after.data) || before.size != after.size ||
			!before.mod.Equal(after.mod) || !before.ctime.Equal(after.ctime) || before.perm != after.perm {
			t.Fatalf("%d-byte file changed: size %d -> %d, mtime %v -> %v, ctime %v -> %v, mode %v -> %v, same bytes %v",
				size, before.size, after.size, before.mod, after.mod, before.ctime, after.ctime,
				before.perm, after.perm, bytes.Equal(before.data, after.data))
		}
		os.Remove(path)
	}
}

func TestProbeErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{filepath.Join(file, "x"), fs.ErrNotExist}, // a path through a file
		{dir, errs.Invalid},
	}
	for _, c := range cases {
		_, err := ProbePath(c.path)
		if !errors.Is(err, c.want) {
			t.Errorf("ProbePath(%s) = %v, want %v", c.path, err, c.want)
		}
		_, err = Open(c.path, Options{})
		if !errors.Is(err, c.want) {
			t.Errorf("Open(%s) = %v, want %v", c.path, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), "region") {
			t.Errorf("error %q does not say where it comes from", err)
		}
	}
	// A probe of any regular file works, even one Open would reject.
	if p, err := ProbePath(file); err != nil || p.Kind != KindFile || p.Mode == "" || p.Reason == "" {
		t.Errorf("ProbePath(empty file) = %+v, %v", p, err)
	}
}

// Two openers create the same missing region at once: the one that loses
// the O_EXCL race opens the winner's file and is refused by its lock,
// without removing it.
func TestCreateRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	var winner *Region
	testHookBeforeCreate = func() {
		testHookBeforeCreate = func() {}
		var err error
		if winner, err = Open(path, Options{Size: Alignment}); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { testHookBeforeCreate = func() {} }()

	_, err := Open(path, Options{Size: 2 * Alignment})
	if winner == nil {
		t.Fatal("hook did not run")
	}
	defer winner.Close()
	if !errors.Is(err, errs.Locked) {
		t.Fatalf("losing creator got %v, want errs.Locked", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != Alignment || !winner.Created {
		t.Fatalf("winner's file disturbed: %v", err)
	}
}
