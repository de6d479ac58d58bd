package store

import (
	"log/slog"
	"time"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/store/internal/btree"
)

// Options configure Open. A nil *Options means all defaults.
type Options struct {
	// Size in bytes of the region to create when the path does not exist.
	// Zero means: open an existing region only.
	Size int64
	// ReadOnly maps the region read-only; writes return ErrReadOnly.
	ReadOnly bool
	// Flush forces a persistence mechanism; the zero value detects one.
	// DAXKV_FLUSH in the environment overrides the zero value.
	Flush flush.Mode
	// NoSync returns from a commit before its fence completes: faster, and
	// a power loss may drop the last acknowledged writes (a process crash
	// loses nothing on pmem or tmpfs).
	NoSync bool
	// WALSize is the WAL ring size when creating; zero derives it from Size
	// (1/16th, between 64 KiB and 256 MiB).
	WALSize int64
	// Logger receives recovery and checkpoint events; nil discards them.
	Logger *slog.Logger
	// IdleCheckpoint is how often the background checkpointer looks for a
	// pause in writes: when no write landed during a whole period (so one
	// to two periods after the last write) and the memtables hold 64K
	// keys or more, it checkpoints them into the tree, so that reads stop
	// probing them and a restart has nothing to replay. Zero means 250 ms,
	// and periods under 10 ms count as 10 ms; a negative value turns idle
	// checkpoints off (the WAL's fill still triggers checkpoints).
	IdleCheckpoint time.Duration

	// persister replaces the CPU persister (crash simulation in tests).
	persister flush.Persister
	// mapping replaces the region file (crash simulation in tests).
	mapping []byte
	// checkpointBytes overrides the WAL fill that triggers a checkpoint.
	checkpointBytes int64
	// manualCheckpoints disables the background checkpointer, so crash
	// simulation knows which goroutine issues every fence.
	manualCheckpoints bool
	// entropy, when set, draws the region UUID and each run's WAL epoch,
	// so that a crash-simulation seed replays the same bytes.
	entropy func() uint64
	// extents, when set, wraps the allocator the tree uses (tests that
	// fail allocations); set at Open, before any background goroutine.
	extents func(*alloc.Allocator) btree.Extents
}
