package store

import (
	"github.com/daxkv/daxkv/internal/region"
)

// prefaultChunk is how much of the WAL ring one populate call maps: small
// enough that Close, which waits for the prefaulter, never waits long.
const prefaultChunk = 2 << 20

// wantsPrefault reports whether Open starts prefaultWAL: a writable region
// file in pmem or emulated mode. A test mapping has no file; in page-cache
// mode populating would dirty every WAL page for writeback.
func (db *DB) wantsPrefault() bool {
	return !db.opts.ReadOnly && db.reg != nil && db.mode != string(region.PageCache)
}

// prefaultWAL maps the WAL ring's pages ahead of the writer, in the
// background, one lap from where the next record goes. A file page is
// mapped on its first touch, and on this VM that fault costs 1-2 µs: with
// 128-byte records, one Put in 32 paid it through the ring's first lap
// after Open, which was much of the Put p99 (BenchmarkPutLatency, medians
// of six: p99 6.2 -> 4.1 µs). Populating leaves the contents alone, so it
// may race with the writer.
func (db *DB) prefaultWAL() {
	defer db.bg.Done()
	ring := db.mem[db.sb.WALOff : db.sb.WALOff+db.sb.WALSize]
	size := int64(len(ring))
	chunks := (size + prefaultChunk - 1) / prefaultChunk
	first := int64(db.wal.End().Off%uint64(size)) / prefaultChunk
	for i := range chunks {
		select {
		case <-db.stop:
			return
		default:
		}
		off := (first + i) % chunks * prefaultChunk
		end := min(off+prefaultChunk, size)
		if err := db.reg.Populate(ring[off:end]); err != nil {
			// A hint only: an old kernel or another platform.
			db.log.Debug("daxkv: WAL prefault stopped", "err", err)
			return
		}
	}
}
