package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// waitDir waits until the current version has a fingerprinted leaf
// directory for main's root and returns that root.
func waitDir(t testing.TB, db *DB) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := db.vers.acquire()
		root, _ := v.root(db.mainID())
		d := v.dir(root)
		ok := d != nil && d.Fingerprinted()
		db.vers.unref(v)
		if ok {
			return root
		}
		if time.Now().After(deadline) {
			t.Fatal("no fingerprinted leaf directory for main within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLeafDirectory reads every key through the directory after rounds of
// inserts, overwrites and deletes, and checks the directory follows each
// new root (a stale one would route keys to leaves of an old tree).
func TestLeafDirectory(t *testing.T) {
	db, _ := openTest(t, 256<<20)
	model := map[string]string{}
	const n = 20000
	for round := 0; round < 4; round++ {
		err := db.Update(func(tx *Tx) error {
			for i := round; i < n; i += 1 + round {
				k := fmt.Sprintf("key-%07d", i*7919%n)
				if round == 2 && i%3 == 0 {
					delete(model, k)
					if err := tx.Delete([]byte(k)); err != nil {
						return err
					}
					continue
				}
				v := fmt.Sprintf("v%d-%d", round, i)
				model[k] = v
				if err := tx.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.checkpoint(); err != nil {
			t.Fatal(err)
		}
		root := waitDir(t, db)
		v := db.vers.acquire()
		if d := v.dir(root); d.Leaves() < 2 && round > 0 {
			t.Errorf("round %d: directory of %d leaves; the test wants a multi-leaf tree", round, d.Leaves())
		}
		db.vers.unref(v)
		for i := 0; i < n+100; i++ {
			k := fmt.Sprintf("key-%07d", i)
			got, err := db.Get([]byte(k))
			want, ok := model[k]
			switch {
			case ok && (err != nil || string(got) != want):
				t.Fatalf("round %d: Get(%s) = %q, %v; want %q", round, k, got, err, want)
			case !ok && !errors.Is(err, ErrNotFound):
				t.Fatalf("round %d: Get(%s) = %q, %v; want ErrNotFound", round, k, got, err)
			}
		}
	}
}
