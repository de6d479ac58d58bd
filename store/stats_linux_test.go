package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/internal/tmpfstest"
)

// TestStatsHugeMapped: a region on a tmpfs that allocates 2 MiB pages
// reports them once it is in use, and one on a tmpfs that never does
// reports none.
func TestStatsHugeMapped(t *testing.T) {
	for _, c := range []struct {
		huge     string
		wantSome bool
	}{{"never", false}, {"within_size", true}} {
		dir := tmpfstest.Mount(t, "size=64m,huge="+c.huge)
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
		got := db.Stats().HugeMapped
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got < 0 || got > 32<<20 || (got > 0) != c.wantSome {
			t.Errorf("huge=%s: Stats.HugeMapped = %d bytes", c.huge, got)
		}
	}
}
