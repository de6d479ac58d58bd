package flush

import (
	"errors"
	"fmt"
	"strings"
)

// CopyKind selects the instruction set of the non-temporal copy that Copy
// uses from 256 bytes on.
type CopyKind int

const (
	// CopyAuto picks the best kind this CPU supports (see ResolveCopy).
	CopyAuto CopyKind = iota
	// CopyGo: built-in copy followed by a flush of every touched line; no
	// non-temporal stores. The only kind outside amd64.
	CopyGo
	// CopySSE2: MOVNTDQ of 16-byte registers (every amd64 CPU).
	CopySSE2
	// CopyAVX2: VMOVNTDQ of 32-byte registers.
	CopyAVX2
	// CopyAVX512: VMOVNTDQ of 64-byte registers, one line per store.
	CopyAVX512
)

var copyNames = [...]string{
	CopyAuto:   "auto",
	CopyGo:     "go",
	CopySSE2:   "sse2",
	CopyAVX2:   "avx2",
	CopyAVX512: "avx512",
}

func (k CopyKind) String() string {
	if k >= 0 && int(k) < len(copyNames) {
		return copyNames[k]
	}
	return fmt.Sprintf("CopyKind(%d)", int(k))
}

// ParseCopyKind turns a name ("avx2", "auto", ...; case-insensitive) into
// a CopyKind. The empty string is CopyAuto. Unknown names return an error
// wrapping ErrInvalidMode that lists the valid ones.
func ParseCopyKind(s string) (CopyKind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return CopyAuto, nil
	}
	for k, name := range copyNames {
		if s == name {
			return CopyKind(k), nil
		}
	}
	return CopyAuto, fmt.Errorf("%w: copy kind %q: valid kinds are %s", ErrInvalidMode, s, strings.Join(copyNames[:], ", "))
}

// ErrNoSync is returned by New for Msync mode without Config.Sync.
var ErrNoSync = errors.New("flush: msync mode needs Config.Sync")

// Config describes the persister New builds.
type Config struct {
	Mode Mode     // Auto: the best this machine supports
	Copy CopyKind // CopyAuto: the best this CPU supports
	// Sync writes back a page-aligned range of a mapping, normally
	// msync(MS_SYNC). Required for Msync mode, ignored otherwise.
	Sync func(b []byte) error
}

// New builds the persister cfg asks for. A mode or copy kind this machine
// cannot execute returns an error wrapping ErrUnsupported (never SIGILL).
//
// The CPU persisters are stateless and safe for concurrent use; the
// Msync persister is safe for concurrent use as well (see its Drain).
func New(cfg Config) (Persister, error) { return newWith(cfg, Detect()) }

func newWith(cfg Config, f Features) (Persister, error) {
	m, err := resolve(cfg.Mode, f)
	if err != nil {
		return nil, err
	}
	k, err := resolveCopy(cfg.Copy, f)
	if err != nil {
		return nil, err
	}
	if m == Msync {
		if cfg.Sync == nil {
			return nil, ErrNoSync
		}
		return newMsync(cfg.Sync), nil
	}
	return newCPU(m, k), nil
}

// Resolve turns Auto into the best mode of this machine (eADR, then CLWB,
// CLFLUSHOPT, CLFLUSH on amd64; eADR, then DCCVAP, DCCVAC on arm64; Msync
// elsewhere) and checks that an explicit mode can run here.
func Resolve(m Mode) (Mode, error) { return resolve(m, Detect()) }

func resolve(m Mode, f Features) (Mode, error) {
	switch {
	case m < Auto || m > Msync:
		return Auto, fmt.Errorf("%w: %v", ErrInvalidMode, m)
	case m == Auto:
		return autoMode(f), nil
	case m == Msync:
		return Msync, nil // a syscall, available everywhere
	}
	if err := modeSupported(m, f); err != nil {
		return Auto, err
	}
	return m, nil
}

// ResolveCopy turns CopyAuto into the copy kind New would use and checks
// that an explicit kind can run on this CPU.
func ResolveCopy(k CopyKind) (CopyKind, error) { return resolveCopy(k, Detect()) }

func resolveCopy(k CopyKind, f Features) (CopyKind, error) {
	switch {
	case k < CopyAuto || k > CopyAVX512:
		return CopyAuto, fmt.Errorf("%w: %v", ErrInvalidMode, k)
	case k == CopyAuto:
		return autoCopy(f), nil
	case k == CopyGo:
		return CopyGo, nil
	}
	if err := copySupported(k, f); err != nil {
		return CopyAuto, err
	}
	return k, nil
}

func unsupported(what, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, what, why)
}
