package store

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/region"
)

// TestWALPrefaulted checks that a writable Open maps every page of the WAL
// ring in the background and that a read-only Open leaves them unmapped.
func TestWALPrefaulted(t *testing.T) {
	db, path := openTest(t, 64<<20)
	if db.mode == string(region.PageCache) {
		t.Skip("page-cache mode does not prefault")
	}
	walPages := func(db *DB) (mapped, all int) {
		t.Helper()
		ring := db.mem[db.sb.WALOff : db.sb.WALOff+db.sb.WALSize]
		n, err := db.reg.Mapped(ring)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return n, len(ring) / os.Getpagesize()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		n, all := walPages(db)
		if n == all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d WAL pages mapped 10 s after Open", n, all)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	time.Sleep(10 * time.Millisecond)
	if n, all := walPages(ro); n > all/8 {
		t.Fatalf("read-only Open mapped %d of %d WAL pages", n, all)
	}
}
