#!/bin/bash
# The main job: build (if needed), start pvclock-helper (its pages in a
# sealed memfd, handed to QEMU over its socket),
# boot a TCG guest with -device pvclock-pages, and show the guest's view
# of the host clock next to the host's own, side by side.
#   PVCLOCK_DEMO_ROUNDS  exchanges to show (default 10)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$PVCLOCK_ROOT/scripts/build.sh"

run=$PVCLOCK_BUILD/run
mkdir -p "$run"
pages=$run/pages.sock
helper_pid=
trap '[ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

stage "host: checking that this kernel's clocks can be shared"
"$PVCLOCK_BUILD/host/pvclock-helper" --check | sed 's/^/    /' >&2
stage "host: starting pvclock-helper on $pages"
"$PVCLOCK_BUILD/host/pvclock-helper" --socket "$pages" 2> "$run/helper.log" &
helper_pid=$!
for _ in $(seq 50); do
    [ -S "$pages" ] && "$PVCLOCK_BUILD/host/pvclock-helper" --inspect --socket "$pages" >/dev/null 2>&1 && break
    kill -0 "$helper_pid" 2>/dev/null || { cat "$run/helper.log" >&2; die "pvclock-helper exited (log above)"; }
    sleep 0.1
done

# The guest driver for the guest's kernel (Debian 12's cloud kernel; its
# headers fetched into the cache, never installed): with it the guest's
# own clock is stepped to the host's at probe and at every disruption.
stage "guest driver: pvclock-pages.ko for the guest's kernel"
kdir=$("$PVCLOCK_ROOT/tests/guest/fetch-headers.sh")
ddir=$PVCLOCK_BUILD/driver/6.1
"$PVCLOCK_ROOT/contrib/pvclock-driver/build-for.sh" "$kdir" "$ddir" \
    > "$run/driver-build.log" 2>&1 ||
    { tail -20 "$run/driver-build.log" >&2; die "the guest driver did not build (log $run/driver-build.log)"; }
cc -static -O2 -I"$PVCLOCK_ROOT/include" -o "$ddir/driver-check" \
    "$PVCLOCK_ROOT/tests/guest/tools/driver-check.c" ||
    die "driver-check did not build"
initrd=$PVCLOCK_BUILD/guest/initramfs-demo.cpio.gz
"$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" driver "$ddir"

log=$run/console.log
qmp=$run/qmp.sock
rounds=${PVCLOCK_DEMO_ROUNDS:-5}
pause=${PVCLOCK_DEMO_PAUSE:-5}
out=$run/exchange.txt
# the host's side, once the guest serves its own clock: rounds of the
# exchange, the VM stopped for $pause s (a disruption, as a migration's
# pause or a snapshot restore is: the guest's clock stands still), the
# exchange again
host_side() {
    local e=("$PVCLOCK_BUILD/host/pvclock-exchange" --rounds "$rounds" --show "$rounds")
    echo "== after boot"
    "${e[@]}"
    echo "== the VM stopped for $pause s, then continued"
    printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"stop"}' |
        socat - "UNIX-CONNECT:$qmp" > /dev/null
    sleep "$pause"
    printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"cont"}' |
        socat - "UNIX-CONNECT:$qmp" > /dev/null
    sleep 0.5
    "${e[@]}" --quit
}
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --log "$log" \
    --cmd demo --initrd "$initrd" \
    --qemu-arg -qmp --qemu-arg "unix:$qmp,server=on,wait=off" -- \
    bash -c "$(declare -f host_side); rounds=$rounds pause=$pause qmp=$qmp PVCLOCK_BUILD=$PVCLOCK_BUILD host_side" \
    > "$out" || rc=$?

echo
echo "Inside the guest, with the driver bound, pvclock-guest read the device:"
grep '^demo: show: ' "$log" | tr -d '\r' | sed 's/^demo: show: /  /'
echo
echo "The guest's own clock_gettime(CLOCK_REALTIME) minus the host's"
echo "REALTIME (read through the device), as the guest booted and once the"
echo "driver had stepped it:"
grep -E '^demo: (before|the driver:|with)' "$log" | tr -d '\r' |
    sed -E 's/^demo: /  /; s/; bracket median.*//'
echo
echo "The guest's own CLOCK_REALTIME between two host clock_gettime()"
echo "stamps, over the guest's second serial line (seconds; the last two"
echo "columns: guest - host before, host after - guest):"
grep -vE '^exchange: (round trip|largest)' "$out" | sed 's/^/  /'
echo
echo "Stopped for $pause s, the guest's clock stood still; the device raised"
echo "its disruption interrupt at cont and the driver stepped the clock:"
grep -a '^demo: the driver, all: stepped' "$log" | tr -d '\r' | tail -1 |
    sed 's/^demo: the driver, all: /  /'
exit "${rc:-0}"
