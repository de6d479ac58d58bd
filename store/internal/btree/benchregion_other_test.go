//go:build !linux

package btree

// benchRegion returns plain memory where huge-page hints are not available.
func benchRegion(size int) ([]byte, error) { return make([]byte, size), nil }
