#!/bin/bash
# Build the test guest's initramfs: busybox-static, the static
# pvclock-guest and an /init that runs it.  Usage: mkinitramfs.sh OUT
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

out=${1:?usage: mkinitramfs.sh OUT.cpio.gz}
guest=$PVCLOCK_BUILD/host/pvclock-guest
busybox=/bin/busybox
[ -x "$guest" ] || die "$guest not built; run scripts/build.sh"
[ -x "$busybox" ] || die "busybox not found; install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

if [ -f "$out" ] && [ "$out" -nt "$guest" ] && [ "$out" -nt "$0" ] &&
   [ "$out" -nt "$PVCLOCK_BUILD/host/read-cost-static" ] &&
   [ "$out" -nt "$(dirname "$0")/init" ]; then
    exit 0
fi
stage "guest: building initramfs $out"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
cp "$guest" "$root/bin/pvclock-guest"
[ -x "$PVCLOCK_BUILD/host/read-cost-static" ] &&
    cp "$PVCLOCK_BUILD/host/read-cost-static" "$root/bin/read-cost"
cp "$(dirname "$0")/init" "$root/init"
chmod 755 "$root/init"
mkdir -p "$(dirname "$out")"
( cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --owner 0:0 ) |
    gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
