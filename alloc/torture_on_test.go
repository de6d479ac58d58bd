//go:build torture

package alloc

// torture scales the randomized tests up (make torture).
const torture = true
