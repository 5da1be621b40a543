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

log=$run/console.log
rounds=${PVCLOCK_DEMO_ROUNDS:-10}
out=$run/exchange.txt
"$PVCLOCK_ROOT/tests/guest/boot.sh" --pages "$pages" --log "$log" -- \
    "$PVCLOCK_BUILD/host/pvclock-exchange" --rounds "$rounds" --show "$rounds" --quit > "$out" || rc=$?

echo
echo "Inside the guest, pvclock-guest read the device and its own clock:"
sed -n '/^pvclock-guest: device at/,/^BOOTTIME/p' "$log" | sed 's/^/  /'
echo
echo "Guest pvclock REALTIME between two host clock_gettime(CLOCK_REALTIME)"
echo "stamps, exchanged over the guest's second serial line (seconds):"
sed 's/^/  /' "$out"
echo
echo "The guest's own clock_gettime comes from its (emulated) kernel and"
echo "drifts; pvclock REALTIME is the host's, so it always lies between the"
echo "host's stamps taken before and after each question."
exit "${rc:-0}"
