package alloc

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzLoad feeds arbitrary images to Load for the space [testStart, +1 MiB).
// With fix set, the checksum is recomputed first, so the fuzzer gets past it
// into the decoder proper. Load must never panic or allocate out of
// proportion, and whatever it accepts must be a sound allocator that
// round-trips.
func FuzzLoad(f *testing.F) {
	for seed := range uint64(4) {
		img, err := randomAllocator(f, seed, testStart, mib, 500*int(seed+1)).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(img, false)
		f.Add(img, true)
	}
	empty, _ := mustNew(f, testStart, mib).MarshalBinary()
	f.Add(empty, false)
	f.Fuzz(func(t *testing.T, img []byte, fix bool) {
		if fix && len(img) >= crcSize {
			body := img[:len(img)-crcSize]
			binary.LittleEndian.PutUint32(img[len(body):], crc32.Checksum(body, castagnoli))
		}
		a, err := Load(testStart, mib, img)
		if err != nil {
			if !isCorrupt(err) {
				t.Fatalf("error does not wrap errs.Corrupt: %v", err)
			}
			return
		}
		mustCheck(t, a)
		again, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b, err := Load(testStart, mib, again)
		if err != nil {
			t.Fatalf("re-encoded image does not load: %v", err)
		}
		if d := stateOf(b).diff(stateOf(a)); d != "" {
			t.Fatalf("re-encoded image differs: %s", d)
		}
		// Bounded memory: the work is proportional to the image, plus the
		// fixed table for 1 MiB of space.
		if n := loadAllocBytes(testStart, mib, img); n > 4096+200*uint64(len(img)) {
			t.Fatalf("Load of %d bytes allocated %d", len(img), n)
		}
	})
}
