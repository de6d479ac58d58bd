//go:build linux

package wal

import (
	"errors"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/flush"
)

// shmRing maps a ring of size bytes from a temporary file on /dev/shm
// (emulated pmem: the flushes are real, the medium is RAM).
func shmRing(b *testing.B, size int) []byte {
	b.Helper()
	f, err := os.CreateTemp("/dev/shm", "daxkv-wal-bench-*")
	if err != nil {
		b.Skipf("no /dev/shm: %v", err)
	}
	defer f.Close()
	b.Cleanup(func() { os.Remove(f.Name()) })
	if err := f.Truncate(int64(size)); err != nil {
		b.Fatal(err)
	}
	ring, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Munmap(ring) })
	for i := 0; i < size; i += 4096 {
		ring[i] = 0 // fault the pages in outside the timed loop
	}
	return ring
}

func benchLog(b *testing.B, p flush.Persister) *Log {
	b.Helper()
	ring := shmRing(b, 64<<20)
	if p == nil {
		var err error
		if p, err = flush.New(flush.Config{Mode: flush.Auto}); err != nil {
			b.Fatal(err)
		}
	}
	l, err := Open(ring, Position{0, 1}, Options{Persister: p})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Replay(func(Position, []byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	return l
}

// commitLoop commits n records, truncating everything whenever the ring
// fills (a checkpoint that costs nothing).
func commitLoop(b *testing.B, l *Log, payload []byte, n int) {
	for range n {
		_, _, err := l.Commit(payload)
		for errors.Is(err, ErrFull) {
			l.Truncate(l.End())
			_, _, err = l.Commit(payload)
		}
		if err != nil {
			b.Error(err)
			return
		}
	}
}

func benchCommit(b *testing.B, size, goroutines int, p flush.Persister) {
	l := benchLog(b, p)
	payload := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if goroutines == 1 {
		commitLoop(b, l, payload, b.N)
		return
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		n := b.N / goroutines
		if g < b.N%goroutines {
			n++
		}
		wg.Go(func() { commitLoop(b, l, payload, n) })
	}
	wg.Wait()
}

func BenchmarkCommit128(b *testing.B)   { benchCommit(b, 128, 1, nil) }
func BenchmarkCommit128x4(b *testing.B) { benchCommit(b, 128, 4, nil) }
func BenchmarkCommit4K(b *testing.B)    { benchCommit(b, 4096, 1, nil) }
func BenchmarkCommit4Kx4(b *testing.B)  { benchCommit(b, 4096, 4, nil) }

// BenchmarkCommit128NoFlush is the log's own cost: no flush, no fence.
func BenchmarkCommit128NoFlush(b *testing.B) { benchCommit(b, 128, 1, &countPersister{}) }
