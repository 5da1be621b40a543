#!/bin/bash
# Print the path of a SeaBIOS >= 1.16.3 bios-256k.bin, downloading
# Debian's bookworm-backports package into the cache (never installing
# it) the first time.  Bookworm's own SeaBIOS (1.16.2) places every
# 64-bit BAR in the 32-bit PCI hole unless the hole is full, and its
# MTRRs make the hole uncached; 1.16.3 moves 64-bit BARs above 4 GiB when
# the guest has RAM there (docs/driver.md, "Memory type").
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

dir=$PVCLOCK_CACHE/seabios
bios=$dir/bios-256k.bin
if [ ! -r "$bios" ]; then
    ver=$(apt-cache madison seabios 2>/dev/null |
          awk -F' *[|] *' '$2 ~ /^1\.(1[7-9]|16\.[3-9])/ {print $2; exit}')
    [ -n "$ver" ] ||
        die "no SeaBIOS >= 1.16.3 known to apt; enable bookworm-backports and apt-get update"
    stage "guest firmware: downloading seabios $ver"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq "seabios=$ver" >/dev/null 2>&1 ) ||
        die "apt-get download seabios=$ver failed; check the network"
    dpkg-deb -x "$tmp"/seabios_*.deb "$tmp/x" || die "cannot unpack seabios $ver"
    mkdir -p "$dir"
    cp "$tmp/x/usr/share/seabios/bios-256k.bin" "$bios.tmp"
    echo "$ver" > "$dir/version"
    mv "$bios.tmp" "$bios"
fi
echo "$bios"
