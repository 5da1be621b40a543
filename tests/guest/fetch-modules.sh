#!/bin/bash
# Print a directory holding the named modules of the 7.x test guest's
# kernel, uncompressed (busybox insmod reads no .ko.xz), downloading the
# kernel's linux-modules-<abi>-cloud-amd64 package into the cache (never
# installing it) the first time.  The modules are those of exactly the
# kernel tests/guest/fetch-kernel.sh 7 boots.
#
#   fetch-modules.sh MODULE...       e.g. fetch-modules.sh ptp_vmclock
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

[ $# -gt 0 ] || die "usage: fetch-modules.sh MODULE... (module names, as ptp_vmclock)"
kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" 7)
pkg=$(basename "$(dirname "$kernel")")             # linux-image-<abi>-cloud-amd64
mods=${pkg/linux-image-/linux-modules-}
dir=$PVCLOCK_CACHE/kernel/$pkg/modules
adir=$PVCLOCK_CACHE/apt-trixie
apt=(apt-get -o "Dir::Etc::SourceList=$adir/trixie.sources"
     -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$adir/lists"
     -o "Dir::Cache=$adir/cache" -o Dir::State::status=/dev/null)

if [ ! -d "$dir/tree" ]; then
    stage "guest kernel: downloading $mods"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && "${apt[@]}" download -qq "$mods" > /dev/null 2>&1 ) ||
        die "apt-get download $mods failed; check the network"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    dpkg-deb -x "$tmp/${mods}"_*.deb "$dir.tmp/tree" || die "cannot unpack $mods"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
fi
for m in "$@"; do
    [ -f "$dir/$m.ko" ] && continue
    src=$(find "$dir/tree" -name "$m.ko*" -type f | head -1)
    [ -n "$src" ] || die "$mods has no module $m"
    case "$src" in
    *.xz) xz -dc "$src" > "$dir/$m.ko.tmp" ;;
    *.zst) zstd -dqc "$src" > "$dir/$m.ko.tmp" ;;
    *) cp "$src" "$dir/$m.ko.tmp" ;;
    esac || die "cannot decompress $src"
    mv "$dir/$m.ko.tmp" "$dir/$m.ko"
done
echo "$dir"
