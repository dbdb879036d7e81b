# Shared by the VM suite (run.sh) and the boot benchmark (bench/vm/run.sh): the image,
# disks, the metadata service on loopback, qemu, the serial console and ssh. Callers set
# `here` (this folder), `top` (the repository), `work` (a scratch folder), `strap_bin`,
# `mock_bin`, `passed` and `failed`, then source this file.
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
# The MAC of the instance's primary ENI, which the VM's first NIC gets: a new instance
# (the mock's launch) has a new one, as on EC2. Before the mock starts, its default.
primary_mac() {
    { [ -n "${mock_url:-}" ] && curl -sf "$mock_url/_mock/network-interfaces"; } |
        python3 -c 'import json, sys; print(next(i["mac"] for i in json.load(sys.stdin) if i.get("primary")))' 2>/dev/null ||
        echo 0e:49:61:0f:c3:11
}
mock() { curl -sf -X "$1" -H 'Content-Type: application/json' "$mock_url/_mock/$2" ${3:+--data-binary "$3"}; }
requests() { curl -sf "$mock_url/_mock/requests" | sed -n 's/.*"total": *\([0-9]*\).*/\1/p'; }

# --- booting ------------------------------------------------------------------------------
accel=${STRAP_VM_ACCEL:-}
if [ -z "$accel" ]; then
    # /dev/kvm may be a backend without hardware virtualisation, on which the kernel hangs.
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg,thread=multi; fi
fi
# More qemu arguments for the next boots (a second NIC).
extra_qemu=()
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
        -device "virtio-net-pci,netdev=n0,mac=$(primary_mac)" "${extra_qemu[@]}" \
        -smbios "type=1,manufacturer=Amazon EC2,product=m5.large,serial=ec2e1916-9099-7caf-fd21-012345abcdef,uuid=ec2e1916-9099-7caf-fd21-012345abcdef" \
        -serial "file:$serial" -monitor "unix:$work/monitor.sock,server=on,wait=off" -display none > "$work/qemu.out" 2>&1 &
    qemu_pid=$!
    boot_started=$(date +%s)
    log "booting $(basename "$disk") ($accel, ssh on 127.0.0.1:$ssh_port)"
}
monitor() { echo "$1" | socat - "UNIX-CONNECT:$work/monitor.sock" >/dev/null; } # qemu's monitor
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
fact() { sed -n "s/.*STRAPVM $2=//p" "$1" | tr -d '\r' | tail -1; }
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
    wait_serial "$2" 'STRAPVM report-done=yes' 600
}
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

