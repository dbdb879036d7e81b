#!/usr/bin/env bash
# Token-authenticated GETs against the release imds-mock and against a minimal hyper server
# answering the same bytes (imds-mock/examples/baseline.rs), in the same run, with wrk.
# Prints requests/s and p99 latency for each and the mock/baseline ratio (target >= 0.80).
#
# Usage: bench/mock/run.sh [DURATION] [CONNECTIONS]   (defaults: 10s, 16)
# Needs: wrk (apt-get install -y wrk), curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10s}
CONNECTIONS=${2:-16}
THREADS=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build -q --release -p imds-mock --bin imds-mock --example baseline
BIN="$CARGO_TARGET_DIR/release"
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# start CMD... ; waits for the listening line, echoes the URL
start() {
  local out="$TMP/out.$RANDOM"
  "$@" >"$out" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    if [ -s "$out" ]; then head -1 "$out" | sed 's/^listening on //'; return; fi
    sleep 0.05
  done
  echo "server did not start: $*" >&2; exit 1
}

# run URL TOKEN -> "rps p99"
run() {
  local url=$1 token=$2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
      -H "x-aws-ec2-metadata-token: $token" "$url/latest/meta-data/instance-id" >"$TMP/wrk"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/wrk")
  local errors
  errors=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk")
  [ -z "$errors" ] || { echo "non-2xx answers: $errors" >&2; cat "$TMP/wrk" >&2; exit 1; }
  echo "$rps $p99"
}

for mode in close keep-alive; do
  if [ "$mode" = close ]; then cc=true; else cc=false; fi
  printf 'connection_close: %s\n' "$cc" >"$TMP/mock.yaml"
  MOCK=$(start "$BIN/imds-mock" --listen 127.0.0.1:0 --config "$TMP/mock.yaml" -qq)
  BASE=$(start "$BIN/examples/baseline" 127.0.0.1:0 "$mode")
  TOKEN=$(curl -sf -X PUT -H 'x-aws-ec2-metadata-token-ttl-seconds: 21600' "$MOCK/latest/api/token")
  run "$MOCK" "$TOKEN" >/dev/null   # warm-up
  read -r m_rps m_p99 < <(run "$MOCK" "$TOKEN")
  read -r b_rps b_p99 < <(run "$BASE" "$TOKEN")
  ratio=$(awk -v m="$m_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", m/b}')
  printf '%-10s mock %10s req/s  p99 %8s | baseline %10s req/s  p99 %8s | ratio %s\n' \
    "$mode" "$m_rps" "$m_p99" "$b_rps" "$b_p99" "$ratio"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
done

# Start-up: wall time from exec to the listening line (mean of 20 starts).
mkfifo "$TMP/fifo"
total=0
for _ in $(seq 1 20); do
  t0=$(date +%s%N)
  "$BIN/imds-mock" --listen 127.0.0.1:0 -qq >"$TMP/fifo" &
  pid=$!
  read -r _line <"$TMP/fifo"
  t1=$(date +%s%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  total=$((total + t1 - t0))
done
awk -v t="$total" 'BEGIN {printf "start-up   %.2f ms from exec to the listening line (mean of 20)\n", t/20/1e6}'
