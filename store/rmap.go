package store

import (
	"fmt"
	"sync/atomic"

	"github.com/daxkv/daxkv/rmap"
	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
)

// The reverse map answers "what lived at this region offset?" for fault
// containment: which metadata area, tree node (and its key range) or value
// (and its key), and which branches and snapshots reach it.
//
// It covers the durable trees of one catalog generation. The recovery walk
// after a crash fills it for free; otherwise it is built on first use, and
// rebuilt when a checkpoint has moved the trees on. Value extents still in
// memtables change with every write, so lookups match them live instead.

// reverseMap is a finished map and the catalog generation it describes.
type reverseMap struct {
	gen uint64
	m   *rmap.Map
}

type rmapCache struct {
	cur atomic.Pointer[reverseMap]
}

// addFixed records the metadata areas every region has.
func addFixed(b *rmap.Builder, sb *format.Superblock, slot *format.Slot) {
	b.AddFixed(0, format.SuperblockSize, rmap.Superblock)
	b.AddFixed(format.Slot0Off, format.SlotSize, rmap.Slot)
	b.AddFixed(format.Slot1Off, format.SlotSize, rmap.Slot)
	b.AddFixed(sb.WALOff, sb.WALSize, rmap.WAL)
	b.AddFixed(format.BackupOff(sb.Size), format.SuperblockSize, rmap.Superblock)
	for _, off := range slot.Catalog {
		b.AddFixed(off, unitsOf(slot.CatalogLen), rmap.Catalog)
	}
	if slot.AllocOff != 0 {
		b.AddFixed(slot.AllocOff, unitsOf(slot.AllocLen), rmap.AllocImage)
	}
}

// visitRmap turns one walker report into a reverse-map visit.
func visitRmap(b *rmap.Builder, e *btree.Extent) {
	kind := rmap.Node
	if e.Kind == btree.KindValue {
		kind = rmap.Value
	}
	b.Visit(e.Off, extentLen(e), kind, e.Level, e.Lo, e.Hi)
}

// reverseMapFor returns a reverse map of v's trees, building it if the
// cached one describes another generation.
func (db *DB) reverseMapFor(v *version) (*rmap.Map, error) {
	if cur := db.rmap.cur.Load(); cur != nil && cur.gen == v.cat.Gen {
		return cur.m, nil
	}
	b := rmap.NewBuilder()
	db.ckptMu.Lock() // the slot must match v's catalog while we read it
	slot := db.slot
	db.ckptMu.Unlock()
	addFixed(b, &db.sb, &slot)
	w := db.tree.NewWalker()
	for _, r := range v.cat.Refs {
		if r.Root == 0 {
			continue
		}
		b.StartWalk(r.ID)
		err := db.guard(func() error {
			return w.Walk(r.Root, func(e btree.Extent, _ bool) error {
				visitRmap(b, &e)
				return nil
			})
		})
		if err != nil {
			return nil, fmt.Errorf("reverse map: walking %s %q: %w", r.Kind, r.Name, err)
		}
	}
	m := b.Finish()
	db.rmap.cur.Store(&reverseMap{gen: v.cat.Gen, m: m})
	return m, nil
}

// owners lists everything that lived in [off, off+length): durable
// structures from the reverse map, plus value extents of writes not yet
// checkpointed (matched live in the memtables).
func (db *DB) owners(off, length int64) ([]rmap.Owner, error) {
	if length < 1 {
		length = 1
	}
	v := db.vers.acquire()
	defer db.vers.unref(v)
	m, err := db.reverseMapFor(v)
	if err != nil {
		return nil, err
	}
	out := m.Lookup(off, length)
	for _, tables := range []map[uint32]*memtable.Table{v.active, v.frozen} {
		for id, t := range tables {
			for _, e := range t.ValueExtents() {
				n := format.ValueExtentLen(len(e.Key), e.Len)
				if e.Off < off+length && off < e.Off+n {
					key := append([]byte(nil), e.Key...)
					out = append(out, rmap.Owner{Off: e.Off, Len: n, Kind: rmap.Value, Lo: key, Hi: key, Refs: []uint32{id}})
				}
			}
		}
	}
	return out, nil
}
