// Package flush makes stores to a mapped persistent-memory region durable.
//
// A Persister (New) wraps one mechanism, chosen by Resolve(Auto) as PMDK
// does: on amd64 nothing but SFENCE when the platform has eADR, else
// CLWB > CLFLUSHOPT > CLFLUSH per 64-byte line, then SFENCE; on arm64
// DC CVAP (or DC CVAC without DCPOP) per cache line, then DSB ISH; on
// other architectures msync(2) of the dirty pages (Msync), which is also
// the mode for page-cache backed files everywhere. Copy streams copies of
// 256 bytes or more with non-temporal stores on amd64 (SSE2, AVX2 or
// AVX-512; CopyKind) and writes the ragged first and last lines with
// plain stores plus a flush. Nothing is durable before Drain returns.
//
// Detect reports the CPU features (CPUID for CLWB, CLFLUSHOPT and
// CLFLUSH, golang.org/x/sys/cpu for the rest) and eADR, read from
// /sys/bus/nd/devices/region*/persistence_domain. Forcing a mode the
// machine lacks is an error wrapping ErrUnsupported, never SIGILL. The
// SIMD features honour GODEBUG (e.g. GODEBUG=cpu.avx512f=off), and the
// mode can be forced with DAXKV_FLUSH (ModeFromEnv).
//
// Tracker is a Persister for crash simulation: it keeps the image that
// only flushed and drained cache lines reach, and produces the images a
// power loss may leave (CrashImage).
package flush
