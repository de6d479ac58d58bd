package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
	"github.com/daxkv/daxkv/store/internal/wal"
)

// Put stores value under key on the main branch.
func (db *DB) Put(key, value []byte) error {
	return db.mainRef().put(key, value)
}

// Delete removes key from the main branch; a missing key is not an error.
func (db *DB) Delete(key []byte) error {
	return db.mainRef().del(key)
}

// Update runs fn in a read-write transaction on the main branch and
// commits its writes as one atomic batch. fn's error aborts the batch.
func (db *DB) Update(fn func(tx *Tx) error) error {
	return db.mainRef().update(fn)
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > format.MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrInvalid, len(key), format.MaxKeyLen)
	}
	return nil
}

// batch collects the ops of one commit. Large values are written to their
// extents as they are added.
type batch struct {
	enc     format.BatchEncoder
	entries []memtable.Entry // what the memtable receives; inline values are set from the record
	exts    []int64          // extents written for this batch (freed on abort)
	payload []byte
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

func getBatch(branch uint32) *batch {
	b := batchPool.Get().(*batch)
	b.enc.Reset(branch)
	b.entries, b.exts = b.entries[:0], b.exts[:0]
	return b
}

func putBatch(b *batch) {
	if cap(b.payload) > 1<<20 {
		b.payload = nil
	}
	batchPool.Put(b)
}

// add appends one op. value == nil with del set is a delete.
func (db *DB) addOp(b *batch, key, value []byte, del bool) error {
	if err := checkKey(key); err != nil {
		return err
	}
	switch {
	case del:
		b.enc.Delete(key)
		b.entries = append(b.entries, memtable.Entry{Key: b.enc.LastKey(), Kind: memtable.Delete})
	case len(value) < inlineMax:
		at := b.enc.Put(key, value)
		// Off holds the value's offset in the encoder's buffer until the
		// record exists; then it becomes the region offset in the WAL.
		// Keys are the encoder's copies: the caller may reuse its buffer.
		b.entries = append(b.entries, memtable.Entry{Key: b.enc.LastKey(), Off: int64(at), Len: int64(len(value)), Kind: memtable.Put})
	default:
		off, err := db.writeValueExtent(key, value)
		if err != nil {
			return err
		}
		b.exts = append(b.exts, off)
		b.enc.PutExt(key, off, int64(len(value)))
		b.entries = append(b.entries, memtable.Entry{Key: b.enc.LastKey(), Off: off, Len: int64(len(value)), Kind: memtable.PutExt})
	}
	return nil
}

// writeValueExtent stores a large value in a new extent with its
// self-describing header and makes it durable before the WAL record that
// names it can be: a replayed record must never point at unwritten bytes.
func (db *DB) writeValueExtent(key, value []byte) (int64, error) {
	n := format.ValueExtentLen(len(key), int64(len(value)))
	if err := db.admit(n); err != nil {
		return 0, err
	}
	off, err := db.alloc.Alloc(n, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: value of %d bytes: %w", ErrNoSpace, len(value), err)
	}
	var hdr [format.ValueHeaderLen + format.MaxKeyLen]byte
	h := format.EncodeValueHeader(hdr[:], key, int64(len(value)), format.Checksum(value))
	err = db.guard(func() error {
		ext := db.mem[off : off+n]
		db.p.Copy(ext[:h], hdr[:h])
		db.p.Copy(ext[h:], value)
		return db.p.Drain()
	})
	if err != nil {
		freeNow(db.alloc, off)
		return 0, err
	}
	db.valVerified.Add(off / format.UnitSize)
	return off, nil
}

// abort frees the extents of a batch that was not committed.
func (db *DB) abort(b *batch) {
	for _, off := range b.exts {
		freeNow(db.alloc, off)
	}
	b.exts = b.exts[:0]
}

// commit writes the batch to the WAL and applies it to the branch's
// memtable. It returns when the batch is durable and visible.
func (db *DB) commit(r *refHandle, b *batch) error {
	if len(b.entries) == 0 {
		return nil
	}
	b.payload = b.enc.AppendTo(b.payload[:0])
	// Keep a reserve for the checkpoint that will apply this batch.
	if !b.onlyDeletes() {
		// Charge a leaf copy per op too: that is what a checkpoint may
		// need for it (see admit).
		if err := db.admit(int64(len(b.payload)) + int64(len(b.entries))*format.NodeSize); err != nil {
			db.abort(b)
			return err
		}
	}
	for {
		db.gate.RLock()
		db.prefetchApply(r, b)
		var pos wal.Position
		var rec []byte
		err := db.guard(func() error {
			var err error
			pos, rec, err = db.wal.Commit(b.payload)
			return err
		})
		if errors.Is(err, wal.ErrFull) {
			db.gate.RUnlock()
			if err := db.waitWALSpace(); err != nil {
				db.abort(b)
				return err
			}
			continue
		}
		if err != nil {
			db.gate.RUnlock()
			if errors.Is(err, wal.ErrTooLarge) {
				db.abort(b)
				return fmt.Errorf("%w: batch of %d bytes does not fit the WAL (%d bytes): %w", ErrInvalid, len(b.payload), db.wal.Size(), err)
			}
			// A flush failed: the record may be partly durable. The WAL
			// fails every later commit too (successes are a prefix), and
			// the store stops taking writes: durability can't be promised.
			db.abort(b)
			db.fail(err)
			return err
		}
		applied := db.applyCommitted(r, b, pos, rec)
		db.gate.RUnlock()
		if !applied {
			// The branch was deleted meanwhile; replay skips the record.
			db.abort(b)
			return r.deleted()
		}
		if db.wal.Used() >= db.ckptAt && !db.opts.manualCheckpoints {
			db.kickCheckpoint()
		}
		return nil
	}
}

// prefetchApply starts the memtable's cache misses for the first keys of
// b, so that they overlap the WAL commit instead of following it.
func (db *DB) prefetchApply(r *refHandle, b *batch) {
	t, ok := db.vers.cur.Load().active[r.id]
	if !ok {
		return
	}
	for i := range min(len(b.entries), prefetchKeys) {
		t.Prefetch(&b.entries[i])
	}
}

// prefetchKeys bounds the keys prefetchApply starts: a few more lines in
// flight than a core tracks would only wait in line.
const prefetchKeys = 8

func (b *batch) onlyDeletes() bool {
	for i := range b.entries {
		if b.entries[i].Kind != memtable.Delete {
			return false
		}
	}
	return true
}

// applyCommitted points the batch's entries at the WAL record and applies
// them to the memtable in sequence order. It reports false when the
// branch no longer has one (it was deleted).
func (db *DB) applyCommitted(r *refHandle, b *batch, pos wal.Position, rec []byte) bool {
	// Inline values point into the record in the ring: the memtable keeps
	// pointers into the WAL, not copies.
	base := db.offsetOf(rec)
	for i := range b.entries {
		e := &b.entries[i]
		e.Seq = pos.Seq
		if e.Kind == memtable.Put {
			e.Off = base + int64(b.enc.PayloadOffset(int(e.Off)))
		}
	}
	db.waitApplyTurn(pos.Seq)
	v := db.vers.cur.Load() // the gate keeps freezes out: this is the live table
	t, ok := v.active[r.id]
	if ok {
		t.Apply(b.entries)
	}
	db.applied.Store(pos.Seq)
	db.wakeAppliers()
	return ok
}

// waitApplyTurn blocks until every batch before seq has been applied.
func (db *DB) waitApplyTurn(seq uint64) {
	if db.applied.Load() == seq-1 {
		return
	}
	db.applyMu.Lock()
	db.applyWaits.Add(1)
	for db.applied.Load() != seq-1 {
		db.applyCond.Wait()
	}
	db.applyWaits.Add(-1)
	db.applyMu.Unlock()
}

func (db *DB) wakeAppliers() {
	if db.applyWaits.Load() > 0 {
		db.applyMu.Lock()
		db.applyCond.Broadcast()
		db.applyMu.Unlock()
	}
}

// admit refuses new data when the region cannot hold it plus a reserve
// for the checkpoints that still have to run; deletes are always let in,
// so a full store can be emptied. Most calls only take from a budget:
// the allocator and memtables are consulted when it runs out.
func (db *DB) admit(n int64) error {
	if db.admitBudget.Add(-n) >= 0 {
		return nil
	}
	err := db.refillAdmission(n)
	if err == nil || !errors.Is(err, ErrNoSpace) {
		return err
	}
	// Space may be held by what a checkpoint releases (superseded values,
	// the leaf copies budgeted for buffered keys): run one, then look again.
	if db.buffered() > 0 {
		if cerr := db.checkpoint(); cerr != nil {
			if serr := db.writesStopped(); serr != nil {
				return serr
			}
			if !errors.Is(cerr, ErrNoSpace) {
				return cerr
			}
			return err
		}
	}
	// What a checkpoint freed comes back once no reader pins the versions
	// before it (a view, or the leaf directory builder for a moment). A
	// reader that stays, even the caller's own view, only delays the look
	// again: the checkpoint may have made room by itself.
	db.vers.waitReaped(garbageWait)
	return db.refillAdmission(n)
}

// garbageWait bounds how long a write refused for space waits for readers
// to release what checkpoints freed before it reports ErrNoSpace.
const garbageWait = 100 * time.Millisecond

// buffered counts keys waiting in memtables for a checkpoint.
func (db *DB) buffered() int {
	v := db.vers.acquire()
	defer db.vers.unref(v)
	n := 0
	for _, m := range []map[uint32]*memtable.Table{v.active, v.frozen} {
		for _, t := range m {
			n += t.Len()
		}
	}
	return n
}

// refillAdmission recomputes the room for new data and refills the
// budget, or reports ErrNoSpace.
func (db *DB) refillAdmission(n int64) error {
	db.admitMu.Lock()
	defer db.admitMu.Unlock()
	// The budget a writer charged before calling may have been replaced
	// since, by another writer's refill or failure: charge it again.
	if db.admitBudget.Load() >= 0 && db.admitBudget.Add(-n) >= 0 {
		return nil
	}
	st := db.alloc.Stats()
	v := db.vers.acquire()
	// What the pending checkpoints may need before they free anything:
	// twice the buffered bytes, plus a new copy of every leaf they touch
	// (each key may hit a different leaf, shared with a snapshot or not),
	// which can never exceed a copy of everything live.
	need := int64(0)
	for _, m := range []map[uint32]*memtable.Table{v.active, v.frozen} {
		for _, t := range m {
			need += 2*t.Bytes() + min(int64(t.Len())*format.NodeSize, st.Used)
		}
	}
	db.vers.unref(v)
	avail := st.Free - db.reserve() - need
	if avail < n {
		db.admitBudget.Store(0)
		return fmt.Errorf("%w: %d bytes free, %d reserved for checkpoints, %d needed", ErrNoSpace, st.Free, st.Free-avail, n)
	}
	// Hand out a slice of what is left, so the next refill sees fresh
	// figures well before space could run out: charges are per op (bytes
	// plus a leaf), the need they stand for counts bytes twice, hence a
	// third.
	db.admitBudget.Store(min((avail-n)/3, 4<<20))
	return nil
}

// reserve is the space kept back for checkpoints: 1/64 of the extent
// space, at least 64 KiB.
func (db *DB) reserve() int64 { return max(db.sb.ExtSize/64, 64<<10) }

func removeFile(path string) error { return os.Remove(path) }
