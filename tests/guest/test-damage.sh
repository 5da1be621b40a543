#!/bin/bash
# Fault injection under a running TCG guest: the pages file is truncated
# (with pvclock-helper running, then stopped), zeroed, overwritten with
# random bytes, and has its clock lines overwritten with the header and
# seq left intact (only the ABI 1.2 check words can tell), while QEMU maps it and the guest's watcher thread reads all
# five clocks in a loop.  QEMU must keep running, the guest must see
# errors (never a time that steps back) and the exchange afterwards must
# bracket every guest REALTIME by the host's stamps.  QEMU runs with
# x-inotify=off so that guest loads reach the truncated file before the
# device's 1 Hz watch does: that is the SIGBUS guard's case.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

start_host_helper pvclock-damage
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$tmp/pages" --cmd watch \
    --log "$tmp/console" \
    --qemu-arg -qmp --qemu-arg "unix:$tmp/qmp,server=on,wait=off" \
    --qemu-arg -global --qemu-arg pvclock-pages.x-inotify=off -- \
    python3 "$PVCLOCK_ROOT/tests/guest/damage.py" --pages "$tmp/pages" \
        --qmp "$tmp/qmp" --helper-pid "$helper_pid" \
        --exchange "$H/pvclock-exchange" > "$tmp/result" 2> "$tmp/boot.err"
rc=$?
diag "$(cat "$tmp/boot.err")" "$(grep -v '^ ' "$tmp/result")"

val() { sed -n "s/^damage: $1 //p" "$tmp/result"; }
[ "$(val status-before)" = valid ]
ok $? "status valid before any damage"
[ "$(val status-after-truncations)" = valid ]
ok $? "10 truncations with the helper running: the helper grows the file back, status valid again"
[ "$(val status-while-truncated)" = no-helper ]
ok $? "truncated with the helper stopped: the device reports status no-helper"
[ "$(val pages-lost)" -ge 1 ] 2>/dev/null
ok $? "the device counted the short file (pages-lost $(val pages-lost))"
[ "$(val pages-faults)" -ge 1 ] 2>/dev/null
ok $? "guest loads from the short file met the SIGBUS guard and read zeros (pages-faults $(val pages-faults)); QEMU lived"
[ "$(val status-after-repair)" = valid ]
ok $? "the stopped helper, continued, repairs the file and the device maps it back: status valid"
[ "$(val status-after-scribbles)" = valid ]
ok $? "10 rounds of zeros and random bytes over the file: repaired, status valid"
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
ok $? "the guest's watcher saw errors (invalid pages), not garbage, while the file was damaged"
n=$(grep -c 'was damaged by another process; repaired it' "$tmp/helper.log")
[ "$n" -ge 10 ]
ok $? "the helper logged each repair ($n)"
done_testing
