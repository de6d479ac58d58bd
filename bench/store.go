package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/daxkv/daxkv/flush"
)

// ErrNotFound is returned by Store.Get for a missing key, whatever the peer.
var ErrNotFound = errors.New("bench: key not found")

// ErrUnsupported is returned by operations a peer does not have (the raw
// persistence limit has no index, so it cannot read).
var ErrUnsupported = errors.New("bench: operation not supported by this peer")

// Op is one operation of a Batch.
type Op struct {
	Key, Value []byte
	Delete     bool
}

// Caps says which workloads a peer can take part in.
type Caps struct {
	// Reads: Get and Scan work.
	Reads bool
	// Ordered: Scan walks an ordered index. A peer without one (the Go map)
	// can scan only by sorting, which would measure the sort, so the
	// runner leaves it out of scan workloads.
	Ordered bool
}

// Store is what every peer implements. Slices passed in may be reused by
// the caller as soon as the call returns; slices passed to callbacks are
// valid only during the callback.
type Store interface {
	// Name is the peer's name in reports ("pebble-sync", ...).
	Name() string
	// Durable reports whether a write is durable when the call returns
	// (survives power loss on real hardware). Durable peers are compared
	// with durable daxkv, the others with daxkv in NoSync mode.
	Durable() bool
	Caps() Caps
	Put(key, value []byte) error
	// Get returns the value of key, or an error wrapping ErrNotFound. The
	// value is the caller's: dst[:0] grown by append where the peer has to
	// copy out of its own memory, or the fresh copy the peer's API already
	// returns (daxkv), so no peer pays for a second copy.
	Get(key, dst []byte) ([]byte, error)
	Delete(key []byte) error
	// Scan calls fn for at most limit keys from start (inclusive) in key
	// order, stopping early when fn returns false.
	Scan(start []byte, limit int, fn func(key, value []byte) bool) error
	// Batch applies ops atomically where the peer can (all but the raw
	// limit, which has nothing to be atomic about).
	Batch(ops []Op) error
	Close() error
}

// OpenOptions are what the runner tells a peer when opening it.
type OpenOptions struct {
	// Dir is an empty directory that belongs to this store alone.
	Dir string
	// RegionSize sizes the mapped file of daxkv and the raw limit.
	RegionSize int64
	// Flush is the persistence mechanism of daxkv and the raw limit.
	Flush flush.Mode
}

// Peer describes one store the benchmark can run.
type Peer struct {
	Name    string
	Durable bool
	// Options documents the settings used, for the report.
	Options string
	Open    func(o OpenOptions) (Store, error)
}

// Peers lists every peer in report order: daxkv first, then the other
// stores, then the two reference points.
func Peers() []Peer {
	return []Peer{
		daxkvPeer(false),
		daxkvPeer(true),
		pebblePeer(true),
		pebblePeer(false),
		bboltPeer(),
		badgerPeer(true),
		badgerPeer(false),
		mapPeer(),
		rawPeer(),
	}
}

// PeerNames lists the valid peer names.
func PeerNames() []string {
	var names []string
	for _, p := range Peers() {
		names = append(names, p.Name)
	}
	return names
}

// SelectPeers returns the peers named, in report order. "all" (or an empty
// list) means every peer. An unknown name is an error listing valid ones.
func SelectPeers(names []string) ([]Peer, error) {
	all := Peers()
	want, err := selectNames(names, PeerNames(), "peer")
	if err != nil {
		return nil, err
	}
	var out []Peer
	for _, p := range all {
		if want[p.Name] {
			out = append(out, p)
		}
	}
	return out, nil
}

// selectNames checks names against valid and returns the chosen set.
func selectNames(names, valid []string, what string) (map[string]bool, error) {
	want := map[string]bool{}
	var unknown []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		switch {
		case n == "":
		case n == "all":
			for _, v := range valid {
				want[v] = true
			}
		case slices.Contains(valid, n):
			want[n] = true
		default:
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown %s %s: valid %ss are %s (or all)", what, strings.Join(quoteAll(unknown), ", "), what, strings.Join(valid, ", "))
	}
	if len(want) == 0 {
		for _, v := range valid {
			want[v] = true
		}
	}
	return want, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
