// Package memtable is the store's in-DRAM write buffer: an ordered map from
// key to the newest op on it, filled from WAL records and emptied into the
// copy-on-write tree at each checkpoint.
//
// Entries do not copy values: an inline value is named by its offset in
// the mapped region (inside the WAL record that carried it) and a large
// value by its extent, so the memtable costs a key copy and a 48-byte item
// per entry. The ring space a table points into is reused only after the
// checkpoint that drains the table is durable and no reader can still see
// it (the store's version epochs).
//
// The ordered map is a copy-on-write B+tree of its own (tree.go): pull
// iterators merge a scan across memtables and the store's tree, O(1)
// clones give View a stable snapshot, and leaves without pointers keep
// inserts cheap.
package memtable

import (
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
}

func (s *slot) seq() uint64 { return s.seqKind >> 8 }

func (t *tree) entry(s *slot) Entry {
	return Entry{Key: t.arena.key(s.key), Off: s.off, Len: s.len, Seq: s.seqKind >> 8, Kind: Kind(s.seqKind)}
}

// entryOverhead approximates the DRAM an entry costs beyond its key, for
// accounting (slot, prefix, leaf slack).
const entryOverhead = 64

// Table is one memtable. Writers call Apply; readers call Get or take a
// Clone and iterate it. Safe for concurrent use.
type Table struct {
	mu   sync.RWMutex
	tree *tree
	// used is set by the first Apply and never cleared: until then Get
	// answers without the lock, which a read-mostly store after a
	// checkpoint (an empty table in front of the tree) would otherwise
	// take on every read.
	used atomic.Bool
	// bytes approximates what checkpointing this table will write: keys,
	// inline values and per-entry overhead. The store uses it to keep a
	// space reserve for the checkpoint.
	bytes int64
	// superseded are value extents of entries replaced inside this table.
	// They stay allocated until this table's checkpoint is durable, because
	// a WAL replay before then still walks the records that named them.
	superseded []int64
}

// New returns an empty table.
func New() *Table { return &Table{tree: newTree(nil)} }

// NewAfter returns an empty table to follow prev, tuned for keys sharing
// the prefix prev's keys share: workloads keep their key shapes from one
// checkpoint to the next. Any key may go in; keys outside that prefix only
// search a little slower.
func NewAfter(prev *Table) *Table {
	prev.mu.RLock()
	common := prev.tree.sharedPrefix()
	prev.mu.RUnlock()
	return &Table{tree: newTree(common)}
}

// Apply inserts the entries of one or more batches atomically with respect
// to readers: no Get or Clone sees part of them. A newer Seq always wins,
// so batches may be applied out of order; within one batch later entries
// win over earlier ones with the same key.
func (t *Table) Apply(entries []Entry) {
	t.mu.Lock()
	if !t.used.Load() && len(entries) > 0 {
		t.used.Store(true)
	}
	for i := range entries {
		t.applyOne(&entries[i])
	}
	t.mu.Unlock()
}

func (t *Table) applyOne(e *Entry) {
	k := t.tree.probe(e.Key)
	s, existed := t.tree.set(&k)
	next := slot{key: s.key, off: e.Off, len: e.Len, seqKind: e.Seq<<8 | uint64(e.Kind)}
	if !existed {
		*s = next
		t.bytes += int64(len(e.Key)) + inlineBytes(&next) + entryOverhead
		return
	}
	loser := next
	if s.seq() <= e.Seq {
		// The common case: the new op replaces the old one. An older op
		// arriving late loses and only its extent is released.
		loser = *s
		t.bytes += inlineBytes(&next) - inlineBytes(s)
		*s = next
	}
	if Kind(loser.seqKind) == PutExt {
		t.superseded = append(t.superseded, loser.off)
	}
}

// inlineBytes is what an entry adds to a tree leaf beyond its key.
func inlineBytes(s *slot) int64 {
	if Kind(s.seqKind) == Put {
		return s.len
	}
	return 0
}

// Get returns the entry for key, if the table has one (a tombstone counts).
func (t *Table) Get(key []byte) (Entry, bool) {
	if !t.used.Load() {
		// Nothing applied yet, or the Apply that will is not done: it
		// is not ordered before this read.
		return Entry{}, false
	}
	k := t.tree.probe(key)
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.tree.get(&k)
	if !ok {
		return Entry{}, false
	}
	return t.tree.entry(s), true
}

// Len is the number of keys in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tree.count
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

// Clone returns a read-only snapshot of the table in O(1): later Applies to
// t do not show in it.
func (t *Table) Clone() *Snapshot {
	t.mu.Lock()
	c := t.tree.clone()
	t.mu.Unlock()
	return &Snapshot{tree: c}
}

// Snapshot is an immutable view of a table, for iteration.
type Snapshot struct {
	tree *tree
}

// Len is the number of keys in the snapshot.
func (s *Snapshot) Len() int { return s.tree.count }

// Get looks a key up in the snapshot.
func (s *Snapshot) Get(key []byte) (Entry, bool) {
	k := s.tree.probe(key)
	sl, ok := s.tree.get(&k)
	if !ok {
		return Entry{}, false
	}
	return s.tree.entry(sl), true
}

// Ascend calls fn for each entry in key order until it returns false.
func (s *Snapshot) Ascend(fn func(e *Entry) bool) {
	it := s.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(it.Entry()) {
			return
		}
	}
}

// Iter is a pull iterator over a snapshot, ascending.
type Iter struct {
	it  iter
	cur Entry
}

// NewIter returns an unpositioned iterator; call SeekGE or First.
func (s *Snapshot) NewIter() *Iter { return &Iter{it: iter{t: s.tree}} }

// First positions at the smallest key.
func (i *Iter) First() bool { return i.load(i.it.first()) }

// SeekGE positions at the first key >= key.
func (i *Iter) SeekGE(key []byte) bool {
	k := i.it.t.probe(key)
	return i.load(i.it.seekGE(&k))
}

// Next advances.
func (i *Iter) Next() bool { return i.load(i.it.next()) }

func (i *Iter) load(ok bool) bool {
	if ok {
		i.cur = i.it.t.entry(&i.it.leaf.slots[i.it.i])
	}
	return ok
}

// Valid reports whether the iterator is at an entry.
func (i *Iter) Valid() bool { return i.it.valid }

// Entry is the current entry; valid until the next move.
func (i *Iter) Entry() *Entry { return &i.cur }

// Close releases the iterator.
func (i *Iter) Close() {}
