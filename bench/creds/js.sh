#!/usr/bin/env bash
# Benchmark: `strap creds export --sdk js --format process` (release builds: the static
# image build, x86_64-unknown-linux-musl, and the glibc one `cargo install` makes) against
# Node.js resolving with the AWS SDK for JavaScript v3's `fromNodeProviderChain` (the
# release pinned in tests/js/) on the same three environments: keys in the environment,
# keys in a profile, and the instance profile from imds-mock on loopback. Both must find
# the same access key id before they are timed. Results in bench/creds/results-js.md.
#
# Needs: hyperfine (apt-get install -y hyperfine), node, `npm ci --prefix tests/js`; for
# the static build, `rustup target add x86_64-unknown-linux-musl` and musl-tools (without
# them only the glibc build is measured, and the script says so).
# Usage: bench/creds/js.sh [extra hyperfine args, e.g. --runs 30]
# STRAP_BENCH_ROUNDS (default 6): hyperfine runs every command once per round, the
# rounds one after another, so that the commands share the machine's slow and quiet
# minutes alike; the tables pool the rounds' times.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
node=$(command -v node) || { echo "node is missing" >&2; exit 2; }
modules="$repo/tests/js/node_modules"

command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 2; }
[ -d "$modules/@aws-sdk/credential-providers" ] || { echo "the JS SDK is missing: npm ci --prefix tests/js" >&2; exit 2; }

(cd "$repo" && cargo build --release -q -p strap -p imds-mock)
strap="$target/release/strap"
mock="$target/release/imds-mock"
static="$target/x86_64-unknown-linux-musl/release/strap"
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
    && (cd "$repo" && cargo build --release -q -p strap --target x86_64-unknown-linux-musl); then
    :
else
    echo "the static build cannot be made here (rustup target add x86_64-unknown-linux-musl; apt-get install musl-tools): measuring the glibc build only" >&2
    static=
fi

work=$(mktemp -d)
mock_pid=
cleanup() {
    if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/home/.aws"
cat > "$work/home/.aws/credentials" <<'INI'
[bench]
aws_access_key_id = AKIDBENCHPROFILE
aws_secret_access_key = benchsecret
INI

# What a Node.js program does to get credentials, printing only the key id.
cat > "$work/resolve.js" <<'JS'
require("@aws-sdk/credential-providers").fromNodeProviderChain()()
  .then((c) => console.log(c.accessKeyId), (e) => { console.error(String(e)); process.exit(1); });
JS

"$mock" --listen 127.0.0.1:0 --role strap-bench-role > "$work/mock.out" 2>/dev/null &
mock_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/mock.out" 2>/dev/null && break
    sleep 0.05
done
mock_url=$(sed -n 's/^listening on //p' "$work/mock.out")
[ -n "$mock_url" ] || { echo "imds-mock did not start" >&2; exit 1; }

base="env -i PATH=/usr/bin:/bin HOME=$work/home NODE_PATH=$modules"
env_keys="$base AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHENV AWS_SECRET_ACCESS_KEY=benchsecret"
profile="$base AWS_EC2_METADATA_DISABLED=true AWS_PROFILE=bench"
imds="$base AWS_EC2_METADATA_SERVICE_ENDPOINT=$mock_url"

for e in "$env_keys" "$profile" "$imds"; do
    n=$($e "$node" "$work/resolve.js")
    for b in "$strap" $static; do
        s=$($e "$b" creds export --sdk js --format process | sed -n 's/.*"AccessKeyId": "\([^"]*\)".*/\1/p')
        [ "$n" = "$s" ] || { echo "key ids differ for: $e (node $n, $b $s)" >&2; exit 1; }
    done
done

# One hyperfine run, so that every command meets the same machine.
runs=()
for env in env profile imds-mock; do
    case $env in env) e=$env_keys ;; profile) e=$profile ;; imds-mock) e=$imds ;; esac
    if [ -n "$static" ]; then
        runs+=(-n "strap static $env" "$e $static creds export --sdk js --format process")
    fi
    runs+=(-n "strap glibc $env" "$e $strap creds export --sdk js --format process")
    runs+=(-n "node $env" "$e $node $work/resolve.js")
done
rounds=${STRAP_BENCH_ROUNDS:-6}
for r in $(seq "$rounds"); do
    echo "== round $r of $rounds"
    hyperfine --warmup 3 -N "$@" \
        --export-markdown "$here/results-js.md" --export-json "$work/results-$r.json" "${runs[@]}"
done

# Medians and minima (the means suffer from other work on a shared machine).
python3 - "$work"/results-*.json <<'PY' | tee "$here/results-js-medians.md"
import json, statistics, sys
t = {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        t.setdefault(r["command"], []).extend(r["times"])
print(f"{len(sys.argv) - 1} rounds, {len(next(iter(t.values())))} runs of each command in all")
print()
print("| Environment | strap static median (min) | strap glibc median (min) | node median (min) | speed-up, static (min/min) | speed-up, glibc (min/min) |")
print("|---|---:|---:|---:|---:|---:|")
def cell(times):
    if not times:
        return "—"
    return f"{statistics.median(times) * 1000:.2f} ms ({min(times) * 1000:.2f})"
def ratio(node, strap):
    return f"{min(node) / min(strap):.0f}×" if strap else "—"
for env in ["env", "profile", "imds-mock"]:
    st, gl, n = t.get(f"strap static {env}"), t[f"strap glibc {env}"], t[f"node {env}"]
    print(f"| {env} | {cell(st)} | {cell(gl)} | {cell(n)} | {ratio(n, st)} | {ratio(n, gl)} |")
PY
