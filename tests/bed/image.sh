#!/usr/bin/env bash
# Builds a systemd-capable Debian base image without any registry: debootstrap from this
# machine's Debian mirror, then `docker import`. The tag carries a hash of the recipe, so an
# image is rebuilt only when this script or its package list changes.
#   image.sh [debian12|debian13] [amd64|arm64]   prints the image reference on stdout
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

release="${1:-debian12}"
arch="${2:-amd64}"
case "$release" in
  debian12) suite=bookworm ;;
  debian13) suite=trixie ;;
  *) die "unknown release '$release' (debian12 or debian13)" ;;
esac
case "$arch" in amd64|arm64) ;; *) die "unknown architecture '$arch' (amd64 or arm64)" ;; esac

here="$(dirname "${BASH_SOURCE[0]}")"
recipe_hash=$(cat "$here/image.sh" "$here/images/debian.packages" | sha256sum | cut -c1-12)
image="inferno/${release}-systemd:${arch}-${recipe_hash}"

docker_ok || die "no Docker engine answers; run: bash tests/bed/setup.sh docker"
if docker image inspect "$image" >/dev/null 2>&1; then
  say "image $image is up to date"
  echo "$image"
  exit 0
fi

is_root || die "building $image needs root (debootstrap); run as root or with sudo"
command -v debootstrap >/dev/null || die "debootstrap is missing; install it: apt-get install debootstrap"
mirror=$(debian_mirror)

if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  command -v qemu-aarch64-static >/dev/null || apt_ensure qemu-user-static binfmt-support
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
    || die "binfmt for arm64 is not registered; run: update-binfmts --enable qemu-aarch64"
fi

# Outside the checkout: a half-built rootfs may hold mounts (debootstrap mounts /proc in it), and
# nothing that copies the checkout should ever walk into them.
work="${TMPDIR:-/var/tmp}/inferno-image-$release-$arch"
debs="$CACHE_DIR/debootstrap/$release-$arch"
cleanup() {
  local m
  for m in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$work"
}
cleanup
mkdir -p "$work" "$debs"
trap cleanup EXIT

packages=$(grep -vE '^\s*(#|$)' "$here/images/debian.packages" | paste -sd, -)
say "debootstrap $suite/$arch from $mirror (a few minutes; debs cached in $debs)"
debootstrap --arch="$arch" --variant=minbase --include="$packages" --cache-dir="$debs" \
  "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (see above)"; }

root="$work/rootfs"
# The same sources a Debian cloud image has, in deb822 form, so roles meet a realistic host.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# Downloaded packages stay in /var/cache/apt/archives, which the tests mount from a host cache.
cat > "$root/etc/apt/apt.conf.d/90inferno-testbed" <<'APT'
APT::Keep-Downloaded-Packages "true";
Acquire::Languages "none";
APT::Install-Recommends "false";
APT
# Units that cannot work in a container and only slow boot or fail the system state.
for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udevd-kernel.socket \
  systemd-udevd-control.socket systemd-modules-load.service sys-kernel-config.mount \
  systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: > "$root/etc/machine-id"
# Each container gets its own SSH host keys at first boot, not the ones debootstrap made.
rm -f "$root"/etc/ssh/ssh_host_*_key*
cat > "$root/etc/systemd/system/inferno-ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate missing SSH host keys
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/inferno-ssh-hostkeys.service "$root/etc/systemd/system/multi-user.target.wants/inferno-ssh-hostkeys.service"
echo "$release" > "$root/etc/hostname"
# Package lists for every source, so a scenario's first apt task needs no update.
chroot "$root" apt-get update -qq >"$work/apt-update.log" 2>&1 \
  || { tail -n 20 "$work/apt-update.log" >&2; die "apt-get update in the new image failed"; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin

say "importing $image"
tar -C "$root" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/sbin/init"]' \
  --platform "linux/$arch" - "$image" >/dev/null
docker tag "$image" "inferno/${release}-systemd:${arch}"
# Images of older recipes only take disk space; containers still using one keep it alive.
docker images --format '{{.Repository}}:{{.Tag}}' "inferno/${release}-systemd" \
  | grep -E ":${arch}-[0-9a-f]{12}$" | grep -vF "$image" | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$image"
