#!/usr/bin/env bash
# Benchmark: `strap userdata inspect` (release build) beside cloud-init's own
# UserDataProcessor in a fresh Python process, on the same inputs:
#   1. a 16 KiB MIME message with five parts (make_input.py),
#   2. the whole cloud-init user-data corpus (every example, one process per file).
# Needs hyperfine and cloud-init (Debian packages). Usage: bench/userdata/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -q -p strap --manifest-path "$root/Cargo.toml"
strap="$target/release/strap"
oracle="$root/agent/tests/data/cloud-init/userdata-cases/oracle.py"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 "$here/make_input.py" > "$work/mime16k.txt"
echo "input: $(wc -c < "$work/mime16k.txt") bytes, $("$strap" -qq userdata inspect --json "$work/mime16k.txt" | grep -c '"content_type"') parts"

corpus=()
for f in "$root"/agent/tests/data/cloud-init/examples/*.txt "$root"/agent/tests/data/cloud-init/tests-data/*; do
  case "$(basename "$f")" in include*) continue ;; esac
  corpus+=("$f")
done
printf '%s\n' "${corpus[@]}" > "$work/corpus.list"
echo "corpus: ${#corpus[@]} files"

hyperfine --warmup 3 --runs "${RUNS:-20}" -N \
  --command-name "strap inspect (16 KiB MIME)" "$strap -qq userdata inspect --json $work/mime16k.txt" \
  --command-name "cloud-init UserDataProcessor (16 KiB MIME)" "/usr/bin/python3 $oracle $work/mime16k.txt"

hyperfine --warmup 1 --runs "${RUNS_CORPUS:-5}" \
  --command-name "strap inspect (corpus, ${#corpus[@]} files)" \
  "xargs -a $work/corpus.list -n1 $strap -qq userdata inspect --json --no-include > /dev/null" \
  --command-name "cloud-init UserDataProcessor (corpus, ${#corpus[@]} files)" \
  "xargs -a $work/corpus.list -n1 /usr/bin/python3 $oracle > /dev/null"
