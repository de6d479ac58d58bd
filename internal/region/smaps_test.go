package region

import (
	"strings"
	"testing"
)

const smapsSample = `7f0000000000-7f0000200000 rw-s 00000000 00:2f 12 /r
Size:               2048 kB
ShmemPmdMapped:     2048 kB
FilePmdMapped:         0 kB
VmFlags: rd wr sh mr mw me ms hg
7f0000200000-7f0000400000 ---s 00200000 00:2f 12 /r
Size:               2048 kB
ShmemPmdMapped:        0 kB
7f0000400000-7f0000800000 rw-s 00400000 00:2f 12 /r
ShmemPmdMapped:     2048 kB
FilePmdMapped:      2048 kB
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
ShmemPmdMapped:     2048 kB
`

func TestParseSmapsHuge(t *testing.T) {
	for _, c := range []struct {
		name         string
		base, length uintptr
		want         int64
	}{
		// The region is split in three areas (Protect does that); the
		// anonymous area after it is not counted.
		{"whole region", 0x7f0000000000, 0x800000, 6 << 20},
		{"first area only", 0x7f0000000000, 0x200000, 2 << 20},
		{"area straddling the end", 0x7f0000000000, 0x600000, 2 << 20},
		{"elsewhere", 0x10000, 0x1000, 0},
	} {
		got, err := parseSmapsHuge(strings.NewReader(smapsSample), c.base, c.length)
		if err != nil || got != c.want {
			t.Errorf("%s: got %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	bad := "7f0000000000-7f0000200000 rw-s 0 0:0 1 /r\nShmemPmdMapped: lots kB\n"
	if _, err := parseSmapsHuge(strings.NewReader(bad), 0x7f0000000000, 0x200000); err == nil {
		t.Error("a malformed field in the region's area parsed without error")
	}
}

func FuzzParseSmapsHuge(f *testing.F) {
	f.Add(smapsSample, uint64(0x7f0000000000), uint64(0x800000))
	f.Fuzz(func(t *testing.T, text string, base, length uint64) {
		n, err := parseSmapsHuge(strings.NewReader(text), uintptr(base), uintptr(length))
		if err == nil && n < 0 {
			t.Fatalf("negative total %d", n)
		}
	})
}

func TestParseSmapsHugeOverflow(t *testing.T) {
	text := "7f0000000000-7f0000200000 rw-s 0 0:0 1 /r\nShmemPmdMapped: 9223372036854775807 kB\n"
	if n, err := parseSmapsHuge(strings.NewReader(text), 0x7f0000000000, 0x200000); err == nil {
		t.Errorf("an impossible size parsed as %d", n)
	}
}
