#!/bin/bash
# Invariant 2 across the VM boundary, under TCG: a host program and a
# guest program exchange CLOCK_REALTIME stamps through shared memory
# (ivshmem-plain over a host file) for PVCLOCK_SHM_SECONDS (default 60);
# neither may ever read a value smaller than a stamp it has seen from the
# other.  The host reads clock_gettime(), the guest pvclock_gettime()
# through -device pvclock-pages, whose live page it reads.  For the first
# 8 s the host's frequency is stepped +/-100 ppm every 4 ms (adjtimex,
# restored on every exit path): the live page follows each step at once.
# A second, shorter run with live-page=off reads the helper's pages only
# through the same steps and reports what they cost.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"

secs=${PVCLOCK_SHM_SECONDS:-60}
start_host_helper pvclock-shm
"$H/pvclock-shm-exchange" --shm "$tmp/xchg" --init
ok $? "shared memory file prepared"

"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --cmd shm \
    --log "$tmp/console" \
    --qemu-arg "-object" \
    --qemu-arg "memory-backend-file,id=xchg,mem-path=$tmp/xchg,size=1M,share=on" \
    --qemu-arg "-device" --qemu-arg "ivshmem-plain,memdev=xchg" -- \
    "$H/pvclock-shm-exchange" --shm "$tmp/xchg" --seconds "$secs" \
    --freq-steps 100,8 > "$tmp/result" 2> "$tmp/boot.err"
rc=$?
diag "$(cat "$tmp/boot.err")" "$(cat "$tmp/result")"
grep -q '^pvclock-guest: live page in use' "$tmp/console"
ok $? "the guest reads the live page (QEMU's own vDSO data page in the BAR)"
grep -q "^shm-exchange: [0-9]* frequency steps of +100/-100 ppm, frequency restored" "$tmp/result"
ok $? "the host frequency was stepped during the first 8 s, and restored"
grep -q "^shm-exchange: .*host: [0-9]* exchanges, 0 violations .*guest: [0-9]* exchanges, 0 violations .*, 0 errors" "$tmp/result" && [ $rc = 0 ]
ok $? "$secs s of stamp exchange through frequency steps, host and guest: 0 backward observations either way"
for _ in $(seq 20); do grep -q 'pvclock-guest: exit' "$tmp/console" && break; sleep 0.5; done
grep -q '^pvclock-guest: exit 0' "$tmp/console"
ok $? "the guest program reports the same and exits 0"
diag "$(grep 'shm-exchange' "$tmp/console")"

# the helper's pages only, through the same steps: measured, not required
"$H/pvclock-shm-exchange" --shm "$tmp/xchg" --init
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --cmd shm \
    --log "$tmp/console2" \
    --qemu-arg "-global" --qemu-arg "pvclock-pages.live-page=off" \
    --qemu-arg "-object" \
    --qemu-arg "memory-backend-file,id=xchg,mem-path=$tmp/xchg,size=1M,share=on" \
    --qemu-arg "-device" --qemu-arg "ivshmem-plain,memdev=xchg" -- \
    "$H/pvclock-shm-exchange" --shm "$tmp/xchg" --seconds 8 \
    --freq-steps 100,8 > "$tmp/result2" 2> "$tmp/boot2.err"
diag "$(cat "$tmp/boot2.err")" "$(cat "$tmp/result2")"
grep -q '^pvclock-guest: live page not in use' "$tmp/console2" &&
    grep -q "^shm-exchange: .*host: [0-9]* exchanges, [0-9]* violations .*guest: [0-9]* exchanges, [0-9]* violations" "$tmp/result2"
ok $? "live-page=off: the same steps over the helper's pages only, measured (backward observations above)"
done_testing
