#!/bin/bash
# CPU used by pvclock-helper over a measured period, as percent of one CPU
# and CPU seconds per hour.  Usage: helper-cpu.sh SECONDS [slew|idle]
# [INTERVAL-US [track]]  (no INTERVAL-US: the helper's default settings;
# track: --track-ticks)
# With "slew", the host clock is slewed +100 ppm (adjtimex ADJ_FREQUENCY,
# at most 10 s, always restored) while measuring.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
secs=${1:-10}
mode=${2:-idle}
interval=${3:-}
track=${4:-}
suffix= args=()
[ -z "$interval" ] || { suffix=_${interval}us; args+=(--interval-us "$interval"); }
[ -z "$track" ] || { suffix=${suffix}_track; args+=(--track-ticks); }
[ "$mode" = idle ] || [ "$secs" -le 10 ] || die "slewing is limited to 10 s"
H=$PVCLOCK_BUILD/host
tmp=$(mktemp -d)
"$H/pvclock-helper" --pages "$tmp/pages" "${args[@]}" 2>/dev/null &
pid=$!
slewer=
# never let a status end this early (set -e): the helper would live on,
# holding the caller's pipe open
cleanup() {
    if [ -n "$slewer" ]; then
        kill "$slewer" 2>/dev/null || true
        wait "$slewer" 2>/dev/null || true
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
if [ "$mode" = slew ]; then
    "$H/slew" 100 "$((secs + 1))" &
    slewer=$!
    sleep 0.5
fi
t0=$(ticks); s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
awk -v dt="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" -v m="$mode$suffix" 'BEGIN {
    cpu = dt / hz; wall = s1 - s0;
    printf "helper_cpu_%s_pct %.3f %%\n", m, 100 * cpu / wall;
    printf "helper_cpu_%s_s_per_hour %.2f s\n", m, 3600 * cpu / wall;
}'
