package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/rmap"
	"github.com/daxkv/daxkv/store/internal/btree"
)

// valueExtents maps each tree value extent's offset to its key.
func valueExtents(t *testing.T, db *DB) map[int64]string {
	t.Helper()
	v := db.vers.acquire()
	defer db.vers.unref(v)
	root, _ := v.root(db.mainID())
	out := map[int64]string{}
	err := db.tree.Walk(root, func(e btree.Extent, _ bool) error {
		if e.Kind == btree.KindValue {
			out[e.Off] = string(e.Lo)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkOwner(t *testing.T, db *DB, off int64, key string) {
	t.Helper()
	owners, err := db.owners(off+100, 1) // a byte inside the extent
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owners {
		if o.Kind == rmap.Value && string(o.Lo) == key && slices.Contains(o.Refs, db.mainID()) {
			return
		}
	}
	t.Fatalf("owners of %#x: %v, want value of key %q on main", off, owners, key)
}

func TestReverseMap(t *testing.T) {
	path := filepath.Join(shmDir(t), "rmap.region")
	db, err := Open(path, &Options{Size: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if err := db.Put([]byte(fmt.Sprintf("key-%03d", i)), bytes.Repeat([]byte{byte(i)}, 300+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	exts := valueExtents(t, db)
	if len(exts) != 200 {
		t.Fatalf("%d value extents", len(exts))
	}
	db.crashForTest()

	// After a crash the recovery walk fills the map.
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur := db.rmap.cur.Load(); cur == nil {
		t.Fatal("recovery walk did not fill the reverse map")
	}
	for off, key := range exts {
		checkOwner(t, db, off, key)
	}
	// A node's owner carries its key range; the WAL is named as such.
	if owners, _ := db.owners(db.sb.WALOff+10, 1); len(owners) != 1 || owners[0].Kind != rmap.WAL {
		t.Fatalf("WAL owner: %v", owners)
	}
	// Writes not yet checkpointed are found in the memtable.
	if err := db.Put([]byte("fresh"), bytes.Repeat([]byte("f"), 1000)); err != nil {
		t.Fatal(err)
	}
	e, ok := db.vers.cur.Load().active[db.mainID()].Get([]byte("fresh"))
	if !ok {
		t.Fatal("fresh not in memtable")
	}
	checkOwner(t, db, e.Off, "fresh")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// After a clean open it is built on first use, and follows checkpoints.
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.rmap.cur.Load() != nil {
		t.Fatal("clean open should not walk")
	}
	exts = valueExtents(t, db)
	for off, key := range exts {
		checkOwner(t, db, off, key)
	}
	_ = db.Put([]byte("key-000"), bytes.Repeat([]byte("n"), 700))
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	for off, key := range valueExtents(t, db) {
		checkOwner(t, db, off, key)
	}
}
