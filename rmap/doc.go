// Package rmap is the reverse map of a daxkv region: physical range ->
// owners. When memory at region offset X (length L) is poisoned, the store
// asks Map.Lookup which extents overlap [X, X+L) and learns, for each, what
// lived there (a tree node and its key range, a value extent and its key, a
// metadata area) and which refs (branches and snapshots, by ID) reach it.
// Only those keys in those refs then fail.
//
// # Building
//
// A Builder is filled by the store's reachability walk, from one goroutine,
// then frozen by Finish into an immutable Map that any number of goroutines
// may query.
//
// There are two ways to attribute an extent to refs, and they mix freely:
//
//   - Walk mode (StartWalk, then Visit for every report of the btree
//     Walker). The store walks every ref's root with one shared Walker, which
//     reports a shared subtree's root once more per extra ref that reaches
//     it but does not descend into it again. The Builder therefore does not
//     attribute refs per report: it records parent -> child edges (the
//     parent is inferred from the Walker's depth-first order, see Visit),
//     gives each walk's ref to its root only, and Finish propagates ref sets
//     down the edges. A snapshot costs one Visit, not a second walk of the
//     whole tree, and in a sound tree each extent ends up with exactly the
//     refs that would reach it if every ref were walked alone.
//   - Direct mode (Add): "ref reaches this extent", for anything not found
//     by a tree walk (a value extent held only by a memtable or the WAL), or
//     for a caller that walks each ref separately (correct, but the walk and
//     the Builder's log then grow with refs x extents).
//
// AddFixed records metadata areas (superblocks, commit slots, WAL, catalog
// copies, a saved allocator image): they belong to the store, not to refs.
//
// An extent is identified by (offset, length, kind). Reports of one extent
// merge: ref sets are unioned, key bounds widen to cover every report, the
// first report's level stays. Reports that disagree on length or kind at
// one offset only come from corrupt metadata; they are kept as separate
// owners so that a lookup names every claim.
//
// Key bounds are a superset of the keys stored under an extent, which are
// the keys that lose data. A node shared by several refs may sit under
// parents with different separators; its own bounds are then the hull of
// what each report said, and its descendants carry the bounds of the path
// along which the Walker first descended. A ref's routing range through a
// shared node can be wider than that, but a key outside it is not stored
// there (inserting it would have copied the node).
//
// # Representation
//
// After Finish an extent is one 32-byte record in a slice sorted by offset:
// offset, length, kind, level, a ref-set ID and two 40-bit positions of its
// keys in a byte arena. A value's key is stored once for Lo and Hi, and a
// small hash cache stores a key once for a run of repeats in walk order (a
// leaf's Lo is usually its first value's key; siblings share bounds). Ref
// sets are interned: most extents are reached by the same few sets of
// refs, so a set is stored once and each record holds a 4-byte ID; sets
// built up one ref at a time are dropped by Finish.
//
// While building, reports are appended to a log with no lookup at all; a
// hash index from offset to record would cost a cache miss per report on a
// big region. Repeats are found in bulk by sorting the log (a radix sort),
// when the log has doubled since the last time and at Finish.
//
// In a sound store extents do not overlap, and a lookup is a binary search
// and a scan. If any two records overlap (corrupt metadata, or metadata
// areas reported over extents), Finish adds an implicit interval tree (one
// int64 per record: the largest end in each subtree) so a lookup stays
// logarithmic plus the output.
//
// Limits: about 2^31 extents (the log holds up to twice as many reports as
// there are extents, indexed by uint32), 2^32-1 ref sets, 2^40 bytes of
// keys; all far beyond what fits in memory. Levels are kept in an int8.
package rmap
