#!/bin/bash
# Fault injection under a running TCG guest, on the helper's sealed memfd
# (pages=SOCKET, as users run it): truncating, shrinking and growing it
# must be refused by the kernel; it is zeroed (pvclock-helper stopped,
# then running), overwritten with random bytes, and has its clock lines
# overwritten with the header and seq left intact (only the ABI 1.2 check
# words can tell), while QEMU maps it and the guest's watcher thread reads
# all five clocks in a loop.  QEMU must keep running, the guest must see
# errors (never a time that steps back) and the exchange afterwards must
# bracket every guest REALTIME by the host's stamps.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

start_host_helper pvclock-damage
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --cmd watch \
    --log "$tmp/console" \
    --qemu-arg -qmp --qemu-arg "unix:$tmp/qmp,server=on,wait=off" -- \
    python3 "$PVCLOCK_ROOT/tests/guest/damage.py" \
        --qmp "$tmp/qmp" --helper-pid "$helper_pid" \
        --exchange "$H/pvclock-exchange" > "$tmp/result" 2> "$tmp/boot.err"
rc=$?
diag "$(cat "$tmp/boot.err")" "$(grep -v '^ ' "$tmp/result")"

val() { sed -n "s/^damage: $1 //p" "$tmp/result"; }
[ "$(val status-before)" = valid ]
ok $? "status valid before any damage"
[ "$(val resizes-refused)" = 31/31 ] && [ "$(val status-after-resizes)" = valid ]
ok $? "31 truncations, shrinks and growths of the memfd: all refused by the kernel ($(val resizes-refused)), status valid, QEMU lived"
[ "$(val status-while-zeroed)" = no-helper ]
ok $? "zeroed with the helper stopped: the device reports status no-helper"
[ "$(val status-after-repair)" = valid ]
ok $? "the stopped helper, continued, repairs the pages: status valid"
[ "$(val status-after-scribbles)" = valid ]
ok $? "10 rounds of zeros and random bytes over the memfd: repaired, status valid"
[ "$(val status-while-lines-scribbled)" = no-helper ]
ok $? "clock lines and bases scribbled, header and even seq kept, helper stopped: the device sees the check words fail (no-helper)"
[ "$(val status-after-line-scribbles)" = valid ]
ok $? "11 such scribbles: the helper republishes, status valid"
grep -q "^exchange: 100 rounds, 0 violations of host before <= guest <= host after, 0 guest errors" "$tmp/result" && [ $rc = 0 ]
ok $? "afterwards 100 exchanges: every guest REALTIME between the host's stamps"
w=$(grep '^watch: ' "$tmp/result")
echo "$w" | grep -q 'backward steps REALTIME 0 TAI 0 MONOTONIC 0 MONOTONIC_RAW 0 BOOTTIME 0 '
ok $? "the guest's watcher saw no clock step back through all of it"
echo "$w" | grep -qE ', [1-9][0-9]* errors \(last: '
ok $? "the guest's watcher saw errors (invalid pages), not garbage, while the pages were damaged"
n=$(grep -c 'damaged by another process; repaired it' "$tmp/helper.log")
[ "$n" -ge 10 ]
ok $? "the helper logged each repair ($n)"
done_testing
