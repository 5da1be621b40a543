#!/bin/bash
# Build the test guest's initramfs: busybox-static, the static
# pvclock-guest, its test build pvclock-guest-test (the BAR hammer and
# the shared-memory exchange, tests/guest/tools/) and an /init that runs
# them.  Usage: mkinitramfs.sh OUT [chrony | driver DIR]
# With "chrony", Debian's chronyd and chronyc and the libraries they need
# are added (tests/guest/fetch-chrony.sh).  With "driver DIR", those,
# DIR's pvclock-pages.ko and driver-check and tests/guest/driver-guest.sh
# (tests/guest/test-driver.sh builds them), and DIR's ptp_vmclock.ko,
# vmclock-check, phc2sys and phc_ctl where it has them.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

out=${1:?usage: mkinitramfs.sh OUT.cpio.gz [chrony]}
with_chrony=${2:-}
driver_dir=${3:-}
guest=$PVCLOCK_BUILD/host/pvclock-guest
guest_test=$PVCLOCK_BUILD/host/pvclock-guest-test
busybox=/bin/busybox
[ -x "$guest" ] || die "$guest not built; run scripts/build.sh"
[ -x "$guest_test" ] || die "$guest_test not built; run scripts/build.sh"
[ -x "$busybox" ] || die "busybox not found; install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

if [ -f "$out" ] && [ "$out" -nt "$guest" ] && [ "$out" -nt "$0" ] &&
   [ "$out" -nt "$guest_test" ] &&
   [ "$out" -nt "$PVCLOCK_BUILD/host/read-cost-static" ] &&
   [ "$out" -nt "$PVCLOCK_BUILD/host/pvclock-helper-static" ] &&
   [ "$out" -nt "$(dirname "$0")/init" ] && [ "$with_chrony" != driver ]; then
    exit 0
fi
stage "guest: building initramfs $out"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# copy_libs BINARY...: the shared libraries they need, into the image (the
# same Debian release on both sides: the host's libraries fit)
copy_libs() {
    local lib
    for lib in $(ldd "$@" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
chmod 755 "$root"     # mktemp made it 0700: no other user could reach /dev
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
cp "$guest" "$root/bin/pvclock-guest"
cp "$guest_test" "$root/bin/pvclock-guest-test"
[ -x "$PVCLOCK_BUILD/host/read-cost-static" ] &&
    cp "$PVCLOCK_BUILD/host/read-cost-static" "$root/bin/read-cost"
[ -x "$PVCLOCK_BUILD/host/pvclock-helper-static" ] &&
    cp "$PVCLOCK_BUILD/host/pvclock-helper-static" "$root/bin/pvclock-helper"
cp "$(dirname "$0")/init" "$root/init"
chmod 755 "$root/init"
if [ "$with_chrony" = chrony ] || [ "$with_chrony" = driver ]; then
    chrony=$("$PVCLOCK_ROOT/tests/guest/fetch-chrony.sh")
    mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/etc" "$root/var/lib/chrony" \
             "$root/run/chrony" "$root/lib64"
    cp "$chrony/usr/sbin/chronyd" "$root/usr/sbin/"
    cp "$chrony/usr/bin/chronyc" "$root/usr/bin/"
    copy_libs "$chrony/usr/sbin/chronyd" "$chrony/usr/bin/chronyc"
    printf 'root:x:0:0:root:/:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    # chronyd's leapsectz right/UTC (TAI - UTC for refclock ... tai):
    # Debian 12's tzdata has no leap-second zones, so compile one from
    # its leapseconds table
    mkdir -p "$root/usr/share/zoneinfo/right"
    printf 'Zone\tUTC\t0\t-\tUTC\n' > "$root/utc.zi"
    zic -d "$root/usr/share/zoneinfo/right" -L /usr/share/zoneinfo/leapseconds \
        "$root/utc.zi" 2> /dev/null ||
        echo "mkinitramfs: no right/UTC (zic failed); chronyd's tai option will not work" >&2
    rm -f "$root/utc.zi"
fi
if [ "$with_chrony" = driver ]; then
    cp "$driver_dir/pvclock-pages.ko" "$root/pvclock-pages.ko"
    cp "$driver_dir/driver-check" "$root/bin/driver-check"
    # the 7.x kernel's ptp_vmclock and its checker, where DIR has them
    [ -f "$driver_dir/ptp_vmclock.ko" ] && cp "$driver_dir/ptp_vmclock.ko" "$root/"
    [ -x "$driver_dir/vmclock-check" ] && cp "$driver_dir/vmclock-check" "$root/bin/"
    # linuxptp's phc2sys and phc_ctl, where DIR has them (the VMClock TAI
    # test, tests/kvm/vmclock-tai.sh)
    for p in phc2sys phc_ctl; do
        if [ -x "$driver_dir/$p" ]; then
            cp "$driver_dir/$p" "$root/usr/sbin/"
            copy_libs "$driver_dir/$p"
        fi
    done
    cp "$(dirname "$0")/driver-guest.sh" "$root/driver-guest.sh"
fi
mkdir -p "$(dirname "$out")"
( cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --owner 0:0 ) |
    gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
