#!/bin/bash
# Print the kernel build directory (KDIR) of the 6.1 test guest's kernel,
# downloading its headers into the cache (never installing them) the
# first time: linux-headers-<abi>-cloud-amd64, linux-headers-<abi>-common
# and linux-kbuild-6.1 of exactly the version of the kernel package that
# tests/guest/fetch-kernel.sh boots, unpacked with dpkg-deb -x into
# $PVCLOCK_CACHE/kernel/<kernel package>/headers/.
#
#   fetch-headers.sh [6.1]
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

family=${1:-6.1}
[ "$family" = 6.1 ] || die "fetch-headers.sh: only the 6.1 family is wired up, not '$family'"
[ -z "${PVCLOCK_GUEST_KERNEL:-}" ] ||
    die "PVCLOCK_GUEST_KERNEL is set: give that kernel's headers as PVCLOCK_GUEST_KDIR instead"

kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" "$family")
pkg=$(basename "$(dirname "$kernel")")             # linux-image-<abi>-cloud-amd64
abi=${pkg#linux-image-}; abi=${abi%-cloud-amd64}   # 6.1.0-57
root=$PVCLOCK_CACHE/kernel/$pkg/headers
kdir=$root/usr/src/linux-headers-$abi-cloud-amd64
if [ ! -f "$kdir/.pvclock-ready" ]; then
    ver=$(apt-cache show "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
    [ -n "$ver" ] || die "apt-cache knows no $pkg; run scripts/install-deps.sh (apt-get update) first"
    stage "guest kernel headers: downloading linux-headers-$abi-cloud-amd64 $ver"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # linux-kbuild-6.1 at the same version as the image, not just the newest
    ( cd "$tmp" && apt-get download -qq "linux-headers-$abi-cloud-amd64=$ver" \
        "linux-headers-$abi-common=$ver" "linux-kbuild-${abi%%.0-*}=$ver" \
        >/dev/null 2>&1 ) ||
        die "apt-get download of the headers of $pkg $ver failed; check the network"
    rm -rf "$root"
    mkdir -p "$root"
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$root" || die "cannot unpack $deb"
    done
    # the only absolute path: the arch Makefile includes the common one
    sed -i "s|^include /usr/src/|include $root/usr/src/|" "$kdir/Makefile"
    grep -q "^include $root/" "$kdir/Makefile" ||
        die "unexpected $kdir/Makefile: $(head -1 "$kdir/Makefile")"
    touch "$kdir/.pvclock-ready"
fi
echo "$kdir"
