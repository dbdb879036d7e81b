#!/usr/bin/env bash
# Build (once) the Debian 12 images the VM suite boots, from Debian's package registry.
#
#   tests/vm/image.sh [FLAVOUR...]     # base (strap is added per run), cloud-init, container
#
# Prints the cache folder. Images are cached outside the clone, under
# ${STRAP_VM_CACHE:-/var/cache/strap-vm}/<hash of this script>/, so a second run reuses
# them; delete the folder to rebuild. Each flavour is `<flavour>.ext4` (the root file
# system, booted as /dev/vda), `<flavour>.vmlinuz` and `<flavour>.initrd` (direct kernel
# boot) and `<flavour>.hostkey.pub` (the host key baked into the image, which no booted
# instance may present). Needs root, mmdebstrap and e2fsprogs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$here/image.sh" | cut -c1-16)
cache="${STRAP_VM_CACHE:-/var/cache/strap-vm}/$hash"
mirror="${STRAP_VM_MIRROR:-http://deb.debian.org/debian}"
flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(base)
mkdir -p "$cache"

# What both flavours hold: a kernel for a cloud, systemd with networkd (DHCP on every
# Ethernet interface: strap configures no network yet), ssh, sudo, curl. The package
# lists and jq's packages stay in the image, so user data can install a package with no
# network beyond the metadata service. fdisk brings sfdisk, which disk_setup partitions
# with.
packages=linux-image-cloud-amd64,e2fsprogs,fdisk,systemd,systemd-sysv,udev,dbus,openssh-server,sudo,curl,iproute2,ca-certificates,passwd,procps,less

build() {
  local flavour=$1 extra=$2
  local out="$cache/$flavour"
  [ -f "$out.ext4" ] && return 0
  local tree
  tree=$(mktemp -d "$cache/.tree-$flavour.XXXXXX")
  echo "building the $flavour image in $tree (a few minutes)" >&2
  mmdebstrap --variant=apt --include="$packages$extra" \
    --customize-hook='echo strap-vm > "$1/etc/hostname"' \
    --customize-hook='printf "[Match]\nType=ether\n\n[Network]\nDHCP=yes\n" > "$1/etc/systemd/network/50-dhcp.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
    --customize-hook='printf "/dev/vda / ext4 defaults 0 1\n" > "$1/etc/fstab"' \
    --customize-hook='rm -f "$1/etc/machine-id"; touch "$1/etc/machine-id"' \
    --customize-hook='chroot "$1" apt-get install -y -qq --download-only jq' \
    --skip=cleanup/apt/lists --skip=cleanup/apt/cache \
    bookworm "$tree" "$mirror" >&2
  cp "$tree"/boot/vmlinuz-* "$out.vmlinuz.tmp" && mv "$out.vmlinuz.tmp" "$out.vmlinuz"
  cp "$tree"/boot/initrd.img-* "$out.initrd.tmp" && mv "$out.initrd.tmp" "$out.initrd"
  cp "$tree"/etc/ssh/ssh_host_ed25519_key.pub "$out.hostkey.pub"
  rm -f "$out.ext4.tmp"
  truncate -s 3G "$out.ext4.tmp"
  mkfs.ext4 -q -L root -d "$tree" "$out.ext4.tmp"
  mv "$out.ext4.tmp" "$out.ext4"
  rm -rf "$tree"
}

# The container flavour: a minimal Debian root as a tarball for `podman import` (no
# kernel, no init: strap is the entrypoint).
build_container() {
  local out="$cache/container.tar"
  [ -f "$out" ] && return 0
  echo "building the container image (a minute)" >&2
  mmdebstrap --variant=minbase --include=passwd,procps bookworm "$out.tmp.tar" "$mirror" >&2
  mv "$out.tmp.tar" "$out"
}

for f in "${flavours[@]}"; do
  case "$f" in
    base) build base "" ;;
    cloud-init) build cloud-init ",cloud-init,isc-dhcp-client" ;;
    container) build_container ;;
    *) echo "unknown flavour $f (base, cloud-init, container)" >&2; exit 2 ;;
  esac
done
echo "$cache"
