#!/usr/bin/env bash
# daxkv demo: runs the daxkv command on an emulated-pmem region (a file on
# tmpfs, /dev/shm, when the machine has one) and cleans up afterwards.
# `make demo` builds bin/daxkv first; run directly, this builds it when
# missing. Later steps (init, put, get, snapshot, branch, ...) are appended
# here as the store lands.
set -euo pipefail
cd "$(dirname "$0")/.."

daxkv=${DAXKV_BIN:-./bin/daxkv}
if [ ! -x "$daxkv" ]; then
	CGO_ENABLED=0 go build -o "$daxkv" ./cmd/daxkv
fi

# tmpfs gives "emulated" mode: the real flush path on RAM. Elsewhere the
# file lives in page cache and the store falls back to msync.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	base=/dev/shm
else
	base=${TMPDIR:-/tmp}
fi
work=$(mktemp -d "$base/daxkv-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
region=$work/demo.region
# A sparse 64 MiB file stands in for the region until `daxkv init` exists.
dd if=/dev/zero of="$region" bs=1048576 count=0 seek=64 2>/dev/null

run() {
	echo "\$ daxkv $*"
	"$daxkv" "$@"
	echo
}

run version
run doctor --path "$region"
