#!/usr/bin/env bash
# Token-authenticated GETs against the release imds-mock and against a minimal hyper server
# answering the same bytes (imds-mock/examples/baseline.rs), in the same run, with wrk.
# Prints requests/s, p99 latency and the server's CPU microseconds per answer for each, the
# mock/baseline requests/s ratio (target >= 0.80) and the baseline/mock CPU-per-answer ratio.
# Fairness: both servers run 2 tokio workers, answer the same bytes and headers, get the
# same warm-up, and are measured in alternating rounds (mock, baseline, mock, ...) so a
# burst of load on this shared machine hits both; each figure is the median of ROUNDS.
#
# Usage: bench/mock/run.sh [DURATION] [CONNECTIONS] [ROUNDS]   (defaults: 5s, 16, 3)
# Needs: wrk (apt-get install -y wrk), curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-5s}
CONNECTIONS=${2:-16}
ROUNDS=${3:-3}
THREADS=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build -q --release -p imds-mock --bin imds-mock --example baseline
BIN="$CARGO_TARGET_DIR/release"
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# start NAME CMD... ; waits for the listening line; sets NAME_URL and NAME_PID. Runs in
# this shell (not in a command substitution), so the cleanup knows the pid and kills it.
start() {
  local name=$1; shift
  local out="$TMP/out.$name"
  "$@" >"$out" 2>/dev/null &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 200); do
    if [ -s "$out" ]; then
      printf -v "${name}_URL" '%s' "$(head -1 "$out" | sed 's/^listening on //')"
      printf -v "${name}_PID" '%s' "$pid"
      return
    fi
    sleep 0.05
  done
  echo "server did not start: $*" >&2; exit 1
}

# cpu PID -> user+system clock ticks the process has used so far
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run URL PID TOKEN -> "rps p99 cpu_us_per_request" (the server's CPU time per answer,
# which a busy machine disturbs much less than requests/s)
run() {
  local url=$1 pid=$2 token=$3
  local c0; c0=$(cpu "$pid")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
      -H "x-aws-ec2-metadata-token: $token" "$url/latest/meta-data/instance-id" >"$TMP/wrk"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/wrk")
  local errors
  errors=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk")
  [ -z "$errors" ] || { echo "non-2xx answers: $errors" >&2; cat "$TMP/wrk" >&2; exit 1; }
  local c1; c1=$(cpu "$pid")
  local n; n=$(awk '/requests in/ {print $1}' "$TMP/wrk")
  local us
  us=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v n="$n" \
    'BEGIN {printf "%.2f", c / hz * 1e6 / n}')
  echo "$rps $p99 $us"
}

# median FILE of "rps p99" lines -> the line with the median rps
median() { sort -n -k1,1 "$1" | awk '{l[NR]=$0} END {print l[int((NR+1)/2)]}'; }

for mode in close keep-alive; do
  if [ "$mode" = close ]; then cc=true; else cc=false; fi
  printf 'connection_close: %s\n' "$cc" >"$TMP/mock.yaml"
  start MOCK "$BIN/imds-mock" --listen 127.0.0.1:0 --config "$TMP/mock.yaml" -qq
  start BASE "$BIN/examples/baseline" 127.0.0.1:0 "$mode"
  TOKEN=$(curl -sf -X PUT -H 'x-aws-ec2-metadata-token-ttl-seconds: 21600' "$MOCK_URL/latest/api/token")
  run "$MOCK_URL" "$MOCK_PID" "$TOKEN" >/dev/null   # warm-up, the same for both
  run "$BASE_URL" "$BASE_PID" "$TOKEN" >/dev/null
  : >"$TMP/m"; : >"$TMP/b"
  for _ in $(seq 1 "$ROUNDS"); do
    run "$MOCK_URL" "$MOCK_PID" "$TOKEN" >>"$TMP/m"
    run "$BASE_URL" "$BASE_PID" "$TOKEN" >>"$TMP/b"
  done
  read -r m_rps m_p99 m_us < <(median "$TMP/m")
  read -r b_rps b_p99 b_us < <(median "$TMP/b")
  ratio=$(awk -v m="$m_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", m/b}')
  cpu_ratio=$(awk -v m="$m_us" -v b="$b_us" 'BEGIN {printf "%.2f", b/m}')
  printf '%-10s mock %10s req/s  p99 %8s %6s us/req | baseline %10s req/s  p99 %8s %6s us/req | ratio %s (cpu %s)\n' \
    "$mode" "$m_rps" "$m_p99" "$m_us" "$b_rps" "$b_p99" "$b_us" "$ratio" "$cpu_ratio"
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
