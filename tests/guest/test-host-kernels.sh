#!/bin/bash
# The helper on real host kernels of every vDSO layout family: a TCG
# guest booted with Debian's own cloud kernel plays the host, and the
# static pvclock-helper inside it must detect that kernel's layout
# (--check), publish, and read back through libpvclock inside the
# clock_gettime() bracket for all five clocks on pages 0 and 1
# (--verify).  Families (tests/guest/fetch-kernel.sh):
#   6.1   Debian 12        vdso_data at 128, no overflow protection
#   6.12  Debian 13        vdso_data at 128, with max_cycles
#   7     trixie-backports the 6.15+ generic data store
# PVCLOCK_HOST_KERNELS narrows the list (e.g. "6.1").
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
initrd=$PVCLOCK_BUILD/guest/initramfs.cpio.gz
"$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" ||
    { echo "1..0 # SKIP no initramfs (see above)"; exit 1; }
[ -x "$PVCLOCK_BUILD/host/pvclock-helper-static" ] ||
    { echo "not ok 1 - static helper built"; echo "1..1"; exit 1; }
tmp=$(mktemp -d /tmp/pvclock-hostk-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

declare -A layout=(
    [6.1]="vdso_data@128 (5.4-6.9)"
    [6.12]="vdso_data@128, overflow protection (6.10-6.14)"
    [7]="datastore (6.15+)"
)

for fam in ${PVCLOCK_HOST_KERNELS:-6.1 6.12 7}; do
    if ! kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" "$fam" 2> "$tmp/fetch.err"); then
        ok 1 "kernel $fam fetched: $(tail -1 "$tmp/fetch.err")"
        continue
    fi
    name=$(basename "$(dirname "$kernel")")
    log=$tmp/console-$fam.log
    stage "host kernel $name: booting under TCG, the helper runs inside"
    timeout 300 "$QEMU" -M pc -accel tcg -cpu max -m 512 -nodefaults \
        -display none -no-reboot -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 pvclock.cmd=hostcheck" \
        -chardev "file,id=con,path=$log" -serial chardev:con \
        2> "$tmp/qemu.err"
    grep -q '^pvclock-guest: booted' "$log"
    ok $? "$name boots under TCG${fam:+ ($(grep -o 'clocksource .*' "$log" | head -1 | tr -d '\r'))}"
    grep -q '^hostcheck: check exit 0' "$log" &&
        grep -qF "hostcheck: vvar layout: ${layout[$fam]}" "$log"
    ok $? "$name: pvclock-helper --check finds layout '${layout[$fam]}' and validates all five clocks"
    grep -q "^hostcheck: pvclock-helper: publishing /tmp/pages (layout ${layout[$fam]}" "$log"
    ok $? "$name: pvclock-helper publishes"
    grep -q '^hostcheck: verify exit 0' "$log" &&
        [ "$(grep -c '^hostcheck: verify: page .* 0 outside clock_gettime(), 0 errors' "$log")" = 10 ]
    ok $? "$name: pages 0 and 1 read back inside clock_gettime() for REALTIME, TAI, MONOTONIC, MONOTONIC_RAW, BOOTTIME"
    diag "$(grep -E '^hostcheck: (clocksource|vvar|clock mode|counter|check exit|verify: page 0 REALTIME|verify exit)' "$log" | tr -d '\r')"
    if ! grep -q '^hostcheck: verify exit 0' "$log"; then
        diag "$(tail -30 "$log")"
    fi
done

done_testing
