#!/bin/bash
# Migration figures: the device's share of the migration stream, and
# from the migration harness and the guest migration test: post_load
# time, the guest's REALTIME error right after, and backward steps.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
QEMU=$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64
H=$PVCLOCK_BUILD/host
tmp=$(mktemp -d /dev/shm/pvclock-migb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$H/pvclock-helper" --pages "$tmp/pages" --once 2>/dev/null
save() {    # save FILE [DEVICE-ARGS]: a paused VM's state into FILE
    local out=$1; shift
    printf '%s\n' '{"execute":"qmp_capabilities"}' \
        "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:$out\"}}" |
        "$QEMU" -M pc -accel tcg -nodefaults -display none -S -m 64 \
            -qmp stdio "$@" > /dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        [ -s "$out" ] && sleep 0.3 && break
        sleep 0.05
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}
save "$tmp/without"
save "$tmp/with" -device "pvclock-pages,pages=$tmp/pages"
echo "device_state_bytes $(( $(stat -c %s "$tmp/with") - $(stat -c %s "$tmp/without") )) bytes"

python3 "$PVCLOCK_ROOT/tests/migration/migrate.py" > "$tmp/harness" 2>&1 || true
python3 "$PVCLOCK_ROOT/tests/migration/guest_migration.py" > "$tmp/guest" 2>&1 || true
sed -nE 's/^# post_load on [A-Z]: ([0-9]+) us/migration_post_load_us \1 us/p' "$tmp/guest" | head -1
sed -nE 's/.*guest REALTIME == host B.s for the same TSC \(diff (-?[0-9]+) ns\); host A differs by ([0-9.]+) s/migration_error_ns \1 ns\nmigration_error_ns_without_device \2e9 ns/p' "$tmp/harness" |
    awk '{ if ($1 == "migration_error_ns_without_device") printf "%s %.0f ns\n", $1, $2; else print }'
# downtime=include: the guest's monotonic clocks against the wall time
# (CI allows 1 ms, for scheduling delays on a loaded host)
grep -E 'downtime=include: MONOTONIC' "$tmp/harness" |
    grep -oE '(monotonic|raw|boottime) [-+]?[0-9]+ ns' | awk '
    { v = $2 < 0 ? -$2 : $2; if (v > m) m = v; n++ }
    END { printf "migration_include_error_ns %d ns\n", n ? m : -1 }'
back=$(sed -nE 's/^# watch: .*backward steps REALTIME ([0-9]+) TAI ([0-9]+) MONOTONIC ([0-9]+) MONOTONIC_RAW ([0-9]+) BOOTTIME ([0-9]+).*/\1 \2 \3 \4 \5/p' "$tmp/guest")
if [ -n "$back" ]; then
    echo "migration_backward_steps $(echo "$back" | awk '{print $1+$2+$3+$4+$5}') count"
else
    echo "migration_backward_steps -1 count"     # the guest test did not run
fi
fails=$(cat "$tmp/harness" "$tmp/guest" | grep -c '^not ok' || true)
echo "migration_test_failures $fails count"
