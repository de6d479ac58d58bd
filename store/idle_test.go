package store

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"
)

// writeKeys writes keys from..to-1 in batches of batch keys: key(buf, i)
// makes key i (buf holds 64 bytes the caller may use) and val(i) its value.
func writeKeys(t testing.TB, db *DB, from, to, batch uint64, key func(buf []byte, i uint64) []byte, val func(i uint64) []byte) {
	t.Helper()
	var kb [64]byte
	for i := from; i < to; i += batch {
		err := db.Update(func(tx *Tx) error {
			for j := i; j < min(i+batch, to); j++ {
				if err := tx.Put(key(kb[:], j), val(j)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// putKeys writes keys from..to-1 (8-byte big-endian, with value = key) in
// batches of batch keys.
func putKeys(t testing.TB, db *DB, from, to, batch uint64) {
	t.Helper()
	writeKeys(t, db, from, to, batch,
		func(buf []byte, i uint64) []byte { return binary.BigEndian.AppendUint64(buf[:0], i) },
		func(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) })
}

func TestIdleCheckpoint(t *testing.T) {
	open := func(t *testing.T, idle time.Duration) *DB {
		db, err := Open(filepath.Join(shmDir(t), "idle.region"), &Options{Size: 256 << 20, IdleCheckpoint: idle})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	// How long a paused store is watched for a checkpoint that must not
	// come: ten idle periods.
	const idle, watch = 10 * time.Millisecond, 100 * time.Millisecond

	t.Run("drains after a pause", func(t *testing.T) {
		db := open(t, idle)
		// Only the last batch takes the memtable past the floor, so no
		// gap between batches can drain part of them and leave a
		// remainder under it.
		n := uint64(idleCheckpointKeys/1000+1) * 1000
		putKeys(t, db, 0, n, 1000)
		deadline := time.Now().Add(20 * time.Second)
		for db.Stats().MemtableKeys != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d keys still in the memtable 20s after the last write", db.Stats().MemtableKeys)
			}
			time.Sleep(time.Millisecond)
		}
		if db.Stats().Checkpoints == 0 {
			t.Fatal("memtable empty but no checkpoint counted")
		}
		for _, i := range []uint64{0, n / 2, n - 1} {
			k := binary.BigEndian.AppendUint64(nil, i)
			if v, err := db.Get(k); err != nil || string(v) != string(k) {
				t.Fatalf("key %d after the idle checkpoint: %q, %v", i, v, err)
			}
		}
	})
	t.Run("leaves a small memtable", func(t *testing.T) {
		db := open(t, idle)
		putKeys(t, db, 0, 100, 1000)
		time.Sleep(watch)
		if st := db.Stats(); st.MemtableKeys != 100 || st.Checkpoints != 0 {
			t.Fatalf("100 keys: memtable %d keys, %d checkpoints; want 100, 0", st.MemtableKeys, st.Checkpoints)
		}
	})
	t.Run("off", func(t *testing.T) {
		db := open(t, -1)
		n := uint64(idleCheckpointKeys + 1000)
		putKeys(t, db, 0, n, 1000)
		time.Sleep(watch)
		if st := db.Stats(); st.MemtableKeys != int(n) || st.Checkpoints != 0 {
			t.Fatalf("idle checkpoints off: memtable %d keys, %d checkpoints; want %d, 0", st.MemtableKeys, st.Checkpoints, n)
		}
	})
}

func TestIdleCheckpointPeriod(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want time.Duration
	}{
		{Options{}, defaultIdleCheckpoint},
		{Options{IdleCheckpoint: -1}, 0},
		{Options{IdleCheckpoint: time.Second}, time.Second},
		{Options{IdleCheckpoint: time.Microsecond}, minIdleCheckpoint},
		{Options{IdleCheckpoint: time.Second, manualCheckpoints: true}, 0},
	} {
		db := &DB{opts: c.opts}
		if got := db.idleCheckpointAfter(); got != c.want {
			t.Errorf("IdleCheckpoint %v (manual %v): period %v, want %v", c.opts.IdleCheckpoint, c.opts.manualCheckpoints, got, c.want)
		}
	}
}
