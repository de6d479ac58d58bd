//go:build !linux

package region

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	mmap "github.com/edsrzf/mmap-go"

	"github.com/daxkv/daxkv/internal/errs"
)

// Outside Linux there is neither MAP_SYNC nor device DAX: every region is
// a regular file mapped with mmap-go and made durable by flushing it.

type sysRegion struct {
	f  *os.File
	mm mmap.MMap
}

// devDax describes a device-DAX device, which exists only on Linux; the
// empty type keeps the shared code uniform.
type devDax struct{}

func classify(path string, fi fs.FileInfo) (devDax, error) {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return devDax{}, nil
	case m.IsDir():
		return devDax{}, fmt.Errorf("region: %s is a directory, not a region file: %w", path, errs.Invalid)
	default:
		return devDax{}, fmt.Errorf("region: %s is not a regular file (mode %v): %w", path, m.Type(), errs.Invalid)
	}
}

func probeFile(f *os.File, path string) (Probe, devDax, error) {
	fi, err := f.Stat()
	if err != nil {
		return Probe{}, devDax{}, fmt.Errorf("region: %w", err)
	}
	if _, err := classify(path, fi); err != nil {
		return Probe{}, devDax{}, err
	}
	return Probe{
		Path:       path,
		Kind:       KindFile,
		FSType:     "unknown",
		MapSyncErr: "MAP_SYNC is Linux-only",
		Mode:       PageCache,
		Reason:     "MAP_SYNC and device DAX are Linux-only, so writes are made durable by flushing the mapping at commit",
	}, devDax{}, nil
}

// allocate extends a new file. Without fallocate the file may be sparse.
func allocate(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	return nil
}

func mapFile(f *os.File, path string, opts Options) (*Region, error) {
	p, _, err := probeFile(f, path)
	if err != nil {
		return nil, err
	}
	mode, err := chooseMode(p, opts.ForceMode)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	length := fi.Size()
	if length == 0 || length%Alignment != 0 {
		return nil, fmt.Errorf("region: %s has %d bytes, not a positive multiple of %d: not a daxkv region: %w",
			path, length, Alignment, errs.Invalid)
	}
	if int64(int(length)) != length {
		return nil, fmt.Errorf("region: %s: %d bytes do not fit the address space: %w", path, length, errs.Invalid)
	}
	prot := mmap.RDWR
	if opts.ReadOnly {
		prot = mmap.RDONLY
	}
	// Map exactly the file's length: mmap-go would grow the file if asked
	// for more.
	m, err := mmap.MapRegion(f, int(length), prot, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("region: mmap %s (%d bytes): %w", path, length, err)
	}
	return &Region{
		Data:     m,
		Probe:    p,
		path:     path,
		mode:     mode,
		readOnly: opts.ReadOnly,
		granule:  os.Getpagesize(),
		mapping:  m,
		sys:      sysRegion{f: f, mm: m},
	}, nil
}

// sync flushes the whole mapping: mmap-go can only flush from the base
// address it returned. The OS writes back dirty pages only, so the cost
// still follows what was written, not the region size.
func (r *Region) sync(lo, hi int) error {
	if err := r.sys.mm.Flush(); err != nil {
		return fmt.Errorf("region: flush %s: %w", r.path, err)
	}
	return nil
}

// populate is a hint only Linux takes (MADV_POPULATE_WRITE).
func (r *Region) populate(lo, hi int) error {
	return fmt.Errorf("region: populate %s: %w", r.path, errors.ErrUnsupported)
}

func (r *Region) mapped(lo, hi int) (int, error) {
	return 0, fmt.Errorf("region: mapped %s: %w", r.path, errors.ErrUnsupported)
}

func (r *Region) hugeMapped() (int64, error) {
	return 0, fmt.Errorf("region: huge pages %s: %w", r.path, errors.ErrUnsupported)
}

func (r *Region) unmap() error {
	return errors.Join(r.sys.mm.Unmap(), r.sys.f.Close())
}
