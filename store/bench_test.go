package store

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks for the figures in docs/PERFORMANCE.md: 16-byte keys,
// 100-byte values, a region on /dev/shm (emulated pmem), durable writes.

func benchKey(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf[:8], i*0x9e3779b97f4a7c15) // scattered, unique
	binary.BigEndian.PutUint64(buf[8:16], i)
	return buf[:16]
}

func benchDB(b *testing.B, size int64) *DB {
	b.Helper()
	path := filepath.Join(shmDir(b), "bench.region")
	db, err := Open(path, &Options{Size: size})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// BenchmarkPut measures durable single-goroutine puts of random keys.
// With -benchtime=1000000x it stays within one WAL's worth of data; longer
// runs show the rate checkpoints sustain.
func BenchmarkPut(b *testing.B) { benchPuts(b, benchKey) }

// BenchmarkPutDecimal is BenchmarkPut with the decimal keys daxkv bench
// uses (random order, 16 digits): their slot prefixes all tie.
func BenchmarkPutDecimal(b *testing.B) {
	benchPuts(b, func(buf []byte, i uint64) []byte { return decimalKey(buf, i*0x9e3779b97f4a7c15%1e15) })
}

// benchPuts times b.N durable puts of 100-byte values under key(i).
func benchPuts(b *testing.B, key func(buf []byte, i uint64) []byte) {
	db := benchDB(b, 2<<30)
	val := make([]byte, 100)
	var kb [16]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Put(key(kb[:], uint64(i)), val); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPutLatency is BenchmarkPut timing every op, for percentiles
// (the two clock reads add to its mean).
func BenchmarkPutLatency(b *testing.B) {
	db := benchDB(b, 2<<30)
	val := make([]byte, 100)
	var kb [16]byte
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := db.Put(benchKey(kb[:], uint64(i)), val); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func BenchmarkPutParallel(b *testing.B) {
	db := benchDB(b, 2<<30)
	val := make([]byte, 100)
	var next sync.Mutex
	n := uint64(0)
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		var kb [16]byte
		for pb.Next() {
			next.Lock()
			i := n
			n++
			next.Unlock()
			if err := db.Put(benchKey(kb[:], i), val); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) < 100 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
}

// loaded is a store with 1M checkpointed keys, shared by the read
// benchmarks (building it takes a few seconds).
var loaded struct {
	once sync.Once
	db   *DB
	path string
	n    uint64
}

func loadedDB(b *testing.B) *DB {
	loaded.once.Do(func() {
		loaded.n = 1_000_000
		loaded.path = filepath.Join(shmDir(b), "loaded.region")
		db, err := Open(loaded.path, &Options{Size: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		loadKeys(b, db, loaded.n)
		loaded.db = db
	})
	if loaded.db == nil {
		b.Skip("loading failed")
	}
	return loaded.db
}

// loadKeys writes keys 0..n-1 (100-byte values) in batches of 1000 and
// checkpoints them into the tree.
func loadKeys(b *testing.B, db *DB, n uint64) { loadKeysWith(b, db, n, benchKey) }

// loadKeysWith is loadKeys with keys made by key.
func loadKeysWith(b *testing.B, db *DB, n uint64, key func(buf []byte, i uint64) []byte) {
	val := make([]byte, 100)
	writeKeys(b, db, 0, n, 1000, key, func(uint64) []byte { return val })
	if err := db.checkpoint(); err != nil {
		b.Fatal(err)
	}
	waitDir(b, db) // reads measure the steady state
}

func BenchmarkGetRandom(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var kb [16]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Get(benchKey(kb[:], rng.Uint64N(loaded.n))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetAppendRandom is BenchmarkGetRandom reusing one buffer.
func BenchmarkGetAppendRandom(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var kb [16]byte
	var buf []byte
	var err error
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if buf, err = db.GetAppend(buf[:0], benchKey(kb[:], rng.Uint64N(loaded.n))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetWithMemtable is BenchmarkGetAppendRandom with 300K other
// keys written after the checkpoint and left in the memtable, as after
// daxkv bench's load: every read of a tree key probes the memtable first
// (a B+tree of that size: cache misses of its own).
func BenchmarkGetWithMemtable(b *testing.B) {
	benchGetAfterWrites(b, &Options{Size: 2 << 30, manualCheckpoints: true})
}

// BenchmarkGetAfterIdle is BenchmarkGetWithMemtable with idle checkpoints
// on: the reads start once the pause after the writes has drained the
// memtable and the leaf directory has fingerprints again.
func BenchmarkGetAfterIdle(b *testing.B) {
	benchGetAfterWrites(b, &Options{Size: 2 << 30})
}

// benchGetAfterWrites loads 1M keys, checkpoints them, writes 300K others
// and times random reads of the first 1M.
func benchGetAfterWrites(b *testing.B, opts *Options) {
	db, err := Open(filepath.Join(shmDir(b), "m.region"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	loadKeys(b, db, 1_000_000)
	val := make([]byte, 100)
	var kb [16]byte
	for i := uint64(0); i < 300_000; i++ {
		binary.BigEndian.PutUint64(kb[:8], i*0x9e3779b97f4a7c15+7)
		binary.BigEndian.PutUint64(kb[8:], ^i)
		if err := db.Put(kb[:], val); err != nil {
			b.Fatal(err)
		}
	}
	if !opts.manualCheckpoints {
		deadline := time.Now().Add(time.Minute)
		for db.Stats().MemtableKeys > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d keys still in the memtable a minute after the writes", db.Stats().MemtableKeys)
			}
			time.Sleep(time.Millisecond)
		}
		waitDir(b, db)
	}
	b.Logf("memtable keys %d", db.Stats().MemtableKeys)
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if buf, err = db.GetAppend(buf[:0], benchKey(kb[:], rng.Uint64N(1_000_000))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkViewGetRandom(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var kb [16]byte
	b.ReportAllocs()
	b.ResetTimer()
	_ = db.View(func(v *View) error {
		for i := 0; i < b.N; i++ {
			if _, err := v.Get(benchKey(kb[:], rng.Uint64N(loaded.n))); err != nil {
				b.Fatal(err)
			}
		}
		return nil
	})
}

// BenchmarkGetCached reads one key over and over, so its leaf and its
// directory entries stay in cache: the CPU path of a point read, which the
// random benchmarks add to the latency of memory.
func BenchmarkGetCached(b *testing.B) {
	db := loadedDB(b)
	var kb [16]byte
	key := benchKey(kb[:], loaded.n/2)
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Get(key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetAppend", func(b *testing.B) {
		var buf []byte
		var err error
		for b.Loop() {
			if buf, err = db.GetAppend(buf[:0], key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ViewGet", func(b *testing.B) {
		err := db.View(func(v *View) error {
			for b.Loop() {
				if _, err := v.Get(key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkDirBuild is what the directory builder does for a branch it
// has no earlier directory of: the routing from the internal nodes, then
// every leaf read for its fingerprints (1M keys, about 33K leaves).
func BenchmarkDirBuild(b *testing.B) {
	db := loadedDB(b)
	v := db.vers.acquire()
	defer db.vers.unref(v)
	root, _ := v.root(db.mainID())
	for b.Loop() {
		err := db.guard(func() error {
			d, err := db.tree.BuildDir(root)
			if err == nil {
				_, _, err = db.tree.Fingerprint(d, nil, nil)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// decimalKey is key i the way daxkv bench (and pmemkv-bench) make them:
// zero-padded decimal, so every key shares its first 8 bytes with the
// others and prefix shortcuts never decide.
func decimalKey(buf []byte, i uint64) []byte {
	for p := 15; p >= 0; p-- {
		buf[p] = byte('0' + i%10)
		i /= 10
	}
	return buf[:16]
}

// BenchmarkGetRandomDecimal is BenchmarkGetRandom on decimal keys.
func BenchmarkGetRandomDecimal(b *testing.B) {
	path := filepath.Join(shmDir(b), "decimal.region")
	db, err := Open(path, &Options{Size: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	const n = 1_000_000
	loadKeysWith(b, db, n, decimalKey)
	var kb [16]byte
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Get(decimalKey(kb[:], rng.Uint64N(n))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan reports keys/s over the whole 1M-key store.
func BenchmarkScan(b *testing.B) {
	db := loadedDB(b)
	b.ResetTimer()
	keys := 0
	for i := 0; i < b.N; i++ {
		_ = db.View(func(v *View) error {
			return v.Scan(nil, nil, func(k, val []byte) error {
				keys++
				return nil
			})
		})
	}
	b.ReportMetric(float64(keys)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkOpenClean measures Open of a 1M-key store after a clean close.
func BenchmarkOpenClean(b *testing.B) {
	path := filepath.Join(shmDir(b), "open.region")
	fill(b, path, 1_000_000, true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !db.Stats().CleanOpen {
			b.Fatal("not a clean open")
		}
		_ = db.Close()
		b.StartTimer()
	}
}

// fill writes n keys; with clean it closes the store, else it leaves the
// region as a crash would (no close: the lock dies with the file handle).
func fill(b *testing.B, path string, n uint64, clean bool) {
	db, err := Open(path, &Options{Size: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 100)
	var kb [16]byte
	for i := uint64(0); i < n; i++ {
		if err := db.Put(benchKey(kb[:], i), val); err != nil {
			b.Fatal(err)
		}
	}
	if clean {
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		return
	}
	db.crashForTest()
}

// BenchmarkRecoverFullWAL measures Open after a crash that left the WAL as
// full as it gets before a checkpoint starts (half the ring, at most
// maxCheckpointTrigger) over 1M keys.
func BenchmarkRecoverFullWAL(b *testing.B) {
	path := filepath.Join(shmDir(b), "recover.region")
	fill(b, path, 1_000_000, true)
	db, err := Open(path, &Options{checkpointBytes: 1 << 62, IdleCheckpoint: -1})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 100)
	var kb [16]byte
	for i := uint64(0); db.wal.Used() < min(db.sb.WALSize/2, maxCheckpointTrigger); i++ {
		if err := db.Put(benchKey(kb[:], 2_000_000+i), val); err != nil {
			b.Fatal(err)
		}
	}
	walUsed := db.wal.Used()
	db.crashForTest()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if db.Stats().RecoveredOps == 0 {
			b.Fatal("nothing replayed")
		}
		_ = db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(walUsed), "wal-bytes")
}

// BenchmarkHeapPerKey reports the Go heap a checkpointed 1M-key store
// keeps per key (the "heap-B/key" metric); the loop itself is trivial.
func BenchmarkHeapPerKey(b *testing.B) {
	path := filepath.Join(shmDir(b), "heap.region")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	db, err := Open(path, &Options{Size: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 1_000_000
	loadKeys(b, db, n)
	for db.vers.pinned() > 1 {
		time.Sleep(time.Millisecond)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/key")
}

// BenchmarkRandomLineRead is the floor under a random Get: one dependent
// 8-byte load from a random cache line of a 1 GiB region, the way a Get
// reaches a leaf it has never touched (TLB miss and cache miss). A Get
// through a fingerprinted leaf directory takes about one of these (the
// entry); without fingerprints, two (the leaf's slot array, then the
// entry).
func BenchmarkRandomLineRead(b *testing.B) {
	db := benchDB(b, 1<<30)
	mem := db.mem[db.sb.ExtOff : db.sb.ExtOff+db.sb.ExtSize]
	lines := uint64(len(mem) / 64)
	// Touch every page first so the loads measure misses, not faults.
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var x byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The next address depends on the last load, as in a tree walk.
		off := (rng.Uint64N(lines) ^ uint64(x&1)) * 64
		x = mem[off]
	}
	runtime.KeepAlive(x)
}
