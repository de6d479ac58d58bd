package prefetch

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestLine runs the assembly and the portable prefetch over a buffer and
// a nil pointer: a prefetch must not fault, and must change nothing it
// touches.
func TestLine(t *testing.T) {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	want := bytes.Clone(buf)
	for name, f := range map[string]func(unsafe.Pointer){"asm": line, "go": lineGo} {
		for off := 0; off < len(buf); off += 64 {
			f(unsafe.Pointer(&buf[off]))
		}
		f(nil)
		if !bytes.Equal(buf, want) {
			t.Fatalf("%s: prefetch changed memory", name)
		}
	}
}
