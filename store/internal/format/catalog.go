package format

import (
	"fmt"
	"time"

	"github.com/daxkv/daxkv/internal/errs"
)

// RefKind tells branches (writable) from snapshots (read-only).
type RefKind uint8

const (
	KindBranch   RefKind = 1
	KindSnapshot RefKind = 2
)

func (k RefKind) String() string {
	switch k {
	case KindBranch:
		return "branch"
	case KindSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("RefKind(%d)", uint8(k))
}

// MaxNameLen bounds branch and snapshot names.
const MaxNameLen = 255

// Ref is one catalog entry: a named root of the copy-on-write tree.
type Ref struct {
	ID      uint32 // stable; WAL records name branches by ID
	Kind    RefKind
	Name    string
	Root    int64  // tree root node offset; 0 = empty tree
	Seq     uint64 // last WAL sequence number applied to Root
	Created int64  // unix nanoseconds
	Parent  uint32 // ID of the ref it was cloned from; 0 = none
}

// Catalog is the list of refs, written copy-on-write at each checkpoint.
type Catalog struct {
	Gen    uint64
	NextID uint32
	Refs   []Ref
}

var catMagic = [4]byte{'D', 'X', 'C', 'T'}

const (
	catHeaderLen = 4 + 4 + 8 + 4 + 4 + 4 // magic, version, gen, nextID, count, byte length
	refFixedLen  = 4 + 1 + 1 + 2 + 8 + 8 + 8 + 4
	// maxRefs bounds decoding work on a corrupt count.
	maxRefs = 1 << 20
)

// EncodedLen is the number of bytes Encode writes.
func (c *Catalog) EncodedLen() int {
	n := catHeaderLen + 4 // + trailing CRC
	for i := range c.Refs {
		n += refFixedLen + len(c.Refs[i].Name)
	}
	return n
}

// Encode writes the catalog into b, which must hold EncodedLen bytes.
func (c *Catalog) Encode(b []byte) {
	n := c.EncodedLen()
	_ = b[n-1]
	copy(b[0:4], catMagic[:])
	le.PutUint32(b[4:], Version)
	le.PutUint64(b[8:], c.Gen)
	le.PutUint32(b[16:], c.NextID)
	le.PutUint32(b[20:], uint32(len(c.Refs)))
	le.PutUint32(b[24:], uint32(n))
	p := catHeaderLen
	for i := range c.Refs {
		r := &c.Refs[i]
		le.PutUint32(b[p:], r.ID)
		b[p+4] = byte(r.Kind)
		b[p+5] = 0
		le.PutUint16(b[p+6:], uint16(len(r.Name)))
		le.PutUint64(b[p+8:], uint64(r.Root))
		le.PutUint64(b[p+16:], r.Seq)
		le.PutUint64(b[p+24:], uint64(r.Created))
		le.PutUint32(b[p+32:], r.Parent)
		p += refFixedLen
		p += copy(b[p:], r.Name)
	}
	le.PutUint32(b[p:], Checksum(b[:p]))
}

// DecodeCatalog parses a catalog. Root offsets are checked to lie in sb's
// extent space; names are validated; IDs and names must be unique.
func DecodeCatalog(b []byte, sb *Superblock) (Catalog, error) {
	var c Catalog
	bad := func(what string, args ...any) error {
		return fmt.Errorf("%w: catalog: "+what, append([]any{errs.Corrupt}, args...)...)
	}
	if len(b) < catHeaderLen+4 {
		return c, bad("truncated")
	}
	if [4]byte(b[0:4]) != catMagic {
		return c, bad("bad magic")
	}
	if v := le.Uint32(b[4:]); v != Version {
		return c, bad("version %d", v)
	}
	n := int64(le.Uint32(b[24:]))
	if n < catHeaderLen+4 || n > int64(len(b)) {
		return c, bad("length %d outside [%d,%d]", n, catHeaderLen+4, len(b))
	}
	if got, want := le.Uint32(b[n-4:]), Checksum(b[:n-4]); got != want {
		return c, bad("checksum %08x, want %08x", got, want)
	}
	c.Gen = le.Uint64(b[8:])
	c.NextID = le.Uint32(b[16:])
	count := le.Uint32(b[20:])
	if count > maxRefs || int64(count)*refFixedLen > n {
		return c, bad("ref count %d too large for %d bytes", count, n)
	}
	c.Refs = make([]Ref, 0, count)
	ids := make(map[uint32]bool, count)
	names := make(map[string]bool, count)
	p := int64(catHeaderLen)
	for i := uint32(0); i < count; i++ {
		if p+refFixedLen > n-4 {
			return c, bad("ref %d truncated", i)
		}
		var r Ref
		r.ID = le.Uint32(b[p:])
		r.Kind = RefKind(b[p+4])
		nameLen := int64(le.Uint16(b[p+6:]))
		r.Root = int64(le.Uint64(b[p+8:]))
		r.Seq = le.Uint64(b[p+16:])
		r.Created = int64(le.Uint64(b[p+24:]))
		r.Parent = le.Uint32(b[p+32:])
		p += refFixedLen
		if p+nameLen > n-4 {
			return c, bad("ref %d name truncated", i)
		}
		r.Name = string(b[p : p+nameLen])
		p += nameLen
		if r.Kind != KindBranch && r.Kind != KindSnapshot {
			return c, bad("ref %q has kind %d", r.Name, r.Kind)
		}
		if err := ValidateName(r.Name); err != nil {
			return c, bad("ref %d: %v", i, err)
		}
		if r.Root != 0 && !sb.ValidExtent(r.Root, NodeSize) {
			return c, bad("ref %q root %d outside extent space", r.Name, r.Root)
		}
		if r.ID == 0 || r.ID >= c.NextID || ids[r.ID] || names[r.Name] {
			return c, bad("ref %q: duplicate or out-of-range id %d", r.Name, r.ID)
		}
		ids[r.ID], names[r.Name] = true, true
		c.Refs = append(c.Refs, r)
	}
	if p != n-4 {
		return c, bad("%d trailing bytes", n-4-p)
	}
	return c, nil
}

// ValidateName checks a branch or snapshot name: 1..255 bytes, no '/', no
// control characters. Errors wrap errs.Invalid.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty ref name", errs.Invalid)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: ref name of %d bytes exceeds %d", errs.Invalid, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '/' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: ref name %q contains %q", errs.Invalid, name, c)
		}
	}
	return nil
}

// Find returns the ref with the given name.
func (c *Catalog) Find(name string) (*Ref, bool) {
	for i := range c.Refs {
		if c.Refs[i].Name == name {
			return &c.Refs[i], true
		}
	}
	return nil, false
}

// CreatedTime converts Ref.Created.
func (r *Ref) CreatedTime() time.Time { return time.Unix(0, r.Created) }
