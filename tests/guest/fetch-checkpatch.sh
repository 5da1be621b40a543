#!/bin/bash
# Print the path of Linux 6.1's scripts/checkpatch.pl (with the
# spelling.txt and const_structs.checkpatch it reads), taken from
# Debian 12's linux-source-6.1 package into the cache the first time
# (downloaded and unpacked, never installed).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

dir=$PVCLOCK_CACHE/linux-checkpatch-6.1
if [ ! -r "$dir/scripts/checkpatch.pl" ]; then
    stage "checkpatch: downloading linux-source-6.1 (about 140 MB) for its scripts/checkpatch.pl"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq linux-source-6.1 >/dev/null 2>&1 ) ||
        die "apt-get download linux-source-6.1 failed; check the network"
    dpkg-deb --fsys-tarfile "$tmp"/linux-source-6.1_*.deb |
        tar -C "$tmp" -x --wildcards './usr/src/linux-source-6.1.tar.xz' ||
        die "cannot unpack linux-source-6.1"
    mkdir -p "$tmp/k"
    tar -C "$tmp/k" -xf "$tmp/usr/src/linux-source-6.1.tar.xz" \
        linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
        linux-source-6.1/scripts/const_structs.checkpatch ||
        die "no scripts/checkpatch.pl in linux-source-6.1"
    mkdir -p "$dir"
    rm -rf "$dir/scripts"
    mv "$tmp/k/linux-source-6.1/scripts" "$dir/scripts"
fi
echo "$dir/scripts/checkpatch.pl"
