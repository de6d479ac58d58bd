package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/daxkv/daxkv/store/internal/memtable"
)

// Stats describes the store for operators and benchmarks.
type Stats struct {
	Mode       string // "pmem", "emulated" or "pagecache"
	Flush      string // persistence mechanism: clwb, clflushopt, eadr, msync, ...
	Size       int64  // region bytes
	Used       int64  // bytes held by data and metadata (superblocks, WAL, extents)
	Free       int64  // extent bytes that can still be allocated
	WALSize    int64
	WALUsed    int64 // bytes of WAL not yet checkpointed
	Extents    int   // live extents (tree nodes, value extents, catalog)
	Generation uint64

	MemtableKeys   int   // keys buffered in memtables, all branches
	MemtableBytes  int64 // their approximate size
	Checkpoints    uint64
	LastCheckpoint time.Duration
	OpenTook       time.Duration
	CleanOpen      bool   // opened from a clean close (allocator image, no replay)
	RecoveredOps   uint64 // WAL ops replayed at open
	Quarantined    int64  // bytes of extent space taken out of service
	ReadOnly       bool
	Broken         string // why writes are disabled, if they are
}

// Stats returns current figures. It is cheap enough to poll.
func (db *DB) Stats() Stats {
	if err := db.begin(); err != nil {
		return Stats{Mode: db.mode, Size: int64(len(db.mem))}
	}
	defer db.end()
	a := db.alloc.Stats()
	v := db.vers.acquire()
	defer db.vers.unref(v)
	st := Stats{
		Mode:           db.mode,
		Flush:          db.p.Mode().String(),
		Size:           int64(len(db.mem)),
		Free:           a.Free,
		WALSize:        db.sb.WALSize,
		WALUsed:        db.wal.Used(),
		Extents:        a.Extents,
		Generation:     v.cat.Gen,
		Checkpoints:    db.stats.checkpoints.Load(),
		LastCheckpoint: time.Duration(db.stats.lastCkptNanos.Load()),
		OpenTook:       time.Duration(db.stats.openNanos.Load()),
		CleanOpen:      db.stats.cleanOpen.Load(),
		RecoveredOps:   db.stats.recoveredOps.Load(),
		Quarantined:    a.Quarantined,
		ReadOnly:       db.opts.ReadOnly,
	}
	st.Used = st.Size - st.Free - a.Quarantined
	for _, m := range []map[uint32]*memtable.Table{v.active, v.frozen} {
		for _, t := range m {
			st.MemtableKeys += t.Len()
			st.MemtableBytes += t.Bytes()
		}
	}
	if e := db.broken.Load(); e != nil {
		st.Broken = (*e).Error()
	}
	return st
}

// HugeMapped is how many bytes of the region this process maps with
// 2 MiB pages now. None on a large region means every random read pays a
// page walk on top of its cache miss: put the region on a tmpfs mounted
// huge=always (docs/PERFORMANCE.md). It walks the page tables of the whole
// mapping (milliseconds per GiB mapped), so it is not part of Stats. The
// error wraps errors.ErrUnsupported where it cannot be known: off Linux,
// and on DAX, whose mappings the kernel does not count.
func (db *DB) HugeMapped() (int64, error) {
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.end()
	if db.reg == nil {
		return 0, fmt.Errorf("%w: no region file (a test mapping)", errors.ErrUnsupported)
	}
	return db.reg.HugeMapped()
}
