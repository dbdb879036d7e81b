#!/usr/bin/env bash
# The VM suite: strap as the boot agent of a real Debian 12 image, booted under qemu
# against imds-mock on this machine's loopback.
#
#   tests/vm/run.sh STRAP_BINARY IMDS_MOCK_BINARY
#
# Builds (or reuses, see image.sh) the image, installs strap with examples/image/install.sh
# and examples/systemd/ unchanged, adds the test units of units/, and boots it: a first
# boot whose metadata service comes up 20 s after strap starts, a reboot, a new instance
# on the same disk, then the bad inputs (a failing and a hanging part with a disk whose
# state comes from another image, a part that hangs with no timeout, no metadata service
# at all, a read-only root). The guest has user-mode networking with restrict=on: it
# reaches only 169.254.169.254:80, forwarded to the mock on 127.0.0.1, and the host
# reaches its sshd through a port on 127.0.0.1. Results are read from the serial console
# (`STRAPVM key=value` lines of units/report.sh) and over ssh. Needs root, qemu, socat,
# mmdebstrap, e2fsprogs and ssh; TCG unless a real KVM is there (STRAP_VM_ACCEL overrides).
# Ends with `N passed, M failed`; exit status 1 when a check failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
strap_bin=$(realpath "$1")
mock_bin=$(realpath "$2")
only=${STRAP_VM_ONLY:-}
passed=0 failed=0

work=$(mktemp -d "${STRAP_VM_WORK:-/var/tmp}/strap-vm.XXXXXX")
mock_pid=""
qemu_pid=""
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
    [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
    mountpoint -q "$work/mnt" 2>/dev/null && umount "$work/mnt"
    if [ -n "${STRAP_VM_KEEP:-}" ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

log() { echo "[vm $(date +%T)] $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok - $what"
    else failed=$((failed + 1)); echo "not ok - $what"; fi
}
eq() { [ "$1" = "$2" ] || { echo "    expected [$2], got [$1]" >&2; return 1; }; }
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "    [$1] does not contain [$2]" >&2; return 1; }
hasnt() { case "$1" in *"$2"*) echo "    [$1] contains [$2]" >&2; return 1 ;; esac; return 0; }

# --- the image ------------------------------------------------------------------------
cache=$("$here/image.sh" base) || { echo "cannot build the image"; exit 1; }
baked=$(awk '{print $2}' "$cache/base.hostkey.pub")
ssh-keygen -q -t ed25519 -N '' -C strap-vm -f "$work/id"
pubkey=$(cat "$work/id.pub")

# A disk of strap's image: the base image, strap installed as examples/ says, the test
# units; `prepare_disk NAME [HOOK]` runs HOOK with the mounted root as $1.
mkdir -p "$work/mnt"
prepare_disk() {
    local name=$1 hook=${2:-}
    cp --sparse=always "$cache/base.ext4" "$work/$name.ext4"
    mount -o loop "$work/$name.ext4" "$work/mnt" || return 1
    "$top/examples/image/install.sh" --root "$work/mnt" "$strap_bin" >/dev/null 2>&1
    install -D -m 0755 "$here/units/report.sh" "$work/mnt/usr/local/lib/strap-vm/report.sh"
    for u in strap-vm-probe strap-vm-wait strap-vm-report; do
        install -m 0644 "$here/units/$u.service" "$work/mnt/etc/systemd/system/"
        ln -sf "/etc/systemd/system/$u.service" "$work/mnt/etc/systemd/system/multi-user.target.wants/$u.service"
    done
    [ -n "$hook" ] && "$hook" "$work/mnt"
    umount "$work/mnt"
}

# --- the metadata service ---------------------------------------------------------------
# The guest's 169.254.169.254:80 runs fwd.sh per connection, which connects to the port
# in imds.port: no file, no metadata service (the connection closes at once).
cat > "$work/fwd.sh" <<FWD
#!/bin/sh
port=\$(cat "$work/imds.port" 2>/dev/null) || exit 1
exec socat - TCP:127.0.0.1:\$port
FWD
chmod +x "$work/fwd.sh"
user_data() { sed "s|@KEY@|$pubkey|" "$here/userdata/$1"; }
start_mock() { # start_mock USERDATA
    user_data "$1" > "$work/user-data"
    cat > "$work/mock.yaml" <<MOCK
user_data_file: $work/user-data
instance_type: m5.large
public_keys:
  strap-vm: "$pubkey"
MOCK
    "$mock_bin" --config "$work/mock.yaml" --listen 127.0.0.1:0 -q > "$work/mock.out" 2> "$work/mock.err" &
    mock_pid=$!
    local i
    for i in $(seq 100); do
        grep -q '^listening on' "$work/mock.out" 2>/dev/null && break
        sleep 0.1
    done
    mock_url=$(sed -n 's/^listening on //p' "$work/mock.out" | head -1)
    echo "${mock_url##*:}" > "$work/imds.port"
    log "imds-mock at $mock_url"
}
mock() { curl -sf -X "$1" "$mock_url/_mock/$2" ${3:+--data-binary "$3"}; }
requests() { curl -sf "$mock_url/_mock/requests" | sed -n 's/.*"total": *\([0-9]*\).*/\1/p'; }

# --- booting ------------------------------------------------------------------------------
accel=${STRAP_VM_ACCEL:-}
if [ -z "$accel" ]; then
    # /dev/kvm may be a backend without hardware virtualisation, on which the kernel hangs.
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg,thread=multi; fi
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
boot() { # boot DISK SERIAL_LOG [readonly]
    local disk=$1 serial=$2 ro=${3:-}
    ssh_port=$(free_port)
    : > "$serial"
    qemu-system-x86_64 -accel "$accel" -m 1024 -smp 2 -nographic -no-reboot \
        -kernel "$cache/base.vmlinuz" -initrd "$cache/base.initrd" \
        -append "root=/dev/vda ${ro:+ro }console=ttyS0 panic=-1 systemd.show_status=1" \
        -drive "file=$disk,if=virtio,format=raw${ro:+,readonly=on}" \
        -netdev "user,id=n0,restrict=on,net=169.254.0.0/16,hostfwd=tcp:127.0.0.1:$ssh_port-:22,guestfwd=tcp:169.254.169.254:80-cmd:$work/fwd.sh" \
        -device virtio-net-pci,netdev=n0,mac=0e:49:61:0f:c3:11 \
        -smbios "type=1,manufacturer=Amazon EC2,product=m5.large,serial=ec2e1916-9099-7caf-fd21-012345abcdef,uuid=ec2e1916-9099-7caf-fd21-012345abcdef" \
        -serial "file:$serial" -monitor none -display none > "$work/qemu.out" 2>&1 &
    qemu_pid=$!
    boot_started=$(date +%s)
    log "booting $(basename "$disk") ($accel, ssh on 127.0.0.1:$ssh_port)"
}
wait_serial() { # wait_serial SERIAL PATTERN SECONDS
    local i
    for i in $(seq "$3"); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$qemu_pid" 2>/dev/null || { echo "    qemu exited" >&2; return 1; }
        sleep 1
    done
    echo "    no [$2] on the console after $3 s" >&2
    return 1
}
fact() { sed -n "s/^STRAPVM $2=//p" "$1" | tr -d '\r' | tail -1; }
ssh_vm() { # ssh_vm USER COMMAND...
    local user=$1; shift
    ssh -q -i "$work/id" -p "$ssh_port" -o BatchMode=yes -o ConnectTimeout=20 \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$user@127.0.0.1" "$@"
}
host_key() { ssh-keyscan -T 5 -p "$ssh_port" -t ed25519 127.0.0.1 2>/dev/null | awk '{print $3}' | head -1; }
poll_host_keys() { # poll_host_keys FILE: every key sshd presents while qemu runs
    while kill -0 "$qemu_pid" 2>/dev/null; do
        ssh-keyscan -T 2 -p "$ssh_port" -t ed25519 127.0.0.1 2>/dev/null | awk '{print $3}' >> "$1"
        sleep 1
    done
}
shutdown_vm() {
    ssh_vm tester sudo systemctl poweroff >/dev/null 2>&1 || ssh_vm admin sudo systemctl poweroff >/dev/null 2>&1
    local i
    for i in $(seq 120); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
    kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null
    qemu_pid=""
}
boot_and_report() { # boot_and_report DISK SERIAL [readonly]
    boot "$@"
    wait_serial "$2" '^STRAPVM report-done=yes' 600
}
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

# --- 1. first boot, the metadata service 20 s late; 2. reboot; 3. new instance -------------
if want first; then
    prepare_disk one
    rm -f "$work/imds.port"
    boot "$work/one.ext4" "$work/one-1.log"
    poll_host_keys "$work/keys-1" & poller=$!
    check "first boot: strap starts" wait_serial "$work/one-1.log" "running 'init-local'" 400
    strap_seen=$(date +%s)
    sleep 20
    start_mock first.mime
    log "metadata service up $(( $(date +%s) - strap_seen )) s after strap started"
    check "first boot: the boot reports" wait_serial "$work/one-1.log" '^STRAPVM report-done=yes' 600
    s=$work/one-1.log
    check "first boot: strap waited for the metadata service" has "$(grep -a 'not up yet' "$s" | head -1)" "retrying"
    check "first boot: status done" eq "$(fact "$s" strap-extended)" "done"
    check "first boot: strap.service active" eq "$(fact "$s" unit-strap)" "active"
    check "first boot: strap-final.service active" eq "$(fact "$s" unit-final)" "active"
    check "first boot: no failed unit" eq "$(fact "$s" failed-units)" ""
    check "first boot: a service sees write_files' file at its start" eq "$(fact "$s" probe)" "probe: written by write_files"
    check "first boot: strap status --wait from a unit returned 0" has "$(fact "$s" wait)" "rc=0"
    check "first boot: hostname" eq "$(fact "$s" hostname)" "vm-one"
    check "first boot: ssh login as the user-data user" eq "$(ssh_vm tester id -un)" "tester"
    check "first boot: ssh login as the default user with the EC2 key pair" eq "$(ssh_vm admin id -un)" "admin"
    check "first boot: sudo rule" eq "$(ssh_vm tester sudo -n id -u)" "0"
    check "first boot: runcmd ran once" eq "$(ssh_vm tester cat /var/lib/strap-vm-runcmd.log)" "instance"
    check "first boot: bootcmd ran once" eq "$(ssh_vm tester cat /var/lib/strap-vm-bootcmd.log)" "boot"
    check "first boot: the MIME #! part ran as root" eq "$(ssh_vm tester cat /var/lib/strap-vm-part.txt)" "part ran as root"
    check "first boot: the package is installed" eq "$(ssh_vm tester 'jq -n 1+1')" "2"
    key1=$(host_key)
    requests_first=$(requests)
    log "metadata requests of the first boot: $requests_first"
    shutdown_vm; wait "$poller" 2>/dev/null
    check "first boot: sshd never presented the image's baked host key" hasnt "$(sort -u "$work/keys-1" | tr '\n' ' ')" "$baked"
    check "first boot: sshd presented a new host key" eq "$(sort -u "$work/keys-1" | grep -c .)" "1"

    boot_and_report "$work/one.ext4" "$work/one-2.log"
    s=$work/one-2.log
    check "reboot: status done" eq "$(fact "$s" strap-extended)" "done"
    check "reboot: bootcmd (per boot) ran again" eq "$(ssh_vm tester cat /var/lib/strap-vm-bootcmd.log | wc -l)" "2"
    check "reboot: runcmd (per instance) did not" eq "$(ssh_vm tester cat /var/lib/strap-vm-runcmd.log | wc -l)" "1"
    check "reboot: the host key stayed" eq "$(host_key)" "$key1"
    shutdown_vm

    mock POST launch >/dev/null
    boot_and_report "$work/one.ext4" "$work/one-3.log"
    s=$work/one-3.log
    check "new instance: status done, not degraded (its users exist already)" eq "$(fact "$s" strap-extended)" "done"
    check "new instance: runcmd (per instance) ran again" eq "$(ssh_vm tester cat /var/lib/strap-vm-runcmd.log | wc -l)" "2"
    check "new instance: bootcmd ran again" eq "$(ssh_vm tester cat /var/lib/strap-vm-bootcmd.log | wc -l)" "3"
    key3=$(host_key)
    check "new instance: new host keys" test -n "$key3" -a "$key3" != "$key1"
    check "new instance: still no failed unit" eq "$(fact "$s" failed-units)" ""
    shutdown_vm
fi

[ -n "$mock_pid" ] || start_mock first.mime

# --- 4. a failing and a hanging part (with a timeout), state from another image ----------
plant_foreign_state() {
    local root=$1 s=$1/var/lib/strap
    mkdir -p "$s/instances/i-0ther0image000000/sem" "$s/data" "$root/etc/systemd/system/strap.service.d"
    ln -sfn /var/lib/strap/instances/i-0ther0image000000 "$s/instance"
    for m in write_files users_groups ssh runcmd scripts_user; do
        echo "some-other-boot" > "$s/instances/i-0ther0image000000/sem/config-$m"
    done
    echo '{"version": 99, "not": "ours"}' > "$s/data/report.json"
    echo "i-0ther0image000000" > "$s/data/previous-instance-id"
    printf '[Service]\nExecStart=\nExecStart=/usr/local/bin/strap run --stage init --timeout 20\n' \
        > "$root/etc/systemd/system/strap.service.d/timeout.conf"
}
if want failing; then
    mock PUT user-data "$(user_data failing.mime)" >/dev/null
    mock POST launch >/dev/null
    prepare_disk two plant_foreign_state
    boot_and_report "$work/two.ext4" "$work/two.log"
    s=$work/two.log
    check "failing part: status error" eq "$(fact "$s" strap-status)" "error"
    check "failing part: strap.service stays active" eq "$(fact "$s" unit-strap)" "active"
    check "failing part: strap-final.service stays active" eq "$(fact "$s" unit-final)" "active"
    check "failing part: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    errors=$(ssh_vm tester strap status --long)
    check "failing part: the failing part is named with its exit code" has "$errors" "fails.sh"
    check "failing part: the hanging part was stopped by the timeout" has "$errors" "hangs.sh"
    check "foreign state: the per-instance work ran" eq "$(fact "$s" probe)" "probe: written by write_files"
    shutdown_vm
fi

# --- 5. a part that hangs, no timeout ------------------------------------------------------
short_report() { mkdir -p "$1/etc/strap-vm"; echo 20 > "$1/etc/strap-vm/report-wait"; }
if want hang; then
    mock PUT user-data "$(user_data hang.yaml)" >/dev/null
    mock POST launch >/dev/null
    prepare_disk three short_report
    boot_and_report "$work/three.ext4" "$work/three.log"
    s=$work/three.log
    check "hanging part: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    check "hanging part: ssh works with the user data's key" eq "$(ssh_vm tester id -un)" "tester"
    check "hanging part: strap status says running" eq "$(ssh_vm tester strap status)" "status: running"
    check "hanging part: strap-final.service is still starting" eq "$(ssh_vm tester systemctl is-active strap-final.service)" "activating"
    shutdown_vm
fi

# --- 6. no metadata service at all; 7. a read-only root -----------------------------------
short_wait() { short_report "$1"; mkdir -p "$1/etc/cloud/cloud.cfg.d"; printf 'datasource:\n  Ec2:\n    max_wait: 15\n' > "$1/etc/cloud/cloud.cfg.d/90-wait.cfg"; }
if want absent; then
    rm -f "$work/imds.port"
    prepare_disk four short_wait
    boot_and_report "$work/four.ext4" "$work/four.log"
    s=$work/four.log
    check "no metadata service: the boot ends in error" eq "$(fact "$s" strap-status)" "error"
    check "no metadata service: strap.service active" eq "$(fact "$s" unit-strap)" "active"
    check "no metadata service: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    check "no metadata service: sshd runs" test -n "$(host_key)"
    check "no metadata service: the wait was logged" has "$(grep -a 'not up yet' "$s" | head -1)" "max_wait"
    shutdown_vm
    echo "${mock_url##*:}" > "$work/imds.port"
fi
if want readonly; then
    mock PUT user-data "$(user_data first.mime)" >/dev/null
    mock POST launch >/dev/null
    prepare_disk five short_report
    boot_and_report "$work/five.ext4" "$work/five.log" readonly
    s=$work/five.log
    check "read-only root: the boot ends in error" eq "$(fact "$s" strap-status)" "error"
    check "read-only root: strap.service active" eq "$(fact "$s" unit-strap)" "active"
    check "read-only root: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    check "read-only root: sshd runs" test -n "$(host_key)"
    kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; qemu_pid=""
fi

echo "vm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
