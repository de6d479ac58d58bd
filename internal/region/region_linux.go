//go:build linux

package region

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/internal/errs"
)

// sysDevChar is where sysfs describes character devices; a variable so
// tests can point it at a fake tree.
var sysDevChar = "/sys/dev/char"

type sysRegion struct {
	f *os.File
}

// devDax is what sysfs says about a device-DAX character device.
type devDax struct {
	size  int64 // bytes
	align int64 // mapping length and split unit
}

// allocate reserves size bytes. fallocate makes running out of space an
// error now rather than a SIGBUS on first write to a hole; filesystems that
// cannot preallocate get a sparse file.
func allocate(f *os.File, size int64) error {
	fd := int(f.Fd())
	var err error
	for {
		// tmpfs gives up with EINTR when a signal (Go's preemption, say)
		// arrives mid-way; what was allocated stays, so just go on.
		if err = unix.Fallocate(fd, 0, 0, size); err != unix.EINTR {
			break
		}
	}
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		err = f.Truncate(size)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG):
		return fmt.Errorf("allocate %d bytes: %w: %w", size, errs.NoSpace, err)
	default:
		return fmt.Errorf("allocate %d bytes: %w", size, err)
	}
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err // EINVAL: this filesystem cannot sync directories
	}
	return nil
}

// lock takes a non-blocking exclusive flock. flock locks belong to the open
// file description, so a second Open in the same process conflicts too.
func lock(f *os.File, path string) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return nil
	case err == unix.EWOULDBLOCK:
		return fmt.Errorf("region: %s: %w (%s)", path, errs.Locked, lockHolder(f))
	default:
		return fmt.Errorf("region: lock %s: %w", path, err)
	}
}

// lockHolder names the process holding the flock on f, from /proc/locks.
func lockHolder(f *os.File) string {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "holder unknown"
	}
	// /proc/locks lines look like
	//   3: FLOCK  ADVISORY  WRITE 4711 00:2d:1234 0 EOF
	// and waiters have "->" after the number, which the check skips.
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "holder unknown"
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		switch {
		case err != nil || pid <= 0:
			return "held by a process outside this PID namespace"
		case pid == os.Getpid():
			return "held by this process: the region is already open here"
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
			return fmt.Sprintf("held by pid %d (%s)", pid, strings.TrimSpace(string(comm)))
		}
		return fmt.Sprintf("held by pid %d", pid)
	}
	return "holder unknown"
}

// mapFile probes the open, locked file and maps it.
func mapFile(f *os.File, path string, opts Options) (*Region, error) {
	p, dax, err := probeFile(f, path)
	if err != nil {
		return nil, err
	}
	mode, err := chooseMode(p, opts.ForceMode)
	if err != nil {
		return nil, err
	}
	length, granule := dax.size, max(int64(os.Getpagesize()), dax.align)
	if p.Kind == KindFile {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("region: %w", err)
		}
		if length = fi.Size(); length == 0 || length%Alignment != 0 {
			return nil, fmt.Errorf("region: %s has %d bytes, not a positive multiple of %d: not a daxkv region: %w",
				path, length, Alignment, errs.Invalid)
		}
	}
	if int64(int(length)) != length {
		return nil, fmt.Errorf("region: %s: %d bytes do not fit the address space: %w", path, length, errs.Invalid)
	}
	prot := unix.PROT_READ
	if !opts.ReadOnly {
		prot |= unix.PROT_WRITE
	}
	flags := unix.MAP_SHARED
	// A DAX file needs MAP_SYNC for CPU flushes to cover the filesystem's
	// own metadata (block allocation); without it only msync is safe.
	if p.MapSync && !opts.ReadOnly && mode != PageCache {
		flags = unix.MAP_SHARED_VALIDATE | mapSync
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(length), prot, flags)
	if err != nil {
		return nil, fmt.Errorf("region: mmap %s (%d bytes): %w", path, length, err)
	}
	// Ask for 2 MiB pages where the filesystem leaves it to the mapping (a
	// tmpfs mounted huge=advise; DAX mounts and huge=always map them
	// anyway). A random read of a large region otherwise pays a page walk
	// on top of its cache miss. Refusal (no THP in the kernel) is harmless.
	// Not in page-cache mode: there large folios would make every msync
	// write back up to 2 MiB around each dirty page.
	if mode != PageCache {
		_ = unix.Madvise(m, unix.MADV_HUGEPAGE)
	}
	return &Region{
		Data:     m,
		Probe:    p,
		path:     path,
		mode:     mode,
		readOnly: opts.ReadOnly,
		granule:  int(granule),
		mapping:  m,
		sys:      sysRegion{f: f},
	}, nil
}

// probeFile classifies the open file f and, for a regular file, asks the
// kernel whether it grants MAP_SYNC.
func probeFile(f *os.File, path string) (Probe, devDax, error) {
	fi, err := f.Stat()
	if err != nil {
		return Probe{}, devDax{}, fmt.Errorf("region: %w", err)
	}
	dax, err := classify(path, fi)
	if err != nil {
		return Probe{}, devDax{}, err
	}
	p := Probe{Path: path}
	if dax.size > 0 {
		p.Kind, p.FSType, p.Mode = KindDevDax, "devdax", PMem
		p.Reason = "device DAX: stores reach persistent memory directly, so CPU cache flushes make them durable"
		return p, dax, nil
	}

	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return Probe{}, devDax{}, fmt.Errorf("region: statfs %s: %w", path, err)
	}
	p.Kind = KindFile
	// Statfs_t.Type is 32 bits wide on some architectures: read it unsigned.
	p.FSMagic = int64(uint32(sfs.Type))
	p.FSType = fsName(p.FSMagic)

	// The mapping length does not depend on the file size: nothing is
	// touched, the kernel only checks the flags.
	if mapSync == 0 {
		p.MapSyncErr = "MAP_SYNC does not exist on " + runtime.GOARCH
	} else if m, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ, unix.MAP_SHARED_VALIDATE|mapSync); err != nil {
		p.MapSyncErr = err.Error()
	} else {
		p.MapSync = true
		if err := unix.Munmap(m); err != nil {
			return Probe{}, devDax{}, fmt.Errorf("region: munmap probe of %s: %w", path, err)
		}
	}

	switch {
	case p.MapSync:
		p.Mode = PMem
		p.Reason = fmt.Sprintf("%s granted MAP_SYNC (a DAX mount), so CPU cache flushes make writes durable", p.FSType)
	case p.FSMagic == unix.TMPFS_MAGIC:
		p.Mode = Emulated
		p.Reason = "tmpfs is RAM: writes survive a process crash but not power loss, and CPU flushes are still issued so their cost is real"
	default:
		p.Mode = PageCache
		p.Reason = fmt.Sprintf("%s refused MAP_SYNC (%s), so writes are made durable with msync at commit", p.FSType, p.MapSyncErr)
	}
	return p, devDax{}, nil
}

// classify accepts regular files and device-DAX character devices. For the
// latter it returns the device's size and alignment (a zero devDax means a
// regular file).
func classify(path string, fi fs.FileInfo) (devDax, error) {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return devDax{}, nil
	case m&fs.ModeCharDevice != 0:
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return devDax{}, fmt.Errorf("region: %s: no device number: %w", path, errs.Invalid)
		}
		return devDaxInfo(path, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	case m.IsDir():
		return devDax{}, fmt.Errorf("region: %s is a directory, not a region file: %w", path, errs.Invalid)
	case m&fs.ModeDevice != 0:
		return devDax{}, fmt.Errorf("region: %s is a block device: use a file on a DAX filesystem mounted from it, or a device-DAX device: %w", path, errs.Invalid)
	default:
		return devDax{}, fmt.Errorf("region: %s is a %s, not a regular file or device-DAX device: %w", path, fileKind(m), errs.Invalid)
	}
}

// devDaxInfo reads size and alignment of character device maj:min from
// sysfs, the way PMDK and daxctl do.
func devDaxInfo(path string, maj, min uint32) (devDax, error) {
	dir := filepath.Join(sysDevChar, fmt.Sprintf("%d:%d", maj, min))
	link, err := os.Readlink(filepath.Join(dir, "subsystem"))
	if err != nil || filepath.Base(link) != "dax" {
		return devDax{}, fmt.Errorf("region: %s is a character device but not device DAX: %w", path, errs.Invalid)
	}
	size, err := readSysUint(filepath.Join(dir, "size"))
	if err != nil {
		return devDax{}, fmt.Errorf("region: device DAX %s: %w", path, err)
	}
	align := int64(os.Getpagesize())
	switch a, err := readSysUint(filepath.Join(dir, "device", "align")); {
	case err == nil && a > 0:
		align = a
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return devDax{}, fmt.Errorf("region: device DAX %s: %w", path, err)
	}
	// The kernel refuses mappings that are not a multiple of the alignment.
	size -= size % align
	if size <= 0 {
		return devDax{}, fmt.Errorf("region: device DAX %s is smaller than its alignment %d: %w", path, align, errs.Invalid)
	}
	return devDax{size: size, align: align}, nil
}

func readSysUint(name string) (int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 0, 64) // "align" may be written in hex
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s: unexpected content %q: %w", name, s, errs.Invalid)
	}
	return v, nil
}

func (r *Region) sync(lo, hi int) error {
	if err := unix.Msync(r.mapping[alignDown(lo, r.granule):hi], unix.MS_SYNC); err != nil {
		return fmt.Errorf("region: msync %s: %w", r.path, err)
	}
	return nil
}

func (r *Region) protect(lo, hi int, readable bool) error {
	prot := unix.PROT_NONE
	if readable {
		prot = unix.PROT_READ
		if !r.readOnly {
			prot |= unix.PROT_WRITE
		}
	}
	if err := unix.Mprotect(r.mapping[lo:hi], prot); err != nil {
		return fmt.Errorf("region: mprotect %s [%d, %d): %w", r.path, lo, hi, err)
	}
	return nil
}

func (r *Region) populate(lo, hi int) error {
	err := unix.Madvise(r.mapping[lo:hi], unix.MADV_POPULATE_WRITE)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.14 do not know the advice.
		return fmt.Errorf("region: populate %s: %w", r.path, errors.ErrUnsupported)
	}
	if err != nil {
		return fmt.Errorf("region: populate %s [%d, %d): %w", r.path, lo, hi, err)
	}
	return nil
}

// mapped reads the present bit (63) of each page's pagemap entry.
func (r *Region) mapped(lo, hi int) (int, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, fmt.Errorf("region: mapped: %w", err)
	}
	defer f.Close()
	// pagemap has one entry per base page, even where the mapping's
	// granule (device DAX alignment) is larger.
	ps := os.Getpagesize()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(r.mapping)))
	first := (base + uintptr(lo)) / uintptr(ps)
	pages := (hi - lo + ps - 1) / ps
	buf := make([]byte, 8*pages)
	if _, err := f.ReadAt(buf, int64(first)*8); err != nil {
		return 0, fmt.Errorf("region: mapped: %w", err)
	}
	n := 0
	for i := 0; i < pages; i++ {
		if binary.LittleEndian.Uint64(buf[8*i:])>>63 == 1 {
			n++
		}
	}
	return n, nil
}

// hugeMapped finds the mapping in /proc/self/smaps and sums its
// PMD-mapped (2 MiB page) kB fields.
func (r *Region) hugeMapped() (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("region: huge pages: %w", err)
	}
	defer f.Close()
	return parseSmapsHuge(f, uintptr(unsafe.Pointer(unsafe.SliceData(r.mapping))), uintptr(len(r.mapping)))
}

// unmap releases the mapping, then the lock (closing the descriptor drops
// the flock).
func (r *Region) unmap() error {
	return errors.Join(unix.Munmap(r.mapping), r.sys.f.Close())
}

var fsNames = map[int64]string{
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.EXT4_SUPER_MAGIC:      "ext4", // shared by ext2 and ext3
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.HUGETLBFS_MAGIC:       "hugetlbfs",
	unix.V9FS_MAGIC:            "9p",
	unix.CIFS_SUPER_MAGIC:      "cifs",
	unix.SMB2_SUPER_MAGIC:      "smb2",
	0x2fc12fc1:                 "zfs", // not in x/sys/unix
}

func fsName(magic int64) string {
	if name, ok := fsNames[magic]; ok {
		return name
	}
	return fmt.Sprintf("fs(%#x)", magic)
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "special file"
	}
}
