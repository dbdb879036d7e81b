#!/bin/sh
# Make strap the boot agent of an image (a mounted image, a chroot, or this machine).
#
#   examples/image/install.sh [--root DIR] [STRAP_BINARY]
#
# Installs the binary as /usr/local/bin/strap (default: the `strap` on PATH), the units
# strap.service and strap-final.service into /etc/systemd/system and enables them, the
# network hotplug rule and units (strap-net@.service, strap-net-refresh.{service,timer}), and
# /etc/cloud/cloud.cfg from examples/image/cloud.cfg unless the image has one (strap reads
# cloud-init's system config). An image that still has cloud-init gets
# /etc/cloud/cloud-init.disabled, so the two never both run. Run it from a clone of strap.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=/
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
binary=${1:-$(command -v strap || true)}
[ -n "$binary" ] && [ -x "$binary" ] || { echo "install.sh: no strap binary given or on PATH" >&2; exit 2; }
[ -d "$root" ] || { echo "install.sh: the root $root is not a folder" >&2; exit 2; }

install -D -m 0755 "$binary" "$root/usr/local/bin/strap"
for unit in strap.service strap-final.service; do
    install -D -m 0644 "$here/../systemd/$unit" "$root/etc/systemd/system/$unit"
done
mkdir -p "$root/etc/systemd/system/strap.service.d"
# Hotplug: udev starts strap-net@IF.service for each new network interface, which
# configures an ENI attached after boot (those present at boot were done by the boot).
# strap-net-refresh.timer (installed, not enabled) re-reads secondary addresses every 60 s.
for unit in strap-net@.service strap-net-refresh.service strap-net-refresh.timer; do
    install -D -m 0644 "$here/../systemd/$unit" "$root/etc/systemd/system/$unit"
done
install -D -m 0644 "$here/../udev/99-strap-net.rules" "$root/etc/udev/rules.d/99-strap-net.rules"
if [ ! -e "$root/etc/cloud/cloud.cfg" ]; then
    install -D -m 0644 "$here/cloud.cfg" "$root/etc/cloud/cloud.cfg"
fi
if [ -e "$root/usr/bin/cloud-init" ]; then
    : > "$root/etc/cloud/cloud-init.disabled"
fi
# Enabling is what `systemctl enable` does: a link in each target's .wants folder.
wants="$root/etc/systemd/system/multi-user.target.wants"
mkdir -p "$wants"
for unit in strap.service strap-final.service; do
    ln -sf "/etc/systemd/system/$unit" "$wants/$unit"
done
echo "strap installed under $root: enabled strap.service and strap-final.service, network hotplug on" >&2
