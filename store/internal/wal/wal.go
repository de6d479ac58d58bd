// Package wal is daxkv's write-ahead log: a fixed ring inside the mapped
// region. One Commit appends one record, and one record is one atomic batch;
// the payload is opaque here (the store encodes its batch ops in it).
//
// # Positions
//
// A position is an absolute byte count since the ring was formatted; the
// ring offset is pos % size and the lap is pos / size. Records carry their
// absolute position, so a record left over from an earlier lap never matches
// the position replay expects there. The ring is never zeroed.
//
// # Record format
//
// Little-endian; every record starts 8-byte aligned and is padded to a
// multiple of 8 (the padding is neither written nor checked).
//
//	off len field
//	  0   4 crc     CRC32C (Castagnoli) of the payload followed by header bytes 4..32
//	  4   4 length  payload bytes; padFlag (1<<31) alone marks a pad record
//	  8   8 pos     absolute position of this record
//	 16   8 seq     sequence number (a pad carries the seq of the record after it)
//	 24   4 prev    crc of the record (or pad) before this one; 0 if Replay found none
//	 28   4 epoch   random, drawn at each Open
//	 32   n payload
//
// The payload comes first in the CRC so a committer can checksum its own
// payload before it takes the lock; the leader finishes the CRC over the
// header. A pad record has no payload; its crc covers header bytes 4..32.
//
// End marker: after each group the leader stores 0 in the crc word and ^0
// in the pos word (bytes 0..16) of the header slot where the next record
// will go (see below).
//
// # Space
//
// The live part of the ring is [last Truncate, end). A reservation
// succeeds only if the record, any pad or skip before it, and the 16 bytes
// of the end marker after it all fit before last Truncate + size; else
// Commit returns ErrFull. MaxPayload is size/2 - 48, which makes any record
// fit in an empty ring wherever its end is.
//
// # Wrap
//
// A record never straddles the end of the ring. If fewer than headerSize
// bytes are left in the lap, the next record starts the next lap (implicit,
// nothing is written). Otherwise, if the record does not fit, a pad record
// (a bare header) fills the rest of the lap and the record starts the next.
//
// # Replay
//
// Replay walks from the checkpoint position and stops, without error, at the
// first header whose pos or seq is not the expected one, whose prev is not
// the previous record's crc, whose length is out of bounds or whose record
// would leave the lap or reach beyond one ring's worth of bytes from the
// start, or whose crc is wrong.
//
// # Records left behind by a crash
//
// A group is made durable by one Drain, and power loss inside that Drain may
// keep a later record of the group and lose an earlier one. Replay stops at
// the lost one, and the next run appends over it: without care, the chain of
// new records could line up with the surviving old one (same position, same
// seq) and replay it although it was never acknowledged. Two things prevent
// that. The prev field chains each record to its predecessor and the epoch
// makes a rewritten record differ from the old one even when its content is
// identical, so an old record never follows a new one. And since the first
// record of a replay has no predecessor to check, after every group (and at
// the end of Replay) the leader overwrites the crc and pos words of the
// header slot where the next record will go, in the same Drain: a position
// the store can checkpoint at never holds an old record.
//
// Breaking the crc word too matters because the record that will go there
// may share every other word with the old one: the next record after a
// crash goes to the cut-short record's place with the same seq and prev,
// and a record the same size as a lost one ends where the old group's next
// record starts, with that record's seq. A crash inside that append could
// take the new pos word and keep every other word of the old record,
// completing it. With the crc word zeroed and durable before the append,
// only the new crc can make that header valid, and it matches only the new
// record. (TestTornRecordNotCompleted, TestTornGroupNotCompleted.)
//
// # Group commit
//
// A committer reserves its position and seq under the mutex and queues its
// payload. If no leader is active it becomes the leader: it takes the whole
// queue, writes and flushes every record, issues one Drain and publishes the
// new durable seq. A real SFENCE only orders the flushes of its own CPU, so
// the goroutine that drains is always the one that wrote. Others wait on a
// condition variable until their seq is durable or leadership is free.
// Groups are drained one after another, so records become durable in seq
// order. A lone writer never waits and never switches goroutine.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/errs"
)

const (
	headerSize = 32
	padFlag    = 1 << 31
	// MinSize is the smallest ring Open accepts.
	MinSize = 64 << 10
	// maxLength bounds a payload whatever the ring size, so length never
	// reaches padFlag.
	maxLength = padFlag - 8
	// markerLen is the free space the end marker needs past the end: the
	// crc and pos words of the next header slot.
	markerLen = 16
	noPad     = ^uint64(0)
)

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// ErrFull means the free part of the ring cannot hold this record now. The
// caller checkpoints, calls Truncate, and retries.
var ErrFull = fmt.Errorf("wal: ring full: %w", errs.NoSpace)

// ErrTooLarge means the record could never fit: with its header and the
// end marker it would take more than half of the ring. Any record up to
// MaxPayload fits in an empty ring, wherever the empty ring's end is.
var ErrTooLarge = fmt.Errorf("wal: record larger than half the ring: %w", errs.Invalid)

var (
	errNotReplayed = fmt.Errorf("wal: Commit before Replay: %w", errs.Invalid)
	errReplayed    = fmt.Errorf("wal: Replay called twice: %w", errs.Invalid)
	errReadOnly    = fmt.Errorf("wal: %w", errs.ReadOnly)
	errLeaderPanic = errors.New("wal: a commit panicked while writing the ring; the log is unusable")
)

// Position names a record: its absolute byte position and its seq. The
// position after the last record (End) names where the next one will go.
type Position struct {
	Off uint64 // absolute byte position since the ring was formatted
	Seq uint64 // seq of the record at Off
}

// Options configure a Log.
type Options struct {
	// Persister makes ring writes durable. Required.
	Persister flush.Persister
	// NoSync makes Commit return once the record is written and flushed,
	// without waiting for the Drain. Sync makes them durable.
	NoSync bool
	// ReadOnly allows Replay only: nothing is ever written to the ring.
	ReadOnly bool
	// Epoch is this run's epoch; zero draws one at random. Crash
	// simulation sets it so that a seed replays the same bytes.
	Epoch uint32
}

// Log is the write-ahead ring. All methods are safe for concurrent use.
type Log struct {
	ring       []byte
	size       uint64
	maxPayload uint64
	p          flush.Persister
	noSync     bool
	readOnly   bool
	epoch      uint32
	start      Position

	// used mirrors end-head (written under mu) for lock-free Used.
	used atomic.Int64

	mu      sync.Mutex
	cond    sync.Cond
	state   int
	head    uint64 // oldest byte still needed (last Truncate)
	end     uint64 // where the next reservation goes
	nextSeq uint64 // seq of the next reservation
	durable uint64 // every seq below it is durable (NoSync: written)
	queue   []pending
	spare   []pending // the other queue buffer, swapped in by the leader
	leading bool
	waiters int
	err     error // sticky: a Drain failed or a leader panicked

	// Owned by the leader (or by Replay before any Commit).
	prev        uint32 // crc of the last record written or replayed
	lastWritten uint64 // seq of the last record written (crash tests read it in OnDrain)
}

const (
	stateOpen = iota
	stateReplaying
	stateReady
)

// pending is a reserved record waiting for a leader to write it.
type pending struct {
	payload []byte
	pcrc    uint32 // CRC32C of payload, computed by its committer
	padAt   uint64 // position of a pad record before it, or noPad
	pos     uint64
	seq     uint64
}

// Open wraps ring, the mapped WAL area, whose checkpoint position is start
// ({0, 1} for a fresh region). Replay must run once before Commit.
func Open(ring []byte, start Position, opts Options) (*Log, error) {
	size := uint64(len(ring))
	switch {
	case opts.Persister == nil:
		return nil, fmt.Errorf("wal: no Persister: %w", errs.Invalid)
	case size < MinSize || size%64 != 0:
		return nil, fmt.Errorf("wal: ring of %d bytes: want a multiple of 64 of at least %d: %w", size, MinSize, errs.Invalid)
	case uintptr(unsafe.Pointer(unsafe.SliceData(ring)))%8 != 0:
		// Headers rely on aligned 8-byte stores being atomic.
		return nil, fmt.Errorf("wal: ring not 8-byte aligned: %w", errs.Invalid)
	case start.Off%8 != 0 || start.Off > 1<<62:
		return nil, fmt.Errorf("wal: bad start position %d: %w", start.Off, errs.Invalid)
	}
	l := &Log{
		ring:       ring,
		size:       size,
		maxPayload: min(size/2-headerSize-markerLen, maxLength),
		p:          opts.Persister,
		noSync:     opts.NoSync,
		readOnly:   opts.ReadOnly,
		epoch:      opts.Epoch,
		start:      start,
		head:       start.Off,
		end:        start.Off,
		nextSeq:    start.Seq,
		durable:    start.Seq,
	}
	for l.epoch == 0 {
		l.epoch = rand.Uint32()
	}
	l.cond.L = &l.mu
	return l, nil
}

// Size is the ring size in bytes.
func (l *Log) Size() int64 { return int64(l.size) }

// MaxPayload is the largest payload Commit accepts.
func (l *Log) MaxPayload() int { return int(l.maxPayload) }

// Used is the number of bytes between the last Truncate and the end,
// including padding at the end of laps.
// It reads a copy kept beside the lock, so writers can poll it on every
// commit without contending with the leader.
func (l *Log) Used() int64 { return l.used.Load() }

// End is the position the next record will take (or, when it wraps, the
// position replay will skip from). With no Commit in flight it is the end of
// the durable log, a valid checkpoint position.
func (l *Log) End() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Position{Off: l.end, Seq: l.nextSeq}
}

// Truncate releases the ring space before upTo for reuse. Call it only once
// a checkpoint naming upTo as its start is durable.
func (l *Log) Truncate(upTo Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if upTo.Off > l.head {
		l.head = min(upTo.Off, l.end)
		l.used.Store(int64(l.end - l.head))
	}
}

// Replay calls fn for every valid record from the start position, in order,
// and positions the log to append after the last one. payload aliases the
// ring (its capacity cut to its length): it stays valid until that space is
// reused after a Truncate. Replay stops without error at the first invalid record; fn's
// error stops it and is returned, leaving the log unusable.
func (l *Log) Replay(fn func(pos Position, payload []byte) error) (end Position, err error) {
	l.mu.Lock()
	if l.state != stateOpen {
		l.mu.Unlock()
		return Position{}, errReplayed
	}
	l.state = stateReplaying
	l.mu.Unlock()

	s := scanner{ring: l.ring, size: l.size, maxPayload: l.maxPayload,
		pos: l.start.Off, seq: l.start.Seq, limit: l.start.Off + l.size}
	for {
		pos, payload, ok := s.next()
		if !ok {
			break
		}
		if err := fn(pos, payload); err != nil {
			return Position{}, err
		}
	}
	if !l.readOnly {
		// Break whatever header an earlier run left where the next record
		// goes (see "Records left behind by a crash").
		if m := l.markerPos(s.pos); m+markerLen <= l.start.Off+l.size {
			off := l.putMarker(m)
			if err := flush.Persist(l.p, l.ring[off:off+markerLen]); err != nil {
				return Position{}, fmt.Errorf("wal: persist end marker: %w", err)
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.prev = s.prev
	l.end = s.pos
	l.used.Store(int64(l.end - l.head))
	l.nextSeq = s.seq
	l.durable = s.seq
	l.state = stateReady
	return Position{Off: s.pos, Seq: s.seq}, nil
}

// scanner walks records from pos; it never reads outside the ring and
// never accepts more than limit-pos bytes, so it always terminates.
type scanner struct {
	ring       []byte
	size       uint64
	maxPayload uint64
	pos        uint64 // after the last accepted record or pad
	seq        uint64 // seq expected next
	limit      uint64 // no accepted byte at or past it
	prev       uint32 // crc of the last accepted record or pad
	chained    bool   // prev is known
}

func (s *scanner) next() (Position, []byte, bool) {
	for {
		hp, off := s.pos, s.pos%s.size
		if s.size-off < headerSize {
			hp += s.size - off
			off = 0
		}
		if hp+headerSize > s.limit {
			return Position{}, nil, false
		}
		h := s.ring[off : off+headerSize]
		if le.Uint64(h[8:]) != hp || le.Uint64(h[16:]) != s.seq ||
			(s.chained && le.Uint32(h[24:]) != s.prev) {
			return Position{}, nil, false
		}
		length := uint64(le.Uint32(h[4:]))
		var body []byte
		var next uint64
		if length&padFlag != 0 {
			if length != padFlag {
				return Position{}, nil, false
			}
			next = hp + s.size - off
		} else {
			recLen := headerSize + align8(length)
			if length > s.maxPayload || off+recLen > s.size || hp+recLen > s.limit {
				return Position{}, nil, false
			}
			b := off + headerSize
			body = s.ring[b : b+length : b+length]
			next = hp + recLen
		}
		crc := crc32.Update(crc32.Checksum(body, castagnoli), castagnoli, h[4:])
		if crc != le.Uint32(h) {
			return Position{}, nil, false
		}
		s.prev, s.chained = crc, true
		s.pos = next
		if length&padFlag != 0 {
			continue
		}
		seq := s.seq
		s.seq++
		return Position{Off: hp, Seq: seq}, body, true
	}
}

// Commit appends payload as one record and returns once it is durable (with
// NoSync, once it is written). rec is the payload's copy inside the ring,
// valid until that space is reused after a Truncate; payload itself is not
// retained.
func (l *Log) Commit(payload []byte) (pos Position, rec []byte, err error) {
	n := uint64(len(payload))
	if n > l.maxPayload {
		return Position{}, nil, ErrTooLarge
	}
	pcrc := crc32.Checksum(payload, castagnoli)

	l.mu.Lock()
	r, err := l.reserve(payload, pcrc)
	if err != nil {
		l.mu.Unlock()
		return Position{}, nil, err
	}
	for l.durable <= r.seq {
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return Position{}, nil, err
		}
		if !l.leading {
			l.lead()
			continue
		}
		l.waiters++
		l.cond.Wait()
		l.waiters--
	}
	l.mu.Unlock()
	b := r.pos%l.size + headerSize
	return Position{Off: r.pos, Seq: r.seq}, l.ring[b : b+n : b+n], nil
}

// reserve assigns the next position and seq to a record and queues it.
// Called with mu held.
func (l *Log) reserve(payload []byte, pcrc uint32) (pending, error) {
	switch {
	case l.readOnly:
		return pending{}, errReadOnly
	case l.state != stateReady:
		return pending{}, errNotReplayed
	case l.err != nil:
		return pending{}, l.err
	}
	recLen := headerSize + align8(uint64(len(payload)))
	r := pending{payload: payload, pcrc: pcrc, padAt: noPad, pos: l.end, seq: l.nextSeq}
	if tail := l.size - r.pos%l.size; tail < headerSize {
		r.pos += tail
	} else if tail < recLen {
		r.padAt = r.pos
		r.pos += tail
	}
	newEnd := r.pos + recLen
	// The marker after this record must land in free space too.
	if l.markerPos(newEnd)+markerLen > l.head+l.size {
		return pending{}, ErrFull
	}
	l.end = newEnd
	l.used.Store(int64(l.end - l.head))
	l.nextSeq++
	l.queue = append(l.queue, r)
	return r, nil
}

// lead writes and drains every queued record. Called with mu held and no
// leader active; returns with mu held.
func (l *Log) lead() {
	l.leading = true
	batch := l.queue
	l.queue = l.spare[:0]
	l.mu.Unlock()

	done := false
	defer func() {
		if !done {
			// A fault while writing the ring: the waiters must not hang.
			l.mu.Lock()
			if l.err == nil {
				l.err = errLeaderPanic
			}
			l.leading = false
			l.cond.Broadcast()
			l.mu.Unlock()
		}
	}()
	err := l.write(batch)
	done = true

	l.mu.Lock()
	last := batch[len(batch)-1].seq
	clear(batch) // drop the committers' payloads
	l.spare = batch[:0]
	switch {
	case err != nil && l.err == nil:
		l.err = fmt.Errorf("wal: drain: %w", err)
	case err == nil:
		l.durable = last + 1
	}
	l.leading = false
	if l.waiters > 0 {
		l.cond.Broadcast()
	}
}

// write copies and flushes a batch of reserved records, then the end
// marker, and drains once. Leader only.
func (l *Log) write(batch []pending) error {
	d := dirty{p: l.p, ring: l.ring}
	for i := range batch {
		r := &batch[i]
		if r.padAt != noPad {
			off := l.putHeader(r.padAt, padFlag, r.seq, 0)
			d.add(off, off+headerSize)
		}
		off := l.putHeader(r.pos, uint32(len(r.payload)), r.seq, r.pcrc)
		dst := l.ring[off+headerSize : off+headerSize+uint64(len(r.payload))]
		if len(r.payload) >= 256 {
			// Non-temporal stores, flushed by Copy itself.
			l.p.Copy(dst, r.payload)
			d.add(off, off+headerSize)
		} else {
			copy(dst, r.payload)
			d.add(off, off+headerSize+uint64(len(r.payload)))
		}
	}
	last := &batch[len(batch)-1]
	m := l.putMarker(l.markerPos(last.pos + headerSize + align8(uint64(len(last.payload)))))
	d.add(m, m+markerLen)
	d.flush()
	l.lastWritten = last.seq
	if l.noSync {
		return nil
	}
	return l.p.Drain()
}

// putHeader writes the header of the record at absolute position pos,
// chaining it to the previous record, and returns its ring offset.
func (l *Log) putHeader(pos uint64, length uint32, seq uint64, bodyCRC uint32) uint64 {
	off := pos % l.size
	h := l.ring[off : off+headerSize]
	le.PutUint32(h[4:], length)
	le.PutUint64(h[8:], pos)
	le.PutUint64(h[16:], seq)
	le.PutUint32(h[24:], l.prev)
	le.PutUint32(h[28:], l.epoch)
	l.prev = crc32.Update(bodyCRC, castagnoli, h[4:])
	le.PutUint32(h, l.prev)
	return off
}

// Sync makes every record whose Commit has returned durable. It is needed
// only with NoSync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.leading {
		l.waiters++
		l.cond.Wait()
		l.waiters--
	}
	if l.err != nil {
		return l.err
	}
	// Take leadership so the Drain does not interleave with a group.
	l.leading = true
	l.mu.Unlock()
	err := l.p.Drain()
	l.mu.Lock()
	l.leading = false
	if err != nil && l.err == nil {
		l.err = fmt.Errorf("wal: drain: %w", err)
	}
	if l.waiters > 0 {
		l.cond.Broadcast()
	}
	return l.err
}

// putMarker writes the end marker into the header slot at absolute
// position pos (0 in the crc word, ^0 in the pos word; see "Records left
// behind by a crash") and returns its ring offset. Not flushed.
func (l *Log) putMarker(pos uint64) uint64 {
	off := pos % l.size
	le.PutUint64(l.ring[off:], 0)
	le.PutUint64(l.ring[off+8:], ^uint64(0))
	return off
}

// markerPos is where the header of a record appended at end would start.
func (l *Log) markerPos(end uint64) uint64 {
	if tail := l.size - end%l.size; tail < headerSize {
		return end + tail
	}
	return end
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// dirty merges the ring ranges a batch wrote into as few Flush calls as
// possible.
type dirty struct {
	p      flush.Persister
	ring   []byte
	lo, hi uint64
}

func (d *dirty) add(lo, hi uint64) {
	// A gap under one line touches no line that the two ranges do not
	// already touch, so merging across it costs nothing.
	if d.hi > d.lo && lo >= d.lo && lo < d.hi+flush.LineSize {
		d.hi = max(d.hi, hi)
		return
	}
	d.flush()
	d.lo, d.hi = lo, hi
}

func (d *dirty) flush() {
	if d.hi > d.lo {
		d.p.Flush(d.ring[d.lo:d.hi])
	}
	d.lo, d.hi = 0, 0
}
