//go:build !amd64 && !arm64

package flush

import (
	"errors"
	"testing"
)

func TestOtherArchOnlyMsync(t *testing.T) {
	if m, err := Resolve(Auto); err != nil || m != Msync {
		t.Fatalf("Resolve(Auto) = %v, %v; want msync", m, err)
	}
	for _, m := range allModes {
		if _, err := Resolve(m); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Resolve(%v) = %v, want ErrUnsupported", m, err)
		}
	}
	if k, err := ResolveCopy(CopyAuto); err != nil || k != CopyGo {
		t.Fatalf("ResolveCopy(Auto) = %v, %v; want go", k, err)
	}
}
