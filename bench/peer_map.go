package bench

import (
	"slices"
	"strings"
	"sync"
)

// mapStore is a Go map behind a RWMutex: no persistence, no order, the
// DRAM ceiling for point operations.
type mapStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func mapPeer() Peer {
	return Peer{
		Name:    "map",
		Durable: false,
		Options: "map[string][]byte behind a sync.RWMutex; values copied in and out; not in scan workloads (no order)",
		Open:    func(OpenOptions) (Store, error) { return &mapStore{m: map[string][]byte{}}, nil },
	}
}

func (s *mapStore) Name() string  { return "map" }
func (s *mapStore) Durable() bool { return false }
func (s *mapStore) Caps() Caps    { return Caps{Reads: true, Ordered: false} }

func (s *mapStore) Put(key, value []byte) error {
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	s.mu.Lock()
	s.m[string(key)] = v
	s.mu.Unlock()
	return nil
}

func (s *mapStore) Delete(key []byte) error {
	s.mu.Lock()
	delete(s.m, string(key))
	s.mu.Unlock()
	return nil
}

func (s *mapStore) Get(key, dst []byte) ([]byte, error) {
	s.mu.RLock()
	v, ok := s.m[string(key)]
	if ok {
		dst = append(dst[:0], v...)
	}
	s.mu.RUnlock()
	if !ok {
		return dst[:0], ErrNotFound
	}
	return dst, nil
}

// Scan sorts the matching keys: correct, and O(n log n), which is why the
// runner keeps the map out of scan workloads (Caps.Ordered is false).
func (s *mapStore) Scan(start []byte, limit int, fn func(key, value []byte) bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for k := range s.m {
		if k >= string(start) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, strings.Compare)
	for i, k := range keys {
		if i >= limit || !fn([]byte(k), s.m[k]) {
			break
		}
	}
	return nil
}

func (s *mapStore) Batch(ops []Op) error {
	vals := make([][]byte, len(ops))
	for i, op := range ops {
		if !op.Delete {
			vals[i] = append([]byte{}, op.Value...)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, op := range ops {
		if op.Delete {
			delete(s.m, string(op.Key))
		} else {
			s.m[string(op.Key)] = vals[i]
		}
	}
	return nil
}

func (s *mapStore) Close() error {
	s.mu.Lock()
	s.m = nil
	s.mu.Unlock()
	return nil
}
