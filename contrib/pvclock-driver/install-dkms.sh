#!/bin/bash
# Install pvclock-pages.ko with DKMS, for the running kernel and every
# later one (run as root inside the guest, from a checkout):
#
#   contrib/pvclock-driver/install-dkms.sh
#
# Copies this directory and the ABI header to /usr/src/pvclock-pages-<v>/
# and runs dkms install.  On Secure Boot guests (lockdown) the kernel
# loads the module only if it is signed by a key it trusts: DKMS signs
# with /var/lib/dkms/mok.key, whose certificate must be enrolled once
# (mokutil --import /var/lib/dkms/mok.pub, then reboot and confirm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/dkms.conf")
dst=/usr/src/pvclock-pages-$ver
[ "$(id -u)" = 0 ] || { echo "error: run as root (it writes $dst and runs dkms)" >&2; exit 1; }
command -v dkms > /dev/null || { echo "error: dkms not found; apt-get install dkms linux-headers-\$(uname -r)" >&2; exit 1; }
rm -rf "$dst"
mkdir -p "$dst/abi"
cp "$here/pvclock-pages.c" "$here/compat.h" "$here/Kbuild" "$here/Makefile" "$here/dkms.conf" "$dst/"
cp "$here/../../include/pvclock-pages/pvclock-pages-abi.h" \
    "$here/../../include/pvclock-pages/pvclock-pages-calc.h" "$dst/abi/"
dkms remove -m pvclock-pages -v "$ver" --all > /dev/null 2>&1 || true
dkms install -m pvclock-pages -v "$ver"
modprobe pvclock-pages
