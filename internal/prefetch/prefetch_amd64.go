package prefetch

import "unsafe"

//go:noescape
func prefetchT0(p unsafe.Pointer)

func line(p unsafe.Pointer) { prefetchT0(p) }
