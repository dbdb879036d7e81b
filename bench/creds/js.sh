#!/usr/bin/env bash
# Benchmark: `strap creds export --sdk js --format process` (release build) against
# Node.js resolving with the AWS SDK for JavaScript v3's `fromNodeProviderChain` (the
# release pinned in tests/js/) on the same three environments: keys in the environment,
# keys in a profile, and the instance profile from imds-mock on loopback. Both must find
# the same access key id before they are timed. Results in bench/creds/results-js.md.
#
# Needs: hyperfine (apt-get install -y hyperfine), node, `npm ci --prefix tests/js`.
# Usage: bench/creds/js.sh [extra hyperfine args, e.g. --runs 30]
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
    s=$($e "$strap" creds export --sdk js --format process | sed -n 's/.*"AccessKeyId": "\([^"]*\)".*/\1/p')
    [ "$n" = "$s" ] || { echo "key ids differ for: $e (node $n, strap $s)" >&2; exit 1; }
done

hyperfine --warmup 3 -N "$@" \
    --export-markdown "$here/results-js.md" --export-json "$work/results.json" \
    -n "strap js env" "$env_keys $strap creds export --sdk js --format process" \
    -n "node env" "$env_keys $node $work/resolve.js" \
    -n "strap js profile" "$profile $strap creds export --sdk js --format process" \
    -n "node profile" "$profile $node $work/resolve.js" \
    -n "strap js imds-mock" "$imds $strap creds export --sdk js --format process" \
    -n "node imds-mock" "$imds $node $work/resolve.js"

# Medians and minima (the means suffer from other work on a shared machine).
python3 - "$work/results.json" <<'PY' | tee "$here/results-js-medians.md"
import json, statistics, sys
rows = json.load(open(sys.argv[1]))["results"]
t = {r["command"]: r["times"] for r in rows}
print("| Environment | strap --sdk js median (min) | node median (min) | speed-up (median) |")
print("|---|---:|---:|---:|")
for env in ["env", "profile", "imds-mock"]:
    s, n = t[f"strap js {env}"], t[f"node {env}"]
    ms, mn = statistics.median(s) * 1000, statistics.median(n) * 1000
    print(f"| {env} | {ms:.1f} ms ({min(s)*1000:.1f}) | {mn:.1f} ms ({min(n)*1000:.1f}) | {mn/ms:.0f}× |")
PY
