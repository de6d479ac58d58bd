package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/store/internal/memtable"
)

// TestScanTreeOnly covers Scan's tree-only path (empty memtables right
// after a checkpoint): bounds, inline and extent values, and an error from
// the callback.
func TestScanTreeOnly(t *testing.T) {
	db, _ := openTest(t, 16<<20)
	val := func(i int) []byte {
		if i%7 == 0 {
			return bytes.Repeat([]byte{byte(i)}, 1000+i) // an extent value
		}
		return []byte(fmt.Sprint(i))
	}
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	const n = 2000
	for i := 0; i < n; i += 100 {
		must(t, db.Update(func(tx *Tx) error {
			for j := i; j < i+100; j++ {
				if err := tx.Put([]byte(key(j)), val(j)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	must(t, db.checkpoint())
	scan := func(start, end string) ([]string, error) {
		var keys []string
		var b, e []byte
		if start != "" {
			b = []byte(start)
		}
		if end != "" {
			e = []byte(end)
		}
		err := db.View(func(v *View) error {
			if v.active != nil || v.frozen != nil { // viewOf leaves empty tables out
				return errors.New("memtables not empty after a checkpoint")
			}
			return v.Scan(b, e, func(k, got []byte) error {
				var i int
				if _, err := fmt.Sscanf(string(k), "k%d", &i); err != nil {
					return err
				}
				if !bytes.Equal(got, val(i)) {
					return fmt.Errorf("key %s: value of %d bytes, want %d", k, len(got), len(val(i)))
				}
				keys = append(keys, string(k))
				return nil
			})
		})
		return keys, err
	}
	want := func(lo, hi int) []string {
		var ks []string
		for i := lo; i < hi; i++ {
			ks = append(ks, key(i))
		}
		return ks
	}
	for _, c := range []struct {
		start, end string
		lo, hi     int
	}{
		{"", "", 0, n},
		{"k0098", "k0103", 98, 103},
		{"k0098a", "k0103", 99, 103},
		{"", "k0010", 0, 10},
		{"k1990", "", 1990, n},
		{"k9", "", 0, 0},
		{"k0500", "k0500", 0, 0},
	} {
		got, err := scan(c.start, c.end)
		if err != nil || !slices.Equal(got, want(c.lo, c.hi)) {
			t.Errorf("Scan(%q, %q): %d keys %v, want %d keys", c.start, c.end, len(got), err, c.hi-c.lo)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := db.View(func(v *View) error {
		return v.Scan(nil, nil, func([]byte, []byte) error {
			if calls++; calls == 10 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || calls != 10 {
		t.Fatalf("scan stop: %d calls, %v", calls, err)
	}
}

// TestScanMerge covers Scan's merge of two memtables over the tree: a
// frozen table (left by a checkpoint that has not run) and the active one
// above it, each with puts and tombstones that shadow the layers below.
// Random ranges are compared with a model.
func TestScanMerge(t *testing.T) {
	db, _ := openTest(t, 16<<20)
	rng := rand.New(rand.NewPCG(7, 7))
	model := map[string][]byte{}
	key := func() []byte { return []byte(fmt.Sprintf("k%03d", rng.IntN(400))) }
	layer := func(n int) {
		for range n {
			k := key()
			if rng.IntN(3) == 0 {
				must(t, db.Delete(k))
				delete(model, string(k))
				continue
			}
			v := bytes.Repeat([]byte{byte(rng.IntN(256))}, 1+rng.IntN(400)) // inline and extents
			must(t, db.Put(k, v))
			model[string(k)] = v
		}
	}
	layer(300)
	must(t, db.checkpoint())
	layer(150)
	// Freeze the active table as a checkpoint would, without applying it.
	db.gate.Lock()
	v := db.vers.cur.Load()
	frozen := &version{cat: v.cat, active: map[uint32]*memtable.Table{}, frozen: v.active, upTo: db.wal.End()}
	for id := range v.active {
		frozen.active[id] = memtable.New()
	}
	db.vers.install(frozen, garbage{})
	db.gate.Unlock()
	layer(150)

	keys := slices.Sorted(maps.Keys(model))
	for range 300 {
		var start, end []byte
		if rng.IntN(4) > 0 {
			start = key()
		}
		if rng.IntN(4) > 0 {
			end = key()
		}
		var got []string
		err := db.View(func(vw *View) error {
			if vw.frozen == nil || vw.active == nil { // viewOf leaves empty tables out
				return errors.New("test setup: want a frozen and an active table")
			}
			return vw.Scan(start, end, func(k, val []byte) error {
				if !bytes.Equal(val, model[string(k)]) {
					return fmt.Errorf("key %s: %d bytes, want %d", k, len(val), len(model[string(k)]))
				}
				got = append(got, string(k))
				return nil
			})
		})
		var want []string
		for _, k := range keys {
			if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
				want = append(want, k)
			}
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Scan(%q, %q): %v, %d keys, want %d", start, end, err, len(got), len(want))
		}
	}
	// The checkpoint that was left out commits the frozen table first.
	must(t, db.checkpoint())
	got, err := readAll(db)
	if err != nil || !maps.EqualFunc(got, kvModel(model), bytes.Equal) {
		t.Fatalf("after the checkpoint: %v", err)
	}
}
