#!/bin/bash
# Print the directory of Debian's linuxptp package (phc2sys, phc_ctl),
# unpacked (not installed) into the cache, as fetch-chrony.sh does for
# chrony.  The real-KVM suite's VMClock TAI test runs them in a 7.x
# guest (tests/kvm/vmclock-tai.sh).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
ver=$(apt-cache policy linuxptp 2>/dev/null | awk '/Candidate:/ {print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] ||
    die "apt-cache knows no linuxptp package; run scripts/install-deps.sh (apt-get update) first"
dir=$PVCLOCK_CACHE/linuxptp/$ver
if [ ! -x "$dir/usr/sbin/phc2sys" ]; then
    stage "guest: downloading linuxptp $ver"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq linuxptp >/dev/null 2>&1 ) ||
        die "apt-get download linuxptp failed; check the network"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    dpkg-deb -x "$tmp"/linuxptp_*.deb "$dir.tmp" || die "cannot unpack linuxptp"
    mv "$dir.tmp" "$dir"
fi
echo "$dir"
