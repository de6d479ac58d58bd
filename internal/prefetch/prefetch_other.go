//go:build !amd64 && !arm64

package prefetch

import "unsafe"

func line(p unsafe.Pointer) { lineGo(p) }
