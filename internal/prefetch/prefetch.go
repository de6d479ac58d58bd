// Package prefetch asks the CPU to start loading a cache line that code
// will read soon, without waiting for it: a plain load would stall the
// core once the reorder buffer fills behind the miss, a prefetch retires
// at once and lets the miss overlap whatever runs next.
package prefetch

import "unsafe"

// Line starts loading the cache line holding p into every cache level. A
// prefetch takes no page fault (the CPU drops it on an unmapped or
// protected page), so p may be nil or point into memory that is gone by
// the time the line arrives; it must still be a pointer Go allows (into
// a live object, or nil). On memory with an uncorrected error the CPU
// does not signal a prefetch, but it may log the error in a machine-check
// bank, as it does for speculative loads.
func Line(p unsafe.Pointer) { line(p) }

// lineGo is the portable twin: Go has no prefetch, so the later load
// simply misses.
func lineGo(unsafe.Pointer) {}
