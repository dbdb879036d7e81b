#!/bin/sh
# Boot benchmark: `strap run --local` (release build) of the README example and of a
# plain `#!/bin/sh` script, against cloud-init's costs on the same machine.
#
#   bench/boot/run.sh [RUNS]        (default 20 runs per case; needs /usr/bin/time)
#
# Cases: hello.yaml, the plain script, and the plain script again with its root on a
# tmpfs (/dev/shm), which shows what the disk costs. Prints, per case: median wall time, peak memory (max RSS of `/usr/bin/time -v`),
# metadata requests before the first user script (from strap's report.json). Then
# cloud-init's side: the requests its EC2 helper makes to crawl the same metadata
# service (imds-mock) and the time of `python3 -c 'import cloudinit.stages'`, the
# Python start-up every cloud-init stage pays before doing anything. Last, the three
# targets: peak RSS under 10 MB, at most 4 requests before the first script, and the
# plain-script boot at least 10 times faster than that import (same run, same load).
#
# The boots create files; on an ext4 without a journal the kernel will not reuse an
# inode freed in the last 60 s (300 s while its inode table block is unwritten) and scans
# past every such inode on each creation, so run this at least five minutes after a large
# deletion (a previous run's cleanup, `cargo clean`, a test run) or the disk figures
# measure that scan. The tmpfs case is not affected.
set -eu
RUNS=${1:-20}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
cd "$HERE"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/target}
cargo build -q --release -p strap -p imds-mock
# STRAP_BIN: another build to measure (the static one images ship:
# target/x86_64-unknown-linux-musl/release/strap).
STRAP=${STRAP_BIN:-$CARGO_TARGET_DIR/release/strap}
MOCK=$CARGO_TARGET_DIR/release/imds-mock
WORK=$(mktemp -d)
trap 'rm -rf "$WORK" ${SHM:+"$SHM"}; [ -n "${MOCK_PID:-}" ] && kill "$MOCK_PID" 2>/dev/null || true' EXIT

HAVE_CLOUDINIT=
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import cloudinit' 2>/dev/null; then
    HAVE_CLOUDINIT=1
fi
: > "$WORK/imp"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

bench_case() {
    id=$1 name=$2 userdata=$3 base=${4:-$WORK}
    : > "$WORK/wall" ; : > "$WORK/rss"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        root="$base/root-$id-$i"
        # Wall time from the clock in nanoseconds (time -v rounds to 10 ms), then the
        # same boot again under /usr/bin/time -v for its peak memory.
        t0=$(date +%s%N)
        "$STRAP" -qq run --local "$userdata" --root "$root" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1/1000}' >> "$WORK/wall"
        /usr/bin/time -v -o "$WORK/time.txt" \
            "$STRAP" -qq run --local "$userdata" --root "$root-rss" >/dev/null 2>&1 || true
        awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt" >> "$WORK/rss"
        # The import is timed between the plain boots, so that both see the same load.
        if [ "$id" = plain ] && [ -n "$HAVE_CLOUDINIT" ]; then
            t0=$(date +%s%N)
            /usr/bin/python3 -c 'import cloudinit.stages'
            t1=$(date +%s%N)
            echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1/1000}' >> "$WORK/imp"
        fi
        i=$((i + 1))
    done
    wall=$(median < "$WORK/wall")
    rss=$(sort -n "$WORK/rss" | tail -1 | awk '{print $1/1024}')
    reqs=$(sed -n 's/.*"imds_requests_before_first_script": *\([0-9]*\).*/\1/p' \
        "$base/root-$id-0/var/lib/strap/data/report.json")
    printf '%-22s wall %6.1f ms (median of %s)  peak RSS %6.1f MB  requests before first script: %s\n' \
        "$name" "$wall" "$RUNS" "$rss" "${reqs:-?}"
    echo "$wall $rss ${reqs:-?}" > "$WORK/result-$id"
}

echo "strap $("$STRAP" --version | cut -d' ' -f2), $(nproc) CPUs, $(uname -sr)"
bench_case hello "hello.yaml" examples/userdata/hello.yaml
bench_case plain "plain #!/bin/sh" examples/userdata/plain.sh
# The same boot with its root on a tmpfs: what is left without the disk's file creations
# and fsyncs (on an instance, /run is a tmpfs too; /var/lib and /var/log are on disk).
if [ -d /dev/shm ] && SHM=$(mktemp -d -p /dev/shm 2>/dev/null); then
    bench_case plain-tmpfs "plain, root on tmpfs" examples/userdata/plain.sh "$SHM"
    rm -rf "$SHM"
fi

if [ -n "$HAVE_CLOUDINIT" ]; then
    "$MOCK" --listen 127.0.0.1:0 --user-data examples/userdata/plain.sh > "$WORK/mock.out" 2>/dev/null &
    MOCK_PID=$!
    while ! grep -q listening "$WORK/mock.out" 2>/dev/null; do sleep 0.05; done
    URL=$(sed -n 's/^listening on //p' "$WORK/mock.out")
    /usr/bin/python3 - "$URL" <<'PY'
import sys, urllib.request
from cloudinit.sources.helpers import ec2
url = sys.argv[1]
req = urllib.request.Request(url + "/latest/api/token", method="PUT",
                             headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
token = urllib.request.urlopen(req).read().decode()
hdr = lambda *_a, **_k: {"X-aws-ec2-metadata-token": token}
ec2.get_instance_userdata("latest", url, headers_cb=hdr)
ec2.get_instance_metadata("latest", url, headers_cb=hdr)
ec2.get_instance_identity("latest", url, headers_cb=hdr)
PY
    total=$(curl -s "$URL/_mock/requests" | sed -n 's/.*"total": *\([0-9]*\).*/\1/p')
    echo "cloud-init $(/usr/bin/python3 -c 'import cloudinit.version as v; print(v.version_string())') EC2 crawl of the same mock: ${total} requests (token, user data, meta-data tree, identity)"
    imp=$(median < "$WORK/imp")
    echo "python3 -c 'import cloudinit.stages': $imp ms (median of $RUNS, timed between the plain boots)"
    read -r plain_wall plain_rss plain_reqs < "$WORK/result-plain"
    read -r hello_wall hello_rss hello_reqs < "$WORK/result-hello"
    awk -v imp="$imp" -v pw="$plain_wall" -v hw="$hello_wall" 'BEGIN {
        printf "speed-up over the import: plain %.1fx (target >= 10x), hello.yaml %.1fx\n", imp / pw, imp / hw }'
    if [ -f "$WORK/result-plain-tmpfs" ]; then
        read -r tmpfs_wall _ _ < "$WORK/result-plain-tmpfs"
        awk -v imp="$imp" -v tw="$tmpfs_wall" 'BEGIN {
            printf "                           plain with its root on tmpfs %.1fx\n", imp / tw }'
    fi
    echo "peak RSS: plain ${plain_rss} MB, hello.yaml ${hello_rss} MB (target < 10 MB); requests before the first script: plain ${plain_reqs}, hello.yaml ${hello_reqs} (target <= 4)"
else
    echo "cloud-init's Python modules are not installed (apt-get install cloud-init): no comparison"
fi
