#!/bin/bash
# The patch series for QEMU (scripts/make-patches.sh): written from the
# current tree, applied with git am to a clean QEMU tree from the pinned
# tarball, built, its qtest run there, and every patch through QEMU's own
# scripts/checkpatch.pl with 0 errors and 0 warnings (and a patch with a
# style fault in it flagged: the check can fail).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

pdir=$PVCLOCK_BUILD/patches-qemu
series=$pdir/series
tree=$pdir/src
bld=$pdir/build
logs=$PVCLOCK_BUILD/test-logs/patches
mkdir -p "$pdir" "$logs"

"$PVCLOCK_ROOT/scripts/make-patches.sh" "$series" > "$logs/make.log" 2>&1
ok $? "scripts/make-patches.sh writes the series against QEMU $QEMU_VERSION ($(ls "$series" 2>/dev/null | tr '\n' ' '))"

# a clean tree: the whole tarball, as a git repository
rm -rf "$tree"
mkdir -p "$tree"
tar -xf "$PVCLOCK_CACHE/src/$QEMU_TARBALL" -C "$tree" --strip-components=1
(
    cd "$tree" && git init -q && git add -A &&
    git -c user.name=test -c user.email=test@example.org commit -q -m base &&
    git -c user.name=test -c user.email=test@example.org am -q "$series"/000[1-9]-*.patch
) > "$logs/am.log" 2>&1
ok $? "git am applies the series to a clean QEMU $QEMU_VERSION tree"
diag "$(tail -3 "$logs/am.log")"

# what was applied is the project's code (the headers' licence line aside)
same=0
while read -r f; do
    case $f in include/pvclock-pages/pvclock-pages-abi.h|include/pvclock-pages/pvclock-pages-calc.h|\
               include/pvclock-pages/pvclock-pages-cpu.h|include/pvclock-pages/pvclock-handoff.h)
        diff <(tail -n +2 "$PVCLOCK_ROOT/$f") <(tail -n +2 "$tree/$f") > /dev/null ;;
    *)  cmp -s "$PVCLOCK_ROOT/$f" "$tree/$f" ;;
    esac || { diag "differs: $f"; same=1; }
done < <(git -C "$PVCLOCK_ROOT" ls-files hw/pvclock include/hw/pvclock include/pvclock-pages \
             $PVCLOCK_QTEST_FILES \
             docs/system/devices/pvclock-pages.rst docs/interop/pvclock-pages.rst)
ok $same "the applied tree holds the project's device, headers, qtest and docs"

qemu_blob_placeholders "$tree"
# configured as scripts/build.sh configures build/qemu, so that ccache
# serves the files the two trees share (nearly all of them)
if ( qemu_build "$tree" "$bld" "$logs" "the applied series" --enable-attr --enable-virtfs ) \
        > "$logs/build.out" 2>&1; then
    ok 0 "the applied tree builds (qemu-system-x86_64 and the qtest)"
    out="" rc=0
    for t in $PVCLOCK_QTESTS; do
        out+=$(cd "$bld" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
               timeout 900 ./tests/qtest/"$t" --tap 2>&1)$'\n' || rc=1
    done
    n_ok=$(grep -c '^ok ' <<< "$out")
    n_bad=$(grep -c '^not ok ' <<< "$out")
    [ $rc = 0 ] && [ "$n_bad" = 0 ] && [ "$n_ok" -ge 20 ]
    ok $? "its qtest passes there ($n_ok ok, $n_bad not ok)"
else
    ok 1 "the applied tree builds: $(tail -3 "$logs/build.out")"
    skip "its qtest passes there" "no build"
fi

for p in "$series"/000[1-9]-*.patch; do
    "$tree/scripts/checkpatch.pl" "$p" > "$logs/checkpatch-${p##*/}.log" 2>&1
    grep -q '^total: 0 errors, 0 warnings' "$logs/checkpatch-${p##*/}.log"
    ok $? "checkpatch.pl ${p##*/}: $(grep '^total:' "$logs/checkpatch-${p##*/}.log")"
done
# the control: the same check finds a fault put into a patch
sed '0,/^+static /s//+static  /; 0,/^+    return /s//+    return\t/' \
    "$series"/0002-*.patch > "$pdir/faulty.patch"
! "$tree/scripts/checkpatch.pl" "$pdir/faulty.patch" > "$logs/checkpatch-faulty.log" 2>&1 &&
    ! grep -q '^total: 0 errors, 0 warnings' "$logs/checkpatch-faulty.log"
ok $? "checkpatch.pl flags a patch with a style fault put in ($(grep '^total:' "$logs/checkpatch-faulty.log"))"
done_testing
