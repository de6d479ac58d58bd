package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/store/internal/format"
)

// shmDir is a fresh directory for a test region: under $DAXKV_TEST_DIR
// when set (a DAX mount, or a tmpfs mounted with huge=always), else under
// /dev/shm, else the test's temporary directory.
func shmDir(t testing.TB) string {
	t.Helper()
	if base := os.Getenv("DAXKV_TEST_DIR"); base != "" {
		d, err := os.MkdirTemp(base, "daxkv-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "daxkv-test-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func openTest(t testing.TB, size int64) (*DB, string) {
	t.Helper()
	path := filepath.Join(shmDir(t), "r.region")
	db, err := Open(path, &Options{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func TestPutGetDeleteUpdate(t *testing.T) {
	db, path := openTest(t, 8<<20)
	if st := db.Stats(); st.Mode != "emulated" && st.Mode != "pagecache" {
		t.Fatalf("mode %q", st.Mode)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("v"), 10000)
	must(db.Put([]byte("a"), []byte("1")))
	must(db.Put([]byte("big"), big))
	must(db.Put([]byte("empty"), nil))
	if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("get a: %q %v", v, err)
	}
	if v, err := db.Get([]byte("big")); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("get big: %d bytes %v", len(v), err)
	}
	if v, err := db.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("get empty: %v %v", v, err)
	}
	must(db.Delete([]byte("a")))
	must(db.Delete([]byte("never-there")))
	if _, err := db.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	must(db.Update(func(tx *Tx) error {
		if err := tx.Put([]byte("x"), []byte("1")); err != nil {
			return err
		}
		if v, err := tx.Get([]byte("x")); err != nil || string(v) != "1" {
			t.Errorf("tx read-your-write: %q %v", v, err)
		}
		if err := tx.Delete([]byte("big")); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("big")); !errors.Is(err, ErrNotFound) {
			t.Errorf("tx sees its delete: %v", err)
		}
		return tx.Put([]byte("y"), big)
	}))
	abort := errors.New("abort")
	if err := db.Update(func(tx *Tx) error {
		_ = tx.Put([]byte("z"), big)
		return abort
	}); !errors.Is(err, abort) {
		t.Fatalf("aborted update: %v", err)
	}
	if _, err := db.Get([]byte("z")); !errors.Is(err, ErrNotFound) {
		t.Fatal("aborted batch visible")
	}
	must(db.checkpoint())
	must(db.Close())
	db2, err := Open(path, nil)
	must(err)
	defer db2.Close()
	if !db2.Stats().CleanOpen {
		t.Error("reopen after Close did not use the allocator image")
	}
	want := map[string][]byte{"empty": {}, "x": []byte("1"), "y": big}
	got, err := readAll(db2)
	must(err)
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("after reopen:\n%s", diffModels(got, want))
	}
}

func TestScanRanges(t *testing.T) {
	db, _ := openTest(t, 8<<20)
	for i := 0; i < 1000; i++ {
		if err := db.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i == 500 {
			if err := db.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = db.Delete([]byte("k0100"))
	var keys []string
	err := db.View(func(v *View) error {
		return v.Scan([]byte("k0098"), []byte("k0103"), func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil || !slices.Equal(keys, []string{"k0098", "k0099", "k0101", "k0102"}) {
		t.Fatalf("scan: %v %v", keys, err)
	}
	stop := errors.New("stop")
	n := 0
	err = db.View(func(v *View) error {
		return v.Scan(nil, nil, func(k, _ []byte) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("scan stop: %d %v", n, err)
	}
}

func TestBadInput(t *testing.T) {
	dir := shmDir(t)
	if _, err := Open(filepath.Join(dir, "tiny"), &Options{Size: 64 << 10}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tiny region: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny")); !os.IsNotExist(err) {
		t.Fatal("rejected create left a file behind")
	}
	if _, err := Open(filepath.Join(dir, "missing"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing region: %v", err)
	}
	// A file that is not a region stays byte-for-byte untouched.
	junk := filepath.Join(dir, "junk")
	content := bytes.Repeat([]byte("not a region "), 100000)
	if err := os.WriteFile(junk, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(junk, &Options{Size: 8 << 20}); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("junk file: %v", err)
	}
	if b, _ := os.ReadFile(junk); !bytes.Equal(b, content) {
		t.Fatal("junk file modified")
	}

	db, path := openTest(t, 8<<20)
	for _, k := range [][]byte{nil, {}, bytes.Repeat([]byte("k"), 1025)} {
		if err := db.Put(k, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put key of %d bytes: %v", len(k), err)
		}
		if _, err := db.Get(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("Get key of %d bytes: %v", len(k), err)
		}
	}
	if err := db.Put(bytes.Repeat([]byte("k"), 1024), []byte("max key")); err != nil {
		t.Errorf("1024-byte key: %v", err)
	}
	if _, err := Open(path, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second opener: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("a"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	if _, err := db.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Put([]byte("a"), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only put: %v", err)
	}
	if v, err := ro.Get(bytes.Repeat([]byte("k"), 1024)); err != nil || string(v) != "max key" {
		t.Fatalf("read-only get: %q %v", v, err)
	}
	_ = ro.Close()
}

func TestFullRegion(t *testing.T) {
	db, _ := openTest(t, 1<<20)
	val := bytes.Repeat([]byte("x"), 4000)
	var n int
	var err error
	for n = 0; n < 10000; n++ {
		if err = db.Put([]byte(fmt.Sprintf("k%05d", n)), val); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("filling the region: after %d puts: %v", n, err)
	}
	// Still usable: reads work, deletes free room, puts succeed again.
	if v, err := db.Get([]byte("k00000")); err != nil || !bytes.Equal(v, val) {
		t.Fatalf("read when full: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := db.Delete([]byte(fmt.Sprintf("k%05d", i))); err != nil {
			t.Fatalf("delete %d when full: %v", i, err)
		}
	}
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n/2; i++ {
		if err := db.Put([]byte(fmt.Sprintf("again%05d", i)), val); err != nil {
			t.Fatalf("put after freeing: %d: %v", i, err)
		}
	}
}

// TestNoSpaceStaysRefused checks that a put refused for space is not let in
// by the checkpoint it triggers, nor by another writer's refusal: with
// keys buffered (a delete before each try), the refusal runs a checkpoint
// and looks again, and that second look once took the budget it had just
// zeroed for another writer's refill; concurrent writers took it the same
// way. The checkpoints' reserve must survive the tries.
func TestNoSpaceStaysRefused(t *testing.T) {
	db, _ := openTest(t, 1<<20)
	val := bytes.Repeat([]byte("x"), 4000)
	var err error
	for n := 0; err == nil; n++ {
		err = db.Put([]byte(fmt.Sprintf("k%05d", n)), val)
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("filling: %v", err)
	}
	for i := range 20 {
		if err := db.Delete([]byte("absent")); err != nil {
			t.Fatal(err)
		}
		if err := db.Put([]byte(fmt.Sprintf("more%02d", i)), val); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("try %d after the region filled: %v", i, err)
		}
	}
	// Many writers at once: a refill that fails must not let in the
	// writers queued behind it (each once found the budget it zeroed).
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if err := db.Put([]byte(fmt.Sprintf("w%02d-%02d", w, i)), val); !errors.Is(err, ErrNoSpace) {
					t.Errorf("writer %d, try %d after the region filled: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if free := db.alloc.Stats().Free; free < db.reserve() {
		t.Fatalf("%d bytes free, under the %d-byte reserve", free, db.reserve())
	}
}

// TestRefusalWithViewOpen has deletes buffered (each counts a leaf copy
// against the space) while a view holds an old version: the checkpoint a
// refused put runs makes room by itself, and the put must get it even
// though the view keeps what that checkpoint freed.
func TestRefusalWithViewOpen(t *testing.T) {
	db, _ := openTest(t, 8<<20)
	val := bytes.Repeat([]byte("v"), 1000)
	for i := range 3800 {
		if err := db.Put([]byte(fmt.Sprintf("k%05d", i)), val); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		if err := db.Delete([]byte(fmt.Sprintf("k%05d", i))); err != nil {
			t.Fatal(err)
		}
	}
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.View(func(*View) error { close(held); <-release; return nil })
	}()
	<-held
	defer close(release)
	db.admitBudget.Store(0) // the next put must look at the space again
	if err := db.Put([]byte("new"), []byte("value")); err != nil {
		t.Fatalf("put with %d bytes free: %v", db.alloc.Stats().Free, err)
	}
}

// TestModel runs random operations on branches and snapshots, checkpoints,
// clean reopens and crashes against a model per ref.
func TestModel(t *testing.T) {
	db, path := openTest(t, 32<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	models := refModels{MainBranch: {}}
	keys := 2000
	if testing.Short() {
		keys = 300
	}
	key := func() []byte { return []byte(fmt.Sprintf("user:%06d", rng.IntN(keys))) }
	pick := func(names []string) string { return names[rng.IntN(len(names))] }
	refs := 0
	for step := 0; step < 20*keys; step++ {
		// Writes go to main mostly, else to another branch.
		target, w := MainBranch, writer(db)
		if branches := models.names("b"); len(branches) > 0 && rng.IntN(3) == 0 {
			target = pick(branches)
			b, err := db.Branch(target)
			must(t, err)
			w = b
		}
		model := models[target]
		switch r := rng.IntN(1000); {
		case r < 600:
			k := key()
			v := make([]byte, rng.IntN(400))
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			must(t, w.Put(k, v))
			model[string(k)] = v
		case r < 780:
			k := key()
			must(t, w.Delete(k))
			delete(model, string(k))
		case r < 980:
			name := pick(models.names(""))
			ref, err := openRef(db, name)
			must(t, err)
			k := key()
			v, err := ref.Get(k)
			want, ok := models[name][string(k)]
			if ok != (err == nil) || !bytes.Equal(v, want) {
				t.Fatalf("step %d: get %s from %s: %d bytes err %v, want %d bytes present %v", step, k, name, len(v), err, len(want), ok)
			}
		case r < 988:
			branches, snaps := models.names("b"), models.names("s")
			switch op := rng.IntN(5); {
			case op == 0 && len(models) < 6:
				refs++
				name, from := fmt.Sprint("s", refs), pick(append(branches, MainBranch))
				_, err := db.CreateSnapshot(name, from)
				must(t, err)
				models[name] = maps.Clone(models[from])
			case op == 1 && len(models) < 6:
				refs++
				name, from := fmt.Sprint("b", refs), pick(models.names(""))
				must(t, db.CreateBranch(name, from))
				models[name] = maps.Clone(models[from])
			case op == 2 && len(snaps) > 0:
				name := pick(snaps)
				must(t, db.DeleteSnapshot(name))
				delete(models, name)
			case op == 3 && len(branches) > 0:
				name := pick(branches)
				must(t, db.DeleteBranch(name))
				delete(models, name)
			case op == 4 && len(snaps) > 0:
				dst, src := pick(append(branches, MainBranch)), pick(snaps)
				must(t, db.Restore(dst, src))
				models[dst] = maps.Clone(models[src])
			}
		case r < 998:
			must(t, db.checkpoint())
		default:
			if rng.IntN(2) == 0 {
				must(t, db.Close())
			} else {
				db.crashForTest()
			}
			var err error
			if db, err = Open(path, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			checkRefs(t, db, models)
			if rep, err := db.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
				t.Fatalf("check after reopen at step %d: %v %q", step, err, rep.Problems)
			}
		}
	}
	checkRefs(t, db, models)
	t.Logf("%d refs made", refs)
}

// TestConcurrentStress runs writers, readers, scans and checkpoints at once
// (meant for -race); every writer checks its own writes afterwards.
func TestConcurrentStress(t *testing.T) {
	db, _ := openTest(t, 64<<20)
	const writers, perWriter = 4, 1500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 16)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				k := []byte(fmt.Sprintf("w%d-%05d", w, i))
				v := bytes.Repeat([]byte{byte(i)}, 10+i%600)
				if err := db.Put(k, v); err != nil {
					errc <- err
					return
				}
				if i%3 == 0 {
					_ = db.Delete([]byte(fmt.Sprintf("w%d-%05d", w, i/2)))
				}
			}
		}(w)
	}
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := db.View(func(v *View) error {
					var prev []byte
					return v.Scan(nil, nil, func(k, _ []byte) error {
						if prev != nil && bytes.Compare(prev, k) >= 0 {
							return fmt.Errorf("scan out of order: %q then %q", prev, k)
						}
						prev = append(prev[:0], k...)
						return nil
					})
				})
				if err != nil {
					errc <- err
					return
				}
				_, _ = db.Get([]byte("w0-00001"))
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.checkpoint(); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if rep, err := db.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("check after stress: %v %q", err, rep.Problems)
	}
	// Step i (i%3 == 0) deletes key i/2, written earlier and never again.
	deleted := map[int]bool{}
	for i := 0; i < perWriter; i += 3 {
		deleted[i/2] = true
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			v, err := db.Get([]byte(fmt.Sprintf("w%d-%05d", w, i)))
			if deleted[i] {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("w%d-%05d: deleted key reads %d bytes, err %v", w, i, len(v), err)
				}
			} else if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 10+i%600)) {
				t.Fatalf("w%d-%05d: %v", w, i, err)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	db, _ := openTest(t, 16<<20)
	for i := 0; i < 3000; i++ {
		v := bytes.Repeat([]byte{byte(i)}, i%700)
		if err := db.Put([]byte(fmt.Sprintf("k%05d", i)), v); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if err := db.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if i%7 == 0 {
			_ = db.Delete([]byte(fmt.Sprintf("k%05d", i/2)))
		}
	}
	rep, err := db.Check(t.Context())
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("healthy store: %v %v", err, rep.Problems)
	}
	if rep.Nodes == 0 || rep.Values == 0 || rep.Extents < rep.Nodes+rep.Values {
		t.Fatalf("implausible counts %+v", rep)
	}
	// A refcount the tree does not account for is reported.
	var leaf int64
	db.alloc.Extents(func(off, length int64, refs uint32) bool {
		if length == 4096 {
			leaf = off
			return false
		}
		return true
	})
	if err := db.alloc.Incref(leaf); err != nil {
		t.Fatal(err)
	}
	rep, _ = db.Check(t.Context())
	if len(rep.Problems) == 0 {
		t.Fatal("extra reference not detected")
	}
	_, _ = db.alloc.Decref(leaf)
	// A flipped byte in a value extent is reported.
	var val int64
	db.alloc.Extents(func(off, length int64, refs uint32) bool {
		if length != 4096 && off != db.slot.Catalog[0] && off != db.slot.Catalog[1] {
			val = off
			return false
		}
		return true
	})
	db.mem[val+100] ^= 0xff
	rep, _ = db.Check(t.Context())
	if len(rep.Problems) == 0 {
		t.Fatal("corrupt value not detected")
	}
	db.mem[val+100] ^= 0xff
}

// TestReusedKeyBuffer: callers may reuse their key and value buffers
// between the calls of one Update.
func TestReusedKeyBuffer(t *testing.T) {
	db, _ := openTest(t, 8<<20)
	buf := make([]byte, 4)
	val := make([]byte, 400) // the last put needs a value extent
	err := db.Update(func(tx *Tx) error {
		for i := 0; i < 3; i++ {
			copy(buf, fmt.Sprintf("k%03d", i))
			val[0] = byte(i)
			if err := tx.Put(buf, val[:1+i*150]); err != nil {
				return err
			}
		}
		copy(buf, "gone")
		return tx.Delete(buf)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		v, err := db.Get([]byte(fmt.Sprintf("k%03d", i)))
		if err != nil || len(v) != 1+i*150 || v[0] != byte(i) {
			t.Fatalf("k%03d: %d bytes, %v", i, len(v), err)
		}
	}
}

// TestSpacePressureCheckpoints: overwriting large values fills the region
// with superseded copies long before the WAL (which holds only pointers)
// asks for a checkpoint; admission must run one instead of refusing.
func TestSpacePressureCheckpoints(t *testing.T) {
	db, _ := openTest(t, 2<<20)
	val := bytes.Repeat([]byte("v"), 8<<10)
	for i := 0; i < 2000; i++ {
		val[0] = byte(i)
		if err := db.Put([]byte(fmt.Sprintf("k%d", i%10)), val); err != nil {
			t.Fatalf("overwrite %d: %v", i, err)
		}
	}
	if v, err := db.Get([]byte("k9")); err != nil || v[0] != byte(1999%256) {
		t.Fatalf("last value: %v", err)
	}
}

// TestValueExtentVerifiedOnce: the first read of a value extent after Open
// checks its header and checksum; once checked (or written by this
// process) it is read without being touched, so a Get copies it and a
// scan hands it out without reading it. Check still verifies every value.
func TestValueExtentVerifiedOnce(t *testing.T) {
	db, path := openTest(t, 8<<20)
	val := bytes.Repeat([]byte("v"), 1000)
	must(t, db.Put([]byte("k"), val))
	must(t, db.Close())

	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var ext int64
	db.alloc.Extents(func(off, length int64, refs uint32) bool {
		if length < 4096 && off != db.slot.Catalog[0] && off != db.slot.Catalog[1] {
			ext = off
		}
		return true
	})
	if ext == 0 || db.valVerified.Has(ext/format.UnitSize) {
		t.Fatalf("test setup: value extent %d, verified %v", ext, db.valVerified.Has(ext/format.UnitSize))
	}
	at := ext + format.ValueHeaderLen + 1 + 500 // inside the value
	db.mem[at] ^= 0xff
	if _, err := db.Get([]byte("k")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("first read of a damaged value: %v, want ErrCorrupt", err)
	}
	db.mem[at] ^= 0xff
	if got, err := db.Get([]byte("k")); err != nil || !bytes.Equal(got, val) {
		t.Fatalf("first read of the repaired value: %v", err)
	}
	if !db.valVerified.Has(ext / format.UnitSize) {
		t.Fatal("a value read whole is not marked verified")
	}
	// From now on reads trust it; only Check (or a scrub) looks again.
	db.mem[at] ^= 0xff
	if got, err := db.Get([]byte("k")); err != nil || bytes.Equal(got, val) {
		t.Fatalf("read of a verified extent: err %v, equal to the old value %v: want the bytes as they are", err, bytes.Equal(got, val))
	}
	if rep, err := db.Check(t.Context()); err != nil || len(rep.Problems) == 0 {
		t.Fatalf("Check after damage to a verified value: %v %q, want a problem", err, rep.Problems)
	}
	db.mem[at] ^= 0xff
}

// TestGetAppend checks GetAppend on main, a branch and a snapshot: the
// value lands after dst's bytes, dst comes back unchanged on a miss, an
// empty value is a non-nil slice, and a buffer with room costs no
// allocation.
func TestGetAppend(t *testing.T) {
	db, _ := openTest(t, 8<<20)
	for _, kv := range [][2]string{{"k", "value"}, {"empty", ""}, {"big", strings.Repeat("b", 3000)}} {
		if err := db.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateBranch("dev", MainBranch); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateSnapshot("snap", MainBranch); err != nil {
		t.Fatal(err)
	}
	br, err := db.Branch("dev")
	if err != nil {
		t.Fatal(err)
	}
	sn, err := db.Snapshot("snap")
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func(dst, key []byte) ([]byte, error){
		"main": db.GetAppend, "branch": br.GetAppend, "snapshot": sn.GetAppend,
	} {
		got, err := get([]byte("pre:"), []byte("k"))
		if err != nil || string(got) != "pre:value" {
			t.Fatalf("%s: GetAppend(pre:, k) = %q, %v", name, got, err)
		}
		dst := []byte("keep")
		got, err = get(dst, []byte("missing"))
		if !errors.Is(err, ErrNotFound) || string(got) != "keep" {
			t.Fatalf("%s: GetAppend of a missing key = %q, %v; want dst and ErrNotFound", name, got, err)
		}
		if got, err = get(nil, []byte("empty")); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("%s: GetAppend(nil, empty) = %#v, %v; want a non-nil empty slice", name, got, err)
		}
		if got, err = get(nil, []byte("big")); err != nil || len(got) != 3000 {
			t.Fatalf("%s: GetAppend(nil, big) = %d bytes, %v", name, len(got), err)
		}
		buf, big := make([]byte, 0, 4096), []byte("big")
		if n := testing.AllocsPerRun(100, func() { buf, _ = get(buf[:0], big) }); n != 0 {
			t.Fatalf("%s: %v allocations per GetAppend into a buffer with room", name, n)
		}
		if got, err := get(dst, nil); !errors.Is(err, ErrInvalid) || string(got) != "keep" {
			t.Fatalf("%s: GetAppend with an empty key = %q, %v; want dst and ErrInvalid", name, got, err)
		}
	}
	// Get and View.Get tell an empty value from a missing one, from the
	// memtable and from the tree.
	for _, where := range []string{"memtable", "tree"} {
		if where == "tree" {
			if err := db.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := db.Get([]byte("empty")); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("%s: Get(empty) = %#v, %v; want a non-nil empty slice", where, got, err)
		}
		err := db.View(func(v *View) error {
			if got, err := v.Get([]byte("empty")); err != nil || got == nil || len(got) != 0 {
				return fmt.Errorf("View.Get(empty) = %#v, %v; want a non-nil empty slice", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	// dst comes back on the errors raised before the lookup too.
	if err := db.DeleteBranch("dev"); err != nil {
		t.Fatal(err)
	}
	if got, err := br.GetAppend([]byte("keep"), []byte("k")); !errors.Is(err, ErrNotFound) || string(got) != "keep" {
		t.Fatalf("GetAppend on a deleted branch = %q, %v; want dst and ErrNotFound", got, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetAppend([]byte("keep"), []byte("k")); !errors.Is(err, ErrClosed) || string(got) != "keep" {
		t.Fatalf("GetAppend after Close = %q, %v; want dst and ErrClosed", got, err)
	}
}

// TestCloseDuringReads closes a store while readers run. Point reads and
// views take no lock against Close (pinRead): each read must return the
// stored value or ErrClosed, never fault, and Close must not unmap under
// a view that began before it, which here is still reading when Close is
// called; Close logs what it waits for.
func TestCloseDuringReads(t *testing.T) {
	var logged syncBuffer
	defer func(d time.Duration) { closeWaitWarning = d }(closeWaitWarning)
	closeWaitWarning = time.Millisecond
	db, err := Open(filepath.Join(shmDir(t), "r.region"), &Options{Size: 32 << 20, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				i := rng.IntN(2000)
				want := fmt.Sprintf("v%04d", i)
				var got string
				var err error
				if g%2 == 0 {
					var b []byte
					b, err = db.Get(fmt.Appendf(nil, "k%04d", i))
					got = string(b)
				} else {
					err = db.View(func(v *View) error {
						b, err := v.Get(fmt.Appendf(nil, "k%04d", i))
						got = string(b)
						return err
					})
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || got != want {
					errc <- fmt.Errorf("read k%04d = %q, %v", i, got, err)
					return
				}
			}
		}()
	}
	// A view that is inside its function when Close starts: Close must
	// wait for it to return before unmapping. The view reads only once
	// Close has begun, and well after (without the wait Close would have
	// unmapped by then).
	inView, viewDone := make(chan struct{}), make(chan string, 1)
	var viewReturned atomic.Bool
	go func() {
		_ = db.View(func(v *View) error {
			close(inView)
			for !db.closed.Load() {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			b, err := v.Get([]byte("k0007"))
			viewDone <- fmt.Sprintf("%s %v", b, err)
			viewReturned.Store(true)
			return nil
		})
	}()
	<-inView
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !viewReturned.Load() {
		t.Errorf("Close returned while a view was still open")
	}
	if got := <-viewDone; got != "v0007 <nil>" {
		t.Errorf("view open across Close read %q", got)
	}
	if !strings.Contains(logged.String(), "Close is waiting for open reads") {
		t.Errorf("Close did not log its wait; log:\n%s", logged.String())
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if _, err := db.Get([]byte("k0001")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := db.View(func(*View) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
