#!/bin/bash
# Write pvclock-pages as a git format-patch series against the pinned QEMU
# (the tarball scripts/build.sh verifies; QEMU_VERSION in scripts/lib.sh),
# with a cover letter generated from the tree (scripts/cover-letter.txt
# filled by scripts/cover-letter.py: ABI version, properties, figures).
#
#   scripts/make-patches.sh [OUTDIR]        (default build/patches)
#
# The series is the table SERIES below: one row per patch, its message
# in scripts/patches/NAME.txt (subject, blank line, body) and the
# project files it adds (git ls-files pathspecs; a file goes to the first
# row that lists it, so a later row may name a whole directory), plus
# QEMU's files it edits (the function hooks_NAME, if there is one) and
# the MAINTAINERS lines for what it adds.  Splitting a patch is adding a
# row above it.  Every patch must build and pass the qtests it carries
# (tests/patches/test-patches.sh checks that, patch by patch).
#
# The author and Signed-off-by are whoever runs this: the project
# checkout's git config user.name and user.email; so is the MAINTAINERS
# M: line.  The base is a git repository of the QEMU files the series
# changes, taken from the tarball (git am only needs those).
#
# Environment: PVCLOCK_COVER_LETTER, another template (the test plants a
# stale one to show the check catches it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:-$PVCLOCK_BUILD/patches}
work=$PVCLOCK_BUILD/patches-base
template=${PVCLOCK_COVER_LETTER:-$PVCLOCK_ROOT/scripts/cover-letter.txt}
TARBALL=$PVCLOCK_CACHE/src/$QEMU_TARBALL

#   NAME    project files (pathspecs)
SERIES=(
    "abi    include/pvclock-pages/pvclock-pages-abi.h
            include/pvclock-pages/pvclock-pages-calc.h
            include/pvclock-pages/pvclock-pages-cpu.h
            include/pvclock-pages/pvclock-handoff.h
            docs/specs/pvclock-pages.rst"
    "device hw/pvclock/Kconfig hw/pvclock/meson.build
            hw/pvclock/trace-events hw/pvclock/trace.h
            hw/pvclock/pvclock-pages-internal.h hw/pvclock/pvclock-pages.c
            hw/pvclock/parts.c
            hw/pvclock/host-source.c hw/pvclock/host-pages.c
            hw/pvclock/relation.c
            hw/pvclock/counter-*.c hw/pvclock/offset-page.c
            include/hw/pvclock/pvclock-compat.h
            include/hw/pvclock/pvclock-pages.h
            tests/qtest/pvclock-pages-common.[ch]
            tests/qtest/pvclock-pages-bar-test.c
            tests/qtest/pvclock-pages-offset-test.c
            docs/system/devices/pvclock-pages.rst"
    "migration  hw/pvclock/migration.c
                tests/qtest/pvclock-pages-migration-test.c"
    "irq    hw/pvclock/irq.c tests/qtest/pvclock-pages-irq-test.c"
    "live   hw/pvclock/live-page.c include/pvclock-pages/pvclock-vvar.h
            tests/qtest/pvclock-pages-live-test.c"
    "vmclock    hw/pvclock/vmclock.c include/hw/pvclock/pvclock-pages-acpi.h
                tests/qtest/pvclock-pages-vmclock-test.c"
)
# what every row after the last must have taken: the whole device
ALL_FILES=(hw/pvclock include/hw/pvclock include/pvclock-pages
           'tests/qtest/pvclock-pages*' docs/system/devices/pvclock-pages.rst)
# directories wholly the project's: MAINTAINERS lists them, not their files
OWN_DIRS=(hw/pvclock include/hw/pvclock include/pvclock-pages)

# QEMU's files the series changes (the hook lines, the indexes)
touched=(MAINTAINERS meson.build hw/meson.build hw/Kconfig
         hw/i386/acpi-build.c tests/qtest/meson.build
         docs/system/device-emulation.rst docs/specs/index.rst)

# the specification's index line, beside pvpanic's
hooks_abi() {
    pvclock_hook docs/specs/index.rst "   pvclock-pages" \
        '/^   pvpanic$/ {print "   pvclock-pages"} {print}'
}
# the user documentation's index line (the build hooks, scripts/lib.sh's
# pvclock_hooks, follow every patch that has the device: the qtests it
# has so far, and the acpi-build.c line once vmclock.c is in)
hooks_device() {
    pvclock_hook docs/system/device-emulation.rst "devices/pvclock-pages.rst" \
        '{print} /^   devices\/nvme.rst$/ {print "   devices/pvclock-pages.rst"}'
}

# ---- who signs: the committer's own identity ---------------------------
name=$(git -C "$PVCLOCK_ROOT" config user.name || true)
email=$(git -C "$PVCLOCK_ROOT" config user.email || true)
[ -n "$name" ] && [ -n "$email" ] ||
    die "the series is signed off by you: set your identity first (git config --global user.name 'Your Name'; git config --global user.email you@example.org; now user.name='$name', user.email='$email')"
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email
[ -f "$template" ] || die "no cover letter template $template"

qemu_fetch      # the pinned tarball, its sha256 checked

stage "patches: base repository of QEMU $QEMU_VERSION's touched files"
rm -rf "$work"
mkdir -p "$work"
tar -xf "$TARBALL" -C "$work" --strip-components=1 \
    "${touched[@]/#/qemu-$QEMU_VERSION/}" ||
    die "$QEMU_TARBALL has no qemu-$QEMU_VERSION/{${touched[*]}}"
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" commit -q -m "QEMU $QEMU_VERSION (from $QEMU_TARBALL)"
base=$(git -C "$work" rev-parse HEAD)

QSRC=$work
# maintain FILE...: the MAINTAINERS entry (made by the first patch) lists
# the files a patch adds: a directory of OWN_DIRS once, other files
# singly.  checkpatch.pl asks every patch that adds files to touch
# MAINTAINERS; one whose files are all under listed directories lists
# them singly.
maintain() {
    local f d lines=() sum
    pvclock_hook MAINTAINERS "M: $name <$email>" \
        "{print} /^F: docs\\/system\\/devices\\/ivshmem-flat.rst\$/ {
            print \"\"; print \"pvclock-pages\";
            print \"M: $name <$email>\"; print \"S: Maintained\" }"
    for f in "$@"; do
        for d in "${OWN_DIRS[@]}"; do
            [ "${f%/*}" = "$d" ] && { f=$d/; break; }
        done
        lines+=("$f")
    done
    sum=$(md5sum < "$work/MAINTAINERS")
    add_f_lines "${lines[@]}"
    [ "$(md5sum < "$work/MAINTAINERS")" != "$sum" ] || add_f_lines "$@"
}
add_f_lines() {
    local f
    for f in "$@"; do
        grep -qxF "F: $f" "$work/MAINTAINERS" && continue
        awk -v l="F: $f" '/^pvclock-pages$/ {ours = 1}
            ours && /^$/ {print l; ours = 0} {print}' \
            "$work/MAINTAINERS" > "$work/MAINTAINERS.tmp"
        mv "$work/MAINTAINERS.tmp" "$work/MAINTAINERS"
    done
}

# trim_meson: a meson.build of the project's, in a patch before the one
# that adds the last of its sources, lists only the sources the tree has
# so far (a line of its own per source, as hw/pvclock/meson.build has
# them); the patch that adds the rest brings the whole file.
trim_meson() {
    local m
    for m in "${!taken[@]}"; do
        [[ $m = */meson.build ]] || continue
        awk -v dir="$work/${m%/*}" '
            match($0, /^ *\x27[^\x27]+\.c\x27,? *$/) {
                f = $0; gsub(/^ *\x27|\x27,? *$/, "", f)
                if (system("test -e \"" dir "/" f "\"") != 0) next
            }
            {print}' "$PVCLOCK_ROOT/$m" > "$work/$m"
    done
}

# trim_parts: the table of the device's parts (hw/pvclock/parts.c), in a
# patch before the one that adds the last part, has the lines of the
# parts the tree has so far: a line that ends in "/* part: FILE */" goes
# while hw/pvclock/FILE is not in it.
trim_parts() {
    local m
    for m in "${!taken[@]}"; do
        grep -q '/\* part: [^ ]*\.c \*/$' "$PVCLOCK_ROOT/$m" || continue
        awk -v dir="$work/${m%/*}" '
            match($0, /\/\* part: [^ ]+\.c \*\/$/) {
                f = substr($0, RSTART + 9, RLENGTH - 12)
                if (system("test -e \"" dir "/" f "\"") != 0) next
            }
            {print}' "$PVCLOCK_ROOT/$m" > "$work/$m"
    done
}

# ---- the patches ---------------------------------------------------------
declare -A taken=()
for row in "${SERIES[@]}"; do
    read -r -d '' pname specs <<< "$(tr -s ' \n' '  ' <<< "$row")" || true
    msg=$PVCLOCK_ROOT/scripts/patches/$pname.txt
    [ -f "$msg" ] || die "patch $pname has no message file scripts/patches/$pname.txt"
    files=()
    for spec in $specs; do
        mapfile -t got < <(git -C "$PVCLOCK_ROOT" ls-files -- "$spec")
        [ "${#got[@]}" -gt 0 ] ||
            die "patch $pname: no file of the project matches $spec (scripts/make-patches.sh SERIES)"
        for f in "${got[@]}"; do
            [ -n "${taken[$f]:-}" ] && continue
            taken[$f]=$pname
            files+=("$f")
        done
    done
    [ "${#files[@]}" -gt 0 ] || die "patch $pname adds no file: earlier rows took them all"
    stage "patches: $pname (${#files[@]} files)"
    for f in "${files[@]}"; do
        mkdir -p "$work/$(dirname "$f")"
        cp "$PVCLOCK_ROOT/$f" "$work/$f"
    done
    # The project's headers are dual-licensed so that programs outside
    # QEMU can copy them; QEMU takes them under GPL-2.0-or-later.
    for f in "${files[@]}"; do
        case $f in include/pvclock-pages/*.h)
            sed -i '1s|^/\* SPDX-License-Identifier: .* \*/$|/* SPDX-License-Identifier: GPL-2.0-or-later */|' \
                "$work/$f" ;;
        esac
    done
    trim_meson
    trim_parts
    if [ -e "$work/hw/pvclock/meson.build" ]; then pvclock_hooks "$work"; fi
    if declare -F "hooks_$pname" > /dev/null; then "hooks_$pname"; fi
    maintain "${files[@]}"
    git -C "$work" add -A
    git -C "$work" commit -q -s -F "$msg"
done

mapfile -t left < <(git -C "$PVCLOCK_ROOT" ls-files -- "${ALL_FILES[@]}")
for f in "${left[@]}"; do
    [ -n "${taken[$f]:-}" ] ||
        die "$f is in no patch: add it to a row of SERIES (scripts/make-patches.sh)"
done

stage "patches: git format-patch into $out"
rm -rf "$out"
git -C "$work" format-patch -q --cover-letter -o "$out" "$base"
python3 "$PVCLOCK_ROOT/scripts/cover-letter.py" "$template" "$PVCLOCK_ROOT" \
    "$QEMU_VERSION" "$(ls "$out"/0000-*.patch)" ||
    die "could not write the cover letter from $template"
note "$(ls "$out" | wc -l) files: $(ls "$out" | tr '\n' ' ')"
note "signed off by $name <$email>"
