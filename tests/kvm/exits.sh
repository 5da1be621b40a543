#!/bin/bash
# Invariant 9 on Linux's own KVM: no periodic vCPU work.  Runs inside L1
# (tests/kvm/nested.sh).  Two idle two-vCPU Linux guests (Debian 12's
# 6.1 cloud kernel, -accel kvm), one without the device and one with
# it, run side by side for PVCLOCK_EXITS_SECONDS (60); L1's KVM counts
# every exit per VM in debugfs (/sys/kernel/debug/kvm/PID-FD/).  The
# device must add no exit to QEMU: the same count of MMIO, port I/O and
# signal exits (a run_on_cpu() kick) as without it, and no more exits in
# all than the guest's own timer makes (within 10 %).  A third run with
# the device, a third as long, has a guest thread reading all five
# clocks through the BAR the whole time (pvclock.cmd=watch): reads cost
# no exit either.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

secs=${PVCLOCK_EXITS_SECONDS:-60}
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
start_host_helper pvclock-exits pages
kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh") || { echo "Bail out! no guest kernel"; exit 1; }
initrd=$PVCLOCK_BUILD/guest/initramfs.cpio.gz
"$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" ||
    { echo "Bail out! no initramfs"; exit 1; }
[ -d /sys/kernel/debug/kvm ] || { echo "Bail out! no /sys/kernel/debug/kvm (debugfs)"; exit 1; }

STATS="exits mmio_exits io_exits signal_exits request_irq_exits irq_exits halt_exits"

# idle NAME CMD [QEMU-ARG...]: boot the guest, wait until it is ready,
# count its exits over $secs s into $tmp/NAME.stats ("stat delta" lines)
idle() {
    local name=$1 cmd=$2 log=$tmp/$1.log pid dir s
    shift 2
    : > "$log"
    "$QEMU" -M pc -accel kvm -cpu max -smp 2 -m 256 -nodefaults -display none \
        -no-reboot -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 pvclock.cmd=$cmd" \
        -serial "file:$log" -chardev null,id=ex -serial chardev:ex "$@" \
        2> "$tmp/$name.err" &
    pid=$!
    for _ in $(seq 240); do
        grep -q 'pvclock-guest: ready' "$log" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.5
    done
    sleep 2
    dir=$(ls -d /sys/kernel/debug/kvm/"$pid"-* 2>/dev/null | head -1)
    if [ -z "$dir" ] || ! grep -q 'pvclock-guest: ready' "$log"; then
        diag "$name: guest not ready or no debugfs directory for QEMU $pid" \
            "$(tail -5 "$log")" "$(cat "$tmp/$name.err")"
        kill $pid 2>/dev/null; wait $pid 2>/dev/null
        return 1
    fi
    for s in $STATS; do echo "$s $(cat "$dir/$s")"; done > "$tmp/$name.before"
    sleep "$secs"
    for s in $STATS; do echo "$s $(cat "$dir/$s")"; done > "$tmp/$name.after"
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    join "$tmp/$name.before" "$tmp/$name.after" |
        awk '{print $1, $3 - $2}' > "$tmp/$name.stats"
    diag "$name, $secs s: $(tr '\n' ' ' < "$tmp/$name.stats")"
}
get() { awk -v k="$2" '$1 == k {print $2}' "$tmp/$1.stats"; }

# the two idle guests side by side (the same minute of L1), the reader
# after them
idle without idle &
j0=$!
idle with idle -device "pvclock-pages,id=pvc,pages=$pages" &
j1=$!
wait $j0; r0=$?
wait $j1; r1=$?
secs=$((secs / 3)) idle reading watch -device "pvclock-pages,id=pvc,pages=$pages"
r2=$?
ok $((r0 + r1 + r2)) "two idle two-vCPU guests under KVM over the same $secs s, without the device and with it; then one with it and a guest thread reading all five clocks for $((secs / 3)) s"
cp "$tmp"/*.log "${PVCLOCK_NESTED_KEEP:-$tmp}/" 2>/dev/null
grep -q 'pvclock-guest: device at' "$tmp/with.log" &&
    grep -q 'live page: in use' "$tmp/with.log" &&
    ! grep -q 'pvclock-guest: device at' "$tmp/without.log"
ok $? "the guests with the device find it and read the live page; the one without has none"
for run in with reading; do
    for s in mmio_exits io_exits signal_exits; do
        [ "$(get $run $s)" -le "$(get without $s)" ] 2>/dev/null ||
            { bad="$bad $run:$s"; }
    done
done
[ -z "${bad:-}" ]
ok $? "no exit to QEMU caused by the device: MMIO $(get without mmio_exits) / $(get with mmio_exits) / $(get reading mmio_exits), port I/O $(get without io_exits) / $(get with io_exits) / $(get reading io_exits), signal (vCPU kicks) $(get without signal_exits) / $(get with signal_exits) / $(get reading signal_exits) (without / with / with a reader)${bad:+; more with the device:$bad}"
t0=$(get without exits) t1=$(get with exits)
[ -n "$t0" ] && [ -n "$t1" ] && [ "$t1" -le $((t0 + t0 / 10 + 100)) ]
ok $? "exits in all, the guest's own timer and interrupts: $t0 without the device, $t1 with it (no more than 10 % + 100 apart)"
done_testing
