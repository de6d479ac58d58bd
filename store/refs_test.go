package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/store/internal/btree"
)

// reader is what DB, *Branch and *Snapshot have in common.
type reader interface {
	Get(key []byte) ([]byte, error)
	View(fn func(v *View) error) error
}

// scanAll reads a ref whole, by scan, and checks that point reads of a
// sample of its keys agree.
func scanAll(r reader) (kvModel, error) {
	got := kvModel{}
	err := r.View(func(v *View) error {
		return v.Scan(nil, nil, func(k, val []byte) error {
			got[string(k)] = bytes.Clone(val)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for k, want := range got {
		if n++; n%8 != 1 {
			continue
		}
		v, err := r.Get([]byte(k))
		if err != nil {
			return nil, fmt.Errorf("get %q: %w", k, err)
		}
		if !bytes.Equal(v, want) {
			return nil, fmt.Errorf("get %q = %d bytes; scan says %d bytes", k, len(v), len(want))
		}
	}
	return got, nil
}

// openRef returns a reader for a branch or snapshot by name.
func openRef(db *DB, name string) (reader, error) {
	if name == MainBranch {
		return db, nil
	}
	if b, err := db.Branch(name); err == nil {
		return b, nil
	} else if !errors.Is(err, ErrReadOnly) {
		return nil, err
	}
	return db.Snapshot(name)
}

// checkRefs compares every ref with its model, and the ref list with the
// models' names.
func checkRefs(t testing.TB, db *DB, models map[string]kvModel) {
	t.Helper()
	var names []string
	for _, list := range []func() ([]RefInfo, error){db.Branches, db.Snapshots} {
		infos, err := list()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range infos {
			names = append(names, r.Name)
		}
	}
	slices.Sort(names)
	if want := slices.Sorted(maps.Keys(models)); !slices.Equal(names, want) {
		t.Fatalf("refs %q, want %q", names, want)
	}
	for name, want := range models {
		r, err := openRef(db, name)
		if err != nil {
			t.Fatalf("ref %q: %v", name, err)
		}
		got, err := scanAll(r)
		if err != nil {
			t.Fatalf("ref %q: %v", name, err)
		}
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("ref %q:\n%s", name, diffModels(got, want))
		}
	}
}

func checkClean(t testing.TB, db *DB) {
	t.Helper()
	rep, err := db.Check(context.Background())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("check: %v %q", err, rep.Problems)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotsAndBranches(t *testing.T) {
	db, path := openTest(t, 16<<20)
	big := bytes.Repeat([]byte("B"), 3000)
	main := kvModel{}
	put := func(w interface{ Put(k, v []byte) error }, m kvModel, k string, v []byte) {
		t.Helper()
		must(t, w.Put([]byte(k), v))
		m[k] = v
	}
	for i := 0; i < 300; i++ {
		put(db, main, fmt.Sprintf("k%03d", i), []byte(fmt.Sprint("v", i)))
	}
	put(db, main, "big", big)
	must(t, db.checkpoint())
	put(db, main, "unflushed", []byte("in the memtable"))

	info, err := db.CreateSnapshot("s1", "")
	must(t, err)
	if info.Name != "s1" || info.Kind != KindSnapshot || info.Parent != MainBranch || info.Created.IsZero() || info.Seq == 0 {
		t.Fatalf("snapshot info %+v", info)
	}
	s1 := maps.Clone(main)
	put(db, main, "k000", []byte("changed on main"))
	must(t, db.Delete([]byte("k001")))
	delete(main, "k001")

	// A branch of the snapshot, written, shares nothing it writes.
	must(t, db.CreateBranch("dev", "s1"))
	dev := maps.Clone(s1)
	b, err := db.Branch("dev")
	must(t, err)
	put(b, dev, "k002", []byte("dev"))
	put(b, dev, "big", bytes.Repeat([]byte("D"), 5000))
	must(t, b.Delete([]byte("k003")))
	delete(dev, "k003")
	must(t, b.Update(func(tx *Tx) error {
		if v, err := tx.Get([]byte("k002")); err != nil || string(v) != "dev" {
			t.Errorf("tx on branch reads %q %v", v, err)
		}
		return tx.Put([]byte("only-dev"), []byte("x"))
	}))
	dev["only-dev"] = []byte("x")
	models := map[string]kvModel{MainBranch: main, "s1": s1, "dev": dev}
	checkRefs(t, db, models)
	checkClean(t, db)

	// A branch of a branch with unflushed writes sees them.
	must(t, db.CreateBranch("dev2", "dev"))
	models["dev2"] = maps.Clone(dev)
	must(t, db.checkpoint())
	checkRefs(t, db, models)
	checkClean(t, db)

	// Refs survive a clean close and a crash.
	must(t, db.Close())
	db, err = Open(path, nil)
	must(t, err)
	checkRefs(t, db, models)
	checkClean(t, db)
	b, err = db.Branch("dev2")
	must(t, err)
	put(b, models["dev2"], "after-reopen", []byte("y"))
	db.crashForTest()
	db, err = Open(path, nil)
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	if db.Stats().CleanOpen {
		t.Fatal("expected a recovery open")
	}
	checkRefs(t, db, models)
	checkClean(t, db)

	// Deleting frees and forgets.
	must(t, db.DeleteBranch("dev"))
	delete(models, "dev")
	must(t, db.DeleteSnapshot("s1"))
	delete(models, "s1")
	checkRefs(t, db, models)
	checkClean(t, db)
	if _, err := b.Get([]byte("k000")); !errors.Is(err, ErrClosed) {
		t.Fatalf("handle of a closed DB: %v", err)
	}
}

func TestRefsBadInput(t *testing.T) {
	db, path := openTest(t, 8<<20)
	must(t, db.Put([]byte("a"), []byte("1")))
	_, err := db.CreateSnapshot("snap", "")
	must(t, err)
	must(t, db.CreateBranch("br", ""))
	long := strings.Repeat("n", 256)
	is := func(err, want error, what string) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	for _, bad := range []string{"", long, "a/b", "tab\there", "nl\n", "del\x7f"} {
		_, err := db.CreateSnapshot(bad, "")
		is(err, ErrInvalid, fmt.Sprintf("CreateSnapshot(%q)", bad))
		is(db.CreateBranch(bad, ""), ErrInvalid, fmt.Sprintf("CreateBranch(%q)", bad))
		if bad != "" { // "" means main
			is(db.CreateBranch("ok", bad), ErrInvalid, fmt.Sprintf("CreateBranch from %q", bad))
		}
		_, err = db.Branch(bad)
		is(err, ErrInvalid, fmt.Sprintf("Branch(%q)", bad))
		_, err = db.Snapshot(bad)
		is(err, ErrInvalid, fmt.Sprintf("Snapshot(%q)", bad))
		is(db.DeleteBranch(bad), ErrInvalid, fmt.Sprintf("DeleteBranch(%q)", bad))
		is(db.DeleteSnapshot(bad), ErrInvalid, fmt.Sprintf("DeleteSnapshot(%q)", bad))
		is(db.Restore(bad, "snap"), ErrInvalid, fmt.Sprintf("Restore(%q)", bad))
		is(db.Diff(bad, "snap", func([]byte, Change) error { return nil }), ErrInvalid, fmt.Sprintf("Diff(%q)", bad))
	}
	if _, err := db.CreateSnapshot(strings.Repeat("n", 255), ""); err != nil {
		t.Errorf("255-byte name: %v", err)
	}
	// One namespace.
	for _, name := range []string{"snap", "br", MainBranch} {
		_, err := db.CreateSnapshot(name, "")
		is(err, ErrExists, "snapshot named "+name)
		is(db.CreateBranch(name, ""), ErrExists, "branch named "+name)
	}
	// Unknown refs.
	_, err = db.CreateSnapshot("x", "nope")
	is(err, ErrNotFound, "snapshot of an unknown branch")
	is(db.CreateBranch("x", "nope"), ErrNotFound, "branch of an unknown ref")
	_, err = db.Branch("nope")
	is(err, ErrNotFound, "Branch(unknown)")
	_, err = db.Snapshot("nope")
	is(err, ErrNotFound, "Snapshot(unknown)")
	is(db.DeleteBranch("nope"), ErrNotFound, "DeleteBranch(unknown)")
	is(db.DeleteSnapshot("nope"), ErrNotFound, "DeleteSnapshot(unknown)")
	is(db.Restore("nope", "snap"), ErrNotFound, "Restore(unknown branch)")
	is(db.Restore("br", "nope"), ErrNotFound, "Restore(unknown snapshot)")
	is(db.Diff("nope", "snap", func([]byte, Change) error { return nil }), ErrNotFound, "Diff(unknown)")
	// Wrong kinds.
	_, err = db.Branch("snap")
	is(err, ErrReadOnly, "Branch(a snapshot)")
	_, err = db.Snapshot("br")
	is(err, ErrInvalid, "Snapshot(a branch)")
	_, err = db.CreateSnapshot("x", "snap")
	is(err, ErrInvalid, "snapshot of a snapshot")
	is(db.DeleteBranch(MainBranch), ErrInvalid, "DeleteBranch(main)")
	is(db.DeleteBranch("snap"), ErrInvalid, "DeleteBranch(a snapshot)")
	is(db.DeleteSnapshot("br"), ErrInvalid, "DeleteSnapshot(a branch)")
	is(db.Restore("snap", "snap"), ErrInvalid, "Restore onto a snapshot")
	is(db.Restore("br", "br"), ErrInvalid, "Restore from a branch")

	// Handles of deleted refs.
	b, err := db.Branch("br")
	must(t, err)
	s, err := db.Snapshot("snap")
	must(t, err)
	must(t, db.DeleteBranch("br"))
	must(t, db.DeleteSnapshot("snap"))
	must(t, db.CreateBranch("br", "")) // same name, new ref: the old handle stays dead
	is(b.Put([]byte("a"), []byte("2")), ErrNotFound, "put to a deleted branch")
	is(b.Delete([]byte("a")), ErrNotFound, "delete on a deleted branch")
	is(b.Update(func(tx *Tx) error { return tx.Put([]byte("a"), nil) }), ErrNotFound, "update of a deleted branch")
	_, err = b.Get([]byte("a"))
	is(err, ErrNotFound, "get from a deleted branch")
	is(b.View(func(*View) error { return nil }), ErrNotFound, "view of a deleted branch")
	_, err = s.Get([]byte("a"))
	is(err, ErrNotFound, "get from a deleted snapshot")
	is(s.View(func(*View) error { return nil }), ErrNotFound, "view of a deleted snapshot")
	checkClean(t, db)
	if nb, err := db.Branch("br"); err != nil {
		t.Fatal(err)
	} else if v, err := nb.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("the new branch br: %q %v", v, err)
	}

	// A read-only store refuses every ref change and still reads refs.
	_, err = db.CreateSnapshot("kept", "")
	must(t, err)
	must(t, db.Close())
	_, err = db.CreateSnapshot("x", "")
	is(err, ErrClosed, "CreateSnapshot after Close")
	ro, err := Open(path, &Options{ReadOnly: true})
	must(t, err)
	defer ro.Close()
	_, err = ro.CreateSnapshot("x", "")
	is(err, ErrReadOnly, "CreateSnapshot read-only")
	is(ro.CreateBranch("x", ""), ErrReadOnly, "CreateBranch read-only")
	is(ro.DeleteSnapshot("kept"), ErrReadOnly, "DeleteSnapshot read-only")
	is(ro.Restore(MainBranch, "kept"), ErrReadOnly, "Restore read-only")
	ks, err := ro.Snapshot("kept")
	must(t, err)
	if v, err := ks.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("read-only snapshot read: %q %v", v, err)
	}
}

// TestSnapshotStableView: readers of a snapshot see the same data while its
// branch is written, checkpointed and restored around them.
func TestSnapshotStableView(t *testing.T) {
	db, _ := openTest(t, 32<<20)
	want := kvModel{}
	for i := 0; i < 2000; i++ {
		k, v := fmt.Sprintf("k%05d", i), bytes.Repeat([]byte{byte(i)}, i%700)
		must(t, db.Put([]byte(k), v))
		want[k] = v
	}
	_, err := db.CreateSnapshot("s", "")
	must(t, err)
	snap, err := db.Snapshot("s")
	must(t, err)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	// One View held across all the writing, others taken as it goes.
	held := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := snap.View(func(v *View) error {
			close(held)
			<-stop
			got := kvModel{}
			err := v.Scan(nil, nil, func(k, val []byte) error {
				got[string(k)] = bytes.Clone(val)
				return nil
			})
			if err == nil && !maps.EqualFunc(got, want, bytes.Equal) {
				err = fmt.Errorf("held view changed:\n%s", diffModels(got, want))
			}
			return err
		})
		if err != nil {
			errc <- err
		}
	}()
	<-held
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := scanAll(snap)
			if err == nil && !maps.EqualFunc(got, want, bytes.Equal) {
				err = fmt.Errorf("snapshot changed:\n%s", diffModels(got, want))
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	for round := 0; round < 4; round++ {
		for i := 0; i < 2000; i += 3 {
			k := []byte(fmt.Sprintf("k%05d", i))
			if i%2 == 0 {
				must(t, db.Put(k, bytes.Repeat([]byte{byte(round)}, 300)))
			} else {
				must(t, db.Delete(k))
			}
		}
		must(t, db.checkpoint())
		if round == 2 {
			must(t, db.Restore(MainBranch, "s"))
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkClean(t, db)
}

// TestDeleteReclaims: deleting a snapshot frees exactly what RefSpace said
// it held alone, and leaves the allocator where a twin store that never
// had the snapshot is.
func TestDeleteReclaims(t *testing.T) {
	db, _ := openTest(t, 64<<20)
	twin, _ := openTest(t, 64<<20)
	both := func(fn func(db *DB) error) {
		t.Helper()
		must(t, fn(db))
		must(t, fn(twin))
	}
	// Garbage is freed once no version can see it.
	settle := func(db *DB) alloc.Stats {
		for db.vers.pinned() > 1 {
			time.Sleep(time.Millisecond)
		}
		return db.alloc.Stats()
	}
	for i := 0; i < 5000; i++ {
		both(func(db *DB) error {
			return db.Put([]byte(fmt.Sprintf("k%05d", i)), bytes.Repeat([]byte{byte(i)}, 50+i%900))
		})
	}
	both(func(db *DB) error { return db.checkpoint() })
	before := settle(db)
	_, err := db.CreateSnapshot("s", "")
	must(t, err)
	// Rewrite and delete keys on main: the snapshot alone holds the old
	// values and the nodes on their paths.
	for i := 0; i < 5000; i += 2 {
		both(func(db *DB) error {
			return db.Put([]byte(fmt.Sprintf("k%05d", i)), bytes.Repeat([]byte{byte(i + 1)}, 50+i%900))
		})
	}
	for i := 1; i < 5000; i += 10 {
		both(func(db *DB) error { return db.Delete([]byte(fmt.Sprintf("k%05d", i))) })
	}
	both(func(db *DB) error { return db.checkpoint() })
	withSnap := settle(db)
	space, err := db.RefSpace(t.Context())
	must(t, err)
	if len(space) != 2 || space[0].Name != MainBranch || space[1].Name != "s" {
		t.Fatalf("space %+v", space)
	}
	m, s := space[0], space[1]
	if s.Unique == 0 || s.Refer <= s.Unique || m.Unique == 0 || m.Refer <= m.Unique {
		t.Fatalf("implausible space: main %+v, snapshot %+v", m, s)
	}
	if s.Refer != before.Used-2*unitsOf(db.slot.CatalogLen) {
		t.Errorf("snapshot refers to %d bytes; the store held %d (without its catalog) when it was taken", s.Refer, before.Used-2*unitsOf(db.slot.CatalogLen))
	}
	must(t, db.DeleteSnapshot("s"))
	after := settle(db)
	catalog := 2 * unitsOf(db.slot.CatalogLen)
	near := func(a, b int64) bool { return a-b <= catalog && b-a <= catalog }
	if freed := withSnap.Used - after.Used; !near(freed, s.Unique) {
		t.Errorf("deleting the snapshot freed %d bytes; RefSpace said it held %d alone", freed, s.Unique)
	}
	tw := settle(twin)
	if !near(after.Used, tw.Used) || !near(after.Free, tw.Free) {
		t.Errorf("after deleting the snapshot: used %d free %d; the twin that never had it: used %d free %d", after.Used, after.Free, tw.Used, tw.Free)
	}
	t.Logf("used: %d before the snapshot, %d with it after rewrites, %d after deleting it (twin %d); it held %d alone, referred to %d",
		before.Used, withSnap.Used, after.Used, tw.Used, s.Unique, s.Refer)
	checkClean(t, db)
}

// failingExtents fails node allocations on request, to exercise the
// rollback of a checkpoint part way through.
type failingExtents struct {
	*alloc.Allocator
	failAt int // fail the failAt-th Alloc from now (1-based); 0 = never
	n      int
	// fresh, when set, collects what Alloc hands out, and Incref fails
	// on those: the only reference taken to a node this checkpoint made
	// is a new ref's, to a new root.
	fresh map[int64]bool
}

func (f *failingExtents) Alloc(n, align int64) (int64, error) {
	f.n++
	if f.failAt > 0 && f.n == f.failAt {
		return 0, fmt.Errorf("injected: %w", ErrNoSpace)
	}
	off, err := f.Allocator.Alloc(n, align)
	if err == nil && f.fresh != nil {
		f.fresh[off] = true
	}
	return off, err
}

func (f *failingExtents) Incref(off int64) error {
	if f.fresh[off] {
		return fmt.Errorf("injected: %w", ErrCorrupt)
	}
	return f.Allocator.Incref(off)
}

// TestCheckpointAllOrNothing fails every node allocation of a checkpoint
// over three branches in turn (and of a snapshot's): each failure must
// leave the allocator exactly as before (Check), the data readable and
// writable, and the retry must commit everything.
func TestCheckpointAllOrNothing(t *testing.T) {
	var fe *failingExtents
	path := filepath.Join(shmDir(t), "r.region")
	db, err := Open(path, &Options{Size: 32 << 20, extents: func(a *alloc.Allocator) btree.Extents {
		fe = &failingExtents{Allocator: a}
		return fe
	}})
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	models := map[string]kvModel{MainBranch: {}}
	val := func(i, round int) []byte { return bytes.Repeat([]byte{byte(i + round)}, (i*37+round)%400) }
	write := func(round int) {
		for name, m := range models {
			if strings.HasPrefix(name, "s") {
				continue
			}
			var w interface{ Put(k, v []byte) error } = db
			if name != MainBranch {
				b, err := db.Branch(name)
				must(t, err)
				w = b
			}
			for i := round % 3; i < 360; i += 3 {
				k := fmt.Sprintf("k%04d", i)
				must(t, w.Put([]byte(k), val(i, round)))
				m[k] = val(i, round)
			}
		}
	}
	write(0)
	must(t, db.checkpoint())
	for _, name := range []string{"b1", "b2"} {
		must(t, db.CreateBranch(name, ""))
		models[name] = maps.Clone(models[MainBranch])
	}
	for round := 1; round <= 3; round++ {
		write(round)
		failures := 0
		for at := 1; ; at++ {
			fe.failAt, fe.n = at, 0
			var err error
			snap := fmt.Sprintf("s%d", round)
			if round == 3 {
				_, err = db.CreateSnapshot(snap, "b1")
			} else {
				err = db.checkpoint()
			}
			fe.failAt = 0
			if err == nil {
				if round == 3 {
					models[snap] = maps.Clone(models["b1"])
				}
				break
			}
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("round %d, failing alloc %d: %v", round, at, err)
			}
			failures++
			if db.Stats().Broken != "" {
				t.Fatalf("a failed checkpoint disabled writes: %s", db.Stats().Broken)
			}
			checkRefs(t, db, models)
			checkClean(t, db)
		}
		t.Logf("round %d: %d failure points", round, failures)
		if failures < 3 {
			t.Fatalf("round %d: only %d allocations to fail", round, failures)
		}
		checkRefs(t, db, models)
		checkClean(t, db)
	}
	// A snapshot whose reference fails after the last Apply: the
	// checkpoint commits without it, nothing is lost, writes go on.
	// (A long name: the catalog prepared with it takes one more unit.)
	write(4)
	fe.fresh = map[int64]bool{}
	_, err = db.CreateSnapshot("s4"+strings.Repeat("x", 250), MainBranch)
	fe.fresh = nil
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("snapshot with a failing reference: %v, want the injected error", err)
	}
	if db.Stats().Broken != "" {
		t.Fatalf("a failed snapshot disabled writes: %s", db.Stats().Broken)
	}
	checkRefs(t, db, models)
	checkClean(t, db)
	if snaps, err := db.Snapshots(); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots after the failed one: %v %v, want s3 alone", snaps, err)
	}
	write(5)
	must(t, db.Close())
	db, err = Open(path, nil)
	must(t, err)
	defer db.Close()
	checkRefs(t, db, models)
	checkClean(t, db)
}

// modelDiff is what Diff must report between two models.
func modelDiff(a, b kvModel) map[string]Change {
	out := map[string]Change{}
	for k, va := range a {
		if vb, ok := b[k]; !ok {
			out[k] = Removed
		} else if !bytes.Equal(va, vb) {
			out[k] = Modified
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out[k] = Added
		}
	}
	return out
}

func collectDiff(t *testing.T, db *DB, from, to string) (map[string]Change, int) {
	t.Helper()
	got := map[string]Change{}
	var prev []byte
	visited, err := db.diff(from, to, func(key []byte, c Change) error {
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("keys out of order: %q then %q", prev, key)
		}
		prev = bytes.Clone(key)
		got[string(key)] = c
		return nil
	})
	must(t, err)
	return got, visited
}

func TestDiff(t *testing.T) {
	db, _ := openTest(t, 64<<20)
	main := kvModel{}
	val := func(i, gen int) []byte { return bytes.Repeat([]byte{byte(i), byte(gen)}, (i*13+gen)%500) }
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%05d", i)
		main[k] = val(i, 0)
		must(t, db.Put([]byte(k), main[k]))
	}
	must(t, db.checkpoint())
	_, err := db.CreateSnapshot("a", "")
	must(t, err)
	models := refModels{MainBranch: main, "a": maps.Clone(main)}
	change := func(w writer, m kvModel, gen int, keys ...int) {
		for _, i := range keys {
			k := fmt.Sprintf("k%05d", i)
			switch i % 4 {
			case 0: // rewritten with the same bytes: no change
				must(t, w.Put([]byte(k), m[k]))
			case 1:
				must(t, w.Delete([]byte(k)))
				delete(m, k)
			default:
				m[k] = val(i, gen)
				must(t, w.Put([]byte(k), m[k]))
			}
		}
		for i := 0; i < 5; i++ {
			k := fmt.Sprintf("new%d-%d", gen, i)
			m[k] = val(i, gen)
			must(t, w.Put([]byte(k), m[k]))
		}
	}
	change(db, main, 1, 3, 17, 300, 512, 513, 514, 515, 9000, 19999)
	must(t, db.checkpoint())
	_, err = db.CreateSnapshot("b", "")
	must(t, err)
	models["b"] = maps.Clone(main)
	// Un-checkpointed writes on a branch of b, and on main.
	must(t, db.CreateBranch("dev", "b"))
	models["dev"] = maps.Clone(main)
	dev, err := db.Branch("dev")
	must(t, err)
	change(dev, models["dev"], 2, 4, 5, 6, 7, 100, 101, 15000)
	change(db, main, 3, 6, 7, 8, 9, 514, 12000)

	names := models.names("")
	for _, from := range names {
		for _, to := range names {
			got, visited := collectDiff(t, db, from, to)
			want := modelDiff(models[from], models[to])
			if !maps.Equal(got, want) {
				t.Errorf("diff %s %s: got %v, want %v", from, to, got, want)
			}
			if from == "a" && to == "b" {
				// 20000 keys are about 200 leaves: a diff of a few changes
				// reads a few paths.
				if visited == 0 || visited > 40 {
					t.Errorf("diff a b read %d nodes", visited)
				}
				t.Logf("diff a b: %d changes, %d nodes read", len(got), visited)
			}
		}
	}
	stop := errors.New("stop")
	n := 0
	err = db.Diff("a", MainBranch, func([]byte, Change) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("stopping diff: %v after %d", err, n)
	}
	// Diff never writes: it works on a read-only store with a WAL to replay.
	path := db.path
	db.crashForTest()
	ro, err := Open(path, &Options{ReadOnly: true})
	must(t, err)
	defer ro.Close()
	got := map[string]Change{}
	must(t, ro.Diff("b", "dev", func(k []byte, c Change) error {
		got[string(k)] = c
		return nil
	}))
	if want := modelDiff(models["b"], models["dev"]); !maps.Equal(got, want) {
		t.Fatalf("read-only diff: got %v, want %v", got, want)
	}
}

// TestRefsConcurrent runs writers on several branches while refs are made,
// deleted and restored under them and readers check that snapshots never
// change (meant for -race). Writes to a branch deleted under them fail
// with ErrNotFound; nothing leaks (Check).
func TestRefsConcurrent(t *testing.T) {
	db, path := openTest(t, 64<<20)
	branches := []string{MainBranch, "b0", "b1", "b2"}
	for _, b := range branches[1:] {
		must(t, db.CreateBranch(b, ""))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 16)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Handles are kept until their branch is gone, so writes race
			// with its deletion.
			handles := map[string]writer{MainBranch: db}
			for i := 0; !stopped(); i++ {
				name := branches[(w+i)%len(branches)]
				wr := handles[name]
				if wr == nil {
					b, err := db.Branch(name)
					if errors.Is(err, ErrNotFound) {
						continue // deleted and not yet made again
					}
					if err != nil {
						report(err)
						return
					}
					wr, handles[name] = b, b
				}
				k := []byte(fmt.Sprintf("w%d-%03d", w, i%300))
				err := wr.Put(k, bytes.Repeat([]byte{byte(i)}, 1+i%700))
				if i%5 == 0 {
					err = errors.Join(err, wr.Delete([]byte(fmt.Sprintf("w%d-%03d", w, (i/2)%300))))
				}
				if errors.Is(err, ErrNotFound) {
					delete(handles, name)
				} else if err != nil {
					report(fmt.Errorf("write to %s: %w", name, err))
					return
				}
			}
		}(w)
	}
	// A reader checks that a snapshot reads the same every time.
	snaps := make(chan string, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for name := range snaps {
			s, err := db.Snapshot(name)
			if errors.Is(err, ErrNotFound) {
				continue // deleted before its turn
			}
			if err != nil {
				report(err)
				return
			}
			first, err := scanAll(s)
			for i := 0; i < 3 && err == nil; i++ {
				var again kvModel
				if again, err = scanAll(s); err == nil && !maps.EqualFunc(first, again, bytes.Equal) {
					err = fmt.Errorf("snapshot %s changed:\n%s", name, diffModels(again, first))
				}
			}
			if err != nil && !errors.Is(err, ErrNotFound) { // deleted meanwhile
				report(err)
				return
			}
		}
	}()
	ops := 60
	if testing.Short() {
		ops = 20
	}
	for i := 0; i < ops; i++ {
		snap := fmt.Sprint("s", i)
		_, err := db.CreateSnapshot(snap, branches[i%len(branches)])
		must(t, err)
		snaps <- snap
		switch i % 4 {
		case 1:
			b := branches[1+i%3]
			must(t, db.DeleteBranch(b))
			must(t, db.CreateBranch(b, snap))
		case 2:
			must(t, db.Restore(branches[i%len(branches)], fmt.Sprint("s", i-1)))
		case 3:
			must(t, db.DeleteSnapshot(fmt.Sprint("s", i-3)))
		}
	}
	close(snaps)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkClean(t, db)
	models := refModels{}
	got, err := readRefs(db)
	must(t, err)
	for name, m := range got {
		models[name] = m
	}
	must(t, db.Close())
	db, err = Open(path, nil)
	must(t, err)
	defer db.Close()
	checkRefs(t, db, models)
	checkClean(t, db)
}
