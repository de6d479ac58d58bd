#!/usr/bin/env bash
# Reproduces the figures in docs/PERFORMANCE.md: the store's go test
# benchmarks on an emulated-pmem region (/dev/shm), several runs each,
# summarised with benchstat. Usage: scripts/perf.sh [COUNT] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-6}
out=${2:-perf.txt}
bin=$PWD/.cache/bin
mkdir -p "$bin"
if [ ! -x "$bin/benchstat" ]; then
	GOBIN=$bin go install golang.org/x/perf/cmd/benchstat@latest
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out"
# Writes and reads, one goroutine, durable, 16-byte keys, 100-byte values.
go test -run='^$' -bench='^Benchmark(Put|PutLatency|PutParallel)$' -benchtime=1000000x -count="$count" ./store/ | tee -a "$out"
# Sustained: 4M random puts, bounded by the checkpoints that keep up.
go test -run='^$' -bench='^BenchmarkPut$' -benchtime=4000000x -count=2 ./store/ | sed 's/BenchmarkPut-/BenchmarkPut4M-/' | tee -a "$out"
go test -run='^$' -bench='^Benchmark(GetRandom|GetAppendRandom|ViewGetRandom|GetRandomDecimal)$' -benchtime=2000000x -count="$count" ./store/ | tee -a "$out"
# The floor under a random Get: one dependent cold cache line of the region.
go test -run='^$' -bench='^BenchmarkRandomLineRead$' -benchtime=5000000x -count=3 ./store/ | tee -a "$out"
go test -run='^$' -bench='^BenchmarkScan$' -benchtime=20x -count="$count" ./store/ | tee -a "$out"
go test -run='^$' -bench='^Benchmark(OpenClean|RecoverFullWAL)$' -benchtime=10x -count="$count" ./store/ | tee -a "$out"
go test -run='^$' -bench='^BenchmarkHeapPerKey$' -benchtime=1x -count=1 ./store/ | tee -a "$out"
echo
"$bin/benchstat" "$out"
