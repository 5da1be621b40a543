#!/bin/bash
# End to end: pvclock-helper -> pages file -> QEMU (TCG) -> guest program.
# The guest reads CLOCK_REALTIME through the device while the host brackets
# each reading with its own clock_gettime before the question and after the
# answer.  Pass: every guest value lies inside its bracket (see
# docs/testing.md for why this is the bound), over PVCLOCK_GUEST_ROUNDS
# exchanges (default 500).
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

rounds=${PVCLOCK_GUEST_ROUNDS:-500}
start_host_helper pvclock-e2e
kill -0 $helper_pid 2>/dev/null
ok $? "pvclock-helper publishes $pages"

"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --log "$tmp/console" -- \
    "$H/pvclock-exchange" --rounds "$rounds" --show 3 --quit \
    > "$tmp/exchange" 2> "$tmp/boot.err"
rc=$?
diag "$(cat "$tmp/boot.err")"

grep -q '^pvclock-guest: device at ' "$tmp/console"
ok $? "the guest finds the device on its PCI bus"
grep -q '^device: status valid, generation [1-9][0-9]*, counter backend tcg' "$tmp/console"
ok $? "the guest reads status valid and the TCG counter backend"
for c in REALTIME TAI MONOTONIC MONOTONIC_RAW BOOTTIME; do
    grep -qE "^$c +[0-9]+\.[0-9]{9} " "$tmp/console"
    ok $? "the guest reads $c through the device"
done
diag "$(sed -n '/^device:/,/^BOOTTIME/p' "$tmp/console" | head -7)"
for pg in 0 1 2 3; do
    line=$(grep -E "^page $pg " "$tmp/console" | tr -d '\r' | head -1)
    worst=$(printf '%s\n' "$line" | sed -nE 's/.*all five clocks read, at most ([0-9]+) ns from page 0/\1/p')
    [ -n "$worst" ] && [ "$worst" -le 3 ]
    ok $? "host page $pg through the BAR: ${line#page $pg }"
done
grep -q '^live page: in use' "$tmp/console"
ok $? "the guest reads its clocks from the live page (QEMU's own vDSO data page)"
grep -q '^mapping: sysfs resource0' "$tmp/console" &&
    grep -q '^pvclock-guest: no pvclock-pages driver bound: sysfs resource0 is for root only, refused under kernel lockdown and mapped uncached' "$tmp/console"
ok $? "without the driver the guest maps sysfs resource0 and says what that loses"
# MONOTONIC, MONOTONIC_RAW, BOOTTIME always bounded; REALTIME and TAI
# only if the host's clock is synchronised (no NTP daemon on CI hosts)
for c in REALTIME TAI MONOTONIC MONOTONIC_RAW BOOTTIME; do
    case $c in
    REALTIME|TAI) re="^bound $c +(\+-[0-9]+ ns: |none \(host unsynchronised)" ;;
    *) re="^bound $c +\+-[0-9]+ ns: [0-9]+\.[0-9]{9} \.\. [0-9]+\.[0-9]{9} \(bounded\)" ;;
    esac
    grep -qE "$re" "$tmp/console"
    ok $? "the guest prints $c's error bound"
done
diag "$(grep -E '^bound ' "$tmp/console" | tr -d '\r')"
diag "$(grep -E '^live page: all five' "$tmp/console" | tr -d '\r')"

grep -q "^exchange: $rounds rounds, 0 violations of host before <= guest <= host after, 0 guest errors" "$tmp/exchange" && [ $rc = 0 ]
ok $? "$rounds exchanges: every guest REALTIME lies between the host's stamps"
diag "$(grep '^exchange:' "$tmp/exchange")"

# a guest process in a time namespace (MONOTONIC +1000 s, BOOTTIME
# +2000 s): libpvclock minus its own clock_gettime() as outside
grep -q '^timens: exit 0' "$tmp/console" &&
    [ "$(grep -cE '^timens: (MONOTONIC|MONOTONIC_RAW|BOOTTIME): .*: same' "$tmp/console")" = 3 ]
ok $? "a guest process in a time namespace: libpvclock's MONOTONIC, MONOTONIC_RAW and BOOTTIME carry its offsets as its own clock_gettime() does"
diag "$(grep -E '^timens: ' "$tmp/console" | tr -d '\r')"

for _ in $(seq 20); do grep -q 'pvclock-guest: exit' "$tmp/console" && break; sleep 0.5; done
grep -q '^pvclock-guest: exit 0' "$tmp/console"
ok $? "the guest program exits 0 when told to"

done_testing
