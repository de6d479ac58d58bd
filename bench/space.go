package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// regionSize is the daxkv region for a store of the plan's small-value
// (or YCSB) data: an estimate of what the tree, the value extents and a
// checkpoint's copy-on-write need, kept generous because running out of
// space mid-run is worse than a large sparse-looking file. --region-size
// overrides it.
func (p *plan) regionSize(ycsb bool) int64 {
	keys, vsize := p.Num+p.Warmup, int64(p.ValueSize)
	if ycsb {
		// YCSB D and E insert 5% of their operations, warm-up included.
		keys, vsize = p.YCSBNum+int64(p.Runs+1)*(p.Ops+p.Warmup)/10, int64(p.YCSBValueSize)
	}
	return p.regionFor(keys, vsize)
}

// regionFor sizes a region for keys of the plan's key size and vsize-byte
// values. A loaded store uses about 160 bytes per 100-byte value and 1.3 KB
// per 1000-byte value; the store admits a write only while the free space
// covers what the pending checkpoints could copy (up to a copy of
// everything live per memtable, active and frozen), so the region is
// 6 to 8 times the data.
func (p *plan) regionFor(keys, vsize int64) int64 {
	if p.RegionSize > 0 {
		return p.RegionSize
	}
	k := int64(p.KeySize)
	per := 8 * (k + vsize + 32) // inline in 4 KiB leaves
	if vsize >= 256 {
		// Own extent in 256-byte units with its header, plus the leaf
		// entry; superseded extents wait for a checkpoint.
		per = 6*((k+vsize+64+255)&^255) + 8*(k+32)
	}
	size := keys * per
	size += size / 15 // the WAL takes 1/16 of the region
	size = max(size, 128<<20)
	return (size + 1<<20 - 1) &^ (1<<20 - 1)
}

// spaceNeeded estimates the most bytes the run keeps in Dir at once: peers
// run one at a time and each store is removed when its workloads end.
func (p *plan) spaceNeeded() int64 {
	need := int64(0)
	data := func(keys int64, vsize int) int64 { return keys * int64(p.KeySize+vsize) }
	for _, peer := range p.peers {
		for _, ycsb := range []bool{false, true} {
			if !p.has(groupFresh) && !p.has(groupShared) && !ycsb || ycsb && !p.has(groupYCSB) {
				continue
			}
			var n int64
			switch peer.Name {
			case "daxkv", "daxkv-nosync":
				n = p.regionSize(ycsb)
			case "raw":
				n = min(int64(rawRingSize), p.regionSize(ycsb))
			case "map":
			default:
				// An LSM or B+tree file: the data, its log and a
				// compaction's or a copy-on-write page's second copy.
				keys, vs := p.Num+p.Warmup, p.ValueSize
				if ycsb {
					keys, vs = p.YCSBNum+int64(p.Runs+1)*(p.Ops+p.Warmup)/10, p.YCSBValueSize
				}
				n = 3*data(keys, vs) + 256<<20
			}
			need = max(need, n)
		}
	}
	if p.daxkvOwn && p.has(groupDaxkv) {
		need = max(need, 2*p.regionSize(false)) // the preloaded copy and the one being recovered
		for _, n := range p.SnapshotSizes {
			need = max(need, p.regionFor(n, int64(p.ValueSize)))
		}
	}
	return need
}

// checkDir makes sure Dir exists (creating it), is writable and has room
// for the run, before any store is opened.
func checkDir(p *plan) error {
	fi, err := os.Stat(p.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(p.Dir, 0o755); err != nil {
			return fmt.Errorf("bench: cannot create %s: %w", p.Dir, err)
		}
	case err != nil:
		return fmt.Errorf("bench: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("bench: %s is not a directory: --path names the directory that holds every store's files", p.Dir)
	}
	f, err := os.CreateTemp(p.Dir, ".daxkv-bench-probe-")
	if err != nil {
		return fmt.Errorf("bench: %s is not writable: %w", p.Dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	need := p.spaceNeeded()
	free, err := freeBytes(p.Dir)
	if err != nil {
		return fmt.Errorf("bench: free space of %s: %w", p.Dir, err)
	}
	if free >= 0 && free < need {
		return fmt.Errorf("bench: %s has %s MiB free, and this run needs about %s MiB (largest store: %d keys, %d-byte values; %d YCSB records of %d bytes); lower --num, --ops or --ycsb-num, or use another --path",
			p.Dir, mib(free), mib(need), p.Num, p.ValueSize, p.YCSBNum, p.YCSBValueSize)
	}
	return nil
}
