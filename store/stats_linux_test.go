package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/internal/region"
	"github.com/daxkv/daxkv/internal/tmpfstest"
)

// TestHugeMapped: a store on a tmpfs that allocates 2 MiB pages reports
// them once in use, and one on a tmpfs that never does reports none.
func TestHugeMapped(t *testing.T) {
	for _, c := range []struct {
		huge     string
		wantSome bool
	}{{"never", false}, {"within_size", true}} {
		dir := tmpfstest.MountHuge(t, "96m", c.huge)
		db, err := Open(filepath.Join(dir, "r.region"), &Options{Size: 32 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2000 {
			if err := db.Put(fmt.Appendf(nil, "key%06d", i), make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.checkpoint(); err != nil {
			t.Fatal(err)
		}
		got, err := db.HugeMapped()
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.HugeMapped(); err == nil {
			t.Error("HugeMapped after Close succeeded")
		}
		if got < 0 || got > 32<<20 || (got > 0) != c.wantSome {
			if c.wantSome && got == 0 && !hugeControl(t, dir) {
				t.Skip("no huge pages on this mount now (memory fragmented?)")
			}
			t.Errorf("huge=%s: HugeMapped = %d bytes", c.huge, got)
		}
	}
}

// hugeControl reports whether a fresh region file in dir gets huge pages.
func hugeControl(t *testing.T, dir string) bool {
	path := filepath.Join(dir, "control")
	r, err := region.Open(path, region.Options{Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	defer r.Close()
	if err := r.Populate(r.Data); err != nil {
		t.Fatal(err)
	}
	n, err := r.HugeMapped()
	return err == nil && n > 0
}
