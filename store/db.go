// Package store is daxkv's embedded key-value store: values live in a
// mapped persistent-memory region, writes are made durable with cache-line
// flushes and fences, and whole-store snapshots and branches share
// copy-on-write tree nodes. See DESIGN.md for the architecture.
package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/bitset"
	"github.com/daxkv/daxkv/internal/region"
	"github.com/daxkv/daxkv/poison"
	"github.com/daxkv/daxkv/rmap"
	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
	"github.com/daxkv/daxkv/store/internal/wal"
)

// MainBranch is the branch every store starts with.
const MainBranch = "main"

// inlineMax: values of this many bytes or more live in their own extent.
const inlineMax = 256

// DB is an open store. All methods are safe for concurrent use.
type DB struct {
	opts Options
	log  *slog.Logger
	path string
	reg  *region.Region // nil when running on a test mapping
	mem  []byte         // the whole mapping
	sb   format.Superblock
	p    flush.Persister
	mode string

	alloc *alloc.Allocator
	tree  *btree.Tree
	wal   *wal.Log
	vers  versionSet
	// valVerified holds the value extents (by unit) whose header and
	// checksum this process checked, or that it wrote: read.go reads
	// them without checking again.
	valVerified *bitset.Set

	// life: operations hold it shared; Close takes it exclusively to set
	// closed. Point reads and views skip it and only check closed after
	// pinning their version (pinRead).
	life   sync.RWMutex
	closed atomic.Bool
	// broken, once set, fails every write: durability can no longer be
	// promised (a flush or msync failed, or a checkpoint hit corruption).
	broken atomic.Pointer[error]

	// The commit gate: writers hold it shared from WAL commit to memtable
	// apply, so a freeze that takes it exclusively sees every committed
	// record in the table it freezes.
	gate sync.RWMutex
	// Memtable applies happen in WAL sequence order, so readers never see
	// a later batch without an earlier one.
	applied    atomic.Uint64
	applyMu    sync.Mutex
	applyCond  *sync.Cond
	applyWaits atomic.Int32

	// Checkpoints run one at a time; ckptKick wakes the background
	// checkpointer.
	ckptMu   sync.Mutex
	ckptKick chan struct{}
	dirKick  chan struct{} // wakes the leaf directory builder (dir.go)
	stop     chan struct{}
	bg       sync.WaitGroup

	// fpPrev is each branch's last fingerprinted directory, whose leaves
	// the next one reuses. Only the directory builder goroutine uses it.
	fpPrev map[uint32]*btree.Dir

	// admitBudget is how many more bytes writers may add before admit
	// looks at free space again.
	admitBudget atomic.Int64
	admitMu     sync.Mutex

	rmap rmapCache // reverse map, see rmap.go

	slot    format.Slot // committed state (under ckptMu)
	slotIdx int
	ckptAt  int64 // WAL bytes that trigger a checkpoint

	stats dbCounters
}

type dbCounters struct {
	checkpoints   atomic.Uint64
	lastCkptNanos atomic.Int64
	recoveredOps  atomic.Uint64
	openNanos     atomic.Int64
	cleanOpen     atomic.Bool
}

// Open opens the region at path, creating it when it does not exist and
// opts.Size > 0. opts may be nil.
func Open(path string, opts *Options) (*DB, error) {
	start := time.Now()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Size < 0 || o.WALSize < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrInvalid)
	}
	if o.Flush == flush.Auto {
		m, err := flush.ModeFromEnv()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		o.Flush = m
	}
	db := &DB{opts: o, path: path, log: o.Logger, stop: make(chan struct{}), ckptKick: make(chan struct{}, 1), dirKick: make(chan struct{}, 1), fpPrev: map[uint32]*btree.Dir{}}
	if db.log == nil {
		db.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db.applyCond = sync.NewCond(&db.applyMu)

	if err := poison.SetLateKill(); err != nil {
		db.log.Warn("daxkv: cannot set PR_MCE_KILL_LATE; poisoned memory may kill the process", "err", err)
	}
	created := false
	if o.mapping != nil {
		db.mem, db.mode = o.mapping, "emulated"
		created = o.Size > 0
	} else {
		if o.Size > 0 && o.Size < format.MinRegionSize {
			return nil, fmt.Errorf("%w: region size %d is below the minimum of %d bytes", ErrInvalid, o.Size, format.MinRegionSize)
		}
		if o.Size%4096 != 0 {
			return nil, fmt.Errorf("%w: region size %d is not a multiple of 4096", ErrInvalid, o.Size)
		}
		reg, err := region.Open(path, region.Options{Size: o.Size, ReadOnly: o.ReadOnly})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && o.Size == 0 {
				return nil, fmt.Errorf("%w: no region at %s (set Options.Size to create one): %w", ErrNotFound, path, err)
			}
			return nil, err
		}
		db.reg, db.mem, db.mode, created = reg, reg.Data, string(reg.Mode()), reg.Created
	}
	if err := db.setPersister(); err != nil {
		db.unmap()
		return nil, err
	}
	if created {
		if err := db.format(int64(len(db.mem))); err != nil {
			fromFile := db.reg != nil
			db.unmap()
			if fromFile {
				_ = removeFile(path) // a region this call created, never formatted
			}
			return nil, err
		}
	}
	if err := db.load(); err != nil {
		db.unmap()
		return nil, err
	}
	db.stats.openNanos.Store(int64(time.Since(start)))
	if !o.ReadOnly {
		db.bg.Add(1)
		go db.checkpointer()
	}
	if db.wantsPrefault() {
		db.bg.Add(1)
		go db.prefaultWAL()
	}
	db.vers.installed = db.kickDirs
	db.bg.Add(1)
	go db.dirBuilder()
	db.kickDirs()
	db.log.Info("daxkv: opened", "path", path, "mode", db.mode, "flush", db.p.Mode().String(),
		"clean", db.stats.cleanOpen.Load(), "recovered_ops", db.stats.recoveredOps.Load(), "took", time.Since(start))
	return db, nil
}

func (db *DB) setPersister() error {
	if db.opts.persister != nil {
		db.p = db.opts.persister
		return nil
	}
	mode := db.opts.Flush
	if db.mode == string(region.PageCache) {
		mode = flush.Msync
	}
	cfg := flush.Config{Mode: mode}
	if db.reg != nil {
		cfg.Sync = db.reg.Sync
	}
	p, err := flush.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	db.p = p
	return nil
}

func (db *DB) unmap() {
	if db.reg != nil {
		_ = db.reg.Close()
		db.reg = nil
	}
}

// guard runs fn under the fault guard and turns a memory fault into a
// PoisonError carrying the region offset.
func (db *DB) guard(fn func() error) error {
	var err error
	if ferr := poison.Do(func() { err = fn() }); ferr != nil {
		pe := &PoisonError{cause: ferr, Off: -1}
		var fe *poison.FaultError
		if errors.As(ferr, &fe) {
			if off, ok := fe.Offset(db.mem); ok {
				pe.Off = off
			}
		}
		return pe
	}
	return err
}

// persist writes b through the persister and drains.
func (db *DB) persist(dst, src []byte) error {
	db.p.Copy(dst, src)
	return db.p.Drain()
}

// format lays out a new region: slot 0 names an empty "main" branch, and
// the primary superblock is written last, so a crash before it leaves a
// file Open rejects rather than a half-made store.
func (db *DB) format(size int64) error {
	var uuid [16]byte
	if e := db.opts.entropy; e != nil {
		binary.LittleEndian.PutUint64(uuid[:8], e())
		binary.LittleEndian.PutUint64(uuid[8:], e())
	} else if _, err := rand.Read(uuid[:]); err != nil {
		return err
	}
	sb, err := format.NewSuperblock(size, db.opts.WALSize, uuid, time.Now().UnixNano())
	if err != nil {
		return err
	}
	a, err := alloc.New(sb.ExtOff, sb.ExtSize)
	if err != nil {
		return err
	}
	cat := &format.Catalog{Gen: 1, NextID: 2, Refs: []format.Ref{
		{ID: 1, Kind: format.KindBranch, Name: MainBranch, Created: sb.Created},
	}}
	return db.guard(func() error {
		cats, clen, err := writeCatalog(db.mem, a, db.p, cat)
		if err != nil {
			return err
		}
		slot := format.Slot{Gen: 1, Catalog: cats, CatalogLen: clen, WALOff: 0, WALSeq: 1}
		var buf [format.SlotSize]byte
		slot.Encode(buf[:], sb.UUID)
		if err := db.persist(db.mem[format.Slot0Off:format.Slot0Off+format.SlotSize], buf[:]); err != nil {
			return err
		}
		var sbuf [format.SuperblockSize]byte
		sb.Encode(sbuf[:])
		backup := format.BackupOff(size)
		if err := db.persist(db.mem[backup:backup+format.SuperblockSize], sbuf[:]); err != nil {
			return err
		}
		return db.persist(db.mem[:format.SuperblockSize], sbuf[:])
	})
}

// writeCatalog writes two copies of cat into new extents.
func writeCatalog(mem []byte, a *alloc.Allocator, p flush.Persister, cat *format.Catalog) ([2]int64, int64, error) {
	n := int64(cat.EncodedLen())
	offs, err := allocCatalog(a, n)
	if err != nil {
		return offs, 0, err
	}
	fillCatalog(mem, p, cat, offs, n)
	return offs, n, nil
}

// allocCatalog allocates the two extents for a catalog of n bytes.
func allocCatalog(a *alloc.Allocator, n int64) ([2]int64, error) {
	var offs [2]int64
	for i := range offs {
		off, err := a.Alloc(n, 0)
		if err != nil {
			if i == 1 {
				freeNow(a, offs[0])
			}
			return [2]int64{}, fmt.Errorf("catalog: %w", err)
		}
		offs[i] = off
	}
	return offs, nil
}

// fillCatalog writes cat (n bytes encoded) into both extents, undrained.
func fillCatalog(mem []byte, p flush.Persister, cat *format.Catalog, offs [2]int64, n int64) {
	buf := make([]byte, n)
	cat.Encode(buf)
	for _, off := range offs {
		p.Copy(mem[off:off+n], buf)
	}
}

// offsetOf is the region offset of b, a subslice of the mapping (an
// inline value inside a WAL record). It works for empty slices too.
func (db *DB) offsetOf(b []byte) int64 {
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(db.mem))))
}

// unitsOf rounds a byte length up to whole allocation units: the length
// of the extent that holds it.
func unitsOf(n int64) int64 { return (n + format.UnitSize - 1) &^ (format.UnitSize - 1) }

// freeNow releases an extent nobody ever saw.
func freeNow(a *alloc.Allocator, off int64) {
	if _, err := a.Decref(off); err == nil {
		_ = a.Free(off)
	}
}

// readSuperblock reads the primary superblock, falling back to the backup.
// A region with neither is not a daxkv region; nothing is written to it.
func (db *DB) readSuperblock() (format.Superblock, error) {
	size := int64(len(db.mem))
	if size < format.MinRegionSize {
		return format.Superblock{}, fmt.Errorf("%w: %s is %d bytes, not a daxkv region", ErrInvalid, db.path, size)
	}
	var sb format.Superblock
	var perr, berr error
	err := db.guard(func() error {
		sb, perr = format.DecodeSuperblock(db.mem[:format.SuperblockSize], size)
		if perr == nil || errors.Is(perr, ErrInvalid) {
			return perr
		}
		if !format.IsSuperblock(db.mem[:format.SuperblockSize]) && !format.IsSuperblock(db.mem[format.BackupOff(size):]) {
			return fmt.Errorf("%w: %s is not a daxkv region (no superblock magic)", ErrInvalid, db.path)
		}
		sb, berr = format.DecodeSuperblock(db.mem[format.BackupOff(size):], size)
		if berr != nil {
			return fmt.Errorf("primary superblock: %w; backup: %w", perr, berr)
		}
		db.log.Warn("daxkv: primary superblock damaged, using the backup", "err", perr)
		return nil
	})
	return sb, err
}

// load brings the DB to the last durable state: superblock, commit slot,
// catalog, allocator (image or reachability walk) and WAL replay.
func (db *DB) load() error {
	sb, err := db.readSuperblock()
	if err != nil {
		return err
	}
	db.sb = sb
	var slot format.Slot
	var cat format.Catalog
	var otherTorn bool
	err = db.guard(func() error {
		s0, e0 := format.DecodeSlot(db.mem[format.Slot0Off:format.Slot0Off+format.SlotSize], &sb)
		s1, e1 := format.DecodeSlot(db.mem[format.Slot1Off:format.Slot1Off+format.SlotSize], &sb)
		var ok bool
		slot, db.slotIdx, ok = format.PickSlot(s0, e0, s1, e1)
		if !ok {
			return fmt.Errorf("%w: no valid commit slot (slot 0: %v; slot 1: %v)", ErrCorrupt, e0, e1)
		}
		otherTorn = [2]error{e0, e1}[1-db.slotIdx] != nil
		var cerr [2]error
		for i, off := range slot.Catalog {
			cat, cerr[i] = format.DecodeCatalog(db.mem[off:off+slot.CatalogLen], &sb)
			if cerr[i] == nil {
				if i == 1 {
					db.log.Warn("daxkv: catalog copy 0 damaged, using copy 1", "err", cerr[0])
				}
				return nil
			}
		}
		return fmt.Errorf("%w: both catalog copies damaged: %v; %v", ErrCorrupt, cerr[0], cerr[1])
	})
	if err != nil {
		return err
	}
	db.slot = slot
	if otherTorn && !db.opts.ReadOnly {
		if err := db.breakTornSlot(); err != nil {
			return err
		}
	}

	// After a crash the allocator is rebuilt by walking every tree; start
	// that now so it overlaps with the replay.
	var walk *treeWalk
	if slot.AllocOff == 0 {
		walk = db.startWalk(&slot, &cat)
		// On any early return, let the walk finish before the caller
		// unmaps the region under it.
		defer func() { _, _ = walk.wait() }()
	}
	// Replay the WAL into fresh memtables. Values stay in the ring.
	log, err := wal.Open(db.mem[sb.WALOff:sb.WALOff+sb.WALSize], wal.Position{Off: slot.WALOff, Seq: slot.WALSeq},
		wal.Options{Persister: db.p, NoSync: db.opts.NoSync, ReadOnly: db.opts.ReadOnly, Epoch: db.walEpoch()})
	if err != nil {
		return err
	}
	db.wal = log
	active := make(map[uint32]*memtable.Table, len(cat.Refs))
	// A branch's tree holds its records up to its Seq: a restore commits
	// without moving the WAL position, and the records it discarded are
	// skipped here.
	upTo := make(map[uint32]uint64, len(cat.Refs))
	db.setCheckpointTrigger()
	for _, r := range cat.Refs {
		if r.Kind == format.KindBranch {
			active[r.ID], upTo[r.ID] = db.firstTable(r), r.Seq
		}
	}
	var replayed uint64
	var end wal.Position
	err = db.guard(func() error {
		var entries []memtable.Entry
		var rerr error
		end, rerr = log.Replay(func(pos wal.Position, payload []byte) error {
			entries = entries[:0]
			branch, err := format.DecodeBatch(payload, &sb, func(op *format.Op) error {
				entries = append(entries, db.entryFromOp(op, pos.Seq))
				return nil
			})
			if err != nil {
				return err
			}
			t, ok := active[branch]
			if !ok || pos.Seq <= upTo[branch] {
				// A record for a branch the catalog no longer has (deleted
				// after this record), or one its tree supersedes.
				return nil
			}
			t.Apply(entries)
			replayed += uint64(len(entries))
			return nil
		})
		return rerr
	})
	if err != nil {
		return fmt.Errorf("WAL replay: %w", err)
	}
	db.applied.Store(end.Seq - 1)
	db.stats.recoveredOps.Store(replayed)

	if err := db.loadAllocator(&slot, &cat, active, walk); err != nil {
		return err
	}
	if walk != nil {
		// The recovery walk filled the reverse map on the way.
		db.rmap.cur.Store(&reverseMap{gen: cat.Gen, m: walk.rmap})
	}
	var ext btree.Extents = db.alloc
	if db.opts.extents != nil {
		ext = db.opts.extents(db.alloc)
	}
	db.tree = btree.New(db.mem, ext, db.p)
	db.valVerified = bitset.New(int64(len(db.mem)) / format.UnitSize)
	if slot.AllocOff != 0 && !db.opts.ReadOnly {
		// The image is consumed: commit a slot without it before anything
		// can reuse its space, so a crash from here on rebuilds by walking.
		img := slot.AllocOff
		slot.AllocOff, slot.AllocLen = 0, 0
		if err := db.writeSlot(slot); err != nil {
			return err
		}
		freeNow(db.alloc, img)
	}
	db.vers.init(&version{cat: &cat, active: active}, db.releaseGarbage)
	return nil
}

func (db *DB) setCheckpointTrigger() {
	db.ckptAt = min(db.sb.WALSize/2, maxCheckpointTrigger)
	if db.opts.checkpointBytes > 0 {
		db.ckptAt = db.opts.checkpointBytes
	}
}

// firstTable returns the memtable a branch starts with at Open. The main
// branch's index is sized for the keys of 128-byte records up to the
// checkpoint trigger (at most 512K keys, 8 MiB of index, allocated when
// the table passes 512 keys), so that a load into a new store grows it
// once; other branches start small, since they share the trigger. Every
// table after a checkpoint is sized by its predecessor (NewAfter).
func (db *DB) firstTable(r format.Ref) *memtable.Table {
	if r.Name != MainBranch {
		return memtable.New()
	}
	return memtable.NewSized(int(min(db.ckptAt, maxCheckpointTrigger) / 128))
}

// maxCheckpointTrigger caps the WAL fill that starts a checkpoint, which is
// otherwise half the WAL. The memtable a checkpoint drains grows with it:
// its heap passes 200 MiB past about half a million entries, a checkpoint
// takes longer than writers take to fill the WAL's rest, and recovery
// after a crash replays more. With a 4 GiB region (a 256 MiB WAL) daxkv
// bench fillrandom ran at 290-394K ops/s with the 128 MiB trigger and
// 372-420K with 64 MiB (fourth session, when inserts also slowed with the
// memtable's size). The rest of a bigger WAL still absorbs bursts while a
// checkpoint runs.
const maxCheckpointTrigger = 64 << 20

// extentLen is the allocation length of an extent the tree reports: a
// node, or a value with its self-describing header.
func extentLen(e *btree.Extent) int64 {
	if e.Kind == btree.KindValue {
		return format.ValueExtentLen(len(e.Lo), e.Len)
	}
	return e.Len
}

func (db *DB) entryFromOp(op *format.Op, seq uint64) memtable.Entry {
	switch op.Kind {
	case format.OpPut:
		return memtable.Entry{Key: op.Key, Off: db.offsetOf(op.Value), Len: int64(len(op.Value)), Seq: seq, Kind: memtable.Put}
	case format.OpPutExt:
		return memtable.Entry{Key: op.Key, Off: op.Ext, Len: op.ValLen, Seq: seq, Kind: memtable.PutExt}
	default:
		return memtable.Entry{Key: op.Key, Seq: seq, Kind: memtable.Delete}
	}
}

// loadAllocator restores the allocator: from the image a clean close left,
// or by walking every tree from the catalog (after a crash).
func (db *DB) loadAllocator(slot *format.Slot, cat *format.Catalog, active map[uint32]*memtable.Table, walk *treeWalk) error {
	sb := &db.sb
	var a *alloc.Allocator
	if slot.AllocOff != 0 {
		err := db.guard(func() error {
			var err error
			a, err = alloc.Load(sb.ExtOff, sb.ExtSize, db.mem[slot.AllocOff:slot.AllocOff+slot.AllocLen])
			return err
		})
		if err == nil {
			// Zombies in the image were waiting for readers of the closed
			// process; there are none now.
			a.FreeZombies()
			db.alloc = a
			db.stats.cleanOpen.Store(true)
			return nil
		}
		db.log.Warn("daxkv: allocator image unusable, rebuilding by walking the trees", "err", err)
		slot.AllocOff, slot.AllocLen = 0, 0
	}
	if walk == nil {
		walk = db.startWalk(slot, cat)
	}
	b, err := walk.wait()
	if err != nil {
		return err
	}
	// Large values named by replayed WAL records that are still current.
	// Superseded ones are free again: a later replay only re-reads their
	// pointers, never their bytes.
	for _, t := range active {
		for _, e := range t.ValueExtents() {
			if err := b.Ref(e.Off, format.ValueExtentLen(len(e.Key), e.Len)); err != nil {
				return fmt.Errorf("rebuild: WAL value extent: %w", err)
			}
		}
		t.ForgetSuperseded()
	}
	a, err = b.Finish()
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	db.alloc = a
	return nil
}

// treeWalk is a reachability walk running in the background: after a
// crash it overlaps with WAL replay, which needs nothing from it.
type treeWalk struct {
	b    *alloc.Builder
	rmap *rmap.Map // the reverse map the same walk fills
	err  error
	done chan struct{}
}

// startWalk counts every reference held by the catalog and its trees into
// a fresh allocator builder, in its own goroutine.
func (db *DB) startWalk(slot *format.Slot, cat *format.Catalog) *treeWalk {
	w := &treeWalk{b: alloc.NewBuilder(db.sb.ExtOff, db.sb.ExtSize), done: make(chan struct{})}
	catalog, refs := slot.Catalog, slices.Clone(cat.Refs)
	slot = &format.Slot{Catalog: slot.Catalog, CatalogLen: slot.CatalogLen} // the walk's own copy
	catLen := unitsOf(slot.CatalogLen)
	go func() {
		defer close(w.done)
		for _, off := range catalog {
			if err := w.b.Ref(off, catLen); err != nil {
				w.err = fmt.Errorf("rebuild: catalog: %w", err)
				return
			}
		}
		rb := rmap.NewBuilder()
		addFixed(rb, &db.sb, slot)
		defer func() {
			if w.err == nil {
				w.rmap = rb.Finish()
			}
		}()
		walker := btree.New(db.mem, nil, db.p).NewWalker()
		for _, r := range refs {
			if r.Root == 0 {
				continue
			}
			rb.StartWalk(r.ID)
			err := db.guard(func() error {
				return walker.Walk(r.Root, func(e btree.Extent, first bool) error {
					visitRmap(rb, &e)
					return w.b.Ref(e.Off, extentLen(&e))
				})
			})
			if err != nil {
				w.err = fmt.Errorf("rebuild: walking %s %q: %w", r.Kind, r.Name, err)
				return
			}
		}
	}()
	return w
}

func (w *treeWalk) wait() (*alloc.Builder, error) {
	<-w.done
	return w.b, w.err
}

// walEpoch is the epoch for this run's WAL records: zero (drawn by the
// WAL) unless a test fixed the entropy.
func (db *DB) walEpoch() uint32 {
	if e := db.opts.entropy; e != nil {
		return uint32(e())
	}
	return 0
}

// breakTornSlot invalidates, durably, the slot not in use when it failed
// to decode: a crash may have left it one word short of a commit that
// never happened (say, every word but the generation). The next commit
// writes that slot with the same generation, and a crash inside it could
// take the new generation word and keep the rest, completing the old
// slot. With its checksum word zeroed first, only the new checksum can
// make the slot valid again, and it matches only the new content.
func (db *DB) breakTornSlot() error {
	off := format.SlotOff(1-db.slotIdx) + format.SlotChecksumWord
	return db.guard(func() error {
		word := db.mem[off : off+8]
		binary.LittleEndian.PutUint64(word, 0) // one aligned 8-byte store
		return flush.Persist(db.p, word)
	})
}

// writeSlot commits s into the slot not currently in use.
func (db *DB) writeSlot(s format.Slot) error {
	s.Gen = db.slot.Gen + 1
	next := 1 - db.slotIdx
	var buf [format.SlotSize]byte
	s.Encode(buf[:], db.sb.UUID)
	off := format.SlotOff(next)
	if err := db.guard(func() error { return db.persist(db.mem[off:off+format.SlotSize], buf[:]) }); err != nil {
		return err
	}
	db.slot, db.slotIdx = s, next
	return nil
}

// Close checkpoints, saves the allocator image for a fast next open, and
// unmaps the region. Calls after Close return ErrClosed.
func (db *DB) Close() error {
	db.life.Lock()
	if db.closed.Load() {
		db.life.Unlock()
		return ErrClosed
	}
	db.closed.Store(true)
	db.life.Unlock()
	close(db.stop)
	db.bg.Wait()
	var err error
	if !db.opts.ReadOnly && db.broken.Load() == nil {
		err = db.closeClean()
	}
	db.waitReaders()
	db.unmap()
	return err
}

// waitReaders waits until no read pins a version. A View whose function
// calls Close, or waits for something that happens after Close returns,
// never finishes: after a while the log says what Close is waiting for.
func (db *DB) waitReaders() {
	start, warned := time.Now(), false
	db.vers.waitUnpinned(func() {
		if !warned && time.Since(start) > closeWaitWarning {
			warned = true
			db.log.Warn("daxkv: Close is waiting for open reads (a View still running? Close inside a View waits forever)", "versions", db.vers.pinned())
		}
	})
}

// closeWaitWarning is how long Close waits for reads before it logs.
var closeWaitWarning = 5 * time.Second

// closeClean checkpoints everything and commits a slot naming an
// allocator image, so the next Open needs neither replay nor walk.
func (db *DB) closeClean() error {
	if err := db.checkpoint(); err != nil {
		return err
	}
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	img, err := db.alloc.MarshalBinary()
	if err != nil {
		return err
	}
	// The image must describe the extent that holds it: allocate, then
	// marshal again (one more extent changes its size a little).
	n := int64(len(img)) + 4096
	off, err := db.alloc.Alloc(n, 0)
	if err != nil {
		db.log.Warn("daxkv: no space for the allocator image; next open will walk", "err", err)
		return nil
	}
	img, err = db.alloc.MarshalBinary()
	if err != nil || int64(len(img)) > n {
		freeNow(db.alloc, off)
		return err
	}
	if err := db.guard(func() error { return db.persist(db.mem[off:off+int64(len(img))], img) }); err != nil {
		return err
	}
	s := db.slot
	s.AllocOff, s.AllocLen = off, int64(len(img))
	return db.writeSlot(s)
}

// pinRead admits a read and pins the version it reads; unref must follow.
// It takes no lock: Close sets closed before it waits for the pins to go,
// and the pin is taken before closed is checked, so either Close waits
// for this reader or the reader sees closed (both are sequentially
// consistent atomics). Reads that started before Close may finish while
// it checkpoints, as they may while any checkpoint runs.
func (db *DB) pinRead() (*version, error) {
	v := db.vers.acquire()
	if db.closed.Load() {
		db.vers.unref(v)
		return nil, ErrClosed
	}
	return v, nil
}

// begin admits an operation; end must follow.
func (db *DB) begin() error {
	db.life.RLock()
	if db.closed.Load() {
		db.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (db *DB) end() { db.life.RUnlock() }

func (db *DB) beginWrite() error {
	if err := db.begin(); err != nil {
		return err
	}
	if db.opts.ReadOnly {
		db.end()
		return fmt.Errorf("%w: store opened read-only", ErrReadOnly)
	}
	if err := db.writesStopped(); err != nil {
		db.end()
		return err
	}
	return nil
}

// writesStopped returns the error writes get once the store is broken
// (fail), or nil.
func (db *DB) writesStopped() error {
	if e := db.broken.Load(); e != nil {
		return fmt.Errorf("%w: store stopped accepting writes: %w", ErrReadOnly, *e)
	}
	return nil
}

// fail marks the store unable to take writes.
func (db *DB) fail(err error) {
	db.broken.CompareAndSwap(nil, &err)
	db.log.Error("daxkv: writes disabled", "err", err)
}

// crashForTest abandons the DB as a crash would: no checkpoint, no image,
// the mapping and lock simply dropped.
func (db *DB) crashForTest() {
	db.life.Lock()
	db.closed.Store(true)
	db.life.Unlock()
	close(db.stop)
	db.bg.Wait()
	db.waitReaders()
	db.unmap()
}
