package format

import (
	"testing"
)

func FuzzSuperblock(f *testing.F) {
	sb := testSuper(f)
	b := make([]byte, superLen)
	sb.Encode(b)
	f.Add(b, sb.Size)
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		got, err := DecodeSuperblock(b, size)
		if err == nil && got.ExtOff+got.ExtSize != size-SuperblockSize {
			t.Fatalf("accepted inconsistent geometry %+v for size %d", got, size)
		}
	})
}

func FuzzSlot(f *testing.F) {
	sb := testSuper(f)
	s := Slot{Gen: 1, Catalog: [2]int64{sb.ExtOff, sb.ExtOff + 256}, CatalogLen: 100}
	b := make([]byte, SlotSize)
	s.Encode(b, sb.UUID)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeSlot(b, &sb)
		if err == nil && (!sb.ValidExtent(got.Catalog[0], got.CatalogLen) || !sb.ValidExtent(got.Catalog[1], got.CatalogLen)) {
			t.Fatalf("accepted slot with bad catalog %+v", got)
		}
	})
}

func FuzzCatalog(f *testing.F) {
	sb := testSuper(f)
	c := Catalog{Gen: 1, NextID: 3, Refs: []Ref{
		{ID: 1, Kind: KindBranch, Name: "main", Root: sb.ExtOff},
		{ID: 2, Kind: KindSnapshot, Name: "s", Parent: 1},
	}}
	b := make([]byte, c.EncodedLen())
	c.Encode(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeCatalog(b, &sb)
		if err != nil {
			return
		}
		for _, r := range got.Refs {
			if ValidateName(r.Name) != nil || (r.Root != 0 && !sb.ValidExtent(r.Root, NodeSize)) {
				t.Fatalf("accepted bad ref %+v", r)
			}
		}
	})
}

func FuzzBatch(f *testing.F) {
	sb := testSuper(f)
	var e BatchEncoder
	e.Reset(1)
	e.Put([]byte("k"), []byte("v"))
	e.PutExt([]byte("big"), sb.ExtOff, 500)
	e.Delete([]byte("gone"))
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeBatch(b, &sb, func(op *Op) error {
			if len(op.Key) == 0 || len(op.Key) > MaxKeyLen {
				t.Fatalf("bad key length %d accepted", len(op.Key))
			}
			return nil
		})
	})
}

func FuzzValueHeader(f *testing.F) {
	ext := make([]byte, 512)
	EncodeValueHeader(ext, []byte("key"), 100, 0)
	f.Add(ext, int64(512))
	f.Fuzz(func(t *testing.T, b []byte, extLen int64) {
		h, err := DecodeValueHeader(b, extLen)
		if err == nil && ValueExtentLen(len(h.Key), h.ValLen) > extLen {
			t.Fatalf("value %d does not fit extent %d", h.ValLen, extLen)
		}
	})
}
