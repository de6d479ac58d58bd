package format

import (
	"encoding/binary"
	"fmt"

	"github.com/daxkv/daxkv/internal/errs"
)

// A batch is the payload of one WAL record: every op of one Put, Delete or
// Update, applied atomically to one branch.
//
//	uint32  branch ID
//	uvarint op count
//	op*:    uint8 kind | uvarint key length | key | body
//	        OpPut:    uvarint value length | value
//	        OpPutExt: uint64 extent offset | uvarint value length
//	        OpDelete: (nothing)

// OpKind is the kind of one batch op.
type OpKind uint8

const (
	OpPut    OpKind = 1 // value inline in the record
	OpPutExt OpKind = 2 // value in its own extent
	OpDelete OpKind = 3
)

// MaxKeyLen bounds keys.
const MaxKeyLen = 1024

// Op is one decoded batch op. Key and Value alias the decoded buffer.
type Op struct {
	Kind   OpKind
	Key    []byte
	Value  []byte // OpPut
	Ext    int64  // OpPutExt
	ValLen int64  // OpPutExt
}

// BatchEncoder builds a batch payload in a reusable buffer.
type BatchEncoder struct {
	buf   []byte
	count int
	// the last op's key: buf[lastKey:lastKeyEnd]
	lastKey, lastKeyEnd int
}

// Reset starts a new batch for branch id, keeping the buffer.
func (e *BatchEncoder) Reset(branch uint32) {
	e.buf = le.AppendUint32(e.buf[:0], branch)
	e.count = 0
}

// Put appends an inline put and returns where the value starts in the
// encoder's buffer; PayloadOffset turns that into a payload offset.
func (e *BatchEncoder) Put(key, value []byte) int {
	e.op(OpPut, key)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(value)))
	at := len(e.buf)
	e.buf = append(e.buf, value...)
	return at
}

// PayloadOffset converts an offset returned by Put into the value's offset
// in the finished payload (the op count is inserted in front of the ops).
func (e *BatchEncoder) PayloadOffset(bufOff int) int {
	var tmp [binary.MaxVarintLen64]byte
	return bufOff + len(binary.AppendUvarint(tmp[:0], uint64(e.count)))
}

// PutExt appends a put whose value lives in the extent at off.
func (e *BatchEncoder) PutExt(key []byte, off, valLen int64) {
	e.op(OpPutExt, key)
	e.buf = le.AppendUint64(e.buf, uint64(off))
	e.buf = binary.AppendUvarint(e.buf, uint64(valLen))
}

// Delete appends a delete.
func (e *BatchEncoder) Delete(key []byte) { e.op(OpDelete, key) }

func (e *BatchEncoder) op(k OpKind, key []byte) {
	e.buf = append(e.buf, byte(k))
	e.buf = binary.AppendUvarint(e.buf, uint64(len(key)))
	e.lastKey = len(e.buf)
	e.buf = append(e.buf, key...)
	e.lastKeyEnd = len(e.buf)
	e.count++
}

// LastKey returns the encoder's copy of the last op's key. It stays valid
// and unchanged while the batch grows (a reallocation leaves the old bytes
// in place), so callers can keep it instead of the caller's buffer.
func (e *BatchEncoder) LastKey() []byte { return e.buf[e.lastKey:e.lastKeyEnd:e.lastKeyEnd] }

// Count is the number of ops so far.
func (e *BatchEncoder) Count() int { return e.count }

// Bytes returns the payload: the branch ID, the op count, then the ops. The
// count is written in front by rebuilding the header, so encoders can
// stream ops without knowing their number in advance.
func (e *BatchEncoder) Bytes() []byte {
	var hdr [4 + binary.MaxVarintLen64]byte
	copy(hdr[:4], e.buf[:4])
	h := binary.AppendUvarint(hdr[:4], uint64(e.count))
	out := make([]byte, 0, len(h)+len(e.buf)-4)
	out = append(out, h...)
	return append(out, e.buf[4:]...)
}

// AppendTo appends the payload to dst (see Bytes) without an extra copy.
func (e *BatchEncoder) AppendTo(dst []byte) []byte {
	dst = append(dst, e.buf[:4]...)
	dst = binary.AppendUvarint(dst, uint64(e.count))
	return append(dst, e.buf[4:]...)
}

// DecodeBatch parses a batch payload, calling fn for each op in order.
// Op slices alias payload. It validates the whole payload before the first
// call to fn, so a corrupt batch is rejected as a unit; every error wraps
// errs.Corrupt.
func DecodeBatch(payload []byte, sb *Superblock, fn func(op *Op) error) (branch uint32, err error) {
	if _, err := walkBatch(payload, sb, nil); err != nil {
		return 0, err
	}
	return walkBatch(payload, sb, fn)
}

func walkBatch(b []byte, sb *Superblock, fn func(op *Op) error) (uint32, error) {
	bad := func(what string, args ...any) error {
		return fmt.Errorf("%w: batch: "+what, append([]any{errs.Corrupt}, args...)...)
	}
	if len(b) < 5 {
		return 0, bad("truncated header")
	}
	branch := le.Uint32(b)
	p := 4
	count, n := binary.Uvarint(b[p:])
	if n <= 0 || count > uint64(len(b)) {
		return 0, bad("bad op count")
	}
	p += n
	var op Op
	for i := uint64(0); i < count; i++ {
		if p >= len(b) {
			return 0, bad("op %d truncated", i)
		}
		op = Op{Kind: OpKind(b[p])}
		p++
		klen, n := binary.Uvarint(b[p:])
		if n <= 0 || klen == 0 || klen > MaxKeyLen || klen > uint64(len(b)-p-n) {
			return 0, bad("op %d: bad key length", i)
		}
		p += n
		op.Key = b[p : p+int(klen)]
		p += int(klen)
		switch op.Kind {
		case OpPut:
			vlen, n := binary.Uvarint(b[p:])
			if n <= 0 || vlen > uint64(len(b)-p-n) {
				return 0, bad("op %d: bad value length", i)
			}
			p += n
			op.Value = b[p : p+int(vlen)]
			p += int(vlen)
		case OpPutExt:
			if len(b)-p < 8 {
				return 0, bad("op %d: truncated extent", i)
			}
			op.Ext = int64(le.Uint64(b[p:]))
			p += 8
			vlen, n := binary.Uvarint(b[p:])
			if n <= 0 || vlen > uint64(sb.ExtSize) {
				return 0, bad("op %d: bad extent value length", i)
			}
			p += n
			op.ValLen = int64(vlen)
			if !sb.ValidExtent(op.Ext, ValueExtentLen(len(op.Key), op.ValLen)) {
				return 0, bad("op %d: extent %d outside extent space", i, op.Ext)
			}
		case OpDelete:
		default:
			return 0, bad("op %d: unknown kind %d", i, op.Kind)
		}
		if fn != nil {
			if err := fn(&op); err != nil {
				return branch, err
			}
		}
	}
	if p != len(b) {
		return 0, bad("%d trailing bytes", len(b)-p)
	}
	return branch, nil
}

// Value returns the bytes of an inline value added with Put, from the
// offset Put returned.
func (e *BatchEncoder) Value(bufOff, n int) []byte { return e.buf[bufOff : bufOff+n] }
