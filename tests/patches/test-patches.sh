#!/bin/bash
# The patch series for QEMU (scripts/make-patches.sh): written from the
# current tree, signed off by the committer, its cover letter checked
# against the tree (and a stale one planted and caught); then applied
# with git am to a clean QEMU tree from the pinned tarball one patch at a
# time, and after every patch built (one build directory, configured as
# scripts/build.sh configures build/qemu so that ccache serves it) and
# the qtests present at that point run: the series bisects.  Every patch
# goes through QEMU's own scripts/checkpatch.pl with 0 errors and 0
# warnings (and a patch with a style fault in it is flagged: the check
# can fail).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

pdir=$PVCLOCK_BUILD/patches-qemu
series=$pdir/series
tree=$pdir/src
bld=$pdir/build
logs=$PVCLOCK_BUILD/test-logs/patches
rm -rf "$logs"
mkdir -p "$pdir" "$logs"

# The script signs with the checkout's git identity and refuses to run
# without one.  Where none is configured (a bare CI machine) the test
# lends it one for its own run, through git's environment.
if [ -z "$(git -C "$PVCLOCK_ROOT" config user.name)" ] ||
   [ -z "$(git -C "$PVCLOCK_ROOT" config user.email)" ]; then
    export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="pvclock-pages test"
    export GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=test@pvclock-pages.invalid
    diag "no git identity configured: the test lends one (pvclock-pages test)"
fi
name=$(git -C "$PVCLOCK_ROOT" config user.name)
email=$(git -C "$PVCLOCK_ROOT" config user.email)

"$PVCLOCK_ROOT/scripts/make-patches.sh" "$series" > "$logs/make.log" 2>&1
ok $? "scripts/make-patches.sh writes the series against QEMU $QEMU_VERSION ($(ls "$series" 2>/dev/null | tr '\n' ' '))"
patches=("$series"/000[1-9]-*.patch)
subject() {     # subject PATCH: its subject, unfolded, without [PATCH n/m]
    sed -n '/^Subject: /{s/^Subject: \[PATCH [0-9/]*\] //;N;s/\n / /;s/\n.*//;p;q}' "$1"
}
cover=$(ls "$series"/0000-*.patch 2>/dev/null)

# ---- identity: the committer's own, everywhere -------------------------
bad=0
for p in "${patches[@]}"; do
    grep -qxF "Signed-off-by: $name <$email>" "$p" &&
        [ "$(grep -c '^Signed-off-by:' "$p")" = 1 ] || { diag "sign-off: ${p##*/}"; bad=1; }
    grep -q "^From: .*$email\|^ <$email>" "$p" || { diag "author: ${p##*/}"; bad=1; }
done
grep -qxF "+M: $name <$email>" "${patches[0]}" || { diag "MAINTAINERS M: line"; bad=1; }
grep -q 'lists\.example\.org\|pvclock-pages developers' "$series"/*.patch && bad=1
ok $bad "every patch is signed off and authored by the committer ($name <$email>), as is the MAINTAINERS entry"
# no identity, no series: with the global and system configuration out
# of the way (the checkout's own, if it has one, would still count)
if [ -z "$(git -C "$PVCLOCK_ROOT" config --local user.email)" ]; then
    msg=$(env -u GIT_CONFIG_COUNT HOME="$pdir" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
          "$PVCLOCK_ROOT/scripts/make-patches.sh" "$pdir/no-identity" 2>&1)
    rc=$?
    [ $rc != 0 ] && grep -q "git config --global user.name" <<< "$msg" &&
        grep -q "git config --global user.email" <<< "$msg"
    ok $? "without a git identity it refuses and says what to set ($(tail -1 <<< "$msg" | cut -c1-90)...)"
else
    skip "without a git identity it refuses" "the checkout has its own user.email"
fi

# ---- the cover letter, against the tree --------------------------------
# check_letter FILE: the ABI version it names, the properties it lists and
# the ones it mentions are the tree's; figures and placeholders filled.
abi=$(awk '/^#define PVCP_ABI_MAJOR/ {M = $3} /^#define PVCP_ABI_MINOR/ {m = $3}
           END {print M "." m}' "$PVCLOCK_ROOT/include/pvclock-pages/pvclock-pages-abi.h")
read -r vendor device < <(awk '/^#define PVCP_PCI_VENDOR_ID/ {v = $3} /^#define PVCP_PCI_DEVICE_ID/ {d = $3}
           END {print v, d}' "$PVCLOCK_ROOT/include/pvclock-pages/pvclock-pages-abi.h")
pci=$(printf '%04x:%04x' "$((vendor))" "$((device))")
# the glue's properties, then each part's in the order of the parts table
props=$(for f in pvclock-pages.c $(sed -n 's|.*/\* part: \([^ ]*\.c\) \*/$|\1|p' "$PVCLOCK_ROOT/hw/pvclock/parts.c"); do
            sed -n '/Property pvclock_[a-z_]*properties\[\]/,/^};/p' "$PVCLOCK_ROOT/hw/pvclock/$f"
        done | grep -o 'DEFINE_PROP_[A-Z0-9_]*("[^"]*"' | cut -d'"' -f2 | grep -v '^x-')
check_letter() {
    local f=$1 st=0 v p
    # every "ABI ... X.Y" says the header's version, and one does
    v=$(grep -oE 'ABI[^0-9]{0,80}[0-9]+\.[0-9]+' "$f" | grep -oE '[0-9]+\.[0-9]+$' | sort -u)
    [ "$v" = "$abi" ] || { diag "${f##*/}: ABI version(s) '$(echo $v)', the header says $abi"; st=1; }
    # so is the PCI ID, and the QEMU it is against is the pinned one
    v=$(sed '/^---$/,$d' "$f" | grep -oE '\b[0-9a-f]{4}:[0-9a-f]{4}\b' | sort -u)
    [ "$v" = "$pci" ] || { diag "${f##*/}: PCI ID(s) '$(echo $v)', the header says $pci"; st=1; }
    v=$(grep -oE 'QEMU [0-9]+\.[0-9]+\.[0-9]+' "$f" | sort -u)
    [ "$v" = "QEMU $QEMU_VERSION" ] || { diag "${f##*/}: '$(echo $v)', the pin is QEMU $QEMU_VERSION"; st=1; }
    # the property list is the source's, in order
    [ "$(sed -nE 's/^  ([a-z][a-z0-9-]*)=<.*/\1/p' "$f")" = "$props" ] ||
        { diag "${f##*/}: property list differs from hw/pvclock/pvclock-pages.c's"; st=1; }
    # and the prose names no property the device does not have
    for p in $(grep -oE '(^|[ (,])[a-z][a-z0-9-]*=' "$f" | tr -d ' (,=' | sort -u); do
        grep -qxF "$p" <<< "$props" || { diag "${f##*/}: names $p=, not a property"; st=1; }
    done
    grep -q 'live page' "$f" && grep -q 'vmclock=on' "$f" ||
        { diag "${f##*/}: the live page or vmclock=on unmentioned"; st=1; }
    ! grep -nE '\*\*\* (SUBJECT|BLURB) HERE|@[A-Z_]+(:[a-z_0-9]+)?@' "$f" ||
        { diag "${f##*/}: placeholders left"; st=1; }
    return $st
}
check_letter "$cover"
ok $? "the cover letter's ABI version ($abi), PCI ID ($pci), QEMU version and properties ($(echo $props)) are the tree's, the live page and vmclock=on in it"
grep -qE '^ +[0-9]+ files changed' "$cover" && grep -qF "$(subject "${patches[-1]}")" "$cover"
ok $? "the cover letter lists the patches and the diffstat of the series itself"
# the control: a template with a stale constant typed in is caught
stale=$(awk -F. '{print $1 "." ($2 > 0 ? $2 - 1 : 9)}' <<< "$abi")
sed "s/@ABI_VERSION@/$stale/; s/^@PROPERTIES@\$/@PROPERTIES@\n  ghost-property=<bool> (default: true)/" \
    "$PVCLOCK_ROOT/scripts/cover-letter.txt" > "$pdir/stale-cover-letter.txt"
PVCLOCK_COVER_LETTER=$pdir/stale-cover-letter.txt PVCLOCK_BUILD=$pdir/stale \
    "$PVCLOCK_ROOT/scripts/make-patches.sh" "$pdir/stale-series" > "$logs/make-stale.log" 2>&1 &&
    ! check_letter "$pdir"/stale-series/0000-*.patch > "$logs/check-stale.log" 2>&1 &&
    grep -q "the header says $abi" "$logs/check-stale.log" &&
    grep -q "property list differs" "$logs/check-stale.log"
ok $? "a template with ABI $stale and a ghost property typed in fails the check ($(tr '\n' ' ' < "$logs/check-stale.log" | cut -c1-120))"

# ---- the patches: the device's code comes with its qtest ---------------
bad=0
for p in "${patches[@]}"; do
    if grep -qE '^\+\+\+ b/hw/pvclock/.*\.c$' "$p" &&
       ! grep -qE '^\+\+\+ b/tests/qtest/pvclock-pages' "$p"; then
        diag "${p##*/} adds device code without a qtest"; bad=1
    fi
done
ok $bad "every patch that adds device code carries its qtest"

# ---- applied one by one to a clean tree, built and tested after each ---
rm -rf "$tree"
mkdir -p "$tree"
tar -xf "$PVCLOCK_CACHE/src/$QEMU_TARBALL" -C "$tree" --strip-components=1
( cd "$tree" && git init -q && git add -A &&
  git -c user.name=test -c user.email=test@example.org commit -q -m base ) > "$logs/base.log" 2>&1
ok $? "a clean QEMU $QEMU_VERSION tree as a git repository"
qemu_blob_placeholders "$tree"      # untracked: git am leaves them be

applied=0
for p in "${patches[@]}"; do
    n=${p##*/}
    n=${n%%-*}
    plog=$logs/$n
    mkdir -p "$plog"
    git -C "$tree" -c user.name=test -c user.email=test@example.org am -q "$p" > "$plog/am.log" 2>&1
    rc=$?
    ok $rc "$n: git am applies it ($(subject "$p"))"
    [ $rc = 0 ] || { diag "$(tail -3 "$plog/am.log")"; break; }
    applied=$((applied + 1))
    # the qtests this point of the series has: their names in the
    # meson line of tests/qtest/meson.build
    qtests=$(grep -oE "'pvclock-pages[A-Za-z0-9_-]*'" "$tree/tests/qtest/meson.build" | tr -d "'" | sort -u)
    targets=qemu-system-x86_64
    for t in $qtests; do targets+=" tests/qtest/$t"; done
    start=$(date +%s)
    if ( QEMU_BUILD_TARGETS=$targets \
         qemu_build "$tree" "$bld" "$plog" "the series to patch $n" --enable-attr --enable-virtfs ) \
            > "$plog/build.out" 2>&1; then
        ok 0 "$n: the tree builds ($(( $(date +%s) - start )) s: qemu-system-x86_64${qtests:+ and $(echo $qtests)})"
    else
        ok 1 "$n: the tree builds: $(tail -3 "$plog/build.out")"
        continue
    fi
    for t in $qtests; do
        start=$(date +%s)
        out=$(cd "$bld" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
              timeout 900 "./tests/qtest/$t" --tap 2>&1)
        rc=$?
        printf '%s\n' "$out" > "$plog/$t.log"
        n_ok=$(grep -c '^ok ' <<< "$out")
        n_bad=$(grep -c '^not ok ' <<< "$out")
        [ $rc = 0 ] && [ "$n_bad" = 0 ] && [ "$n_ok" -ge 1 ]
        ok $? "$n: $t passes ($n_ok ok, $n_bad not ok, $(( $(date +%s) - start )) s)"
    done
done
[ "$applied" = "${#patches[@]}" ]
ok $? "all ${#patches[@]} patches applied"

# what was applied is the project's code (the headers' licence line aside)
same=0
while read -r f; do
    case $f in include/pvclock-pages/*.h)
        diff <(tail -n +2 "$PVCLOCK_ROOT/$f") <(tail -n +2 "$tree/$f") > /dev/null ;;
    *)  cmp -s "$PVCLOCK_ROOT/$f" "$tree/$f" ;;
    esac || { diag "differs: $f"; same=1; }
done < <(git -C "$PVCLOCK_ROOT" ls-files hw/pvclock include/hw/pvclock include/pvclock-pages \
             'tests/qtest/pvclock-pages*' docs/system/devices/pvclock-pages.rst \
             docs/specs/pvclock-pages.rst)
ok $same "the applied tree holds the project's device, headers, qtests and docs"
grep -qx '   pvclock-pages' "$tree/docs/specs/index.rst" &&
    grep -qx '   devices/pvclock-pages.rst' "$tree/docs/system/device-emulation.rst"
ok $? "the spec is in docs/specs/index.rst, the user doc in docs/system/device-emulation.rst"

for p in "${patches[@]}"; do
    "$tree/scripts/checkpatch.pl" "$p" > "$logs/checkpatch-${p##*/}.log" 2>&1
    grep -q '^total: 0 errors, 0 warnings' "$logs/checkpatch-${p##*/}.log"
    ok $? "checkpatch.pl ${p##*/}: $(grep '^total:' "$logs/checkpatch-${p##*/}.log")"
done
# the control: the same check finds a fault put into a patch
sed '0,/^+static /s//+static  /; 0,/^+    return /s//+    return\t/' \
    "$(grep -l '^+++ b/hw/pvclock/.*\.c$' "${patches[@]}" | head -1)" > "$pdir/faulty.patch"
! "$tree/scripts/checkpatch.pl" "$pdir/faulty.patch" > "$logs/checkpatch-faulty.log" 2>&1 &&
    ! grep -q '^total: 0 errors, 0 warnings' "$logs/checkpatch-faulty.log"
ok $? "checkpatch.pl flags a patch with a style fault put in ($(grep '^total:' "$logs/checkpatch-faulty.log"))"
done_testing
