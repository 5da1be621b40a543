#!/bin/bash
# Write pvclock-pages as a git format-patch series against the pinned QEMU
# (the tarball scripts/build.sh verifies; QEMU_VERSION in scripts/lib.sh),
# with a cover letter that explains the design and the ABI:
#
#   0001 the ABI headers (include/pvclock-pages/) and their interop
#        document
#   0002 the device: hw/pvclock/, its Kconfig and meson hook lines, the
#        acpi-build hook lines (vmclock=on's notification), the device
#        document
#   0003 the qtest and its meson line
#
# each with its lines of the MAINTAINERS entry (the first makes it).
#
#   scripts/make-patches.sh [OUTDIR]        (default build/patches)
#
# The base is a git repository of the QEMU files the series changes, taken
# from the tarball (git am only needs those); tests/patches/test-patches.sh
# applies the series to a whole clean tree, builds it and runs QEMU's
# checkpatch.pl over it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:-$PVCLOCK_BUILD/patches}
work=$PVCLOCK_BUILD/patches-base
TARBALL=$PVCLOCK_CACHE/src/$QEMU_TARBALL
qemu_fetch      # the pinned tarball, its sha256 checked

# QEMU's files the series changes (the hook lines, the indexes)
touched=(MAINTAINERS meson.build hw/meson.build hw/Kconfig
         hw/i386/acpi-build.c tests/qtest/meson.build
         docs/system/device-emulation.rst docs/interop/index.rst)

stage "patches: base repository of QEMU $QEMU_VERSION's touched files"
rm -rf "$work"
mkdir -p "$work"
tar -xf "$TARBALL" -C "$work" --strip-components=1 \
    "${touched[@]/#/qemu-$QEMU_VERSION/}" ||
    die "$QEMU_TARBALL has no qemu-$QEMU_VERSION/{${touched[*]}}"
git -C "$work" init -q
git -C "$work" config user.name "pvclock-pages developers"
git -C "$work" config user.email "pvclock-pages@lists.example.org"
git -C "$work" add -A
git -C "$work" commit -q -m "QEMU $QEMU_VERSION (from $QEMU_TARBALL)"
base=$(git -C "$work" rev-parse HEAD)

sob="Signed-off-by: pvclock-pages developers <pvclock-pages@lists.example.org>"
copy() {        # copy PATH...: project files into the base tree
    local f
    for f in "$@"; do
        mkdir -p "$work/$(dirname "$f")"
        cp "$PVCLOCK_ROOT/$f" "$work/$f"
        git -C "$work" add "$f"
    done
}
commit() {      # commit SUBJECT BODY
    git -C "$work" add -A
    git -C "$work" commit -q -m "$1" -m "$2" -m "$sob"
}
project_files() {
    git -C "$PVCLOCK_ROOT" ls-files "$@"
}

QSRC=$work
maintain() {    # maintain F-LINE...: the MAINTAINERS entry, made or grown
    local f
    pvclock_hook MAINTAINERS "pvclock-pages developers <" \
        '{print} /^F: docs\/system\/devices\/ivshmem-flat.rst$/ {
            print ""; print "pvclock-pages";
            print "M: pvclock-pages developers <pvclock-pages@lists.example.org>";
            print "S: Maintained" }'
    for f in "$@"; do
        pvclock_hook MAINTAINERS "F: $f" \
            "/^pvclock-pages\$/ {ours = 1} ours && /^\$/ {print \"F: $f\"; ours = 0} {print}"
    done
}

# 1: the ABI.  The project's headers are dual-licensed so that programs
# outside QEMU can copy them; QEMU takes them under GPL-2.0-or-later.
copy include/pvclock-pages/pvclock-pages-abi.h \
     include/pvclock-pages/pvclock-pages-calc.h \
     include/pvclock-pages/pvclock-pages-cpu.h \
     include/pvclock-pages/pvclock-handoff.h docs/interop/pvclock-pages.rst
sed -i '1s|^/\* SPDX-License-Identifier: .* \*/$|/* SPDX-License-Identifier: GPL-2.0-or-later */|' \
    "$work/include/pvclock-pages/pvclock-pages-abi.h" \
    "$work/include/pvclock-pages/pvclock-pages-calc.h" \
    "$work/include/pvclock-pages/pvclock-pages-cpu.h" \
    "$work/include/pvclock-pages/pvclock-handoff.h"
pvclock_hook docs/interop/index.rst "   pvclock-pages" \
    '{print} /^   pr-helper$/ {print "   pvclock-pages"}'
maintain include/pvclock-pages/ docs/interop/pvclock-pages.rst
commit "include/pvclock-pages: pvclock-pages ABI" \
"The binary interface between the host helper that publishes the host
kernel's timekeeping data (four 4 KiB host pages), the device that adds
a per-guest offset page, and guest readers: layouts, the seqcount
protocol, the check words, the handoff of the pages memfd over a unix
socket (both ends), the one place the clock arithmetic lives, and the seqcount
barriers and ordered counter read every reader and writer shares;
docs/interop/pvclock-pages.rst describes them.  They are not QEMU's
internals (the helper, the guest library and guest programs include the
same files, installed as <pvclock-pages/...>), hence a directory of
their own rather than include/hw/.

Outside QEMU the project ships these headers as
(GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause, so that
readers in any program can include them; the copies here are offered
under GPL-2.0-or-later alone, QEMU's preferred licence."

# 2: the device
mapfile -t dev < <(project_files hw/pvclock include/hw/pvclock \
                   include/pvclock-pages/pvclock-vvar.h)
copy "${dev[@]}" docs/system/devices/pvclock-pages.rst
pvclock_hooks "$work"
# the qtest's meson line belongs to the next patch
git -C "$work" checkout -q -- tests/qtest/meson.build
pvclock_hook docs/system/device-emulation.rst "devices/pvclock-pages.rst" \
    '{print} /^   devices\/ivshmem-flat.rst$/ {print "   devices/pvclock-pages.rst"}'
maintain hw/pvclock/ include/hw/pvclock/ docs/system/devices/pvclock-pages.rst
commit "hw/pvclock: add the pvclock-pages device" \
"-device pvclock-pages maps the host helper's pages (a memory backend:
memdev=, or one that pages= makes from pvclock-helper's socket, whose
sealed memfd cannot be truncated, or from a file) read-only into a 32 KiB
BAR next to a device-owned offset page.  The offset page relates the
guest TSC to the host's as the accelerator applies it (KVM's offset and
scaling rules, TCG's tick offset), read on events only (VM start, reset,
hot-plug), never periodically; its vmstate samples the guest's clocks at
the stop and applies them at the start, so that a migration across hosts
of different TSC rates, also to a destination kept paused, steps no
clock.  docs/system/devices/pvclock-pages.rst has the details.

include/pvclock-pages/pvclock-vvar.h finds and checks the host
kernel's vDSO data for the live page; it is header-only and includes no
QEMU header, because pvclock-helper reads the kernel's data with the
same code.

include/hw/pvclock/pvclock-compat.h holds what differs from QEMU 10.0
(Debian 13's, which the project also builds against), keyed on
QEMU_VERSION_MAJOR/MINOR; for this tree it is the 10.1+ definitions."

# 3: the qtest
# shellcheck disable=SC2086 # PVCLOCK_QTEST_FILES: a list (scripts/lib.sh)
copy $PVCLOCK_QTEST_FILES
pvclock_hooks "$work"
maintain "tests/qtest/pvclock-pages-*"
commit "tests/qtest: add the pvclock-pages qtests" \
"The device under the qtest accelerator: the BAR and its pages, every
realize and property error, the helper's socket and sealed memfd,
memdev=, status, migration, the guest-to-host transform over 10^7
random relations per KVM ratio format against the test's own model."

stage "patches: git format-patch into $out"
rm -rf "$out"
git -C "$work" format-patch -q --cover-letter -o "$out" "$base"
cover=$(ls "$out"/0000-*.patch)
python3 - "$cover" "$PVCLOCK_ROOT/scripts/cover-letter.txt" <<'EOF'
import sys
path, blurb = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
subject, _, body = blurb.partition("\n\n")
text = open(path).read()
text = text.replace("*** SUBJECT HERE ***", subject)
text = text.replace("*** BLURB HERE ***", body)
open(path, "w").write(text)
EOF
note "$(ls "$out" | wc -l) files: $(ls "$out" | tr '\n' ' ')"
