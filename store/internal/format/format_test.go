package format

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/daxkv/daxkv/internal/errs"
)

func testSuper(t testing.TB) Superblock {
	t.Helper()
	sb, err := NewSuperblock(8<<20, 0, [16]byte{1, 2, 3}, 42)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func TestSuperblockRoundTrip(t *testing.T) {
	sb := testSuper(t)
	b := make([]byte, SuperblockSize)
	sb.Encode(b)
	got, err := DecodeSuperblock(b, sb.Size)
	if err != nil {
		t.Fatal(err)
	}
	if got != sb {
		t.Fatalf("round trip: got %+v want %+v", got, sb)
	}
	if sb.ExtOff+sb.ExtSize != BackupOff(sb.Size) {
		t.Fatalf("extent space does not end at the backup superblock")
	}
	// Every single-bit flip in the encoded bytes is detected.
	for i := 0; i < superLen; i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		if _, err := DecodeSuperblock(c, sb.Size); err == nil {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	if _, err := DecodeSuperblock(b, sb.Size+4096); !errors.Is(err, errs.Corrupt) {
		t.Fatalf("size mismatch: %v", err)
	}
}

func TestSuperblockVersionAndSizes(t *testing.T) {
	sb := testSuper(t)
	sb.Version = 2
	b := make([]byte, SuperblockSize)
	sb.Encode(b)
	if _, err := DecodeSuperblock(b, sb.Size); !errors.Is(err, errs.Invalid) {
		t.Fatalf("other version: want Invalid, got %v", err)
	}
	for _, tc := range []struct{ size, wal int64 }{
		{MinRegionSize - 4096, 0}, {MinRegionSize + 1, 0}, {1 << 20, 1000}, {1 << 20, 1 << 20},
	} {
		if _, err := NewSuperblock(tc.size, tc.wal, [16]byte{}, 0); !errors.Is(err, errs.Invalid) {
			t.Errorf("NewSuperblock(%d, %d): want Invalid, got %v", tc.size, tc.wal, err)
		}
	}
	if _, err := NewSuperblock(MinRegionSize, 0, [16]byte{}, 0); err != nil {
		t.Errorf("minimum region: %v", err)
	}
}

func TestSlotRoundTripAndPick(t *testing.T) {
	sb := testSuper(t)
	s := Slot{Gen: 7, Catalog: [2]int64{sb.ExtOff, sb.ExtOff + 4096}, CatalogLen: 300, WALOff: 12345, WALSeq: 99,
		AllocOff: sb.ExtOff + 8192, AllocLen: 1000}
	b := make([]byte, SlotSize)
	s.Encode(b, sb.UUID)
	got, err := DecodeSlot(b, &sb)
	if err != nil || got != s {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := 0; i < slotLen; i++ {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := DecodeSlot(c, &sb); err == nil {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	other := sb
	other.UUID[0]++
	if _, err := DecodeSlot(b, &other); err == nil {
		t.Fatal("slot of another region accepted")
	}
	s2 := s
	s2.Gen = 8
	errX := errors.New("x")
	if p, i, ok := PickSlot(s, nil, s2, nil); !ok || i != 1 || p.Gen != 8 {
		t.Fatal("higher generation must win")
	}
	if _, i, ok := PickSlot(s, nil, s2, errX); !ok || i != 0 {
		t.Fatal("invalid slot must lose")
	}
	if _, _, ok := PickSlot(s, errX, s2, errX); ok {
		t.Fatal("no valid slot")
	}
}

func TestCatalogRoundTrip(t *testing.T) {
	sb := testSuper(t)
	c := Catalog{Gen: 3, NextID: 4, Refs: []Ref{
		{ID: 1, Kind: KindBranch, Name: "main", Root: sb.ExtOff, Seq: 10, Created: 5},
		{ID: 2, Kind: KindSnapshot, Name: "snap-1", Root: 0, Seq: 11, Created: 6, Parent: 1},
		{ID: 3, Kind: KindBranch, Name: string(bytes.Repeat([]byte{'x'}, MaxNameLen)), Root: sb.ExtOff + 4096, Parent: 2},
	}}
	b := make([]byte, c.EncodedLen()+100) // slack after the catalog is ignored
	c.Encode(b)
	got, err := DecodeCatalog(b, &sb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Gen != c.Gen || got.NextID != c.NextID || len(got.Refs) != len(c.Refs) {
		t.Fatalf("header mismatch: %+v", got)
	}
	for i := range c.Refs {
		if got.Refs[i] != c.Refs[i] {
			t.Fatalf("ref %d: got %+v want %+v", i, got.Refs[i], c.Refs[i])
		}
	}
	for i := 0; i < c.EncodedLen(); i++ {
		x := bytes.Clone(b)
		x[i] ^= 4
		if _, err := DecodeCatalog(x, &sb); err == nil {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	dup := c
	dup.Refs = append([]Ref(nil), c.Refs...)
	dup.Refs[1].Name = "main"
	b = make([]byte, dup.EncodedLen())
	dup.Encode(b)
	if _, err := DecodeCatalog(b, &sb); !errors.Is(err, errs.Corrupt) {
		t.Fatalf("duplicate name accepted: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", "a/b", "tab\there", "nul\x00", string(bytes.Repeat([]byte{'a'}, 256))} {
		if err := ValidateName(bad); !errors.Is(err, errs.Invalid) {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"main", "snap-2026-11-21", "ünïcode", "a.b_c"} {
		if err := ValidateName(good); err != nil {
			t.Errorf("%q rejected: %v", good, err)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	sb := testSuper(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var e BatchEncoder
	for iter := 0; iter < 200; iter++ {
		e.Reset(uint32(iter))
		type want struct {
			op  OpKind
			key []byte
			val []byte
			ext int64
			vl  int64
		}
		var ws []want
		for n := rng.IntN(20); n > 0; n-- {
			key := make([]byte, 1+rng.IntN(MaxKeyLen))
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			switch rng.IntN(3) {
			case 0:
				val := make([]byte, rng.IntN(300))
				e.Put(key, val)
				ws = append(ws, want{op: OpPut, key: key, val: val})
			case 1:
				ext := sb.ExtOff + int64(rng.IntN(100))*UnitSize
				e.PutExt(key, ext, 1000)
				ws = append(ws, want{op: OpPutExt, key: key, ext: ext, vl: 1000})
			case 2:
				e.Delete(key)
				ws = append(ws, want{op: OpDelete, key: key})
			}
		}
		payload := e.AppendTo(nil)
		if !bytes.Equal(payload, e.Bytes()) {
			t.Fatal("AppendTo and Bytes differ")
		}
		i := 0
		branch, err := DecodeBatch(payload, &sb, func(op *Op) error {
			w := ws[i]
			i++
			if op.Kind != w.op || !bytes.Equal(op.Key, w.key) || !bytes.Equal(op.Value, w.val) || op.Ext != w.ext || op.ValLen != w.vl {
				t.Fatalf("op %d mismatch: %+v vs %+v", i-1, op, w)
			}
			return nil
		})
		if err != nil || branch != uint32(iter) || i != len(ws) {
			t.Fatalf("decode: branch %d ops %d/%d err %v", branch, i, len(ws), err)
		}
		// Truncations are always rejected, never half-applied.
		if len(payload) > 5 {
			calls := 0
			if _, err := DecodeBatch(payload[:len(payload)-1], &sb, func(*Op) error { calls++; return nil }); err == nil || calls != 0 {
				t.Fatalf("truncated batch: err %v after %d calls", err, calls)
			}
		}
	}
}

func TestValueHeader(t *testing.T) {
	key := []byte("user:42")
	val := bytes.Repeat([]byte{7}, 1000)
	ext := make([]byte, ValueExtentLen(len(key), int64(len(val))))
	n := EncodeValueHeader(ext, key, int64(len(val)), Checksum(val))
	copy(ext[n:], val)
	h, err := DecodeValueHeader(ext, int64(len(ext)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Key, key) || h.ValLen != 1000 || h.ValCRC != Checksum(val) || h.DataOff() != int64(n) {
		t.Fatalf("bad header %+v", h)
	}
	for i := 0; i < n; i++ {
		c := bytes.Clone(ext)
		c[i] ^= 2
		if _, err := DecodeValueHeader(c, int64(len(c))); err == nil {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	if _, err := DecodeValueHeader(ext, 256); err == nil {
		t.Fatal("value longer than its extent accepted")
	}
}
