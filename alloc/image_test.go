package alloc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

func roundTrip(t *testing.T, a *Allocator) []byte {
	t.Helper()
	img, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	b, err := Load(a.offset(0), s.Size, img)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b)
	if d := stateOf(b).diff(stateOf(a)); d != "" {
		t.Fatalf("loaded image differs: %s", d)
	}
	again, _ := b.MarshalBinary()
	if !bytes.Equal(img, again) {
		t.Fatal("image of the loaded allocator differs from the original image")
	}
	return img
}

func TestImageRoundTrip(t *testing.T) {
	roundTrip(t, mustNew(t, 0, UnitSize))
	roundTrip(t, mustNew(t, testStart, mib))
	full := mustNew(t, testStart, 4*UnitSize)
	mustAlloc(t, full, 4*UnitSize, 0)
	roundTrip(t, full)
	for seed := range uint64(8) {
		a := randomAllocator(t, seed, int64(seed)*UnitSize, 8*mib, 30000)
		if s := a.Stats(); s.Zombies == 0 || s.Quarantined == 0 {
			t.Fatalf("seed %d: no zombies or quarantine to round-trip: %+v", seed, s)
		}
		roundTrip(t, a)
	}
	// A loaded allocator keeps working like the original.
	a := randomAllocator(t, 99, 0, 8*mib, 20000)
	img := roundTrip(t, a)
	b, _ := Load(0, 8*mib, img)
	for range 1000 {
		x, errA := a.Alloc(4096, 4096)
		y, errB := b.Alloc(4096, 4096)
		if x != y || (errA == nil) != (errB == nil) {
			t.Fatalf("original allocates %d, %v; loaded %d, %v", x, errA, y, errB)
		}
	}
}

func TestImageIsCompact(t *testing.T) {
	a := mustNew(t, testStart, 64*mib)
	const nodes = 10000
	for range nodes {
		mustAlloc(t, a, 4096, 4096)
	}
	img := roundTrip(t, a)
	// One byte per packed node, plus the fixed header and checksum.
	if len(img) > nodes+32 {
		t.Fatalf("image of %d packed nodes is %d bytes", nodes, len(img))
	}
}

// seal appends the checksum to a hand-made image body.
func seal(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

// body starts an image for the space [0, 1 MiB).
func body(version byte, nums ...uint64) []byte {
	b := append([]byte(imageMagic), version)
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(mib/UnitSize))
	for _, n := range nums {
		b = binary.AppendUvarint(b, n)
	}
	return b
}

func TestLoadRejectsMalformedImages(t *testing.T) {
	const sizeU = uint64(mib / UnitSize)
	h := func(units uint64, flags uint64) uint64 { return units<<headerFlags | flags }
	good := seal(body(imageVersion, 2, 1, h(16, 0), h(16, flagGap|flagRefs), 3, 5, 100, 2))
	if a, err := Load(0, mib, good); err != nil {
		t.Fatalf("well-formed image: %v", err)
	} else if s := a.Stats(); s.Extents != 2 || s.Used != 32*UnitSize || s.Quarantined != 2*UnitSize {
		t.Fatalf("well-formed image: %+v", s)
	}
	for _, c := range []struct {
		name string
		img  []byte
	}{
		{"empty", nil},
		{"short", []byte("DXAL")},
		{"bad magic", seal(append([]byte("XXXX"), body(imageVersion, 0, 0)[4:]...))},
		{"future version", seal(body(imageVersion+1, 0, 0))},
		{"bad checksum", append(body(imageVersion, 0, 0), 1, 2, 3, 4)},
		{"truncated counts", seal(body(imageVersion, 0))},
		{"huge extent count", seal(body(imageVersion, 1<<40, 0))},
		{"huge quarantine count", seal(body(imageVersion, 0, 1<<62))},
		{"count exceeds bytes", seal(body(imageVersion, 3, 0, h(1, 0), h(1, 0)))},
		{"missing extents", seal(body(imageVersion, 2, 0, h(1, 0), 0))},
		{"zero-length extent", seal(body(imageVersion, 1, 0, h(0, 0)))},
		{"extent past the end", seal(body(imageVersion, 1, 0, h(sizeU+1, 0)))},
		{"gap past the end", seal(body(imageVersion, 1, 0, h(1, flagGap), sizeU))},
		{"huge gap", seal(body(imageVersion, 1, 0, h(1, flagGap), 1<<63))},
		{"flagged zero gap", seal(body(imageVersion, 1, 0, h(1, flagGap), 0))},
		{"flagged refcount 1", seal(body(imageVersion, 1, 0, h(1, flagRefs), 1))},
		{"refcount over 32 bits", seal(body(imageVersion, 1, 0, h(1, flagRefs), 1<<32))},
		{"extent over 32 bits", seal(body(imageVersion, 1, 0, h(1<<32, 0)))},
		{"quarantine zero length", seal(body(imageVersion, 0, 1, 5, 0))},
		{"quarantine touching", seal(body(imageVersion, 0, 2, 5, 1, 0, 1))},
		{"quarantine past the end", seal(body(imageVersion, 0, 1, sizeU-1, 2))},
		{"trailing garbage", seal(body(imageVersion, 0, 0, 7))},
		{"overlong varint", seal(append(body(imageVersion, 1, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))},
	} {
		if _, err := Load(0, mib, c.img); !errors.Is(err, errs.Corrupt) {
			t.Errorf("%s: %v, want Corrupt", c.name, err)
		}
	}
}

func TestLoadRejectsOtherSpace(t *testing.T) {
	img, _ := randomAllocator(t, 1, testStart, mib, 1000).MarshalBinary()
	for _, c := range []struct{ start, size int64 }{{0, mib}, {testStart, 2 * mib}, {testStart + UnitSize, mib}} {
		if _, err := Load(c.start, c.size, img); !errors.Is(err, errs.Corrupt) {
			t.Errorf("Load(%d, %d): %v, want Corrupt", c.start, c.size, err)
		}
	}
}

func TestLoadDetectsEveryTruncationAndBitFlip(t *testing.T) {
	img, _ := randomAllocator(t, 2, testStart, mib, 3000).MarshalBinary()
	if len(img) < 200 {
		t.Fatalf("image too small to be interesting: %d bytes", len(img))
	}
	for n := range len(img) {
		if _, err := Load(testStart, mib, img[:n]); !isCorrupt(err) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	bad := bytes.Clone(img)
	for i := range bad {
		for bit := range 8 {
			bad[i] ^= 1 << bit
			if _, err := Load(testStart, mib, bad); !isCorrupt(err) {
				t.Fatalf("flip of byte %d bit %d: %v", i, bit, err)
			}
			bad[i] ^= 1 << bit
		}
	}
}

// loadAllocBytes returns the bytes allocated by Load(start, size, img).
func loadAllocBytes(start, size int64, img []byte) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _ = Load(start, size, img)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLoadAllocationIsBounded(t *testing.T) {
	// Counts that promise millions of entries in a few bytes must not be
	// believed before the bytes are there.
	for _, img := range [][]byte{
		seal(body(imageVersion, 1<<40, 1<<40)),
		seal(body(imageVersion, 1<<20, 0, 4<<headerFlags)),
		seal(body(imageVersion, 0, 1<<20, 1, 1)),
	} {
		if n := loadAllocBytes(0, mib, img); n > 64<<10 {
			t.Errorf("Load of a %d-byte lying image allocated %d bytes", len(img), n)
		}
	}
}
