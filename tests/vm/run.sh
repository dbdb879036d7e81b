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
# at all, a read-only root), and last an instance with two ENIs whose network strap
# configures from the metadata, and a third hotplugged into it. The guest has user-mode networking with restrict=on: it
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

. "$here/lib.sh"

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
    check "first boot: the boot reports" wait_serial "$work/one-1.log" 'STRAPVM report-done=yes' 600
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
    # Changed user data on the running instance: strap plan shows it, strap apply does it.
    mock PUT user-data "$(user_data first.mime | sed 's|probe: written by write_files|probe: changed by strap apply|')" >/dev/null
    plan_rc=0; plan_out=$(ssh_vm tester sudo -n strap plan 2>&1) || plan_rc=$?
    check "running instance: strap plan exits 2 (changes)" eq "$plan_rc" "2"
    check "running instance: the plan names the changed file" has "$plan_out" "~ file /etc/strap-vm/probe.txt: content"
    check "running instance: strap apply applies it" has "$(ssh_vm tester sudo -n strap apply --yes 2>&1)" "applied, 0 failed."
    check "running instance: the file changed" eq "$(ssh_vm tester cat /etc/strap-vm/probe.txt)" "probe: changed by strap apply"
    check "running instance: a second plan shows no changes" eq "$(ssh_vm tester 'sudo -n strap plan >/dev/null 2>&1; echo $?')" "0"
    mock PUT user-data "$(user_data first.mime)" >/dev/null
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

# A new instance (the mock's launch) with this user data, on a fresh disk prepared with
# HOOK, booted until it reports: `new_instance USERDATA NAME HOOK [readonly]`.
new_instance() {
    mock PUT user-data "$(user_data "$1")" >/dev/null
    mock POST launch >/dev/null
    prepare_disk "$2" "$3"
    boot_and_report "$work/$2.ext4" "$work/$2.log" ${4:-}
}

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
    new_instance failing.mime two plant_foreign_state
    s=$work/two.log
    check "failing part: status error" eq "$(fact "$s" strap-status)" "error"
    check "failing part: strap.service stays active" eq "$(fact "$s" unit-strap)" "active"
    check "failing part: strap-final.service stays active" eq "$(fact "$s" unit-final)" "active"
    check "failing part: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    errors=$(ssh_vm tester strap status --long)
    check "failing part: the failing part is named in the errors" has "$errors" "fails.sh"
    check "failing part: the hanging part ended (the timeout) and is named in the errors" has "$errors" "hangs.sh"
    check "foreign state: the per-instance work ran" eq "$(fact "$s" probe)" "probe: written by write_files"
    shutdown_vm
fi

# --- 5. a part that hangs, no timeout ------------------------------------------------------
short_report() { mkdir -p "$1/etc/strap-vm"; echo 20 > "$1/etc/strap-vm/report-wait"; }
if want hang; then
    new_instance hang.yaml three short_report
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
    new_instance first.mime five short_report readonly
    s=$work/five.log
    check "read-only root: the boot ends in error" eq "$(fact "$s" strap-status)" "error"
    check "read-only root: strap.service active" eq "$(fact "$s" unit-strap)" "active"
    check "read-only root: multi-user reached" eq "$(fact "$s" multi-user)" "active"
    check "read-only root: sshd runs" test -n "$(host_key)"
    kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; qemu_pid=""
fi

# --- 8. two ENIs: the second on its own subnet, with a secondary private IPv4 -----------
# A second user-mode NIC, as restricted as the first, stands in for an ENI on subnet
# 10.0.2.0/24 (its DHCP server hands out 10.0.2.10, its router is 10.0.2.1, as EC2's
# subnets have it); the mock lists it with a second private address, 10.0.2.11.
# The same boot gets an empty data disk (/dev/vdb) that the image's system config asks
# disk_setup to partition, fs_setup to format and mounts to mount, as an image that
# lays out its volumes does.
disk_layout() {
    mkdir -p "$1/etc/cloud/cloud.cfg.d"
    cat > "$1/etc/cloud/cloud.cfg.d/60-data-disk.cfg" <<'CFG'
disk_setup:
  /dev/vdb:
    table_type: mbr
    layout: [60, 40]
    overwrite: false
fs_setup:
  - {label: data, filesystem: ext4, device: /dev/vdb, partition: 1}
  - {label: logs, filesystem: ext4, device: /dev/vdb, partition: 2}
mounts:
  - [ /dev/vdb1, /data ]
  - [ LABEL=logs, /logs ]
CFG
}
if want enis; then
    mock PUT user-data "$(user_data first.mime)" >/dev/null
    mock POST launch >/dev/null
    mock POST network-interfaces '{"mac": "0e:49:61:0f:c3:22", "device_number": 1, "subnet_cidr": "10.0.2.0/24", "private_ips": ["10.0.2.10", "10.0.2.11"], "delay_secs": 0}' >/dev/null
    prepare_disk six disk_layout
    truncate -s 256M "$work/data.img"
    extra_qemu=(-netdev "user,id=n1,restrict=on,net=10.0.2.0/24,host=10.0.2.1,dhcpstart=10.0.2.10"
        -device virtio-net-pci,netdev=n1,mac=0e:49:61:0f:c3:22
        -drive "file=$work/data.img,if=virtio,format=raw")
    boot_and_report "$work/six.ext4" "$work/six.log"
    extra_qemu=()
    s=$work/six.log
    check "two ENIs: status done" eq "$(fact "$s" strap-extended)" "done"
    check "data disk: disk_setup made two partitions" eq \
        "$(ssh_vm tester lsblk -rno NAME /dev/vdb | tr '\n' ' ')" "vdb vdb1 vdb2 "
    check "data disk: fs_setup formatted them with their labels" eq \
        "$(ssh_vm tester lsblk -rno LABEL,FSTYPE /dev/vdb1 /dev/vdb2 | tr '\n' ' ')" "data ext4 logs ext4 "
    check "data disk: mounts mounted both" eq \
        "$(ssh_vm tester findmnt -rno SOURCE /data; ssh_vm tester findmnt -rno SOURCE /logs)" "$(printf '/dev/vdb1\n/dev/vdb2')"
    if1=$(ssh_vm tester "ip -o link | awk -F': ' '/$(primary_mac)/ {print \$2}'")
    if2=$(ssh_vm tester "ip -o link | awk -F': ' '/0e:49:61:0f:c3:22/ {print \$2}'")
    log "the ENIs are $if1 and $if2"
    check "two ENIs: the machine has both NICs" test -n "$if1" -a -n "$if2"
    shown=$(ssh_vm tester strap net show --json)
    check "two ENIs: strap net show says both are configured" eq \
        "$(echo "$shown" | grep -c '"action": "configured"')" "2"
    check "two ENIs: the secondary has its secondary private address" has \
        "$(ssh_vm tester ip -4 -o addr show dev "$if2")" "10.0.2.11/24"
    check "two ENIs: a rule sends the secondary address to its own table" has \
        "$(ssh_vm tester ip rule)" "from 10.0.2.11 lookup 10001"
    check "two ENIs: the secondary's table routes through its subnet's router" has \
        "$(ssh_vm tester ip route show table 10001)" "default via 10.0.2.1 dev $if2"
    check "two ENIs: a packet from the secondary address leaves through the secondary" has \
        "$(ssh_vm tester ip route get 192.0.2.1 from 10.0.2.11)" "via 10.0.2.1 dev $if2"
    check "two ENIs: the metadata service is asked through the primary" has \
        "$(ssh_vm tester ip route get 169.254.169.254)" "dev $if1"
    check "two ENIs: and still answers" eq \
        "$(ssh_vm tester "curl -s -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' -o /dev/null -w '%{http_code}' http://169.254.169.254/latest/api/token")" "200"

    # Hotplug: a third ENI attached to the running instance, whose metadata appears 5 s
    # after the attachment; udev starts strap-net@IF.service, which waits for it.
    mock POST network-interfaces '{"mac": "0e:49:61:0f:c3:33", "device_number": 2, "subnet_cidr": "10.0.3.0/24", "private_ips": ["10.0.3.10", "10.0.3.11"], "delay_secs": 5}' >/dev/null
    monitor "netdev_add user,id=n2,restrict=on,net=10.0.3.0/24,host=10.0.3.1,dhcpstart=10.0.3.10"
    monitor "device_add virtio-net-pci,netdev=n2,mac=0e:49:61:0f:c3:33,id=hot0"
    rules=""
    for _ in $(seq 90); do
        rules=$(ssh_vm tester ip rule)
        case "$rules" in *"from 10.0.3.11 lookup 10002"*) break ;; esac
        sleep 1
    done
    if3=$(ssh_vm tester "ip -o link | awk -F': ' '/0e:49:61:0f:c3:33/ {print \$2}'")
    log "the hotplugged ENI is $if3"
    check "hotplug: the ENI attached later gets its rules once its metadata appears" has "$rules" "from 10.0.3.11 lookup 10002"
    check "hotplug: and its secondary private address" has \
        "$(ssh_vm tester ip -4 -o addr show dev "$if3")" "10.0.3.11/24"
    check "hotplug: strap net show lists it as configured" eq \
        "$(ssh_vm tester strap net show --json | grep -c '"action": "configured"')" "3"
    check "hotplug: a second apply changes nothing" has \
        "$(ssh_vm tester sudo strap net apply --interface "$if3")" "changes: none"
    shutdown_vm
fi

echo "vm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
