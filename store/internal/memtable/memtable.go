// Package memtable is the store's in-DRAM write buffer: an ordered map from
// key to the newest op on it, filled from WAL records and emptied into the
// copy-on-write tree at each checkpoint.
//
// Entries do not copy values: an inline value aliases the WAL record in the
// mapped ring and a large value names its extent, so the memtable costs a
// key copy and a small fixed header per entry. The ring space a table points
// into is reused only after the checkpoint that drains the table is durable
// and no reader can still see it (the store's version epochs).
//
// The ordered map is github.com/tidwall/btree: it offers pull iterators
// (needed to merge a scan across memtables and the tree) and O(1)
// copy-on-write clones (which give View a stable snapshot cheaply).
package memtable

import (
	"bytes"
	"sync"

	"github.com/tidwall/btree"
)

// Kind is what an entry does to its key.
type Kind uint8

const (
	Put    Kind = 1 // value inline, Value aliases the WAL ring
	PutExt Kind = 2 // value in the extent at Ext
	Delete Kind = 3 // tombstone: hides the key in older layers
)

// Entry is the newest op on one key.
type Entry struct {
	Key   []byte // owned by the table
	Value []byte // Put: aliases mapped memory; read it under the fault guard
	Ext   int64  // PutExt: extent offset
	Len   int64  // PutExt: value length
	Seq   uint64 // WAL sequence number of the batch that wrote it
	Kind  Kind
}

// entryOverhead approximates the DRAM an entry costs beyond its key, for
// accounting (btree slot, slice headers).
const entryOverhead = 80

const arenaChunk = 64 << 10

func lessEntry(a, b Entry) bool { return bytes.Compare(a.Key, b.Key) < 0 }

// Table is one memtable. Writers call Apply; readers call Get or take a
// Clone and iterate it. Safe for concurrent use.
type Table struct {
	mu    sync.RWMutex
	tree  *btree.BTreeG[Entry]
	arena []byte // current chunk keys are carved from
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
func New() *Table {
	return &Table{tree: btree.NewBTreeGOptions(lessEntry, btree.Options{NoLocks: true, Degree: 32})}
}

// own copies key into the table's arena, so the caller's buffer (or the
// mapped WAL) can change afterwards. One allocation per 64 KiB of keys.
func (t *Table) own(key []byte) []byte {
	if len(key) > cap(t.arena)-len(t.arena) {
		t.arena = make([]byte, 0, max(arenaChunk, len(key)))
	}
	n := len(t.arena)
	t.arena = append(t.arena, key...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

// Apply inserts the entries of one or more batches atomically with respect
// to readers: no Get or Clone sees part of them. A newer Seq always wins,
// so batches may be applied out of order; within one batch later entries
// win over earlier ones with the same key.
func (t *Table) Apply(entries []Entry) {
	t.mu.Lock()
	for i := range entries {
		t.applyOne(entries[i])
	}
	t.mu.Unlock()
}

func (t *Table) applyOne(e Entry) {
	// One traversal in the common case: insert with a fresh key copy, then
	// look at what was replaced. An overwrite wastes the key copy; the
	// arena is reclaimed with the table.
	e.Key = t.own(e.Key)
	prev, replaced := t.tree.Set(e)
	t.bytes += int64(len(e.Key)+len(e.Value)) + entryOverhead
	if !replaced {
		return
	}
	t.bytes -= int64(len(prev.Value)) + entryOverhead
	if prev.Seq > e.Seq {
		// An older op arrived late: put the newer one back.
		t.tree.Set(prev)
		prev, e = e, prev
	}
	if prev.Kind == PutExt {
		t.superseded = append(t.superseded, prev.Ext)
	}
}

// Get returns the entry for key, if the table has one (a tombstone counts).
func (t *Table) Get(key []byte) (Entry, bool) {
	t.mu.RLock()
	e, ok := t.tree.Get(Entry{Key: key})
	t.mu.RUnlock()
	return e, ok
}

// Len is the number of keys in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tree.Len()
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

// Clone returns a read-only snapshot of the table in O(1): later Applies to
// t do not show in it.
func (t *Table) Clone() *Snapshot {
	t.mu.Lock()
	c := t.tree.Copy()
	t.mu.Unlock()
	return &Snapshot{tree: c}
}

// Snapshot is an immutable view of a table, for iteration.
type Snapshot struct {
	tree *btree.BTreeG[Entry]
}

// Len is the number of keys in the snapshot.
func (s *Snapshot) Len() int { return s.tree.Len() }

// Get looks a key up in the snapshot.
func (s *Snapshot) Get(key []byte) (Entry, bool) { return s.tree.Get(Entry{Key: key}) }

// Ascend calls fn for each entry in key order until it returns false.
func (s *Snapshot) Ascend(fn func(e *Entry) bool) {
	s.tree.Scan(func(e Entry) bool { return fn(&e) })
}

// Iter is a pull iterator over a snapshot, ascending.
type Iter struct {
	it    btree.IterG[Entry]
	valid bool
}

// NewIter returns an unpositioned iterator; call SeekGE or First.
func (s *Snapshot) NewIter() *Iter { return &Iter{it: s.tree.Iter()} }

// First positions at the smallest key.
func (i *Iter) First() bool { i.valid = i.it.First(); return i.valid }

// SeekGE positions at the first key >= key.
func (i *Iter) SeekGE(key []byte) bool { i.valid = i.it.Seek(Entry{Key: key}); return i.valid }

// Next advances.
func (i *Iter) Next() bool {
	if i.valid {
		i.valid = i.it.Next()
	}
	return i.valid
}

// Valid reports whether the iterator is at an entry.
func (i *Iter) Valid() bool { return i.valid }

// Entry is the current entry; valid until the next move.
func (i *Iter) Entry() *Entry { e := i.it.Item(); return &e }

// Close releases the iterator.
func (i *Iter) Close() { i.it.Release() }
