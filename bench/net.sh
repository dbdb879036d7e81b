#!/usr/bin/env bash
# Network rendering at boot: 8 ENIs with secondary addresses against 1, on the embedded
# mock. Prints the time the network step took to decide and render (render_ms of
# /run/strap/net.json, fetching excluded), the module's whole time, and the metadata
# requests the extra interfaces cost.  Usage: bench/net.sh [RUNS]   (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build -q --release -p strap
strap=target/release/strap
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gen() { # gen N FILE: a mock config with N interfaces, 3 private IPv4s each
  python3 - "$1" > "$2" <<'PY'
import sys
n = int(sys.argv[1])
print("private_ip: 10.0.0.10\nsubnet_cidr: 10.0.0.0/24\nvpc_cidr: 10.0.0.0/16\nsecondary_private_ips: [10.0.0.11, 10.0.0.12]\nnetwork_interfaces:")
for d in range(1, n):
    print(f"  - {{mac: '0e:00:00:00:00:{d:02x}', device_number: {d}, subnet_cidr: 10.0.{d}.0/24, private_ips: [10.0.{d}.10, 10.0.{d}.11, 10.0.{d}.12], ipv4_prefixes: [10.0.{d}.64/28]}}")
PY
}
gen 1 "$work/one.yaml"; gen 8 "$work/eight.yaml"
measure() { # measure CONFIG: median render_ms, median module seconds, requests
  local cfg=$1 ms=() mod=() req=0
  for i in $(seq "$runs"); do
    rm -rf "$work/root"
    "$strap" run -qq --local examples/userdata/hello.yaml --mock-config "$cfg" --root "$work/root" >/dev/null 2>&1
    ms+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["render_ms"])' "$work/root/run/strap/net.json")")
    mod+=("$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([i["duration"] for i in r["items"] if i["name"]=="config-network"][0])' "$work/root/var/lib/strap/data/report.json")")
    req=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imds_requests"])' "$work/root/var/lib/strap/data/report.json")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$(med "${ms[@]}") $(med "${mod[@]}") $req"
}
read -r r1 m1 q1 < <(measure "$work/one.yaml")
read -r r8 m8 q8 < <(measure "$work/eight.yaml")
printf '1 ENI : render %.3f ms, network step %.1f ms, %d requests in the boot\n' "$r1" "$(python3 -c "print($m1*1000)")" "$q1"
printf '8 ENIs: render %.3f ms, network step %.1f ms, %d requests in the boot\n' "$r8" "$(python3 -c "print($m8*1000)")" "$q8"
printf 'added by 7 more interfaces: %.1f ms in the network step, %d requests (%.1f per interface)\n' \
  "$(python3 -c "print(($m8-$m1)*1000)")" "$((q8 - q1))" "$(python3 -c "print(($q8-$q1)/7)")"
