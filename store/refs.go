package store

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/daxkv/daxkv/store/internal/format"
)

// Branches and snapshots. Every ref is a root of the copy-on-write tree in
// the catalog; making one is a reference to an existing root, deleting one
// releases what only it reached. Each operation is one commit of the
// catalog (checkpoint.go), so it is atomic and survives crashes: a
// snapshot or branch of a branch rides a checkpoint, which applies the
// branch's memtable first (bounded by the WAL size, not the store's);
// deleting, restoring and branching a snapshot commit the catalog alone.
// Branch and snapshot names share one namespace.

// RefKind tells branches from snapshots. It is the catalog's own kind,
// so the values stored and the values returned cannot drift apart.
type RefKind = format.RefKind

const (
	KindBranch   = format.KindBranch   // writable
	KindSnapshot = format.KindSnapshot // read-only
)

// RefInfo describes a branch or snapshot.
type RefInfo struct {
	Name    string
	Kind    RefKind
	Created time.Time
	// Seq is the WAL sequence number its tree is up to: a snapshot holds
	// every write acknowledged up to Seq; a branch, as of its last
	// checkpoint (later writes are in its memtable).
	Seq uint64
	// Parent is the ref it was created from; empty when that ref has
	// been deleted since (or for main).
	Parent string
}

func refInfo(cat *format.Catalog, r *format.Ref) RefInfo {
	info := RefInfo{Name: r.Name, Kind: r.Kind, Created: r.CreatedTime(), Seq: r.Seq}
	for i := range cat.Refs {
		if cat.Refs[i].ID == r.Parent && r.Parent != 0 {
			info.Parent = cat.Refs[i].Name
		}
	}
	return info
}

// CreateSnapshot makes a read-only snapshot of the branch from ("" means
// main) as of now: it holds every write acknowledged before the call.
func (db *DB) CreateSnapshot(name, from string) (RefInfo, error) {
	if from == "" {
		from = MainBranch
	}
	if err := checkNames(name, from); err != nil {
		return RefInfo{}, err
	}
	var edit *catalogEdit
	var parent *format.Catalog
	err := db.refOp(func(cat *format.Catalog) (*catalogEdit, error) {
		src, err := findRef(cat, from)
		if err != nil {
			return nil, err
		}
		if src.Kind != format.KindBranch {
			return nil, fmt.Errorf("%w: %q is a snapshot; snapshots are taken of branches (make a branch of it first)", ErrInvalid, from)
		}
		add, err := newRef(cat, format.KindSnapshot, name, src)
		if err != nil {
			return nil, err
		}
		edit, parent = &catalogEdit{add: add, from: src.ID, flush: true}, cat
		return edit, nil
	})
	if err != nil {
		return RefInfo{}, err
	}
	return refInfo(parent, edit.add), nil
}

// CreateBranch makes a writable branch from a branch or a snapshot ("" means
// main). The two share everything until one of them is written.
func (db *DB) CreateBranch(name, from string) error {
	if from == "" {
		from = MainBranch
	}
	if err := checkNames(name, from); err != nil {
		return err
	}
	return db.refOp(func(cat *format.Catalog) (*catalogEdit, error) {
		src, err := findRef(cat, from)
		if err != nil {
			return nil, err
		}
		add, err := newRef(cat, format.KindBranch, name, src)
		if err != nil {
			return nil, err
		}
		// A branch of a branch includes its memtable: a checkpoint.
		return &catalogEdit{add: add, from: src.ID, flush: src.Kind == format.KindBranch}, nil
	})
}

// DeleteSnapshot deletes a snapshot. The space only it held is freed once
// no reader can still see it.
func (db *DB) DeleteSnapshot(name string) error {
	return db.deleteRef(name, format.KindSnapshot)
}

// DeleteBranch deletes a branch with its unflushed writes; main cannot be
// deleted. The space only it held is freed once no reader can see it.
func (db *DB) DeleteBranch(name string) error {
	if name == MainBranch {
		return fmt.Errorf("%w: the main branch cannot be deleted", ErrInvalid)
	}
	return db.deleteRef(name, format.KindBranch)
}

func (db *DB) deleteRef(name string, kind format.RefKind) error {
	if err := checkNames(name); err != nil {
		return err
	}
	return db.refOp(func(cat *format.Catalog) (*catalogEdit, error) {
		r, err := findKind(cat, name, kind)
		if err != nil {
			return nil, err
		}
		return &catalogEdit{remove: r.ID}, nil
	})
}

// Restore makes branch exactly what snapshot holds, in one atomic commit:
// the branch's writes since the snapshot (checkpointed or not) are gone.
// Writes to any branch wait only while the catalog commits, so each lands
// wholly before the restore (and is discarded) or after it.
func (db *DB) Restore(branch, snapshot string) error {
	if err := checkNames(branch, snapshot); err != nil {
		return err
	}
	return db.refOp(func(cat *format.Catalog) (*catalogEdit, error) {
		dst, err := findRef(cat, branch)
		if err != nil {
			return nil, err
		}
		if dst.Kind != format.KindBranch {
			return nil, fmt.Errorf("%w: cannot restore onto %q, a snapshot (snapshots never change)", ErrInvalid, branch)
		}
		src, err := findKind(cat, snapshot, format.KindSnapshot)
		if err != nil {
			return nil, err
		}
		return &catalogEdit{target: dst.ID, source: src.ID}, nil
	})
}

// Branch returns a handle on the named branch. A snapshot's name gives
// ErrReadOnly: snapshots are written to by making a branch of them.
func (db *DB) Branch(name string) (*Branch, error) {
	r, err := db.handle(name)
	if err != nil {
		return nil, err
	}
	if r.kind != format.KindBranch {
		return nil, fmt.Errorf("%w: %q is a snapshot; make a branch of it to write", ErrReadOnly, name)
	}
	return &Branch{r: r}, nil
}

// Snapshot returns a read-only handle on the named snapshot.
func (db *DB) Snapshot(name string) (*Snapshot, error) {
	r, err := db.handle(name)
	if err != nil {
		return nil, err
	}
	if r.kind != format.KindSnapshot {
		return nil, fmt.Errorf("%w: %q is a branch, not a snapshot", ErrInvalid, name)
	}
	return &Snapshot{r: r}, nil
}

func (db *DB) handle(name string) (*refHandle, error) {
	if err := checkNames(name); err != nil {
		return nil, err
	}
	if err := db.begin(); err != nil {
		return nil, err
	}
	defer db.end()
	r, err := findRef(db.vers.cur.Load().cat, name)
	if err != nil {
		return nil, err
	}
	return &refHandle{db: db, id: r.ID, name: r.Name, kind: r.Kind}, nil
}

// Branches lists the branches, oldest first.
func (db *DB) Branches() ([]RefInfo, error) { return db.listRefs(format.KindBranch) }

// Snapshots lists the snapshots, oldest first.
func (db *DB) Snapshots() ([]RefInfo, error) { return db.listRefs(format.KindSnapshot) }

func (db *DB) listRefs(kind format.RefKind) ([]RefInfo, error) {
	if err := db.begin(); err != nil {
		return nil, err
	}
	defer db.end()
	cat := db.vers.cur.Load().cat
	var out []RefInfo
	for i := range cat.Refs {
		if cat.Refs[i].Kind == kind {
			out = append(out, refInfo(cat, &cat.Refs[i]))
		}
	}
	sortRefs(out)
	return out, nil
}

func sortRefs(refs []RefInfo) { slices.SortFunc(refs, cmpRefs) }

// cmpRefs orders refs oldest first.
func cmpRefs(a, b RefInfo) int {
	return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
}

// refOp commits the catalog edit plan returns with a checkpoint.
func (db *DB) refOp(plan func(cat *format.Catalog) (*catalogEdit, error)) error {
	if err := db.beginWrite(); err != nil {
		return err
	}
	defer db.end()
	return db.commitEdit(plan)
}

func checkNames(names ...string) error {
	for _, n := range names {
		if err := format.ValidateName(n); err != nil {
			return err
		}
	}
	return nil
}

func findRef(cat *format.Catalog, name string) (*format.Ref, error) {
	r, ok := cat.Find(name)
	if !ok {
		return nil, fmt.Errorf("%w: no branch or snapshot named %q", ErrNotFound, name)
	}
	return r, nil
}

func findKind(cat *format.Catalog, name string, kind format.RefKind) (*format.Ref, error) {
	r, err := findRef(cat, name)
	if err != nil {
		return nil, err
	}
	if r.Kind != kind {
		return nil, fmt.Errorf("%w: %q is a %s, not a %s", ErrInvalid, name, r.Kind, kind)
	}
	return r, nil
}

// newRef makes the catalog entry of a new ref cloned from src. IDs are
// never reused: a WAL record names its branch by ID, and replay skips
// records of IDs the catalog no longer has.
func newRef(cat *format.Catalog, kind format.RefKind, name string, src *format.Ref) (*format.Ref, error) {
	if _, ok := cat.Find(name); ok {
		return nil, fmt.Errorf("%w: a branch or snapshot named %q exists", ErrExists, name)
	}
	if cat.NextID == math.MaxUint32 {
		return nil, fmt.Errorf("%w: ref IDs exhausted", ErrNoSpace)
	}
	return &format.Ref{ID: cat.NextID, Kind: kind, Name: name, Created: time.Now().UnixNano(), Parent: src.ID}, nil
}
