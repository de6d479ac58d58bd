package flush

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Mode selects how writes to the mapped region are made durable.
type Mode int

const (
	// Auto picks the best mode this machine supports (see Resolve).
	Auto Mode = iota
	// CLWB writes dirty lines back and keeps them cached (x86, best).
	CLWB
	// CLFLUSHOPT writes back and evicts, without serialising (x86).
	CLFLUSHOPT
	// CLFLUSH writes back and evicts, serialised (every x86-64 CPU).
	CLFLUSH
	// EADR: CPU caches are inside the persistence domain. No flush is
	// needed, the fence is kept for ordering.
	EADR
	// DCCVAP cleans to the point of persistence (arm64 with DCPOP).
	DCCVAP
	// DCCVAC cleans to the point of coherency (every arm64 CPU).
	DCCVAC
	// Msync: no CPU flush; dirty pages are written back with msync(2) at
	// each drain. Used for page-cache backed files.
	Msync
)

// EnvVar names the environment variable that overrides the mode.
const EnvVar = "DAXKV_FLUSH"

var modeNames = [...]string{
	Auto:       "auto",
	CLWB:       "clwb",
	CLFLUSHOPT: "clflushopt",
	CLFLUSH:    "clflush",
	EADR:       "eadr",
	DCCVAP:     "dccvap",
	DCCVAC:     "dccvac",
	Msync:      "msync",
}

// ErrInvalidMode is wrapped by ParseMode for names it does not know.
var ErrInvalidMode = errors.New("flush: invalid mode")

// ErrUnsupported is wrapped when a mode is forced that this CPU or
// platform cannot execute. It is returned instead of faulting with SIGILL.
var ErrUnsupported = errors.New("flush: mode not supported on this machine")

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Modes lists every mode name, in the order ParseMode accepts them.
func Modes() []string { return append([]string(nil), modeNames[:]...) }

// ParseMode turns a name ("clwb", "auto", ...; case-insensitive) into a
// Mode. The empty string is Auto.
func ParseMode(s string) (Mode, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Auto, nil
	}
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return Auto, fmt.Errorf("%w %q: valid modes are %s", ErrInvalidMode, s, strings.Join(modeNames[:], ", "))
}

// ModeFromEnv reads DAXKV_FLUSH. Unset or empty means Auto.
func ModeFromEnv() (Mode, error) {
	m, err := ParseMode(os.Getenv(EnvVar))
	if err != nil {
		return Auto, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return m, nil
}

// UnmarshalText lets a Mode be read from flags and config files.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText is the inverse of UnmarshalText.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
