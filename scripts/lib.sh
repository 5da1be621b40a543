# Shared shell helpers for the pvclock-pages scripts.  Source, don't run.
# shellcheck shell=bash

PVCLOCK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PVCLOCK_CACHE=${PVCLOCK_CACHE:-/var/cache/pvclock-pages}
PVCLOCK_BUILD=${PVCLOCK_BUILD:-$PVCLOCK_ROOT/build}

# QEMU pinned by the project: Debian's bookworm-backports source tarball.
QEMU_VERSION=10.0.2
QEMU_TARBALL=qemu_${QEMU_VERSION}+ds.orig.tar.xz
QEMU_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1

# Guest kernel: Debian 12's cloud kernel metapackage, resolved at fetch time.
GUEST_KERNEL_PKG=linux-image-cloud-amd64

stage() { printf '==> %s\n' "$*" >&2; }
note()  { printf '    %s\n' "$*" >&2; }
die()   { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (apt-get); run it as root or with sudo"
}
