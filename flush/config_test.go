package flush

import (
	"errors"
	"strings"
	"testing"
)

func TestParseModeUnknownListsNames(t *testing.T) {
	_, err := ParseMode("clwbx")
	if !errors.Is(err, ErrInvalidMode) {
		t.Fatalf("ParseMode(clwbx) error = %v, want ErrInvalidMode", err)
	}
	for _, name := range Modes() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
	for _, name := range Modes() {
		m, err := ParseMode(strings.ToUpper(name))
		if err != nil || m.String() != name {
			t.Errorf("ParseMode(%q) = %v, %v", name, m, err)
		}
	}
}

func TestModeFromEnv(t *testing.T) {
	t.Setenv(EnvVar, "msync")
	if m, err := ModeFromEnv(); err != nil || m != Msync {
		t.Fatalf("ModeFromEnv = %v, %v", m, err)
	}
	t.Setenv(EnvVar, "bogus")
	if _, err := ModeFromEnv(); !errors.Is(err, ErrInvalidMode) || !strings.Contains(err.Error(), EnvVar) {
		t.Fatalf("ModeFromEnv(bogus) error = %v", err)
	}
}

func TestParseCopyKind(t *testing.T) {
	for k := CopyAuto; k <= CopyAVX512; k++ {
		got, err := ParseCopyKind(" " + strings.ToUpper(k.String()))
		if err != nil || got != k {
			t.Errorf("ParseCopyKind(%v) = %v, %v", k, got, err)
		}
	}
	_, err := ParseCopyKind("avx1024")
	if !errors.Is(err, ErrInvalidMode) || !strings.Contains(err.Error(), "sse2, avx2, avx512") {
		t.Fatalf("ParseCopyKind(avx1024) error = %v", err)
	}
	if s := CopyKind(42).String(); s != "CopyKind(42)" {
		t.Errorf("String of unknown kind = %q", s)
	}
}

func TestResolve(t *testing.T) {
	m, err := Resolve(Auto)
	if err != nil || m == Auto {
		t.Fatalf("Resolve(Auto) = %v, %v", m, err)
	}
	if again, _ := Resolve(m); again != m {
		t.Fatalf("Resolve(%v) = %v: a resolved mode must resolve to itself", m, again)
	}
	if m, err := Resolve(Msync); err != nil || m != Msync {
		t.Fatalf("Resolve(Msync) = %v, %v", m, err)
	}
	for _, bad := range []Mode{-1, Msync + 1} {
		if _, err := Resolve(bad); !errors.Is(err, ErrInvalidMode) {
			t.Errorf("Resolve(%v) error = %v, want ErrInvalidMode", bad, err)
		}
	}
	for _, bad := range []CopyKind{-1, CopyAVX512 + 1} {
		if _, err := ResolveCopy(bad); !errors.Is(err, ErrInvalidMode) {
			t.Errorf("ResolveCopy(%v) error = %v, want ErrInvalidMode", bad, err)
		}
	}
	if k, err := ResolveCopy(CopyGo); err != nil || k != CopyGo {
		t.Errorf("ResolveCopy(CopyGo) = %v, %v", k, err)
	}
}

// TestNewUnsupported forces every mode and kind on a CPU that has none of
// the optional features: each must be an ErrUnsupported error, not a
// persister that would fault with SIGILL later.
func TestNewUnsupported(t *testing.T) {
	bare := Features{Arch: "test"}
	for _, m := range []Mode{CLWB, CLFLUSHOPT, CLFLUSH, DCCVAP} {
		if _, err := newWith(Config{Mode: m}, bare); !errors.Is(err, ErrUnsupported) {
			t.Errorf("New(%v) on a bare CPU: error = %v, want ErrUnsupported", m, err)
		}
	}
	for _, k := range []CopyKind{CopySSE2, CopyAVX2, CopyAVX512} {
		if _, err := newWith(Config{Copy: k}, bare); !errors.Is(err, ErrUnsupported) {
			t.Errorf("New(copy %v) on a bare CPU: error = %v, want ErrUnsupported", k, err)
		}
	}
	// Modes of the other architecture family are refused on the real CPU.
	if _, err := New(Config{Mode: CLWB}); err == nil {
		if _, err := New(Config{Mode: DCCVAC}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("New(dccvac) on a CPU with CLWB: error = %v", err)
		}
	}
	if _, err := New(Config{Mode: Mode(99)}); !errors.Is(err, ErrInvalidMode) {
		t.Errorf("New(Mode(99)) error = %v, want ErrInvalidMode", err)
	}
}

func TestNewMsyncNeedsSync(t *testing.T) {
	if _, err := New(Config{Mode: Msync}); !errors.Is(err, ErrNoSync) {
		t.Fatalf("New(Msync without Sync) error = %v, want ErrNoSync", err)
	}
	p, err := New(Config{Mode: Msync, Sync: func([]byte) error { return nil }})
	if err != nil || p.Mode() != Msync {
		t.Fatalf("New(Msync) = %v, %v", p, err)
	}
}

func TestNewAuto(t *testing.T) {
	p, err := New(Config{Sync: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Resolve(Auto)
	if p.Mode() != want {
		t.Fatalf("New(Auto).Mode() = %v, Resolve(Auto) = %v", p.Mode(), want)
	}
	if want == Msync {
		t.Skip("auto is msync here, which needs mapped memory (see msync tests)")
	}
	buf := make([]byte, 1000)
	if err := CopyPersist(p, buf, []byte("hello")); err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("CopyPersist: %v %q", err, buf[:5])
	}
	if err := Persist(p, buf[:5]); err != nil {
		t.Fatal(err)
	}
}
