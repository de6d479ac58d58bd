//go:build linux && (mips || mipsle || mips64 || mips64le)

package region

// mapSync is 0: the MIPS kernel ABI has no MAP_SYNC.
const mapSync = 0
