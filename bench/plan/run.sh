#!/bin/sh
# `strap plan` benchmark: the README example (examples/userdata/hello.yaml) booted with
# `strap run --local` (release build), then planned after a one-line change of its
# user data (the motd's text), warm cache, RUNS times each:
#   - `strap plan --user-data FILE`: the new user data from a file, no metadata service;
#   - `strap plan --local FILE`: through the embedded metadata service, as `strap run
#     --local` reads it (its start and stop included).
# Prints the median and the slowest wall time of each, and checks the plan is the
# expected one (exit 2, one file to change). Target: the median under 10 ms.
#
#   bench/plan/run.sh [RUNS]        (default 50)
set -eu
RUNS=${1:-50}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
cd "$HERE"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/target}
cargo build -q --release -p strap
STRAP=$CARGO_TARGET_DIR/release/strap
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$STRAP" -qq run --local examples/userdata/hello.yaml --root "$WORK/root" >/dev/null 2>&1
sed 's/Booted by strap\./Booted by strap, and changed./' examples/userdata/hello.yaml > "$WORK/changed.yaml"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

bench_case() {
    name=$1; shift
    : > "$WORK/wall"
    # One run to check the plan (and warm the cache), then the timed ones.
    set +e
    "$STRAP" -qq plan "$@" --root "$WORK/root" > "$WORK/plan.txt"
    code=$?
    set -e
    if [ "$code" != 2 ] || ! grep -q '^Plan: 0 to create, 1 to change, 0 to remove' "$WORK/plan.txt"; then
        echo "unexpected plan (exit $code):" >&2
        cat "$WORK/plan.txt" >&2
        exit 1
    fi
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        t0=$(date +%s%N)
        "$STRAP" -qq plan "$@" --root "$WORK/root" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1/1000}' >> "$WORK/wall"
        i=$((i + 1))
    done
    med=$(median < "$WORK/wall")
    max=$(sort -n "$WORK/wall" | tail -1)
    printf '%-28s median %7.2f ms   slowest %7.2f ms   (%s runs)\n' "$name" "$med" "$max" "$RUNS"
    echo "$med" > "$WORK/med-$name"
}

bench_case "plan --user-data" --user-data "$WORK/changed.yaml"
bench_case "plan --local" --local "$WORK/changed.yaml"
med=$(cat "$WORK/med-plan --user-data")
if awk -v m="$med" 'BEGIN {exit !(m < 10)}'; then
    echo "target: median of plan --user-data under 10 ms: met ($med ms)"
else
    echo "target: median of plan --user-data under 10 ms: NOT met ($med ms)"
fi
