package prefetch

import "unsafe"

//go:noescape
func prefetchL1(p unsafe.Pointer)

func line(p unsafe.Pointer) { prefetchL1(p) }
