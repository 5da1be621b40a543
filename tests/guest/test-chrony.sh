#!/bin/bash
# chronyd (Debian's, unpacked into the test initramfs) in a TCG guest,
# fed by `pvclock-guest chrony` through its SOCK reference clock protocol:
# chronyd must select the PVC reference clock and bring the guest's
# system clock to it.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

start_host_helper pvclock-chrony
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --cmd chrony \
    --log "$tmp/console" --timeout 180 2> "$tmp/boot.err"
ok $? "the guest boots with chronyd and the feeder"
diag "$(cat "$tmp/boot.err")"
grep -q 'Selected source PVC' "$tmp/console"
ok $? "chronyd selects the pvclock reference clock"
grep -qE '^#\* PVC ' "$tmp/console"
ok $? "chronyc sources marks PVC as the synchronisation source (#*)"
grep -qE '^Reference ID +: 50564300 \(PVC\)' "$tmp/console" &&
    grep -qE '^Leap status +: Normal' "$tmp/console"
ok $? "chronyc tracking: reference PVC, leap status normal"
diag "$(sed -n '/^MS Name/,/^Leap status/p' "$tmp/console")"
done_testing
