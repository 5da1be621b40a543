#!/bin/bash
# Build pvclock-pages.ko against one kernel's build tree, out of the
# source tree:
#
#   build-for.sh KDIR OUTDIR
#
# KDIR is a kernel build directory (/lib/modules/<release>/build, or
# unpacked linux-headers packages, see tests/guest/fetch-headers.sh).
# The sources and the ABI header are copied to OUTDIR, which gets
# OUTDIR/pvclock-pages.ko.  Debian 12's 6.1 kernels want gcc-12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kdir=${1:?usage: build-for.sh KDIR OUTDIR}
out=${2:?usage: build-for.sh KDIR OUTDIR}
abi=$here/../../include/pvclock-pages/pvclock-pages-abi.h
[ -f "$kdir/Makefile" ] || { echo "error: $kdir is not a kernel build directory" >&2; exit 1; }

mkdir -p "$out/abi"
cp "$here/pvclock-pages.c" "$here/compat.h" "$here/Kbuild" "$here/Makefile" "$out/"
cp "$abi" "${abi%-abi.h}-calc.h" "$out/abi/"
echo "==> pvclock-pages.ko against $kdir" >&2
if ! make -C "$out" KDIR="$kdir" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    echo "error: the module did not build (log above, $out/build.log)" >&2
    exit 1
fi
if grep -q 'warning:' "$out/build.log"; then
    grep 'warning:' "$out/build.log" >&2
fi
echo "$out/pvclock-pages.ko"
