#!/usr/bin/env bash
# Benchmark: `strap creds export --format process` (release build) against
# `aws configure export-credentials --format process` on the same three environments:
# keys in the environment, keys in a profile, and the instance profile from imds-mock on
# loopback. One hyperfine run; results in bench/creds/results.md.
#
# Needs: hyperfine (apt-get install -y hyperfine), the AWS CLI v2 at /usr/bin/aws.
# Usage: bench/creds/run.sh [extra hyperfine args, e.g. --runs 50]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
aws=${AWS_CLI:-/usr/bin/aws}

command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 2; }
[ -x "$aws" ] || { echo "the AWS CLI v2 is missing at $aws: apt-get install -y awscli" >&2; exit 2; }

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

# imds-mock on a free loopback port; it prints "listening on http://ADDR".
"$mock" --listen 127.0.0.1:0 --role strap-bench-role > "$work/mock.out" 2>/dev/null &
mock_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/mock.out" 2>/dev/null && break
    sleep 0.05
done
mock_url=$(sed -n 's/^listening on //p' "$work/mock.out")
[ -n "$mock_url" ] || { echo "imds-mock did not start" >&2; exit 1; }

base="env -i PATH=/usr/bin:/bin HOME=$work/home AWS_DEFAULT_REGION=us-east-1"
env_keys="$base AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHENV AWS_SECRET_ACCESS_KEY=benchsecret"
profile="$base AWS_EC2_METADATA_DISABLED=true AWS_PROFILE=bench"
imds="$base AWS_EC2_METADATA_SERVICE_ENDPOINT=$mock_url/"

# Both tools must print the same bytes before we time them.
for e in "$env_keys" "$profile" "$imds"; do
    a=$($e "$aws" configure export-credentials --format process)
    s=$($e "$strap" creds export --format process)
    [ "$a" = "$s" ] || { echo "outputs differ for: $e" >&2; echo "$a" >&2; echo "$s" >&2; exit 1; }
done

hyperfine --warmup 3 -N "$@" \
    --export-markdown "$here/results.md" \
    -n "strap env" "$env_keys $strap creds export --format process" \
    -n "aws env" "$env_keys $aws configure export-credentials --format process" \
    -n "strap profile" "$profile $strap creds export --format process" \
    -n "aws profile" "$profile $aws configure export-credentials --format process" \
    -n "strap imds-mock" "$imds $strap creds export --format process" \
    -n "aws imds-mock" "$imds $aws configure export-credentials --format process"
