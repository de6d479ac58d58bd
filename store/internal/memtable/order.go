package memtable

import (
	"bytes"
	"cmp"
	"slices"
	"sort"
)

// A table keeps key order only for Clone. An active table orders into its
// copy-on-write tree the entries applied since the last Clone, so views
// and scans pay for ordering what was written since the previous one. A
// frozen table, which the checkpoint drains with a single Clone, sorts its
// log once instead: building a tree the checkpoint walks once would cost
// it a tree insert per key.

// ordered is a slot with its key's prefix (probe), the sort key. Sorting
// copies of the slots rather than log positions lets the sorted log be
// read in order without a cache miss per slot.
type ordered struct {
	prefix uint64
	slot
}

// Clone returns a read-only snapshot of the table: later Applies to t do
// not show in it. It costs ordering the entries applied since the last
// Clone (a frozen table's first Clone sorts them all), O(1) beyond them.
func (t *Table) Clone() *Snapshot {
	t.orderMu.Lock()
	defer t.orderMu.Unlock()
	t.mu.RLock()
	if t.frozen.Load() {
		t.mu.RUnlock()
		return t.frozenSnapshot()
	}
	run := t.takeUnordered()
	t.tree.arena = t.arena.view()
	t.mu.RUnlock()

	t.sortByKey(run, &t.tree.arena)
	for i := range run {
		o := &run[i]
		k := probeKey{prefix: o.prefix, key: t.tree.arena.key(o.key)}
		*t.tree.set(&k, o.key) = o.slot
	}
	return &Snapshot{tree: t.tree.clone()}
}

// takeUnordered copies out the slots applied since the last Clone, with
// their prefixes, and empties the queue. The caller holds mu.
func (t *Table) takeUnordered() []ordered {
	run := make([]ordered, len(t.unordered))
	for i, pos := range t.unordered {
		run[i] = t.order(t.log.at(pos))
		t.queued[pos/64] &^= 1 << (pos % 64)
	}
	t.unordered = t.unordered[:0]
	return run
}

// frozenSnapshot sorts the frozen table's log, once, with orderMu held.
// Without Applies the log and arena no longer change: no mu is needed.
func (t *Table) frozenSnapshot() *Snapshot {
	if t.sorted == nil {
		run := make([]ordered, t.log.n)
		for pos := range run {
			run[pos] = t.order(t.log.at(uint32(pos)))
		}
		t.sortByKey(run, &t.arena)
		t.sorted = &run
	}
	keys := &tree{common: t.tree.common, arena: t.arena.view()}
	return &Snapshot{tree: keys, sorted: *t.sorted, frozen: true}
}

func (t *Table) order(s *slot) ordered {
	return ordered{t.tree.probe(t.arena.key(s.key)).prefix, *s}
}

// sortByKey sorts run by prefix, then by key bytes (in a) among equal
// prefixes.
func (t *Table) sortByKey(run []ordered, a *arena) {
	if len(run) < radixMin {
		slices.SortFunc(run, func(x, y ordered) int {
			if c := cmp.Compare(x.prefix, y.prefix); c != 0 {
				return c
			}
			return bytes.Compare(a.key(x.key), a.key(y.key))
		})
		return
	}
	radixSortPrefix(run)
	for i := 0; i < len(run); {
		j := i + 1
		for j < len(run) && run[j].prefix == run[i].prefix {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(run[i:j], func(x, y ordered) int { return bytes.Compare(a.key(x.key), a.key(y.key)) })
		}
		i = j
	}
}

// radixMin is the run from which a radix sort beats a comparison sort: a
// frozen table's log of a few hundred thousand entries sorts in a fifth
// of the time, where the comparison sort cost a checkpoint ~0.3 s.
const radixMin = 4096

// radixSortPrefix sorts run by prefix alone, least significant 16 bits
// first; a digit every entry shares (the top bits of keys alike) costs
// one counting pass and no moves.
func radixSortPrefix(run []ordered) {
	const digitBits = 16
	if len(run) < 2 {
		return
	}
	buf := make([]ordered, len(run))
	count := make([]uint32, 1<<digitBits)
	src, dst := run, buf
	for shift := 0; shift < 64; shift += digitBits {
		clear(count)
		for i := range src {
			count[uint16(src[i].prefix>>shift)]++
		}
		if count[uint16(src[0].prefix>>shift)] == uint32(len(src)) {
			continue
		}
		var sum uint32
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i := range src {
			d := uint16(src[i].prefix >> shift)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &run[0] {
		copy(run, src)
	}
}

// Snapshot is an immutable view of a table, for iteration: a tree clone,
// or for a frozen table its sorted log.
type Snapshot struct {
	tree   *tree // when frozen, an empty tree: for probe and keys only
	sorted []ordered
	frozen bool // sorted, not tree, holds the entries
}

// Len is the number of keys in the snapshot.
func (s *Snapshot) Len() int {
	if s.frozen {
		return len(s.sorted)
	}
	return s.tree.count
}

// Get looks a key up in the snapshot.
func (s *Snapshot) Get(key []byte) (Entry, bool) {
	if sl := s.slotOf(key); sl != nil {
		return s.tree.arena.entry(sl), true
	}
	return Entry{}, false
}

// Find is Get for point reads: where key's value is.
func (s *Snapshot) Find(key []byte) (Loc, bool) {
	if sl := s.slotOf(key); sl != nil {
		return sl.loc(), true
	}
	return Loc{}, false
}

// slotOf returns key's slot, or nil.
func (s *Snapshot) slotOf(key []byte) *slot {
	k := s.tree.probe(key)
	if s.frozen {
		i := s.searchSorted(&k)
		if i == len(s.sorted) || s.sorted[i].prefix != k.prefix {
			return nil
		}
		sl := &s.sorted[i].slot
		if !bytes.Equal(s.tree.arena.key(sl.key), key) {
			return nil
		}
		return sl
	}
	sl, _ := s.tree.get(&k)
	return sl
}

// searchSorted is the first index of the sorted log whose key is >= k.
func (s *Snapshot) searchSorted(k *probeKey) int {
	return sort.Search(len(s.sorted), func(i int) bool {
		o := &s.sorted[i]
		if o.prefix != k.prefix {
			return o.prefix > k.prefix
		}
		return bytes.Compare(s.tree.arena.key(o.key), k.key) >= 0
	})
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
	s   *Snapshot
	it  iter // over a tree
	at  int  // over a sorted log
	cur Entry
}

// NewIter returns an unpositioned iterator; call SeekGE or First.
func (s *Snapshot) NewIter() *Iter {
	return &Iter{s: s, it: iter{t: s.tree}, at: len(s.sorted)}
}

// First positions at the smallest key.
func (i *Iter) First() bool {
	if i.s.frozen {
		i.at = 0
		return i.loadSorted()
	}
	return i.load(i.it.first())
}

// SeekGE positions at the first key >= key.
func (i *Iter) SeekGE(key []byte) bool {
	k := i.s.tree.probe(key)
	if i.s.frozen {
		i.at = i.s.searchSorted(&k)
		return i.loadSorted()
	}
	return i.load(i.it.seekGE(&k))
}

// Next advances.
func (i *Iter) Next() bool {
	if i.s.frozen {
		if i.at < len(i.s.sorted) {
			i.at++
		}
		return i.loadSorted()
	}
	return i.load(i.it.next())
}

func (i *Iter) load(ok bool) bool {
	if ok {
		i.cur = i.it.t.arena.entry(&i.it.leaf.slots[i.it.i])
	}
	return ok
}

func (i *Iter) loadSorted() bool {
	if i.at >= len(i.s.sorted) {
		return false
	}
	i.cur = i.s.tree.arena.entry(&i.s.sorted[i.at].slot)
	return true
}

// Valid reports whether the iterator is at an entry.
func (i *Iter) Valid() bool {
	if i.s.frozen {
		return i.at < len(i.s.sorted)
	}
	return i.it.valid
}

// Entry is the current entry; valid until the next move.
func (i *Iter) Entry() *Entry { return &i.cur }

// Close releases the iterator.
func (i *Iter) Close() {}
