// Package memtable is the store's in-DRAM write buffer: a map from key to
// the newest op on it, ordered on demand, filled from WAL records and
// emptied into the copy-on-write tree at each checkpoint.
//
// Entries do not copy values: an inline value is named by its offset in
// the mapped region (inside the WAL record that carried it) and a large
// value by its extent, so the memtable costs a key copy, a 32-byte log
// slot and 16-32 bytes of index per entry (more in a table sized for more
// keys than it got), plus 40 bytes once ordered. The ring space a table
// points into is reused only after the checkpoint that drains the table
// is durable and no reader can still see it (the store's version epochs).
//
// Point operations (Apply, Get) go through a hash index over a log of the
// table's newest entries (index.go): an insert costs one cache miss, on
// its index cell, which the store starts before its WAL commit
// (Prefetch). Order is built only when asked for (order.go): Clone fills
// a copy-on-write B+tree of its own (tree.go) with what was applied since
// the last Clone, whose pull iterators merge a scan across memtables and
// the store's tree; a frozen table, which its checkpoint reads once,
// radix-sorts its log instead.
package memtable

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// Kind is what an entry does to its key.
type Kind uint8

const (
	Put    Kind = 1 // value inline in a WAL record at Off
	PutExt Kind = 2 // value in the extent at Off
	Delete Kind = 3 // tombstone: hides the key in older layers
)

// Entry is the newest op on one key, as callers see it.
type Entry struct {
	Key  []byte // owned by the table; do not modify
	Off  int64  // Put: region offset of the value; PutExt: extent offset
	Len  int64  // value length
	Seq  uint64 // WAL sequence number of the batch that wrote it
	Kind Kind
	// hash is Key's, taken by Prefetch so that Apply does not hash it
	// again; zero until then. Build a new Entry rather than change the
	// Key of one that was prefetched.
	hash uint64
}

// Loc is where an entry's value is: all a point read needs of an Entry.
// Lookups on the read path return a Loc because it fits in registers; an
// Entry is copied through the stack, which on a point read costs more
// than the lookup itself.
type Loc struct {
	Off  int64
	Len  int64
	Kind Kind
}

// Loc is where e's value is.
func (e *Entry) Loc() Loc { return Loc{Off: e.Off, Len: e.Len, Kind: e.Kind} }

func (e *Entry) keyHash() uint64 {
	if e.hash != 0 {
		return e.hash
	}
	return hashKey(e.Key)
}

func (s *slot) seq() uint64 { return s.seqKind >> 8 }

func (s *slot) loc() Loc { return Loc{Off: s.off, Len: s.len, Kind: Kind(s.seqKind)} }

func (a *arena) entry(s *slot) Entry {
	return Entry{Key: a.key(s.key), Off: s.off, Len: s.len, Seq: s.seqKind >> 8, Kind: Kind(s.seqKind)}
}

// entryOverhead approximates what an entry adds to a checkpoint beyond its
// key and inline value (item header, leaf slack).
const entryOverhead = 64

// Table is one memtable. Writers call Apply; readers call Get or take a
// Clone and iterate it. Safe for concurrent use.
//
// Point operations go through a hash index over the log of the table's
// newest entries (index.go); the ordered tree lags behind them and is
// brought up to date by Clone, which views and scans take (order.go).
type Table struct {
	mu sync.RWMutex
	// used is set by the first Apply and never cleared: until then Get
	// answers without the lock, which a read-mostly store after a
	// checkpoint (an empty table in front of the tree) would otherwise
	// take on every read.
	used  atomic.Bool
	arena arena
	index hashIndex
	log   entryLog
	// bytes approximates what checkpointing this table will write: keys,
	// inline values and per-entry overhead. The store uses it to keep a
	// space reserve for the checkpoint.
	bytes int64
	// superseded are value extents of entries replaced inside this table.
	// They stay allocated until this table's checkpoint is durable, because
	// a WAL replay before then still walks the records that named them.
	superseded []int64
	// first and common track the prefix every key shares (NewAfter).
	first  keyRef
	common int
	// unordered are the log positions whose slots are newer than the
	// tree's; queued is a bitset over log positions marking them. Apply
	// adds to them; Clone takes them, holding orderMu and mu for reading.
	unordered []uint32
	queued    []uint64
	frozen    atomic.Bool

	// orderMu guards the order kept for Clone: the tree, which has an
	// arena header of its own, and a frozen table's sorted log. Clone
	// holds mu only to copy out what it will order, so ordering stalls
	// neither writers nor readers. Lock order: orderMu, then mu.
	orderMu sync.Mutex
	tree    *tree
	sorted  *[]ordered // a frozen table's whole log, by its first Clone
}

// New returns an empty table.
func New() *Table { return newTable(nil, 0) }

// NewSized returns an empty table whose index will hold keys keys (at most
// maxSizedKeys) before it grows again: its first growth, at a few hundred
// keys, jumps to that size. Growing moves every index cell and stalls the
// table's writers and readers meanwhile (a few ms at 256K keys); a table
// that stays small costs only the minimal index.
func NewSized(keys int) *Table { return newTable(nil, keys) }

// maxSizedKeys caps the keys a new table is sized for (32 MiB of index).
const maxSizedKeys = 1 << 21

func newTable(common []byte, keys int) *Table {
	t := &Table{tree: newTree(common)}
	t.index.init(min(max(keys, 0), maxSizedKeys))
	return t
}

// NewAfter returns an empty table to follow prev, tuned for keys sharing
// the prefix prev's keys share, and sized for as many: workloads keep their
// key shapes from one checkpoint to the next. Any key may go in; keys
// outside that prefix only search a little slower.
func NewAfter(prev *Table) *Table {
	prev.mu.RLock()
	common, n := prev.sharedPrefix(), prev.log.n
	prev.mu.RUnlock()
	return newTable(common, n)
}

// Freeze marks the table as taking no more Applies (the store freezes a
// table before checkpointing it). Its Clone then sorts the log instead of
// filling the tree.
func (t *Table) Freeze() {
	t.mu.Lock()
	t.frozen.Store(true)
	t.unordered, t.queued = nil, nil
	t.mu.Unlock()
}

// Apply inserts the entries of one or more batches atomically with respect
// to readers: no Get or Clone sees part of them. A newer Seq always wins,
// so batches may be applied out of order; within one batch later entries
// win over earlier ones with the same key.
func (t *Table) Apply(entries []Entry) {
	t.mu.Lock()
	if t.frozen.Load() {
		t.mu.Unlock()
		panic("memtable: Apply on a frozen table")
	}
	if !t.used.Load() && len(entries) > 0 {
		t.used.Store(true)
	}
	for i := range entries {
		t.applyOne(&entries[i])
	}
	t.mu.Unlock()
}

func (t *Table) applyOne(e *Entry) {
	next := slot{off: e.Off, len: e.Len, seqKind: e.Seq<<8 | uint64(e.Kind)}
	h := e.keyHash()
	pos, existed := t.index.find(h, e.Key, &t.log, &t.arena)
	if !existed {
		next.key = t.arena.add(e.Key)
		pos = t.log.add(next)
		t.index.insert(h, pos)
		t.trackPrefix(next.key)
		t.queue(pos)
		t.bytes += int64(len(e.Key)) + inlineBytes(&next) + entryOverhead
		return
	}
	s := t.log.at(pos)
	next.key = s.key
	loser := next
	if s.seq() <= e.Seq {
		// The common case: the new op replaces the old one. An older op
		// arriving late loses and only its extent is released.
		loser = *s
		t.bytes += inlineBytes(&next) - inlineBytes(s)
		*s = next
		t.queue(pos)
	}
	if Kind(loser.seqKind) == PutExt {
		t.superseded = append(t.superseded, loser.off)
	}
}

// queue notes that the slot at pos is newer than the tree's.
func (t *Table) queue(pos uint32) {
	w := int(pos / 64)
	if w == len(t.queued) {
		t.queued = append(t.queued, 0)
	}
	if bit := uint64(1) << (pos % 64); t.queued[w]&bit == 0 {
		t.queued[w] |= bit
		t.unordered = append(t.unordered, pos)
	}
}

// trackPrefix narrows the prefix shared by all keys to include key.
func (t *Table) trackPrefix(key keyRef) {
	k := t.arena.key(key)
	if t.log.n == 1 {
		t.first, t.common = key, min(len(k), maxCommon)
		return
	}
	f := t.arena.key(t.first)
	n := 0
	for n < min(t.common, len(k)) && f[n] == k[n] {
		n++
	}
	t.common = n
}

// sharedPrefix is the prefix all keys share, at most maxCommon bytes;
// empty with fewer than two keys, which say nothing about the next table's.
func (t *Table) sharedPrefix() []byte {
	if t.log.n < 2 {
		return nil
	}
	return bytes.Clone(t.arena.key(t.first)[:t.common])
}

// inlineBytes is what an entry adds to a tree leaf beyond its key.
func inlineBytes(s *slot) int64 {
	if Kind(s.seqKind) == Put {
		return s.len
	}
	return 0
}

// Prefetch starts loading what an Apply of e reads first, so that its
// cache miss overlaps the caller's work until then (a WAL commit). It
// keeps e's key hash for the Apply, of this table or the next.
func (t *Table) Prefetch(e *Entry) {
	if e.hash == 0 {
		e.hash = hashKey(e.Key)
	}
	t.index.prefetch(e.hash)
}

// Get returns the entry for key, if the table has one (a tombstone counts).
func (t *Table) Get(key []byte) (Entry, bool) {
	if !t.used.Load() {
		// Nothing applied yet, or the Apply that will is not done: it
		// is not ordered before this read.
		return Entry{}, false
	}
	h := hashKey(key)
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := t.slotOf(h, key)
	if s == nil {
		return Entry{}, false
	}
	return t.arena.entry(s), true
}

// Find is Get for point reads: where key's value is.
func (t *Table) Find(key []byte) (Loc, bool) {
	if !t.used.Load() {
		return Loc{}, false // as in Get
	}
	h := hashKey(key)
	t.mu.RLock()
	s := t.slotOf(h, key)
	var l Loc
	if s != nil {
		l = s.loc()
	}
	t.mu.RUnlock()
	return l, s != nil
}

// slotOf returns the log slot of key, whose hash is h, or nil. Call with
// t.mu held; the slot may move once it is released.
func (t *Table) slotOf(h uint64, key []byte) *slot {
	pos, ok := t.index.find(h, key, &t.log, &t.arena)
	if !ok {
		return nil
	}
	return t.log.at(pos)
}

// ValueExtents returns the entries whose values are in extents (PutExt),
// in no particular order: for callers that account for or release those
// extents and need no key order.
func (t *Table) ValueExtents() []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Entry
	for pos := range uint32(t.log.n) {
		if s := t.log.at(pos); Kind(s.seqKind) == PutExt {
			out = append(out, t.arena.entry(s))
		}
	}
	return out
}

// Unused reports whether nothing was ever applied to t, without its
// lock: a read of any key would find nothing in it. An Apply may make the
// answer stale as soon as it is returned; callers use it as a hint.
func (t *Table) Unused() bool { return !t.used.Load() }

// Len is the number of keys in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.log.n
}

// Bytes approximates the bytes a checkpoint of this table writes.
func (t *Table) Bytes() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bytes
}

// Superseded returns the value extents replaced inside this table. Call
// only on a frozen table.
func (t *Table) Superseded() []int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.superseded
}

// ForgetSuperseded drops the superseded list. Recovery calls it: after a
// rebuild those extents are already free.
func (t *Table) ForgetSuperseded() {
	t.mu.Lock()
	t.superseded = nil
	t.mu.Unlock()
}
