package flush

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = os.Getpagesize()

// mapFile maps a fresh file of npages pages in dir, shared and writable.
func mapFile(t testing.TB, dir string, npages int) []byte {
	t.Helper()
	f, err := os.CreateTemp(dir, "flush-msync-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	defer f.Close()
	if err := f.Truncate(int64(npages * pageSize)); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, npages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

func msyncFn(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }

// syncLog records the page ranges Sync receives, as [first, last+1) page
// numbers relative to the mapping, and performs the real msync.
type syncLog struct {
	base  uintptr
	calls [][2]int
	fail  func(call int) error
}

func (l *syncLog) sync(b []byte) error {
	off := uintptr(unsafe.Pointer(&b[0])) - l.base
	if off%uintptr(pageSize) != 0 || len(b)%pageSize != 0 {
		return errors.New("unaligned range passed to Sync")
	}
	l.calls = append(l.calls, [2]int{int(off) / pageSize, (int(off) + len(b)) / pageSize})
	if l.fail != nil {
		if err := l.fail(len(l.calls)); err != nil {
			return err
		}
	}
	return msyncFn(b)
}

func newLogged(t *testing.T, m []byte) (Persister, *syncLog) {
	l := &syncLog{base: uintptr(unsafe.Pointer(&m[0]))}
	p, err := New(Config{Mode: Msync, Sync: l.sync})
	if err != nil {
		t.Fatal(err)
	}
	return p, l
}

func TestMsyncRanges(t *testing.T) {
	m := mapFile(t, t.TempDir(), 16)
	ps := pageSize
	for _, c := range []struct {
		name  string
		ops   func(p Persister)
		calls [][2]int
	}{
		{"nothing dirty", func(Persister) {}, nil},
		{"one byte", func(p Persister) { p.Flush(m[5:6]) }, [][2]int{{0, 1}}},
		{"empty flush", func(p Persister) { p.Flush(m[5:5]) }, nil},
		{"straddles a page boundary", func(p Persister) { p.Flush(m[ps-1 : ps+1]) }, [][2]int{{0, 2}}},
		{"adjacent pages merge", func(p Persister) { p.Flush(m[0:10]); p.Flush(m[ps : ps+10]) }, [][2]int{{0, 2}}},
		{"same page twice", func(p Persister) { p.Flush(m[0:10]); p.Flush(m[20:30]) }, [][2]int{{0, 1}}},
		{"gap stays apart, sorted", func(p Persister) { p.Flush(m[9*ps : 9*ps+1]); p.Flush(m[2*ps : 3*ps]) }, [][2]int{{2, 3}, {9, 10}}},
		{"out of order then bridged", func(p Persister) {
			p.Flush(m[4*ps : 4*ps+1])
			p.Flush(m[0:1])
			p.Flush(m[1*ps : 4*ps])
		}, [][2]int{{0, 5}}},
		{"copy records dst", func(p Persister) { p.Copy(m[3*ps-2:], []byte("abcd")) }, [][2]int{{2, 4}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, l := newLogged(t, m)
			c.ops(p)
			if err := p.Drain(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.calls, c.calls) {
				t.Fatalf("Sync calls %v, want %v", l.calls, c.calls)
			}
			l.calls = nil
			if err := p.Drain(); err != nil || len(l.calls) != 0 {
				t.Fatalf("second Drain synced %v, err %v; want nothing", l.calls, err)
			}
		})
	}
	if string(m[3*ps-2:3*ps+2]) != "abcd" {
		t.Fatal("Msync Copy did not copy")
	}
}

// TestMsyncCompaction: many scattered flushes (past compactAt) end as one
// Sync per maximal run of dirty pages, each page once.
func TestMsyncCompaction(t *testing.T) {
	const npages = 600
	m := mapFile(t, t.TempDir(), npages)
	p, l := newLogged(t, m)
	rng := rand.New(rand.NewPCG(9, 9))
	dirty := make([]bool, npages)
	for range 3000 {
		pg := rng.IntN(npages)
		if pg%7 == 3 {
			continue // leave holes so that several runs remain
		}
		dirty[pg] = true
		p.Flush(m[pg*pageSize+rng.IntN(pageSize):][:1])
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	var want [][2]int
	for pg := 0; pg < npages; pg++ {
		if dirty[pg] {
			start := pg
			for pg < npages && dirty[pg] {
				pg++
			}
			want = append(want, [2]int{start, pg})
		}
	}
	if !slices.Equal(l.calls, want) {
		t.Fatalf("Sync calls %v\nwant %v", l.calls, want)
	}
}

// TestMsyncErrors: Drain tries every range, returns the first error, and
// stays failed afterwards.
func TestMsyncErrors(t *testing.T) {
	m := mapFile(t, t.TempDir(), 8)
	p, l := newLogged(t, m)
	errIO := errors.New("injected EIO")
	errLater := errors.New("second failure")
	l.fail = func(call int) error {
		switch call {
		case 2:
			return errIO
		case 3:
			return errLater
		}
		return nil
	}
	p.Flush(m[0:1])
	p.Flush(m[2*pageSize:][:1])
	p.Flush(m[4*pageSize:][:1])
	p.Flush(m[6*pageSize:][:1])
	err := p.Drain()
	if !errors.Is(err, errIO) || errors.Is(err, errLater) {
		t.Fatalf("Drain error = %v, want the first one (%v)", err, errIO)
	}
	if len(l.calls) != 4 {
		t.Fatalf("Drain stopped after %d of 4 ranges", len(l.calls))
	}
	if err := p.Drain(); !errors.Is(err, errIO) {
		t.Fatalf("Drain after a failure = %v, want the sticky %v", err, errIO)
	}
}

// TestMsyncConcurrent: a Drain returns only after every page flushed
// before it was synced, even when another goroutine's Drain took the
// range first. Each worker owns one page; run under -race this also
// checks the locking (the counter of a page is only touched while its
// worker waits in Drain, or by that worker between Drains).
func TestMsyncConcurrent(t *testing.T) {
	const workers, rounds = 8, 2000
	m := mapFile(t, t.TempDir(), workers)
	synced := make([]int, workers)
	p, err := New(Config{Mode: Msync, Sync: func(b []byte) error {
		first := int(uintptr(unsafe.Pointer(&b[0]))-uintptr(unsafe.Pointer(&m[0]))) / pageSize
		runtime.Gosched() // a slow msync widens the window for a wrong Drain
		for pg := first; pg < first+len(b)/pageSize; pg++ {
			synced[pg]++
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for w := range workers {
		go func() {
			page := m[w*pageSize : (w+1)*pageSize]
			for i := range rounds {
				before := synced[w]
				page[i%pageSize] = byte(i)
				p.Flush(page[i%pageSize:][:1])
				if err := p.Drain(); err != nil {
					done <- err
					return
				}
				if synced[w] == before {
					done <- errors.New("Drain returned before the page flushed before it was synced")
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestMsyncNoAlloc(t *testing.T) {
	m := mapFile(t, t.TempDir(), 4)
	p, err := New(Config{Mode: Msync, Sync: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() {
		p.Flush(m[100:164])
		p.Flush(m[3*pageSize:][:8])
		_ = p.Drain()
	}); a != 0 {
		t.Fatalf("msync flush+drain allocates %.1f times", a)
	}
}

// TestMsyncRealFile writes through the mapping, drains, and reads the file
// back through the file descriptor.
func TestMsyncRealFile(t *testing.T) {
	dir := t.TempDir()
	m := mapFile(t, dir, 2)
	p, err := New(Config{Mode: Msync, Sync: msyncFn})
	if err != nil {
		t.Fatal(err)
	}
	p.Copy(m[pageSize-3:], []byte("durable"))
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "flush-msync-*"))
	if len(names) != 1 {
		t.Fatalf("files %v", names)
	}
	b, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(b[pageSize-3:pageSize+4]) != "durable" {
		t.Fatalf("file holds %q", b[pageSize-3:pageSize+4])
	}
}

// BenchmarkMsyncPage: dirty one 4 KiB page of a shared file mapping and
// write it back with the Msync persister, on tmpfs and on os.TempDir().
func BenchmarkMsyncPage(b *testing.B) {
	for _, fs := range []struct{ name, dir string }{
		{"tmpfs", "/dev/shm"},
		{"tempdir", os.TempDir()},
	} {
		b.Run(fs.name, func(b *testing.B) {
			if st, err := os.Stat(fs.dir); err != nil || !st.IsDir() {
				b.Skipf("%s unavailable: %v", fs.dir, err)
			}
			m := mapFile(b, fs.dir, 16)
			p, err := New(Config{Mode: Msync, Sync: msyncFn})
			if err != nil {
				b.Fatal(err)
			}
			page := m[4*pageSize : 5*pageSize]
			for b.Loop() {
				page[0]++
				p.Flush(page[:8])
				if err := p.Drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
