#!/bin/bash
# A guest hammering writes on the BAR: pvclock-guest-test hammer (serve
# plus tests/guest/tools/hammer.c) writes random values of every size
# (1, 2, 4, 8 bytes) at random offsets all over the 32 KiB BAR, as fast
# as it can, for PVCLOCK_HAMMER_SECONDS (default 10) under TCG, while its
# watcher thread reads all five clocks.
# The device must ignore every write: no read error, no step back, the
# exchange afterwards within the host's bracket, and the host's pages
# file untouched (the helper, which checks its pages every poll, never
# has to repair them).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

secs=${PVCLOCK_HAMMER_SECONDS:-10}
start_host_helper pvclock-hammer
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --cmd hammer \
    --log "$tmp/console" -- \
    bash -c "sleep $secs && exec \"\$0\" --rounds 100 --watch" \
        "$H/pvclock-exchange" > "$tmp/result" 2> "$tmp/boot.err"
rc=$?
diag "$(cat "$tmp/boot.err")" "$(grep -v '^ ' "$tmp/result")"

w=$(grep '^watch: ' "$tmp/result")
n=$(echo "$w" | sed -nE 's/.*; ([0-9]+) BAR writes$/\1/p')
[ "${n:-0}" -ge 10000 ]
ok $? "the guest wrote ${n:-no} times all over the BAR in $secs s"
echo "$w" | grep -q 'backward steps REALTIME 0 TAI 0 MONOTONIC 0 MONOTONIC_RAW 0 BOOTTIME 0 .*, 0 errors,'
ok $? "meanwhile its watcher read all five clocks: 0 errors, 0 steps back"
grep -q "^exchange: 100 rounds, 0 violations of host before <= guest <= host after, 0 guest errors" "$tmp/result" && [ $rc = 0 ]
ok $? "100 exchanges during the hammering: every guest REALTIME between the host's stamps"
! grep -q 'damaged by another process' "$tmp/helper.log"
ok $? "the host's pages file was never touched (the helper had nothing to repair)"
"$H/pvclock-helper" --inspect --socket "$pages" > "$tmp/inspect" 2>&1 &&
    [ "$(grep -c 'magic ok abi 1\.[0-9]* seq [0-9]* checks ok' "$tmp/inspect")" = 4 ]
ok $? "all four host pages: headers and check words intact"
kill -0 "$helper_pid" 2>/dev/null
ok $? "the helper still runs"
done_testing
