#!/bin/bash
# Build everything: dependencies, the host programs and library (meson,
# build/host), and QEMU 10.0.2 with -device pvclock-pages and its qtest
# (build/qemu).  Idempotent; a second run with nothing changed is a few
# seconds.  Environment:
#   PVCLOCK_CACHE   cache outside the checkout (QEMU tarball, guest
#                   kernel), default /var/cache/pvclock-pages
#   PVCLOCK_BUILD   build directory, default <checkout>/build
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
QSRC=$PVCLOCK_BUILD/qemu/src
QBLD=$PVCLOCK_BUILD/qemu/build
TARBALL=$PVCLOCK_CACHE/src/$QEMU_TARBALL

fetch_qemu() {
    stage "QEMU source: apt-get source --tar-only qemu/bookworm-backports"
    mkdir -p "$PVCLOCK_CACHE/src"
    ( cd "$PVCLOCK_CACHE/src" &&
      apt-get source -qq --tar-only qemu/bookworm-backports >/dev/null 2>&1 ) ||
        die "could not download the QEMU source with apt-get source; check that deb-src for bookworm-backports is in /etc/apt/sources.list.d/pvclock-pages.sources and the network is up"
    [ -f "$TARBALL" ] ||
        die "apt-get source did not produce $QEMU_TARBALL (bookworm-backports may have moved past QEMU $QEMU_VERSION); put the pinned tarball in $PVCLOCK_CACHE/src by hand"
}

verify_qemu() {
    local sum
    sum=$(sha256sum "$TARBALL" | cut -d' ' -f1)
    [ "$sum" = "$QEMU_SHA256" ]
}

if [ ! -f "$QSRC/.pvclock-extracted" ] ||
   [ "$(cat "$QSRC/.pvclock-extracted")" != "$QEMU_SHA256" ]; then
    [ -f "$TARBALL" ] || fetch_qemu
    stage "QEMU source: verifying sha256 of $QEMU_TARBALL"
    if ! verify_qemu; then
        note "checksum mismatch, downloading again"
        rm -f "$TARBALL"
        fetch_qemu
        verify_qemu || die "sha256 of $TARBALL is $(sha256sum "$TARBALL" | cut -d' ' -f1), expected $QEMU_SHA256; refusing to build from an unverified QEMU source"
    fi
    stage "QEMU source: extracting into $QSRC"
    rm -rf "$QSRC" "$QBLD"
    mkdir -p "$QSRC"
    tar -xf "$TARBALL" -C "$QSRC" --strip-components=1 ||
        die "could not extract $TARBALL"
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
  git ls-files hw/pvclock include/hw/pvclock tests/qtest 2>/dev/null ||
  find hw/pvclock include/hw/pvclock tests/qtest -type f ) |
while read -r f; do overlay "$f"; done

pvclock_hooks "$QSRC"

qemu_edk2_placeholders "$QSRC"

# ---- configure and build -----------------------------------------------
# virtio-9p: the real-KVM suite (tests/kvm/) shares this machine's root
# file system read-only with the TCG guest that runs KVM
qemu_build "$QSRC" "$QBLD" "$QBLD/.." "KVM + TCG + virtio-9p, no default features" \
    --enable-attr --enable-virtfs
note "$QBLD/qemu-system-x86_64"
