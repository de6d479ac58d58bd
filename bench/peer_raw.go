package bench

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/region"
)

// rawRingSize is the raw limit's log: bigger than the last-level cache, so
// flushed lines really leave it, small enough to pre-fault quickly.
const rawRingSize = 64 << 20

// rawHeader precedes each record: key length (top bit: delete), value length.
const rawHeader = 8

const rawDeleteBit = 1 << 31

// rawStore is the persistence limit: the bytes a write has to make durable
// (key and value, framed) copied into a mapped file with the persister the
// store would use, then one fence per call. No index, no WAL format, no
// checksum; nothing a real store could do with less.
type rawStore struct {
	reg  *region.Region
	mem  []byte
	p    flush.Persister
	tail atomic.Int64
	bufs sync.Pool
}

func rawPeer() Peer {
	return Peer{
		Name:    "raw",
		Durable: true,
		Options: fmt.Sprintf("key+value framed by an 8-byte header, copied with flush.Persister.Copy (non-temporal from 256 B) into a %d MiB mapped ring, one Drain (SFENCE) per call; writes only", rawRingSize>>20),
		Open:    openRaw,
	}
}

func openRaw(o OpenOptions) (Store, error) {
	size := int64(rawRingSize)
	if o.RegionSize > 0 && o.RegionSize < size {
		size = o.RegionSize
	}
	reg, err := region.Open(filepath.Join(o.Dir, "raw.region"), region.Options{Size: size})
	if err != nil {
		return nil, err
	}
	// The same choice the store makes: the mode asked for (else
	// DAXKV_FLUSH, else detection), msync where the file lives in the page
	// cache.
	mode := o.Flush
	if mode == flush.Auto {
		mode, err = flush.ModeFromEnv()
	}
	if err == nil && reg.Mode() == region.PageCache {
		mode = flush.Msync
	}
	var p flush.Persister
	if err == nil {
		p, err = flush.New(flush.Config{Mode: mode, Sync: reg.Sync})
	}
	if err != nil {
		reg.Close()
		return nil, err
	}
	// Fault every page in now: first-touch page faults belong to setting
	// up, not to the limit being measured.
	for i := 0; i < len(reg.Data); i += 4096 {
		reg.Data[i] = 0
	}
	return &rawStore{reg: reg, mem: reg.Data, p: p}, nil
}

func (s *rawStore) Name() string  { return "raw" }
func (s *rawStore) Durable() bool { return true }
func (s *rawStore) Caps() Caps    { return Caps{} }

// reserve claims n bytes of the ring, wrapping to the start when the tail
// would run past the end. Records are overwritten a lap later: nothing
// reads them back.
func (s *rawStore) reserve(n int) []byte {
	size := int64(len(s.mem))
	for {
		cur := s.tail.Load()
		start := cur
		if start+int64(n) > size {
			start = 0
		}
		if s.tail.CompareAndSwap(cur, start+int64(n)) {
			return s.mem[start : start+int64(n)]
		}
	}
}

func rawLen(key, value []byte) int { return (rawHeader + len(key) + len(value) + 7) &^ 7 }

// write frames one record in a scratch buffer and copies it into the ring.
func (s *rawStore) write(key, value []byte, del bool) error {
	n := rawLen(key, value)
	if n > len(s.mem) {
		return fmt.Errorf("raw: record of %d bytes exceeds the %d-byte ring", n, len(s.mem))
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := append((*bp)[:0], make([]byte, rawHeader)...)
	kl := uint32(len(key))
	if del {
		kl |= rawDeleteBit
	}
	binary.LittleEndian.PutUint32(b[0:], kl)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(value)))
	b = append(b, key...)
	b = append(b, value...)
	for len(b) < n {
		b = append(b, 0)
	}
	s.p.Copy(s.reserve(n), b)
	*bp = b
	s.bufs.Put(bp)
	return nil
}

func (s *rawStore) Put(key, value []byte) error {
	if err := s.write(key, value, false); err != nil {
		return err
	}
	return s.p.Drain()
}

func (s *rawStore) Delete(key []byte) error {
	if err := s.write(key, nil, true); err != nil {
		return err
	}
	return s.p.Drain()
}

// Batch copies every record, then fences once: the cheapest way to make a
// group of writes durable.
func (s *rawStore) Batch(ops []Op) error {
	for _, op := range ops {
		if err := s.write(op.Key, op.Value, op.Delete); err != nil {
			return err
		}
	}
	return s.p.Drain()
}

func (s *rawStore) Get([]byte, []byte) ([]byte, error) { return nil, ErrUnsupported }
func (s *rawStore) Scan([]byte, int, func(k, v []byte) bool) error {
	return ErrUnsupported
}

func (s *rawStore) Close() error { return s.reg.Close() }

// rawRecords decodes the ring from its start up to the first empty header,
// for tests: it returns the ops that were written before any wrap.
func rawRecords(mem []byte) []Op {
	var ops []Op
	for p := 0; p+rawHeader <= len(mem); {
		kl := binary.LittleEndian.Uint32(mem[p:])
		vl := int(binary.LittleEndian.Uint32(mem[p+4:]))
		del := kl&rawDeleteBit != 0
		k := int(kl &^ rawDeleteBit)
		if k == 0 || p+rawHeader+k+vl > len(mem) {
			break
		}
		op := Op{Key: mem[p+rawHeader : p+rawHeader+k], Delete: del}
		if !del {
			op.Value = mem[p+rawHeader+k : p+rawHeader+k+vl]
		}
		ops = append(ops, op)
		p += (rawHeader + k + vl + 7) &^ 7
	}
	return ops
}
