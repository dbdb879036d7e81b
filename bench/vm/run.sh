#!/usr/bin/env bash
# The boot benchmark: the same Debian 12 image booted with cloud-init (Debian's package
# and units, as shipped) and with strap (examples/image/install.sh), with the same user
# data (tests/vm/userdata/bench.yaml) and the same imds-mock, BOOTS first boots each, one
# after the other under qemu (TCG here). Prints the medians of:
#   - kernel start to the agent's final stage done (systemd's monotonic timestamps of
#     strap-final.service / cloud-final.service becoming active);
#   - the agent's own run: the time its units spent starting (strap.service until READY
#     plus strap-final.service; cloud-init's four units), and the span from its first
#     unit's start to its final stage done;
#   - qemu start to the first ssh login as the user data's user;
#   - the metadata requests each made (a fresh mock per boot).
# and `systemd-analyze blame` / `critical-chain` of each agent's last boot.
#
#   cargo build --release -p strap -p imds-mock && bench/vm/run.sh [BOOTS]
#
# The comparison image gets one drop-in, /etc/cloud/cloud.cfg.d/99-bench.cfg, turning off
# what strap does not do (`locale`, whose locale-gen alone takes about 10 s here). Both
# render the network from the metadata (cloud-init in its local stage, strap in its
# network step).
set -uo pipefail
boots=${1:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/vm
strap_bin=$(realpath "${STRAP_BIN:-$top/target/release/strap}")
mock_bin=$(realpath "${MOCK_BIN:-$top/target/release/imds-mock}")
work=$(mktemp -d /var/tmp/strap-bench.XXXXXX)
passed=0 failed=0
. "$here/lib.sh"
ci_cache=$("$here/image.sh" cloud-init) || exit 1

prepare_cloud_init() {
    cp --sparse=always "$ci_cache/cloud-init.ext4" "$work/b.ext4"
    mount -o loop "$work/b.ext4" "$work/mnt" || return 1
    printf 'locale: false\n' > "$work/mnt/etc/cloud/cloud.cfg.d/99-bench.cfg"
    umount "$work/mnt"
}
mono() { ssh_vm tester systemctl show -p "$2" --value "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

for agent in strap cloud-init; do
    if [ "$agent" = strap ]; then units="strap.service strap-final.service"; final=strap-final.service
    else units="cloud-init-local.service cloud-init.service cloud-config.service cloud-final.service"; final=cloud-final.service; fi
    for i in $(seq "$boots"); do
        if [ "$agent" = strap ]; then prepare_disk b; else prepare_cloud_init; fi
        start_mock bench.yaml
        t0=$(date +%s.%N)
        boot "$work/b.ext4" "$work/$agent-$i.log"
        until ssh_vm tester true 2>/dev/null; do
            kill -0 "$qemu_pid" 2>/dev/null || { echo "qemu exited"; exit 1; }
            sleep 0.5
        done
        login=$(echo "$(date +%s.%N) - $t0" | bc)
        until [ "$(ssh_vm tester systemctl is-active $final)" = active ]; do sleep 1; done
        done_us=$(mono $final ActiveEnterTimestampMonotonic)
        first_us=$(mono "${units%% *}" InactiveExitTimestampMonotonic)
        busy_us=0
        for u in $units; do
            a=$(mono "$u" InactiveExitTimestampMonotonic); b=$(mono "$u" ActiveEnterTimestampMonotonic)
            busy_us=$((busy_us + b - a))
        done
        reqs=$(requests)
        echo "$agent $i done=$(echo "scale=3; $done_us/1000000" | bc) busy=$(echo "scale=3; $busy_us/1000000" | bc) span=$(echo "scale=3; ($done_us-$first_us)/1000000" | bc) login=$login requests=$reqs" | tee -a "$work/results"
        if [ "$i" = "$boots" ]; then
            { echo "== $agent: systemd-analyze blame (top 12)"; ssh_vm tester systemd-analyze blame | head -12
              echo "== $agent: systemd-analyze critical-chain $final"; ssh_vm tester systemd-analyze critical-chain $final; } > "$work/$agent-analyze.txt" 2>&1
        fi
        shutdown_vm
        kill "$mock_pid"; wait "$mock_pid" 2>/dev/null; mock_pid=""
    done
done

echo
echo "medians of $boots first boots each ($accel):"
printf '%-11s %18s %16s %16s %18s %9s\n' agent "kernel→final done" "agent busy" "agent span" "qemu→ssh login" requests
for agent in strap cloud-init; do
    col() { grep "^$agent " "$work/results" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p" | median; }
    printf '%-11s %17ss %15ss %15ss %17ss %9s\n' "$agent" "$(col done)" "$(col busy)" "$(col span)" "$(col login)" "$(col requests)"
done
echo
cat "$work/strap-analyze.txt" "$work/cloud-init-analyze.txt"
rm -rf "$work"
