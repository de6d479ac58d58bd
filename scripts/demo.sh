#!/usr/bin/env bash
# daxkv demo: creates a 1 GiB store on an emulated-pmem region (a file on
# tmpfs, /dev/shm, when the machine has one), loads a million keys, reads
# some back, then kills a second loader with kill -9 mid-stream and shows
# that every write it had acknowledged survived; then snapshots, clones,
# diffs and restores the store. Cleans up afterwards.
# `make demo` builds bin/daxkv first; run directly, this builds it when
# missing. Needs only Go, make and bash; about 10 s on an idle 2-core box.
set -euo pipefail
cd "$(dirname "$0")/.."

daxkv=${DAXKV_BIN:-./bin/daxkv}
if [ ! -x "$daxkv" ]; then
	CGO_ENABLED=0 go build -o "$daxkv" ./cmd/daxkv
fi
daxkv=$(cd "$(dirname "$daxkv")" && pwd)/$(basename "$daxkv")

# tmpfs gives "emulated" mode: the real flush path on RAM. Elsewhere the
# file lives in page cache and the store falls back to msync.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	base=/dev/shm
else
	base=${TMPDIR:-/tmp}
fi
work=$(mktemp -d "$base/daxkv-demo.XXXXXX")
loader=
cleanup() {
	if [ -n "$loader" ]; then kill -9 "$loader" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
region=$work/demo.region
cd "$work" # short relative paths in the commands shown

# The commands below take the region from the environment, as they would
# take --path.
export DAXKV_PATH=$region
unset DAXKV_JSON DAXKV_CONFIG

step() { printf '\n== %s\n' "$*"; }
run() {
	echo "\$ daxkv $*"
	"$daxkv" "$@"
}
key() { printf 'key%012d' "$1"; }

step "A 1 GiB region on $base"
echo "\$ export DAXKV_PATH=$region"
run init --size 1GiB

step "What the machine offers (daxkv doctor, region part)"
echo "\$ daxkv doctor --path \$DAXKV_PATH | sed -n '/^Region/,\$p'"
"$daxkv" doctor --path "$region" | sed -n '/^Region/,$p'

step "Load a million keys (100-byte values, batches of 1000)"
run load --generate 1000000

step "Read some back"
for i in 0 42 999999; do
	echo "\$ daxkv get $(key $i)"
	printf '%s\n' "$("$daxkv" get "$(key $i)")"
done
run scan --from "$(key 500000)" --limit 5

step "Crash test: kill -9 a loader mid-stream"
# 3M keys fit the region with room to spare; at ~1M keys/s the kill lands
# well before the end.
echo "\$ daxkv load --generate 3000000 --start 1000000 --seed 2 --ack-file acks --no-progress &"
"$daxkv" load --generate 3000000 --start 1000000 --seed 2 --ack-file acks --no-progress \
	>load2.out 2>&1 &
loader=$!
# Kill about a second into the writing (wait for the first ack, so a slow
# start does not leave nothing to check).
for _ in $(seq 200); do
	[ -s acks ] && break
	sleep 0.05
done
sleep 1
echo "\$ kill -9 $loader"
kill -9 "$loader" 2>/dev/null || echo "(the loader had already exited)"
wait "$loader" 2>/dev/null || true
loader=
last=$(tail -n 1 acks)
if [ -z "$last" ]; then
	echo "FAIL: the loader acknowledged nothing: $(cat load2.out)" >&2
	exit 1
fi
echo "Last line of acks: $last, so $(key 1000000) .. $(key "$last") were acknowledged."
if [ -s load2.out ]; then
	echo "(the loader printed: $(cat load2.out))" # only if it ended on its own
fi

run verify --ack-file acks --start 1000000 --seed 2
# A batch is all or nothing: past the last ack there is either nothing or
# exactly the batch that committed before its ack line was written.
past=$("$daxkv" scan --from "$(key $((last + 1)))" --keys-only | wc -l)
case $past in
0) echo "Keys past the last ack: 0 (the kill came before the next batch committed)" ;;
1000) echo "Keys past the last ack: 1000 (one whole batch committed; the kill beat its ack)" ;;
*)
	echo "FAIL: $past keys past the last ack: part of a batch is visible" >&2
	exit 1
	;;
esac

step "The first million, and the store's structure, after recovery"
run verify --generate 1000000
run check

step "Snapshot, clone, diff, restore: each O(1), whatever the store's size"
run snapshot create before
echo "\$ daxkv put $(key 42) changed; daxkv del $(key 43); daxkv put brand-new hello"
"$daxkv" put "$(key 42)" changed
"$daxkv" del "$(key 43)"
"$daxkv" put brand-new hello
run clone before experiment
run put --branch experiment "$(key 7)" "only on the clone"
run snapshot diff before main
run snapshot diff before experiment
echo "\$ daxkv get $(key 42); daxkv get --branch experiment $(key 42)"
printf '%s\n' "$("$daxkv" get "$(key 42)")" "$("$daxkv" get --branch experiment "$(key 42)")"
run branch list
run snapshot list
run snapshot restore main before
echo "\$ daxkv snapshot diff before main | wc -l"
"$daxkv" snapshot diff before main | wc -l
run branch delete experiment
run snapshot delete before
run check

step "Stats"
run stats
