#!/bin/bash
# Print the directory of Debian's chrony package, unpacked (not installed:
# installing it would start chronyd on this host) into the cache.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
ver=$(apt-cache policy chrony 2>/dev/null | awk '/Candidate:/ {print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] ||
    die "apt-cache knows no chrony package; run scripts/install-deps.sh (apt-get update) first"
dir=$PVCLOCK_CACHE/chrony/$ver
if [ ! -x "$dir/usr/sbin/chronyd" ]; then
    stage "guest: downloading chrony $ver"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq chrony >/dev/null 2>&1 ) ||
        die "apt-get download chrony failed; check the network"
    mkdir -p "$dir"
    dpkg-deb -x "$tmp"/chrony_*.deb "$dir" || die "cannot unpack chrony"
fi
echo "$dir"
