package flush

import (
	"fmt"
	"testing"
)

// Benchmarks only report; no test asserts on time.

// BenchmarkFlushLine: dirty one 64-byte line, flush it, fence.
func BenchmarkFlushLine(b *testing.B) {
	for _, m := range []Mode{CLWB, CLFLUSHOPT, CLFLUSH, EADR, DCCVAP, DCCVAC} {
		b.Run(m.String(), func(b *testing.B) {
			p := newOrSkip(b, Config{Mode: m})
			line := alignedImage(LineSize)
			for b.Loop() {
				line[0]++
				p.Flush(line)
				_ = p.Drain()
			}
		})
	}
}

// BenchmarkCopy: a persistent copy to a line-aligned destination,
// including the fence, per copy kind (CLWB for the ragged lines), against
// the baseline of a plain copy, CLWB of every line and SFENCE.
func BenchmarkCopy(b *testing.B) {
	const max = 64 << 10
	src := alignedImage(max)
	for i := range src {
		src[i] = byte(i * 13)
	}
	dst := alignedImage(max)
	mode, err := Resolve(Auto)
	if err != nil || mode == Msync {
		b.Skipf("no CPU flush mode here (%v, %v)", mode, err)
	}
	for _, n := range []int{64, 256, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%s/kind=copy+flush", sizeName(n)), func(b *testing.B) {
			// The same thing as CopyGo, spelled out: copy, flush lines, fence.
			p := newOrSkip(b, Config{Mode: mode})
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(dst[:n], src[:n])
				p.Flush(dst[:n])
				_ = p.Drain()
			}
		})
		for _, k := range []CopyKind{CopySSE2, CopyAVX2, CopyAVX512} {
			b.Run(fmt.Sprintf("size=%s/kind=%v", sizeName(n), k), func(b *testing.B) {
				p := newOrSkip(b, Config{Mode: mode, Copy: k})
				b.SetBytes(int64(n))
				for b.Loop() {
					p.Copy(dst[:n], src[:n])
					_ = p.Drain()
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
