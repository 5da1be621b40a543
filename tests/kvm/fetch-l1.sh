#!/bin/bash
# Print a directory holding the kernel of the real-KVM suite's outer
# guest (L1) and the modules it loads, downloading Debian 12's non-cloud
# kernel (linux-image-amd64's current linux-image-6.1.0-*-amd64; the
# cloud flavour has no kvm.ko) into the cache the first time, never
# installing it.  The directory holds vmlinuz, the modules uncompressed
# and modules.order, one module name a line, dependencies first (busybox
# insmod loads them in that order).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

# KVM on AMD (SVM: TCG emulates it, nested paging included), the 9p file
# system over virtio that carries this machine's root into L1, overlayfs
# to make that root writable in L1's memory
WANT="kvm-amd 9p 9pnet_virtio virtio_pci overlay"

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "apt-cache knows no linux-image-amd64; run scripts/install-deps.sh (apt-get update) first"
dir=$PVCLOCK_CACHE/kernel/$pkg
if [ ! -f "$dir/modules.order" ]; then
    stage "L1 kernel: downloading $pkg"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -qq "$pkg" > /dev/null 2>&1 ) ||
        die "apt-get download $pkg failed; check the network and apt sources"
    dpkg-deb -x "$tmp/${pkg}"_*.deb "$tmp/x" || die "cannot unpack $pkg"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    cp "$tmp"/x/boot/vmlinuz-* "$dir.tmp/vmlinuz"
    # resolve each wanted module's dependencies from its .modinfo section
    declare -A seen=()
    order=()
    add() {
        local name=$1 f dep
        [ -n "${seen[$name]:-}" ] && return
        seen[$name]=1
        f=$(find "$tmp/x/lib/modules" -name "$name.ko*" -type f | head -1)
        [ -n "$f" ] || die "$pkg has no module $name"
        case "$f" in
        *.xz) xz -dc "$f" > "$dir.tmp/$name.ko" ;;
        *) cp "$f" "$dir.tmp/$name.ko" ;;
        esac
        for dep in $(strings -a "$dir.tmp/$name.ko" |
                     sed -n 's/^depends=//p' | tr , ' '); do
            add "$dep"
        done
        order+=("$name")
    }
    for m in $WANT; do add "$m"; done
    printf '%s\n' "${order[@]}" > "$dir.tmp/modules.order"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
fi
echo "$dir"
