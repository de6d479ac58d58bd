// Package region maps a daxkv region: a regular file (on a DAX filesystem,
// tmpfs or an ordinary disk filesystem) or a device-DAX character device.
//
// It decides how writes to the mapping become durable (see Mode), takes the
// exclusive lock that keeps a second opener out, and offers the page-level
// primitives the layers above need: Sync for msync at commit and Protect for
// emulated poison. It never interprets the bytes it maps; the store checks
// the superblock afterwards, so opening a wrong file leaves it untouched.
package region

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"github.com/daxkv/daxkv/internal/errs"
)

// Mode says what makes stores to the mapping durable.
type Mode string

const (
	// PMem: the mapping is persistent memory (device DAX, or a DAX file
	// mapped with MAP_SYNC); CPU cache flushes and a fence are enough.
	PMem Mode = "pmem"
	// Emulated: the mapping is RAM (tmpfs). Writes survive a process crash
	// but not power loss; the store still issues every CPU flush so the code
	// path and its cost are those of real pmem.
	Emulated Mode = "emulated"
	// PageCache: the mapping is backed by the page cache of an ordinary
	// filesystem; writes are made durable with msync (Region.Sync) at commit.
	PageCache Mode = "pagecache"
)

func (m Mode) valid() bool {
	return m == PMem || m == Emulated || m == PageCache
}

// Probe describes what a region path is and which Mode it gets.
type Probe struct {
	Path string `json:"path"`
	// Kind is "file" or "devdax".
	Kind string `json:"kind"`
	// FSType names the filesystem by its statfs magic ("tmpfs", "ext4",
	// "xfs", ...; hex when unknown); "devdax" for a device-DAX device.
	FSType  string `json:"fs_type"`
	FSMagic int64  `json:"fs_magic"`
	// MapSync reports whether the kernel granted MAP_SHARED_VALIDATE|MAP_SYNC
	// on the file; MapSyncErr is the errno text when it refused. Neither is
	// probed for device DAX, which needs no MAP_SYNC.
	MapSync    bool   `json:"map_sync"`
	MapSyncErr string `json:"map_sync_err,omitempty"`
	// Mode is the detected mode (Options.ForceMode may override it).
	Mode Mode `json:"mode"`
	// Reason says, in one sentence, why Mode was chosen.
	Reason string `json:"reason"`
}

// Kind values of Probe.
const (
	KindFile   = "file"
	KindDevDax = "devdax"
)

// Alignment is the unit of region sizes: Options.Size and the size of an
// existing region file must be multiples of it.
const Alignment = 4096

// Options control Open.
type Options struct {
	// Size creates the file with this many bytes when it does not exist.
	// It must be a multiple of Alignment. Zero never creates; an existing
	// file keeps its size whatever Size says.
	Size int64
	// ReadOnly maps the region PROT_READ. The lock is still exclusive.
	ReadOnly bool
	// ForceMode overrides detection ("" detects). PageCache is always
	// allowed; PMem and Emulated are refused where CPU flushes alone would
	// not reach the file's storage (a non-tmpfs file without MAP_SYNC).
	ForceMode Mode
}

func (o Options) validate() error {
	if o.Size < 0 || o.Size%Alignment != 0 {
		return fmt.Errorf("region: size %d is not a non-negative multiple of %d: %w", o.Size, Alignment, errs.Invalid)
	}
	if o.ForceMode != "" && !o.ForceMode.valid() {
		return fmt.Errorf("region: unknown mode %q (want %q, %q or %q): %w", o.ForceMode, PMem, Emulated, PageCache, errs.Invalid)
	}
	return nil
}

// chooseMode applies Options.ForceMode to a probe. tmpfs counts as RAM, so
// forcing pmem there is allowed; elsewhere CPU flushes need a mapping the
// kernel promised to keep synchronous (devdax or MAP_SYNC).
func chooseMode(p Probe, force Mode) (Mode, error) {
	switch {
	case force == "":
		return p.Mode, nil
	case force == PageCache, p.Mode == PMem, p.Mode == Emulated:
		return force, nil
	}
	why := p.MapSyncErr
	if why == "" {
		why = "MAP_SYNC not available"
	}
	return "", fmt.Errorf("region: cannot force %s mode on %s (%s, %s): CPU flushes alone would not make writes durable, use %s: %w",
		force, p.Path, p.FSType, why, PageCache, errs.Invalid)
}

// ProbePath reports what path is and which Mode a region there would get,
// without locking or changing it. path must be an existing regular file or
// (on Linux) device-DAX character device.
func ProbePath(path string) (Probe, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Probe{}, pathError(err)
	}
	// Classify before opening: opening a FIFO or some other device could
	// block or have side effects.
	if _, err := classify(path, fi); err != nil {
		return Probe{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Probe{}, pathError(err)
	}
	defer f.Close()
	p, _, err := probeFile(f, path)
	return p, err
}

// Open maps the region at path, creating it when it is missing and
// opts.Size > 0, and holds an exclusive lock on it until Close. A second
// Open of the same region, from this process or another, fails with an
// error wrapping errs.Locked. An existing file is never written, resized
// or truncated by Open.
func Open(path string, opts Options) (*Region, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	f, created, err := openLocked(path, opts)
	if err != nil {
		return nil, err
	}
	r, err := mapFile(f, path, opts)
	if err != nil {
		if created {
			discard(f, path)
		} else {
			f.Close()
		}
		return nil, err
	}
	r.Created = created
	return r, nil
}

// testHookBeforeCreate lets a test create the file between Open's Stat and
// its O_EXCL create, as a concurrent creator would.
var testHookBeforeCreate = func() {}

// openLocked opens (or creates) path and takes the exclusive lock. created
// reports whether this call made the file.
func openLocked(path string, opts Options) (_ *os.File, created bool, _ error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && opts.Size > 0 && !opts.ReadOnly {
		testHookBeforeCreate()
		f, cerr := create(path, opts.Size)
		if !errors.Is(cerr, fs.ErrExist) {
			return f, cerr == nil, cerr
		}
		// Someone created it since our Stat: open theirs, the lock decides.
		fi, err = os.Stat(path)
	}
	if err != nil {
		switch {
		case !errors.Is(err, fs.ErrNotExist):
		case opts.ReadOnly:
			return nil, false, fmt.Errorf("%w (a read-only open never creates)", pathError(err))
		case opts.Size == 0:
			return nil, false, fmt.Errorf("%w (Size is 0, so it was not created)", pathError(err))
		}
		return nil, false, pathError(err)
	}
	// Classify before opening: opening a FIFO or some other device could
	// block or have side effects.
	if _, err := classify(path, fi); err != nil {
		return nil, false, err
	}
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, false, pathError(err)
	}
	if err := lock(f, path); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, false, nil
}

// create makes a new region file of size bytes, locked. On failure nothing
// is left behind.
func create(path string, size int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("region: create: %w", err)
	}
	err = lock(f, path)
	if err == nil {
		err = allocate(f, size)
	}
	if err == nil {
		// The size and block map must be durable before anything is
		// committed into them: pmem mode never calls msync.
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		discard(f, path)
		return nil, fmt.Errorf("region: create %s: %w", path, err)
	}
	return f, nil
}

// discard deletes a file this Open created but could not finish. Removing
// before closing keeps anyone from locking the half-made file in between;
// Windows cannot remove an open file, so there it goes the other way.
func discard(f *os.File, path string) {
	if os.Remove(path) == nil {
		f.Close()
		return
	}
	f.Close()
	os.Remove(path)
}

// pathError wraps an error from stat or open. A path running through a
// regular file ("/etc/passwd/x") fails with ENOTDIR; it names nothing that
// exists, so it also matches fs.ErrNotExist.
func pathError(err error) error {
	if errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("region: %w (%w)", err, fs.ErrNotExist)
	}
	return fmt.Errorf("region: %w", err)
}

// Region is an open, locked mapping of a region file or device.
//
// Data stays valid until Close. Sync and Protect may be called concurrently
// with each other; Close waits for calls in flight.
type Region struct {
	// Data is the whole mapping.
	Data []byte
	// Probe is what detection found (Mode() may differ when forced).
	Probe Probe
	// Created is true when this Open created the file.
	Created bool

	path     string
	mode     Mode
	readOnly bool
	// granule is the unit Sync and Protect round to: the page size, or the
	// device alignment of device DAX (which refuses to split its mapping
	// below that).
	granule int

	mu      sync.RWMutex // held for reading by Sync/Protect, for writing by Close
	closed  bool
	mapping []byte // the mapping as returned by the OS, kept for unmap
	sys     sysRegion
}

// Mode reports how writes to this region are made durable.
func (r *Region) Mode() Mode { return r.mode }

// Size is the length of the mapping in bytes.
func (r *Region) Size() int64 { return int64(len(r.mapping)) }

// Path is the path Open was given.
func (r *Region) Path() string { return r.path }

// PageSize is the granularity of Sync and Protect: they widen their range
// to whole units of this size.
func (r *Region) PageSize() int { return r.granule }

// Sync writes the pages covering b back to storage and waits (msync
// MS_SYNC). b must be a subslice of Data. This is the commit path of
// PageCache mode; in the other modes it is valid but not needed.
func (r *Region) Sync(b []byte) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi, err := r.span(b, "sync")
	if err != nil || lo == hi {
		return err
	}
	return r.sync(lo, hi)
}

// Protect makes the pages covering b inaccessible (readable=false), so that
// touching them faults like poisoned memory, or restores their normal
// protection (read, plus write unless the region is read-only). b must be a
// subslice of Data; the range is widened to whole PageSize units.
func (r *Region) Protect(b []byte, readable bool) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi, err := r.pageSpan(b, "protect")
	if err != nil || lo == hi {
		return err
	}
	return r.protect(lo, hi, readable)
}

// Populate maps the pages covering b ahead of use, writable, without
// changing their contents (MADV_POPULATE_WRITE), so that the first store to
// each page does not stop for a page fault. b must be a subslice of Data of
// a writable region. It is a hint: where the kernel (before Linux 5.14) or
// the platform lacks it, the error wraps errors.ErrUnsupported.
func (r *Region) Populate(b []byte) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi, err := r.pageSpan(b, "populate")
	if err != nil || lo == hi {
		return err
	}
	if r.readOnly {
		return fmt.Errorf("region: populate %s: read-only mapping: %w", r.path, errs.Invalid)
	}
	return r.populate(lo, hi)
}

// Mapped counts the base pages (os.Getpagesize, whatever PageSize is)
// covering b that this process has mapped now, from /proc/self/pagemap:
// what Populate, or touching them, did. It is for diagnostics and tests;
// off Linux it returns errors.ErrUnsupported.
func (r *Region) Mapped(b []byte) (int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi, err := r.span(b, "mapped")
	if err != nil || lo == hi {
		return 0, err
	}
	return r.mapped(alignDown(lo, os.Getpagesize()), hi)
}

// HugeMapped is how many bytes of the mapping are mapped with 2 MiB pages
// now, as /proc/self/smaps counts them (ShmemPmdMapped, FilePmdMapped).
// With 4 KiB pages every random read of a region larger than the TLB's
// reach pays a page walk; a tmpfs mounted huge=always or within_size (or
// huge=advise: the mapping asks) avoids it. The kernel does not count DAX
// mappings there, so in PMem mode, as off Linux, the error wraps
// errors.ErrUnsupported. It walks the page tables of the whole mapping
// (milliseconds per GiB mapped): for diagnostics.
func (r *Region) HugeMapped() (int64, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0, fmt.Errorf("region: huge pages %s: %w", r.path, errs.Closed)
	}
	if r.mode == PMem {
		return 0, fmt.Errorf("region: huge pages %s: the kernel does not count DAX mappings: %w", r.path, errors.ErrUnsupported)
	}
	return r.hugeMapped()
}

// Close unmaps the region, releases the lock and closes the file. Data must
// not be used afterwards. Calling Close again returns nil.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.unmap()
	r.Data, r.mapping = nil, nil
	return err
}

// span returns b's offsets within the mapping. The caller holds r.mu.
func (r *Region) span(b []byte, op string) (lo, hi int, err error) {
	if r.closed {
		return 0, 0, fmt.Errorf("region: %s %s: %w", op, r.path, errs.Closed)
	}
	if len(b) == 0 {
		return 0, 0, nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(r.mapping)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p-base > uintptr(len(r.mapping)) || uintptr(len(b)) > uintptr(len(r.mapping))-(p-base) {
		return 0, 0, fmt.Errorf("region: %s: range is not inside the mapping of %s: %w", op, r.path, errs.Invalid)
	}
	lo = int(p - base)
	return lo, lo + len(b), nil
}

func alignDown(n, unit int) int { return n - n%unit }

// pageSpan is span widened to whole PageSize units, within the mapping.
func (r *Region) pageSpan(b []byte, op string) (lo, hi int, err error) {
	lo, hi, err = r.span(b, op)
	if err != nil || lo == hi {
		return lo, hi, err
	}
	return alignDown(lo, r.granule), min(alignDown(hi+r.granule-1, r.granule), len(r.mapping)), nil
}
