#!/bin/bash
# Command-line behaviour users meet first: QEMU's -device pvclock-pages
# with good and bad properties, and the helper's and the guest program's
# errors.  Every error must be one clear line and a non-zero exit.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

H=$PVCLOCK_BUILD/host
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# qemu_err ARGS...: run QEMU (TCG, stopped, no firmware needed to fail)
# and leave its stderr in $tmp/err and exit status in $rc.
qemu_err() {
    timeout 30 "$QEMU" -M pc -accel tcg -nodefaults -display none -S \
        -monitor none "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null &
    local pid=$!
    # a QEMU that accepted the device stays up (-S): stop it
    alive=0
    for _ in $(seq 30); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    if kill -0 $pid 2>/dev/null; then
        alive=1
        kill -KILL $pid 2>/dev/null
    fi
    wait $pid 2>/dev/null; rc=$?
}
one_line_with() {   # one_line_with TEXT: stderr is one line containing TEXT
    [ "$(wc -l < "$tmp/err")" = 1 ] && grep -qF -- "$1" "$tmp/err"
}

# --- QEMU -------------------------------------------------------------
"$QEMU" -device pvclock-pages,help > "$tmp/help" 2>&1
grep -q '^  pages=<str> *- path of pvclock-helper' "$tmp/help"
ok $? "-device pvclock-pages,help documents pages="

qemu_err -device pvclock-pages,pages="$tmp/missing"
[ $rc = 1 ] && one_line_with "cannot open pages file '$tmp/missing' (property 'pages'); is pvclock-helper running?"
ok $? "missing pages file: one line naming file and property, exit 1"
diag "$(cat "$tmp/err")"

echo garbage > "$tmp/short"
qemu_err -device pvclock-pages,pages="$tmp/short"
[ $rc = 1 ] && one_line_with "is 8 bytes, a pvclock-pages file has 16384"
ok $? "truncated pages file: one line with its size"

truncate -s 16384 "$tmp/zero"
qemu_err -device pvclock-pages,pages="$tmp/zero"
[ $rc = 1 ] && one_line_with "has no pvclock-pages header in page 0 (magic 0x00000000)"
ok $? "wrong magic: one line naming the page and the magic found"

"$H/pvclock-helper" --once --pages "$tmp/good" 2>/dev/null
cp "$tmp/good" "$tmp/v9"
# abi_major is the u16 at offset 4 of every page: make it 9
for p in 0 1 2 3; do
    printf '\x09\x00' | dd of="$tmp/v9" bs=1 seek=$((p * 4096 + 4)) conv=notrunc status=none
done
qemu_err -device pvclock-pages,pages="$tmp/v9"
[ $rc = 1 ] && one_line_with "has ABI version 9." && grep -q "this QEMU supports 1.x" "$tmp/err"
ok $? "wrong ABI version: one line with both versions"

qemu_err -device pvclock-pages,pages="$tmp"
[ $rc = 1 ] && one_line_with "is not a regular file"
ok $? "a directory as pages file: one line"

qemu_err -device pvclock-pages,pages=
[ $rc = 1 ] && one_line_with "property 'pages' must name pvclock-helper's pages file"
ok $? "empty pages property: one line"

qemu_err -device pvclock-pages,pages="$tmp/good",bogus=1
[ $rc = 1 ] && one_line_with "Property 'pvclock-pages.bogus' not found"
ok $? "unknown property: QEMU's one-line error"

qemu_err -device pvclock-pages,pages="$tmp/good"
[ $alive = 1 ] && [ ! -s "$tmp/err" ]
ok $? "a good pages file: QEMU starts and stays up, silently"

# --- helper -------------------------------------------------------------
"$H/pvclock-helper" --bogus > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 2 ] && grep -q -- "--help" "$tmp/err"
ok $? "helper: unknown option -> exit 1, the error and a pointer to --help"

"$H/pvclock-helper" --once --pages /proc/nope/pages 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && one_line_with "cannot create the directory of /proc/nope/pages"
ok $? "helper: unwritable pages path -> exit 3, one line"

"$H/pvclock-helper" --inspect --pages "$tmp/short" 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && one_line_with "cannot inspect $tmp/short"
ok $? "helper --inspect on a corrupt file: one line, non-zero"

"$H/pvclock-helper" --inspect --pages "$tmp/good" > "$tmp/out" 2>&1
grep -q "magic" "$tmp/out" || grep -qi "page 0" "$tmp/out"
ok $? "helper --inspect prints the pages in human form"

"$H/pvclock-helper" --check > "$tmp/out" 2>&1; rc=$?
if [ $rc = 0 ]; then
    grep -q "validated against clock_gettime: REALTIME MONOTONIC MONOTONIC_RAW BOOTTIME TAI" "$tmp/out"
    ok $? "helper --check validates all five clocks on this host"
else
    [ $rc = 2 ] && [ "$(wc -l < "$tmp/out")" -ge 1 ]
    ok $? "helper --check refuses this host with a reason (exit 2)"
fi
diag "$(cat "$tmp/out")"

# --- guest program on a machine without the device ----------------------
"$H/pvclock-guest" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && one_line_with "no pvclock-pages PCI device (1af4:10f0) found"
ok $? "pvclock-guest without the device: one line, non-zero"

"$H/pvclock-guest" --resource "$tmp/zero" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && [ "$(wc -l < "$tmp/err")" = 1 ]
ok $? "pvclock-guest over a too small BAR file: one line, non-zero"
diag "$(cat "$tmp/err")"

truncate -s 32768 "$tmp/zero32"
"$H/pvclock-guest" --resource "$tmp/zero32" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -qi "magic" "$tmp/err"
ok $? "pvclock-guest over a zeroed BAR: one line about the magic, non-zero"
diag "$(cat "$tmp/err")"

done_testing
