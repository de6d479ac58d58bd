package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/daxkv/daxkv/store"
)

func TestLeak(t *testing.T) {
	c := Defaults()
	c.Dir = shmDir(t)
	p, _ := newPlan(c)
	vals := newValuer(1000, 1)
	db, err := store.Open(filepath.Join(c.Dir, "r"), &store.Options{Size: 3 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &runner{p: p, ctx: t.Context()}
	n := int64(250_000)
	r.preload(&daxkvStore{db: db}, vals, permutation(n, 1, 1), 0)
	st := db.Stats()
	t.Logf("after load: used %d MiB free %d MiB extents %d", st.Used>>20, st.Free>>20, st.Extents)
	z := newScrambledZipfian(n)
	rng := newRand(1, 5)
	var kb []byte
	for i := 1; i <= 1_000_000; i++ {
		k := z.next(rng)
		kb = p.keys.key(kb, k)
		if err := db.Put(kb, vals.value(k, uint64(i))); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if i%200_000 == 0 {
			st := db.Stats()
			t.Logf("%d updates: used %d MiB free %d MiB extents %d memkeys %d ckpts %d", i, st.Used>>20, st.Free>>20, st.Extents, st.MemtableKeys, st.Checkpoints)
		}
	}
	time.Sleep(2 * time.Second)
	st = db.Stats()
	t.Logf("idle: used %d MiB free %d MiB extents %d memkeys %d", st.Used>>20, st.Free>>20, st.Extents, st.MemtableKeys)
}
