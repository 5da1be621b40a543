#!/bin/bash
# Build everything: dependencies, the host programs and library (meson,
# build/host), and QEMU (the default pin in scripts/lib.sh, 10.2.2) with
# -device pvclock-pages and its qtest (build/qemu).  Idempotent; a second
# run with nothing changed is a few seconds.  Environment:
#   PVCLOCK_CACHE   cache outside the checkout (QEMU tarball, guest
#                   kernel), default /var/cache/pvclock-pages
#   PVCLOCK_BUILD   build directory, default <checkout>/build
#   PVCLOCK_QEMU_VERSION  another pinned QEMU (10.0.13), built into
#                   build/qemu-MAJOR.MINOR
#   PVCLOCK_NO_QEMU=1  build only the host programs
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$PVCLOCK_ROOT/scripts/install-deps.sh"

# ---- host programs: helper, library, guest program, unit tests --------
stage "host programs: meson build in $PVCLOCK_BUILD/host"
if [ ! -f "$PVCLOCK_BUILD/host/build.ninja" ]; then
    meson setup "$PVCLOCK_BUILD/host" "$PVCLOCK_ROOT" >/dev/null ||
        die "meson setup of the host programs failed"
fi
ninja -C "$PVCLOCK_BUILD/host" >/dev/null ||
    { ninja -C "$PVCLOCK_BUILD/host"; die "host programs failed to build"; }

[ "${PVCLOCK_NO_QEMU:-0}" = 1 ] && exit 0

# ---- QEMU source: pinned Debian tarball, checksum verified -------------
QSRC=$QEMU_DIR/src
QBLD=$QEMU_DIR/build
if [ ! -f "$QSRC/.pvclock-extracted" ] ||
   [ "$(cat "$QSRC/.pvclock-extracted")" != "$QEMU_SHA256" ]; then
    qemu_fetch
    stage "QEMU source: extracting $QEMU_TARBALL into $QSRC"
    rm -rf "$QSRC" "$QBLD"
    mkdir -p "$QSRC"
    tar -xf "$PVCLOCK_CACHE/src/$QEMU_TARBALL" -C "$QSRC" --strip-components=1 ||
        die "could not extract $QEMU_TARBALL"
    echo "$QEMU_SHA256" > "$QSRC/.pvclock-extracted"
fi

# ---- overlay: project files plus the hook lines ------------------------
stage "QEMU source: laying pvclock-pages into the tree"
overlay() {     # cmp-copy keeps mtimes of unchanged files: ninja stays idle
    local rel=$1 dst
    dst=$QSRC/$rel
    mkdir -p "$(dirname "$dst")"
    cmp -s "$PVCLOCK_ROOT/$rel" "$dst" || cp "$PVCLOCK_ROOT/$rel" "$dst"
}
( cd "$PVCLOCK_ROOT" &&
  git ls-files hw/pvclock include/hw/pvclock include/pvclock-pages tests/qtest 2>/dev/null ||
  find hw/pvclock include/hw/pvclock include/pvclock-pages tests/qtest -type f ) |
while read -r f; do overlay "$f"; done

pvclock_hooks "$QSRC"

qemu_blob_placeholders "$QSRC"

# ---- configure and build -----------------------------------------------
# virtio-9p: the real-KVM suite (tests/kvm/) shares this machine's root
# file system read-only with the TCG guest that runs KVM
qemu_build "$QSRC" "$QBLD" "$QEMU_DIR" "QEMU $QEMU_VERSION, KVM + TCG + virtio-9p, no default features" \
    --enable-attr --enable-virtfs
note "$QBLD/qemu-system-x86_64"
