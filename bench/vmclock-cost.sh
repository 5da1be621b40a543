#!/bin/bash
# The host's cost of one change of the host's line with N VMs whose
# pvclock-pages has vmclock=on (issue 13): each such VM has its own
# VMClock page to rewrite, so the cost grows with N, unlike the host
# pages, which are mapped and cost the same for any N (bench/scale.sh).
#
# A simulate-mode helper is made to publish a new line ~20 times a
# second (its control file toggles the synthetic NTP frequency); N VMs
# (-accel qtest: the device runs, no guest code does) map its pages.  The
# host's CPU time (every thread of the helper and of the N QEMUs, from
# /proc/PID/task/*/schedstat) over a window with the changes, minus the
# same window without them, divided by the publications, is the cost of
# one update; once with vmclock=on, once with vmclock=off.  One VM's own
# count of rewrites says they all happened.  Usage: vmclock-cost.sh
# SECONDS N...  Prints vmclock_update_cost_us_N, host_pages_update_cost_us_N,
# vmclock_update_cost_ratio_LAST_FIRST and vmclock_rewrites_per_publication.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
secs=${1:-5}; shift
counts=("${@:-1 16 64}")
H=$PVCLOCK_BUILD/host
QEMU=$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64
tmp=$(mktemp -d /dev/shm/pvclock-vmccost-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

vm() {      # vm on|off QMP-or-empty: a running VM, no guest code; its pid
    local q=()
    [ -n "$2" ] && q=(-qmp "unix:$2,server=on,wait=off")
    "$QEMU" -M pc -accel qtest -nodefaults -display none -m 32 -monitor none \
        "${q[@]}" -device "pvclock-pages,id=pvc,x-counter-backend=qtest,vmclock=$1,pages=$tmp/pages" \
        > /dev/null 2> "$tmp/qemu.err" &
    echo $!
}
cpu_ns() { for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{s += $1} END {printf "%d", s}'; }
seq0() { od -An -tu4 -j24 -N4 "$tmp/pages" | tr -d ' '; }
qom() {     # qom SOCKET PROPERTY
    printf '%s\n' '{"execute":"qmp_capabilities"}' \
        "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/pvc\",\"property\":\"$2\"}}" |
        socat -t 2 - "UNIX-CONNECT:$1" | sed -nE 's/.*"return": ([0-9]+).*/\1/p' | tail -1
}
# window CHANGE: CPU ns of the helper and the VMs over $secs s, and the
# publications meanwhile; with CHANGE=1 the line is changed every 10 ms
window() {
    local t0 t1 s0 s1 end k=0
    t0=$(cpu_ns "$helper" "${vms[@]}"); s0=$(seq0)
    end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        if [ "$1" = 1 ]; then
            k=$((k + 1))
            printf 'tsc_hz=2500000000\nfreq_ppb=%d\n' $((k % 2 ? 1000 : -1000)) > "$tmp/ctl.new"
            mv "$tmp/ctl.new" "$tmp/ctl"
        fi
        sleep 0.01
    done
    t1=$(cpu_ns "$helper" "${vms[@]}"); s1=$(seq0)
    echo "$((t1 - t0)) $(( (s1 - s0) / 2 ))"
}

echo "tsc_hz=2500000000" > "$tmp/ctl"
"$H/pvclock-helper" --pages "$tmp/pages" --simulate @"$tmp/ctl" 2>/dev/null &
helper=$!; pids+=("$helper")
sleep 0.5
declare -A cost
for mode in on off; do
    for n in "${counts[@]}"; do
        vms=()
        vms+=("$(vm "$mode" "$tmp/q0.qmp")")
        for _ in $(seq 2 "$n"); do vms+=("$(vm "$mode" "")"); done
        pids+=("${vms[@]}")
        sleep $((n / 8 + 2))
        r0=$(qom "$tmp/q0.qmp" vmclock-updates)
        read -r idle _ < <(window 0)
        read -r busy pubs < <(window 1)
        r1=$(qom "$tmp/q0.qmp" vmclock-updates)
        c=$(awk -v b="$busy" -v i="$idle" -v p="$pubs" 'BEGIN { printf "%.2f", p ? (b - i) / 1000 / p : 0 }')
        cost[$mode$n]=$c
        if [ "$mode" = on ]; then
            echo "vmclock_update_cost_us_$n $c us"
            # VM 0 rewrote its page once per publication (both windows)
            awk -v r=$(( ${r1:-0} - ${r0:-0} )) -v p="$pubs" -v n="$n" \
                'BEGIN { printf "vmclock_rewrites_per_publication_%d %.2f ratio\n", n, p ? r / p : 0 }'
        else
            echo "host_pages_update_cost_us_$n $c us"
        fi
        kill "${vms[@]}" 2>/dev/null || true
        for v in "${vms[@]}"; do wait "$v" 2>/dev/null || true; done
    done
done
first=${counts[0]}; last=${counts[-1]}
awk -v a="${cost[on$first]}" -v b="${cost[on$last]}" -v l="$last" -v f="$first" \
    'BEGIN { printf "vmclock_update_cost_ratio_%d_%d %.1f ratio\n", l, f, (a > 0 ? b / a : 0) }'
awk -v a="${cost[off$first]}" -v b="${cost[off$last]}" -v l="$last" -v f="$first" \
    'BEGIN { printf "host_pages_update_cost_ratio_%d_%d %.1f ratio\n", l, f, (a > 0 ? b / a : 0) }'
