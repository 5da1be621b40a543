#!/bin/bash
# How closely chronyd disciplines a TCG guest's own CLOCK_REALTIME to the
# host's, fed by the driver's PHC (refclock PHC /dev/ptp0) or by
# pvclock-guest's SOCK feeder, side by side.  Each boots Debian 12's 6.1
# cloud kernel with the driver (tests/guest/driver-guest.sh, part
# chrony): chronyd at poll 0 with 4 samples a second from either source,
# SETTLE s to converge, then MINUTES of one `pvclock-guest offset` sample
# a second (the guest's clock between two readings of the device, which
# is the host's REALTIME exactly).  The two guests run one after the
# other, so neither loads the other.
#
#   bench/phc.sh [MINUTES [SETTLE [SOURCES]]]  (defaults 10, 120, "phc sock")
#
# Prints NAME VALUE UNIT lines: phc_offset_{median,p99,max}_ns,
# sock_offset_{median,p99,max}_ns and, with both sources,
# sock_phc_ratio_{median,p99}.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
minutes=${1:-10}
settle=${2:-120}
sources=${3:-phc sock}
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
H=$PVCLOCK_BUILD/host
out=$PVCLOCK_BUILD/driver
tmp=$(mktemp -d /tmp/pvclock-phcb-XXXXXX)
helper=
trap '[ -n "$helper" ] && kill $helper 2>/dev/null; rm -rf "$tmp"' EXIT
[ -x "$QEMU" ] || die "$QEMU not built; run scripts/build.sh"

kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh")
kdir=$("$PVCLOCK_ROOT/tests/guest/fetch-headers.sh")
"$PVCLOCK_ROOT/contrib/pvclock-driver/build-for.sh" "$kdir" "$out/6.1" > /dev/null
cc -static -O2 -Wall -Wextra -Werror -I"$PVCLOCK_ROOT/include" \
    -o "$out/6.1/driver-check" "$PVCLOCK_ROOT/tests/guest/tools/driver-check.c"
initrd=$out/initramfs-driver.cpio.gz
"$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" driver "$out/6.1" >&2

"$H/pvclock-helper" --pages "$tmp/pages" 2> "$tmp/helper.log" &
helper=$!
for _ in $(seq 50); do
    "$H/pvclock-helper" --inspect --pages "$tmp/pages" > /dev/null 2>&1 && break
    sleep 0.1
done

# run SOURCE: one guest to its end; its console in $tmp/SOURCE.log
run() {
    local limit=$((minutes * 60 + settle + 300)) start=$SECONDS pid
    stage "phc bench: chronyd from $1, $settle s to settle, $minutes min measured"
    "$QEMU" -M pc -accel tcg -cpu max -m 256 -nodefaults -display none -no-reboot \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1 pvclock.cmd=driver pvclock.driver=chrony pvclock.refclock=$1 pvclock.settle=$settle pvclock.minutes=$minutes" \
        -serial "file:$tmp/$1.log" -device "pvclock-pages,pages=$tmp/pages" 2> "$tmp/$1.err" &
    pid=$!
    while kill -0 $pid 2>/dev/null && [ $((SECONDS - start)) -lt $limit ]; do
        grep -q '^pvclock-guest: exit' "$tmp/$1.log" 2>/dev/null && break
        sleep 2
    done
    sleep 2
    kill $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    tr -d '\r' < "$tmp/$1.log" > "$tmp/$1.txt"
    grep -E "^driver: (chrony|$1 )" "$tmp/$1.txt" | sed 's/^driver: /  /' >&2
}

# figures SOURCE: its offset line as NAME VALUE UNIT lines
figures() {
    sed -nE "s/^driver: $1 offset: .* \|offset\| median ([0-9]+) ns, p99 ([0-9]+) ns, max ([0-9]+) ns.*/\1 \2 \3/p" "$tmp/$1.txt" |
        awk -v s="$1" '{ printf "%s_offset_median_ns %s ns\n%s_offset_p99_ns %s ns\n%s_offset_max_ns %s ns\n", s, $1, s, $2, s, $3 }'
}

for src in $sources; do
    case $src in phc|sock) ;; *) die "bench/phc.sh: a source is phc or sock, not '$src'" ;; esac
    run "$src"
    figures "$src" > "$tmp/$src.fig"
    [ -s "$tmp/$src.fig" ] || die "the $src guest gave no offset line (its console is above)"
    cat "$tmp/$src.fig"
done
[ -s "$tmp/phc.fig" ] && [ -s "$tmp/sock.fig" ] || exit 0
paste "$tmp/phc.fig" "$tmp/sock.fig" | awk '
    /median/ { printf "sock_phc_ratio_median %.1f ratio\n", $5 / ($2 > 0 ? $2 : 1) }
    /p99/    { printf "sock_phc_ratio_p99 %.1f ratio\n", $5 / ($2 > 0 ? $2 : 1) }'
