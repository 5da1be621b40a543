#!/bin/bash
# Build pvclock-pages.ko for trixie-backports' 7.x cloud kernel, whose
# headers want trixie's gcc-14, linux-kbuild and pahole (built against
# trixie's glibc): in a trixie chroot kept in the cache, never on the
# host.  Prints the module's path.
#
#   build-driver-trixie.sh OUTDIR
#
# The kernel is the one tests/guest/fetch-kernel.sh 7 boots; its
# linux-headers-<abi>-cloud-amd64, -common and linux-kbuild-<abi> are
# downloaded at exactly that version and unpacked into the chroot.  The
# chroot ($PVCLOCK_CACHE/trixie-root, made by debootstrap the first time,
# about 1.5 minutes and 300 MiB) is the only thing installed, and only
# there.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

out=${1:?usage: build-driver-trixie.sh OUTDIR}
root=$PVCLOCK_CACHE/trixie-root
pkgs=gcc-14,make,libc6-dev,libelf-dev,bc,flex,bison,libssl-dev,kmod,dwarves

kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" 7)
pkg=$(basename "$(dirname "$kernel")")             # linux-image-<abi>-cloud-amd64
abi=${pkg#linux-image-}
abi=${abi%-cloud-amd64}
adir=$PVCLOCK_CACHE/apt-trixie
apt=(apt-get -o "Dir::Etc::SourceList=$adir/trixie.sources"
     -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$adir/lists"
     -o "Dir::Cache=$adir/cache" -o Dir::State::status=/dev/null)

if [ ! -x "$root/usr/bin/gcc-14" ] || [ ! -x "$root/usr/bin/pahole" ]; then
    command -v debootstrap > /dev/null ||
        die "debootstrap is missing; run scripts/install-deps.sh"
    stage "driver: a trixie chroot for the 7.x module build in $root"
    rm -rf "$root.tmp"
    debootstrap --variant=minbase --include="$pkgs" trixie "$root.tmp" \
        "$(debian_mirror)" > "$PVCLOCK_CACHE/trixie-root.log" 2>&1 ||
        die "debootstrap of trixie failed (log: $PVCLOCK_CACHE/trixie-root.log); check the network"
    rm -rf "$root"
    mv "$root.tmp" "$root"
fi

kdir=/usr/src/linux-headers-$abi-cloud-amd64
if [ ! -f "$root$kdir/Makefile" ]; then
    stage "driver: linux-headers-$abi-cloud-amd64 into the chroot"
    debs=$(mktemp -d)
    trap 'rm -rf "$debs"' EXIT
    ( cd "$debs" && "${apt[@]}" download -qq "linux-headers-$abi-cloud-amd64" \
          "linux-headers-$abi-common" "linux-kbuild-$abi" > /dev/null 2>&1 ) ||
        die "apt-get download of the $abi headers failed; check the network"
    for d in "$debs"/*.deb; do
        dpkg-deb -x "$d" "$root" || die "cannot unpack $d"
    done
fi

stage "driver: pvclock-pages.ko against $abi (trixie chroot)"
rm -rf "$root/build"
mkdir -p "$root/build/abi" "$out"
cp "$PVCLOCK_ROOT"/contrib/pvclock-driver/{pvclock-pages.c,compat.h,Kbuild,Makefile} \
   "$root/build/"
cp "$PVCLOCK_ROOT/include/pvclock-pages/pvclock-pages-abi.h" \
    "$PVCLOCK_ROOT/include/pvclock-pages/pvclock-pages-calc.h" "$root/build/abi/"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"  # objtool reads it
rc=0
chroot "$root" make -C /build KDIR="$kdir" > "$out/build.log" 2>&1 || rc=$?
umount "$root/proc" 2>/dev/null || true
if [ $rc != 0 ]; then
    cat "$out/build.log" >&2
    die "the module did not build against $abi (log: $out/build.log)"
fi
grep 'warning:' "$out/build.log" | grep -v pahole >&2 || true
cp "$root/build/pvclock-pages.ko" "$out/"
echo "$out/pvclock-pages.ko"
