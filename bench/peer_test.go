package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPeerConformance runs every peer through put, get, delete, scan and
// batch on a small store and checks the answers against a model.
func TestPeerConformance(t *testing.T) {
	for _, peer := range Peers() {
		t.Run(peer.Name, func(t *testing.T) {
			dir := filepath.Join(shmDir(t), "store")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := peer.Open(OpenOptions{Dir: dir, RegionSize: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != peer.Name || s.Durable() != peer.Durable {
				t.Errorf("store says %s durable=%v, peer %s durable=%v", s.Name(), s.Durable(), peer.Name, peer.Durable)
			}
			if s.Caps().Reads {
				checkReadWrite(t, s)
			} else {
				checkWriteOnly(t, s, dir)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func key(i int) []byte { return fmt.Appendf(nil, "key%05d", i) }
func val(i, v int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "v%d.%d;", i, v), 1+i%40) // 5 to 400+ bytes: inline and extent values
}

func checkReadWrite(t *testing.T, s Store) {
	model := map[string][]byte{}
	for i := 0; i < 200; i++ {
		if err := s.Put(key(i), val(i, 0)); err != nil {
			t.Fatal(err)
		}
		model[string(key(i))] = val(i, 0)
	}
	// Overwrites, deletes (one of a missing key), and an atomic batch
	// mixing both.
	for i := 0; i < 200; i += 3 {
		if err := s.Put(key(i), val(i, 1)); err != nil {
			t.Fatal(err)
		}
		model[string(key(i))] = val(i, 1)
	}
	for i := 1; i < 200; i += 5 {
		if err := s.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
		delete(model, string(key(i)))
	}
	if err := s.Delete(key(999)); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	var ops []Op
	for i := 150; i < 250; i++ {
		if i%2 == 0 {
			ops = append(ops, Op{Key: key(i), Value: val(i, 2)})
			model[string(key(i))] = val(i, 2)
		} else {
			ops = append(ops, Op{Key: key(i), Delete: true})
			delete(model, string(key(i)))
		}
	}
	if err := s.Batch(ops); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(key(300), nil); err != nil {
		t.Fatal(err)
	}
	model[string(key(300))] = []byte{}

	buf := make([]byte, 3) // Get must grow a short buffer
	for i := 0; i < 320; i++ {
		var err error
		buf, err = s.Get(key(i), buf)
		want, ok := model[string(key(i))]
		switch {
		case !ok && !errors.Is(err, ErrNotFound):
			t.Fatalf("get deleted or missing %s: %q, %v", key(i), buf, err)
		case ok && (err != nil || !bytes.Equal(buf, want)):
			t.Fatalf("get %s = %q, %v; want %q", key(i), buf, err, want)
		}
	}

	var keys []string
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	scan := func(start []byte, limit int, stopAfter int) []string {
		var got []string
		err := s.Scan(start, limit, func(k, v []byte) bool {
			if !bytes.Equal(v, model[string(k)]) {
				t.Errorf("scan: %s = %q, want %q", k, v, model[string(k)])
			}
			got = append(got, string(k))
			return len(got) < stopAfter
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(nil, 1<<30, 1<<30); !slices.Equal(got, keys) {
		t.Fatalf("full scan: %d keys, want %d", len(got), len(keys))
	}
	from := slices.Index(keys, string(key(42)))
	if got := scan(key(41), 10, 1<<30); !slices.Equal(got, keys[from:from+10]) {
		t.Fatalf("scan from key(41) limit 10: %v, want %v", got, keys[from:from+10])
	}
	if got := scan(key(42), 10, 3); !slices.Equal(got, keys[from:from+3]) {
		t.Fatalf("scan stopped after 3: %v", got)
	}
	if got := scan(key(900), 10, 10); len(got) != 0 {
		t.Fatalf("scan past the end: %v", got)
	}
}

// checkWriteOnly checks what the raw limit wrote into its ring.
func checkWriteOnly(t *testing.T, s Store, dir string) {
	if _, err := s.Get(key(1), nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("get on a write-only peer: %v", err)
	}
	want := []Op{{Key: key(1), Value: val(1, 0)}, {Key: key(2), Delete: true}, {Key: key(3), Value: val(3, 0)}, {Key: key(4), Value: []byte{}}}
	if err := s.Put(want[0].Key, want[0].Value); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(want[1].Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Batch(want[2:]); err != nil {
		t.Fatal(err)
	}
	raw := s.(*rawStore)
	got := rawRecords(raw.mem)
	if len(got) != len(want) {
		t.Fatalf("ring holds %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) || got[i].Delete != want[i].Delete {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// The bytes are in the file, not only in this process's view. (A
	// second Close of the region, by the caller, is a no-op.)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "raw.region"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rawRecords(b)); n != len(want) {
		t.Errorf("file holds %d records, want %d", n, len(want))
	}
}

func TestRawRingWraps(t *testing.T) {
	dir := shmDir(t)
	s, err := openRaw(OpenOptions{Dir: dir, RegionSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := make([]byte, 1000)
	for i := 0; i < 20; i++ { // five laps of a 4 KiB ring
		if err := s.Put(key(i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(key(0), make([]byte, 5000)); err == nil {
		t.Error("a record larger than the ring was accepted")
	}
}
