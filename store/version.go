package store

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daxkv/daxkv/store/internal/btree"
	"github.com/daxkv/daxkv/store/internal/format"
	"github.com/daxkv/daxkv/store/internal/memtable"
	"github.com/daxkv/daxkv/store/internal/wal"
)

// A version is one immutable read state: the committed catalog (tree roots)
// plus the memtables in front of it. Readers pin a version for the length
// of a read; a checkpoint installs a new version and hands the old one the
// garbage that only older versions can still reach. Garbage is released
// when its version and every older one have no readers: these are the
// epochs that keep zero-copy reads valid and stop freed space from being
// reused under a reader.
type version struct {
	refs atomic.Int64 // readers, plus one while current; deadRefs once reaped

	cat    *format.Catalog
	active map[uint32]*memtable.Table // by ref ID; written by Put and friends
	frozen map[uint32]*memtable.Table // being checkpointed; nil when none
	upTo   wal.Position               // where the WAL stood when frozen was frozen

	garbage garbage // released when this version is reaped

	// dirs are leaf directories of some of cat's roots (dir.go), added
	// after the version is published.
	dirs atomic.Pointer[[]*btree.Dir]
}

// garbage is what became unreachable when a version was superseded.
type garbage struct {
	zombies []int64 // extents at refcount 0, to return to free space
	// walTruncate, when set, lets the WAL reuse space before this position.
	walTruncate bool
	walUpTo     wal.Position
}

// deadRefs marks a reaped version: any later increment stays negative, so
// a racing acquire sees the version is gone and retries.
const deadRefs = math.MinInt64 / 2

func (v *version) root(id uint32) (int64, bool) {
	for i := range v.cat.Refs {
		if v.cat.Refs[i].ID == id {
			return v.cat.Refs[i].Root, true
		}
	}
	return 0, false
}

// versionSet holds the current version and the older ones readers pin.
type versionSet struct {
	cur     atomic.Pointer[version]
	mu      sync.Mutex
	live    []*version // oldest first; the last is current
	release func(*garbage)
	// installed, when set, is called after each install (it wakes the
	// leaf directory builder).
	installed func()
}

func (s *versionSet) init(v *version, release func(*garbage)) {
	v.refs.Store(1)
	s.cur.Store(v)
	s.live = []*version{v}
	s.release = release
}

// acquire pins the current version.
func (s *versionSet) acquire() *version {
	for {
		v := s.cur.Load()
		if v.refs.Add(1) > 1 {
			return v
		}
		// It was superseded and drained between Load and Add; undo.
		s.unref(v)
	}
}

// unref drops one pin; the last one out of a superseded version reaps.
func (s *versionSet) unref(v *version) {
	if v.refs.Add(-1) == 0 && v.refs.CompareAndSwap(0, deadRefs) {
		s.reap()
	}
}

// install makes next current. g is the garbage next no longer reaches;
// it is released once no reader can see the old versions.
func (s *versionSet) install(next *version, g garbage) {
	next.refs.Store(1)
	s.mu.Lock()
	old := s.cur.Load()
	old.garbage = g
	next.inheritDirs(old)
	s.live = append(s.live, next)
	s.cur.Store(next)
	s.mu.Unlock()
	s.unref(old)
	if s.installed != nil {
		s.installed()
	}
}

// reap releases garbage of dead versions, oldest first, stopping at the
// first one still pinned: a younger version's garbage may be visible to an
// older reader.
func (s *versionSet) reap() {
	s.mu.Lock()
	var todo []*version
	for len(s.live) > 1 && s.live[0].refs.Load() <= deadRefs/2 {
		todo = append(todo, s.live[0])
		s.live[0] = nil
		s.live = s.live[1:]
	}
	// Release in order while holding mu, so garbage of a later version is
	// never released before an earlier one's.
	for _, v := range todo {
		s.release(&v.garbage)
		v.garbage = garbage{}
	}
	s.mu.Unlock()
}

// waitUnpinned returns once no reader pins a version: only the current
// one is alive and it holds just its own reference. Close calls it after
// stopping new readers, before unmapping what they read; tick runs at
// every poll.
func (s *versionSet) waitUnpinned(tick func()) {
	for {
		s.mu.Lock()
		idle := len(s.live) == 1 && s.live[0].refs.Load() == 1
		s.mu.Unlock()
		if idle {
			return
		}
		tick()
		time.Sleep(50 * time.Microsecond)
	}
}

// waitReaped waits up to d for every version but the current one to be
// released; it returns at once when there is nothing to wait for.
func (s *versionSet) waitReaped(d time.Duration) {
	deadline := time.Now().Add(d)
	for s.pinned() > 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
}

// pinned reports how many versions are alive (current included).
func (s *versionSet) pinned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}
