#!/bin/bash
# The host's cost of one change of the host's line with N VMs whose
# pvclock-pages has vmclock=on (issue 13): each such VM has its own
# VMClock page to rewrite, so the cost grows with N, unlike the host
# pages, which are mapped and cost the writer the same for any N
# (bench/scale.sh measures the helper's side of that).
#
# bench/line-writer writes a new line into host page 0 HZ times a second
# as pvclock-helper does (seq, check words, FUTEX_WAKE); N VMs
# (-accel qtest: the device runs, no guest code does) map those pages.
# The host's CPU time over a window with the writes (every thread of the
# N QEMUs, from /proc/PID/task/*/schedstat, plus the writer's own) minus
# the QEMUs' over as long a window without them, divided by the writes,
# is the cost of one update with vmclock=on.  With vmclock=off (the host
# pages alone) no QEMU does anything per write, and the cost is the
# writer's own CPU per write.  One VM's own count of rewrites says each write
# was one rewrite.  Usage: vmclock-cost.sh SECONDS N...  Prints
# vmclock_update_cost_us_N, host_pages_update_cost_us_N, their ratios
# LAST/FIRST and vmclock_rewrites_per_update_N.
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

HZ=100
vm() {      # vm on|off I: VM number I, running, no guest code; its pid
    "$QEMU" -M pc -accel qtest -nodefaults -display none -m 32 -monitor none \
        -qmp "unix:$tmp/q$2.qmp,server=on,wait=off" \
        -device "pvclock-pages,id=pvc,x-counter-backend=qtest,vmclock=$1,pages=$tmp/pages" \
        > /dev/null 2> "$tmp/q$2.err" &
    echo $!
}
vms_up() {  # vms_up N: wait (up to 60 s) for VMs 1..N to listen on QMP
    local i t
    for i in $(seq "$1"); do
        for t in $(seq 600); do
            [ -S "$tmp/q$i.qmp" ] && break
            kill -0 "${vms[i - 1]}" 2>/dev/null ||
                die "VM $i of $1 (vmclock=$mode) exited: $(cat "$tmp/q$i.err")"
            sleep 0.1
        done
        [ -S "$tmp/q$i.qmp" ] || die "VM $i of $1 (vmclock=$mode) has no QMP socket after 60 s"
    done
}
cpu_ns() { for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{s += $1} END {printf "%.0f", s}'; }
qom() {     # qom SOCKET PROPERTY
    printf '%s\n' '{"execute":"qmp_capabilities"}' \
        "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/pvc\",\"property\":\"$2\"}}" |
        socat -t 2 - "UNIX-CONNECT:$1" | sed -nE 's/.*"return": ([0-9]+).*/\1/p' | tail -1
}

# synthetic pages (a simulated host: no live page to overrule page 0)
"$H/pvclock-helper" --once --pages "$tmp/pages" --simulate tsc_hz=2500000000 \
    --stale-ms 36000000 2>/dev/null || die "pvclock-helper --once failed"
writes=$((secs * HZ))
declare -A cost
for mode in on off; do
    for n in "${counts[@]}"; do
        vms=()
        for i in $(seq "$n"); do vms+=("$(vm "$mode" "$i")"); done
        pids+=("${vms[@]}")
        vms_up "$n"
        sleep 2     # past start-up
        r0=$(qom "$tmp/q1.qmp" vmclock-updates)
        t0=$(cpu_ns "${vms[@]}"); sleep "$secs"; t1=$(cpu_ns "${vms[@]}")
        read -r w last < <("$H/line-writer" "$tmp/pages" "$writes" "$HZ")
        t2=$(cpu_ns "${vms[@]}")
        sleep 0.5       # the last rewrites
        r1=$(qom "$tmp/q1.qmp" vmclock-updates)
        if [ "$mode" = on ]; then
            c=$(awk -v i=$((t1 - t0)) -v b=$((t2 - t1)) -v w="$w" -v k="$writes" \
                'BEGIN { printf "%.2f", (b - i + w) / 1000 / k }')
        else
            # no QEMU does anything per write: the writer's own CPU (the
            # QEMUs' windows differ by their idle noise only)
            c=$(awk -v w="$w" -v k="$writes" 'BEGIN { printf "%.2f", w / 1000 / k }')
        fi
        cost[$mode$n]=$c
        if [ "$mode" = on ]; then
            echo "vmclock_update_cost_us_$n $c us"
            awk -v r=$(( ${r1:-0} - ${r0:-0} )) -v k="$writes" -v n="$n" \
                'BEGIN { printf "vmclock_rewrites_per_update_%d %.2f ratio\n", n, r / k }'
            # the last write's wake to each VM's rewrite of its page
            for i in $(seq "$n"); do
                u=$(qom "$tmp/q$i.qmp" vmclock-last-update-ns)
                [ -n "$u" ] && echo $(( (u - last) / 1000 ))
            done | sort -n | awk -v n="$n" '{ v[NR] = $1 } END {
                printf "vmclock_rewrite_lag_us_median_%d %d us\n", n, v[int((NR + 1) / 2)];
                printf "vmclock_rewrite_lag_us_max_%d %d us\n", n, v[NR] }'
        else
            echo "host_pages_update_cost_us_$n $c us"
        fi
        kill "${vms[@]}" 2>/dev/null || true
        for v in "${vms[@]}"; do wait "$v" 2>/dev/null || true; done
        rm -f "$tmp"/q*.qmp "$tmp"/q*.err
    done
done
first=${counts[0]}; last=${counts[-1]}
awk -v a="${cost[on$first]}" -v b="${cost[on$last]}" -v l="$last" -v f="$first" \
    'BEGIN { printf "vmclock_update_cost_ratio_%d_%d %.1f ratio\n", l, f, (a > 0 ? b / a : 0) }'
awk -v a="${cost[off$first]}" -v b="${cost[off$last]}" -v l="$last" -v f="$first" \
    'BEGIN { printf "host_pages_update_cost_ratio_%d_%d %.1f ratio\n", l, f, (a > 0 ? b / a : 0) }'
