package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

// fuzzBase is a small region holding a checkpointed tree, large values and
// un-checkpointed WAL records: every structure Open decodes.
var fuzzBase = sync.OnceValue(func() []byte {
	img := make([]byte, 512<<10)
	tr := flush.NewTracker(img)
	db, err := Open("", crashOptions(img, tr, true, nil))
	if err != nil {
		panic(err)
	}
	for i := 0; i < 300; i++ {
		v := bytes.Repeat([]byte{byte(i)}, 20+(i%5)*100)
		if err := db.Put([]byte(fmt.Sprintf("key-%04d", i)), v); err != nil {
			panic(err)
		}
		if i == 200 {
			if err := db.checkpoint(); err != nil {
				panic(err)
			}
		}
	}
	// Crash here: the image keeps both the tree and a WAL tail to replay.
	return tr.CrashImageMax()
})

// FuzzOpen corrupts a region image at fuzzer-chosen places and opens it:
// Open and every read must return (an error is fine), never panic or hang.
// The input is a list of (offset uint32, byte) edits.
func FuzzOpen(f *testing.F) {
	base := fuzzBase()
	f.Add([]byte{})
	for _, off := range []uint32{0, 4096 + 24, 6144 + 24, 8192 + 40, 9000, 400 << 10} {
		var e [5]byte
		binary.LittleEndian.PutUint32(e[:], off)
		e[4] = 0xff
		f.Add(e[:])
	}
	f.Fuzz(func(t *testing.T, edits []byte) {
		img := bytes.Clone(base)
		for len(edits) >= 5 {
			off := int(binary.LittleEndian.Uint32(edits)) % len(img)
			img[off] ^= edits[4] | 1
			edits = edits[5:]
		}
		db, err := Open("", crashOptions(img, flush.NewTracker(img), false, nil))
		if err != nil {
			return
		}
		defer db.Close()
		_ = db.View(func(v *View) error {
			return v.Scan(nil, nil, func(k, val []byte) error { return nil })
		})
		for i := 0; i < 300; i += 7 {
			_, _ = db.Get([]byte(fmt.Sprintf("key-%04d", i)))
		}
		_ = db.Put([]byte("after"), []byte("fuzz"))
		_ = db.checkpoint()
	})
}
