#!/bin/bash
# Build a second QEMU with AddressSanitizer + UBSan (build/qemu-asan) from
# the tree scripts/build.sh prepared, for the opt-in 'qemu-asan' test
# suite.  About 11 minutes on 2 cores cold, so not in the default suites.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$PVCLOCK_ROOT/scripts/build.sh"
QSRC=$PVCLOCK_BUILD/qemu/src
QBLD=$PVCLOCK_BUILD/qemu-asan
if [ ! -f "$QBLD/build.ninja" ]; then
    stage "QEMU (ASan + UBSan): configure"
    cc=()
    command -v ccache > /dev/null && cc=(--cc="ccache gcc" --cxx="ccache g++")
    mkdir -p "$QBLD"
    ( cd "$QBLD" && "$QSRC/configure" --python=/usr/bin/python3 \
        --target-list=x86_64-softmmu --without-default-features \
        --enable-kvm --enable-tcg --disable-docs --disable-install-blobs \
        --disable-download --disable-werror --enable-asan --enable-ubsan \
        "${cc[@]}" ) > "$PVCLOCK_BUILD/qemu-asan-configure.log" 2>&1 ||
        die "configure failed (log: $PVCLOCK_BUILD/qemu-asan-configure.log)"
fi
stage "QEMU (ASan + UBSan): building qemu-system-x86_64 and the qtest"
export CCACHE_DIR=${CCACHE_DIR:-$PVCLOCK_CACHE/ccache}
ninja -C "$QBLD" qemu-system-x86_64 tests/qtest/pvclock-pages-test \
    > "$PVCLOCK_BUILD/qemu-asan-ninja.log" 2>&1 ||
    die "build failed (log: $PVCLOCK_BUILD/qemu-asan-ninja.log)"
bundle=$QBLD/qemu-bundle/usr/local/share/qemu
mkdir -p "$bundle"
for f in /usr/share/seabios/*.bin /usr/share/qemu/*.bin; do
    [ -e "$bundle/${f##*/}" ] || ln -s "$f" "$bundle/${f##*/}"
done
