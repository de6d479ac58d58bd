package rmap

import "slices"

// Finish merges the reports of each extent, propagates refs down the
// recorded edges and returns the result as an immutable Map. It leaves b
// empty, ready to build another.
//
// Zero-length extents are dropped from the Map (no range overlaps them),
// after they have passed their refs on to their children.
func (b *Builder) Finish() *Map {
	if b.compactAt == 0 {
		b.reset()
	}
	b.compact()
	b.propagate()
	b.recs = slices.DeleteFunc(b.recs, func(r rec) bool { return r.n == 0 })
	if b.garbage > int64(len(b.keys.buf))/4 {
		// Rebuilt in offset order, the arena shares fewer repeated keys
		// than in walk order, so only for a lot of garbage.
		b.rebuildKeys()
	}
	recs, keys, sets := clipped(b.recs), b.keys, b.sets
	*b = Builder{} // record and StartWalk reset it
	keys.freeze()
	sets.compact(recs)
	m := &Map{recs: recs, keys: keys, sets: sets}
	m.index()
	return m
}

// propagate gives every extent the refs of all its parents, transitively.
func (b *Builder) propagate() {
	if len(b.edges) == 0 {
		return
	}
	n := len(b.recs)
	// Parents first: in a sound tree every edge goes from level l+1 to l,
	// or from a leaf to a value, so visiting nodes by descending level, then
	// the rest, reaches each extent after all its parents. It then takes
	// the union of their sets and its own in one step, so an extent with
	// many parents does not leave a trail of partial sets behind.
	head, parents := group(n, b.edges, func(e edge) (uint32, uint32) { return e.child, e.parent })
	done := make([]bool, n)
	var late []uint32 // parents taken before they were done
	var ids []uint32
	for _, c := range byRank(b.recs) {
		if ps := parents[head[c]:head[c+1]]; len(ps) > 0 {
			ids = append(ids[:0], b.recs[c].set)
			for _, p := range ps {
				if !done[p] {
					late = append(late, p)
				}
				ids = append(ids, b.recs[p].set)
			}
			b.recs[c].set = b.sets.unionAll(ids)
		}
		done[c] = true
	}
	if len(late) > 0 {
		b.repair(late)
	}
}

// repair passes the sets of late parents on again, and whatever grows as a
// result, until nothing changes. Only corrupt metadata gets here: a pointer
// to a node of another level, or up the tree, even in a cycle. Sets only
// grow, so it ends.
func (b *Builder) repair(work []uint32) {
	head, kids := group(len(b.recs), b.edges, func(e edge) (uint32, uint32) { return e.parent, e.child })
	queued := make([]bool, len(b.recs))
	for _, p := range work {
		queued[p] = true
	}
	for len(work) > 0 {
		p := work[len(work)-1]
		work = work[:len(work)-1]
		queued[p] = false
		for _, c := range kids[head[p]:head[p+1]] {
			r := &b.recs[c]
			if u := b.sets.union(r.set, b.recs[p].set); u != r.set {
				r.set = u
				if !queued[c] {
					queued[c] = true
					work = append(work, c)
				}
			}
		}
	}
}

// group sorts the ends of edges by their other end: for each x, the to(e)
// of the edges with from(e) == x are out[head[x]:head[x+1]].
func group(n int, edges []edge, ends func(edge) (from, to uint32)) (head []int, out []uint32) {
	head = make([]int, n+1)
	for _, e := range edges {
		from, _ := ends(e)
		head[from]++
	}
	for x := 1; x < n; x++ {
		head[x] += head[x-1]
	}
	head[n] = len(edges)
	out = make([]uint32, len(edges))
	for _, e := range edges {
		from, to := ends(e)
		head[from]--
		out[head[from]] = to
	}
	return head, out
}

// byRank returns the record indexes with nodes first, by descending
// level, then the rest.
func byRank(recs []rec) []uint32 {
	rank := func(r *rec) int {
		if r.kind == Node {
			return maxLevel - int(r.level) // 0 for the highest level, 255 for the lowest
		}
		return 256
	}
	var start [258]int
	for i := range recs {
		start[rank(&recs[i])+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	order := make([]uint32, len(recs))
	for i := range recs {
		k := rank(&recs[i])
		order[start[k]] = uint32(i)
		start[k]++
	}
	return order
}
