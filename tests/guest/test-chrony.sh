#!/bin/bash
# chronyd (Debian's, unpacked into the test initramfs) in a TCG guest,
# fed by `pvclock-guest chrony` through its SOCK reference clock protocol:
# chronyd must select the PVC reference clock and bring the guest's
# system clock to it.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

H=$PVCLOCK_BUILD/host
tmp=$(mktemp -d /tmp/pvclock-chrony-XXXXXX)
helper_pid=
trap '[ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

if ! "$H/pvclock-helper" --check > "$tmp/check" 2>&1; then
    echo "1..0 # SKIP this host's clocks cannot be shared: $(tail -1 "$tmp/check")"
    exit 0
fi
"$H/pvclock-helper" --pages "$tmp/pages" 2> "$tmp/helper.log" &
helper_pid=$!
sleep 0.5
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$tmp/pages" --cmd chrony \
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
