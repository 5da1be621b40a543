#!/bin/bash
# Print the path of a Debian 12 cloud kernel for the test guests,
# downloading it into the cache (not installing it) the first time.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

dir=$PVCLOCK_CACHE/kernel
if [ -n "${PVCLOCK_GUEST_KERNEL:-}" ]; then
    [ -r "$PVCLOCK_GUEST_KERNEL" ] || die "PVCLOCK_GUEST_KERNEL=$PVCLOCK_GUEST_KERNEL is not readable"
    echo "$PVCLOCK_GUEST_KERNEL"
    exit 0
fi
# The metapackage names the current kernel package (linux-image-<abi>-cloud-amd64).
pkg=$(apt-cache depends "$GUEST_KERNEL_PKG" 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "apt-cache knows no $GUEST_KERNEL_PKG; run scripts/install-deps.sh (apt-get update) first"
kernel=$dir/$pkg/vmlinuz
if [ ! -r "$kernel" ]; then
    stage "guest kernel: downloading $pkg"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1 ) ||
        die "apt-get download $pkg failed; check the network"
    dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x" || die "cannot unpack $pkg"
    mkdir -p "$dir/$pkg"
    cp "$tmp"/x/boot/vmlinuz-* "$kernel.tmp" && mv "$kernel.tmp" "$kernel"
fi
echo "$kernel"
