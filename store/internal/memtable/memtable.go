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
// The ordered map is github.com/tidwall/btree: it offers pull iterators
// (needed to merge a scan across memtables and the tree) and O(1)
// copy-on-write clones (which give View a stable snapshot cheaply). Items
// carry the first 8 key bytes inline, so most comparisons during an insert
// never touch the key bytes themselves (a cache miss each).
package memtable

import (
	"bytes"
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/tidwall/btree"
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

// item is what the btree stores: no slices, a key prefix for cheap
// comparisons, kind packed under the sequence number.
type item struct {
	prefix  uint64 // first 8 key bytes, big-endian, zero-padded
	key     string // aliases the table's key arena
	off     int64
	len     int64
	seqKind uint64 // seq<<8 | kind
}

func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func lessItem(a, b item) bool {
	if a.prefix != b.prefix {
		return a.prefix < b.prefix
	}
	return a.key < b.key
}

func (it *item) seq() uint64 { return it.seqKind >> 8 }

func (it item) entry() Entry {
	return Entry{Key: unsafe.Slice(unsafe.StringData(it.key), len(it.key)), Off: it.off, Len: it.len,
		Seq: it.seqKind >> 8, Kind: Kind(it.seqKind)}
}

// probe builds a lookup item for key without copying it.
func probe(key []byte) item {
	return item{prefix: keyPrefix(key), key: unsafe.String(unsafe.SliceData(key), len(key))}
}

// entryOverhead approximates the DRAM an entry costs beyond its key, for
// accounting (item, btree slack).
const entryOverhead = 64

const arenaChunk = 64 << 10

// Table is one memtable. Writers call Apply; readers call Get or take a
// Clone and iterate it. Safe for concurrent use.
type Table struct {
	mu    sync.RWMutex
	tree  *btree.BTreeG[item]
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
	return &Table{tree: btree.NewBTreeGOptions(lessItem, btree.Options{NoLocks: true, Degree: 16})}
}

// own copies key into the table's arena, so the caller's buffer can change
// afterwards. One allocation per 64 KiB of keys.
func (t *Table) own(key []byte) string {
	if len(key) > cap(t.arena)-len(t.arena) {
		t.arena = make([]byte, 0, max(arenaChunk, len(key)))
	}
	n := len(t.arena)
	t.arena = append(t.arena, key...)
	return unsafe.String(&t.arena[n], len(key))
}

// Apply inserts the entries of one or more batches atomically with respect
// to readers: no Get or Clone sees part of them. A newer Seq always wins,
// so batches may be applied out of order; within one batch later entries
// win over earlier ones with the same key.
func (t *Table) Apply(entries []Entry) {
	t.mu.Lock()
	for i := range entries {
		t.applyOne(&entries[i])
	}
	t.mu.Unlock()
}

func (t *Table) applyOne(e *Entry) {
	it := item{prefix: keyPrefix(e.Key), off: e.Off, len: e.Len, seqKind: e.Seq<<8 | uint64(e.Kind)}
	if len(e.Key) > 0 {
		it.key = t.own(e.Key)
	}
	// One traversal in the common case: insert, then look at what was
	// replaced. An overwrite wastes the key copy; the arena goes with the
	// table.
	prev, replaced := t.tree.Set(it)
	t.bytes += int64(len(it.key)) + inlineBytes(&it) + entryOverhead
	if !replaced {
		return
	}
	t.bytes -= inlineBytes(&prev) + entryOverhead
	if prev.seq() > it.seq() {
		// An older op arrived late: put the newer one back.
		t.tree.Set(prev)
		prev = it
	}
	if Kind(prev.seqKind) == PutExt {
		t.superseded = append(t.superseded, prev.off)
	}
}

// inlineBytes is what an item adds to a tree leaf beyond its key.
func inlineBytes(it *item) int64 {
	if Kind(it.seqKind) == Put {
		return it.len
	}
	return 0
}

// Get returns the entry for key, if the table has one (a tombstone counts).
func (t *Table) Get(key []byte) (Entry, bool) {
	t.mu.RLock()
	it, ok := t.tree.Get(probe(key))
	t.mu.RUnlock()
	if !ok {
		return Entry{}, false
	}
	return it.entry(), true
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
	c := t.tree.Copy()
	t.mu.Unlock()
	return &Snapshot{tree: c}
}

// Snapshot is an immutable view of a table, for iteration.
type Snapshot struct {
	tree *btree.BTreeG[item]
}

// Len is the number of keys in the snapshot.
func (s *Snapshot) Len() int { return s.tree.Len() }

// Get looks a key up in the snapshot.
func (s *Snapshot) Get(key []byte) (Entry, bool) {
	it, ok := s.tree.Get(probe(key))
	if !ok {
		return Entry{}, false
	}
	return it.entry(), true
}

// Ascend calls fn for each entry in key order until it returns false.
func (s *Snapshot) Ascend(fn func(e *Entry) bool) {
	s.tree.Scan(func(it item) bool {
		e := it.entry()
		return fn(&e)
	})
}

// Iter is a pull iterator over a snapshot, ascending.
type Iter struct {
	it    btree.IterG[item]
	cur   Entry
	valid bool
}

// NewIter returns an unpositioned iterator; call SeekGE or First.
func (s *Snapshot) NewIter() *Iter { return &Iter{it: s.tree.Iter()} }

// First positions at the smallest key.
func (i *Iter) First() bool { return i.settle(i.it.First()) }

// SeekGE positions at the first key >= key.
func (i *Iter) SeekGE(key []byte) bool { return i.settle(i.it.Seek(probe(key))) }

// Next advances.
func (i *Iter) Next() bool {
	if !i.valid {
		return false
	}
	return i.settle(i.it.Next())
}

func (i *Iter) settle(ok bool) bool {
	i.valid = ok
	if ok {
		i.cur = i.it.Item().entry()
	}
	return ok
}

// Valid reports whether the iterator is at an entry.
func (i *Iter) Valid() bool { return i.valid }

// Entry is the current entry; valid until the next move.
func (i *Iter) Entry() *Entry { return &i.cur }

// Close releases the iterator.
func (i *Iter) Close() { i.it.Release() }

// compareKeys is bytes.Compare, kept for tests of the prefix ordering.
var compareKeys = bytes.Compare
