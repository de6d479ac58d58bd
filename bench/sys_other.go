//go:build !linux

package bench

// rss is not measured outside Linux.
func rss() int64 { return 0 }

// freeBytes is unknown outside Linux: -1 skips the space check.
func freeBytes(string) (int64, error) { return -1, nil }
