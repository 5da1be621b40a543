#!/bin/bash
# Print the path of a Debian cloud kernel for the test guests, downloading
# it into the cache (never installing it) the first time.
#
#   fetch-kernel.sh [FAMILY]
#     6.1   Debian 12's cloud kernel (default): the 5.4-6.9 vDSO layout
#     6.12  Debian 13's cloud kernel: the 6.10-6.14 layout
#     7     trixie-backports' 7.x cloud kernel: the 6.15+ data store
#
# Debian 13's packages come through a private apt configuration in the
# cache ($PVCLOCK_CACHE/apt-trixie), so the host's own sources and
# package state stay as they are.  Each family resolves Debian's
# linux-image-cloud-amd64 metapackage of its suite, so the newest build
# of that kernel line is used.  PVCLOCK_GUEST_KERNEL overrides the 6.1
# kernel with a vmlinuz of your choice.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

family=${1:-6.1}
dir=$PVCLOCK_CACHE/kernel

case "$family" in
6.1)
    if [ -n "${PVCLOCK_GUEST_KERNEL:-}" ]; then
        [ -r "$PVCLOCK_GUEST_KERNEL" ] || die "PVCLOCK_GUEST_KERNEL=$PVCLOCK_GUEST_KERNEL is not readable"
        echo "$PVCLOCK_GUEST_KERNEL"
        exit 0
    fi
    apt=(apt-get) cache=(apt-cache) meta=$GUEST_KERNEL_PKG ;;
6.12|7)
    adir=$PVCLOCK_CACHE/apt-trixie
    opts=(-o "Dir::Etc::SourceList=$adir/trixie.sources"
          -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$adir/lists" -o "Dir::Cache=$adir/cache"
          -o Dir::State::status=/dev/null)
    apt=(apt-get "${opts[@]}") cache=(apt-cache "${opts[@]}")
    if [ ! -f "$adir/trixie.sources" ] ||
       [ -z "$(find "$adir/lists" -name '*trixie-backports*Packages*' -mtime -7 2>/dev/null)" ]; then
        stage "guest kernel: apt lists of Debian 13 (trixie, trixie-backports) in $adir"
        mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial"
        mirror=$(debian_mirror)
        cat > "$adir/trixie.sources" <<SRC
Types: deb
URIs: $mirror
Suites: trixie trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        "${apt[@]}" -qq update >/dev/null 2>&1 ||
            die "apt-get update of Debian 13's lists failed; check the network ($mirror, this machine's Debian mirror)"
    fi
    if [ "$family" = 6.12 ]; then
        meta=linux-image-cloud-amd64/trixie
    else
        meta=linux-image-cloud-amd64/trixie-backports
    fi ;;
*) die "fetch-kernel.sh: unknown kernel family '$family' (6.1, 6.12 or 7)" ;;
esac

# The metapackage names the current kernel package (linux-image-<abi>-cloud-amd64).
pkg=$("${cache[@]}" depends "$meta" 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "apt-cache knows no $meta; run scripts/install-deps.sh (apt-get update) first"
kernel=$dir/$pkg/vmlinuz
if [ ! -r "$kernel" ]; then
    # 7.x splits the image: vmlinuz is in linux-binary-<abi>-cloud-amd64
    bin=${pkg/linux-image-/linux-binary-}
    "${cache[@]}" show "$bin" >/dev/null 2>&1 || bin=$pkg
    stage "guest kernel: downloading $bin"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && "${apt[@]}" download -qq "$bin" >/dev/null 2>&1 ) ||
        die "apt-get download $bin failed; check the network"
    dpkg-deb -x "$tmp"/"$bin"_*.deb "$tmp/x" || die "cannot unpack $bin"
    # boot/vmlinuz-<abi> up to 6.x, usr/lib/modules/<abi>/vmlinuz in 7.x
    img=$(find "$tmp/x/boot" "$tmp/x/usr/lib/modules" -name 'vmlinuz*' -type f 2>/dev/null | head -1 || true)
    [ -n "$img" ] || die "no vmlinuz in $bin"
    mkdir -p "$dir/$pkg"
    cp "$img" "$kernel.tmp"
    mv "$kernel.tmp" "$kernel"
fi
echo "$kernel"
