#!/bin/bash
# Helper publish cost with N QEMU processes attached to its pages file.
# A simulate-mode helper is made to publish ~100 times a second (its
# control file changes the synthetic NTP frequency every 10 ms); N paused
# TCG VMs with -device pvclock-pages map the file.  Cost per publication
# = helper CPU time / publications; it must not grow with N (the pages
# are mapped, not copied).  Also the device's memory per VM (PSS with
# minus without the device).  Usage: scale.sh SECONDS N...
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
secs=${1:-5}; shift
counts=("${@:-1 16 64}")
H=$PVCLOCK_BUILD/host
QEMU=$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64
tmp=$(mktemp -d /dev/shm/pvclock-scale-XXXXXX)  # tmpfs, like /run
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

vm() {      # vm PAGES-or-empty: a paused TCG VM; prints its pid
    local dev=()
    [ -n "$1" ] && dev=(-device "pvclock-pages,pages=$1")
    "$QEMU" -M pc -accel tcg -nodefaults -display none -S -m 64 \
        -monitor none "${dev[@]}" > /dev/null 2>&1 &
    echo $!
}
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
seq0() { od -An -tu4 -j24 -N4 "$tmp/pages" | tr -d ' '; }

# memory: one VM with and one without the device
a=$(vm "") ; pids+=("$a")
echo "tsc_hz=2500000000" > "$tmp/ctl"
"$H/pvclock-helper" --pages "$tmp/pages" --simulate @"$tmp/ctl" 2>/dev/null &
helper=$!; pids+=("$helper")
sleep 0.5
b=$(vm "$tmp/pages"); pids+=("$b")
sleep 2
echo "device_memory_kib $(( $(pss_kib "$b") - $(pss_kib "$a") )) KiB"
kill "$a" "$b"

declare -A cost
for n in "${counts[@]}"; do
    vms=()
    for _ in $(seq "$n"); do vms+=("$(vm "$tmp/pages")"); done
    pids+=("${vms[@]}")
    sleep $((n / 16 + 2))
    t0=$(awk '{print $1}' "/proc/$helper/schedstat"); s0=$(seq0)
    end=$((SECONDS + secs)); k=0
    while [ $SECONDS -lt $end ]; do
        k=$((k + 1))
        printf 'tsc_hz=2500000000\nfreq_ppb=%d\n' $((k % 2 ? 1000 : -1000)) > "$tmp/ctl.new"
        mv "$tmp/ctl.new" "$tmp/ctl"
        sleep 0.01
    done
    t1=$(awk '{print $1}' "/proc/$helper/schedstat"); s1=$(seq0)
    pubs=$(( (s1 - s0) / 2 ))
    # helper CPU ns (schedstat) per publication, wakeups included
    c=$(awk -v dt=$((t1 - t0)) -v p="$pubs" 'BEGIN { printf "%.2f", p ? dt / 1000 / p : 0 }')
    cost[$n]=$c
    echo "scale_publications_per_s_$n $(awk -v p="$pubs" -v s="$secs" 'BEGIN { printf "%.1f", p / s }') 1/s"
    echo "scale_cost_us_per_publication_$n $c us"
    kill "${vms[@]}" 2>/dev/null || true
    for v in "${vms[@]}"; do wait "$v" 2>/dev/null || true; done
done
first=${counts[0]}; last=${counts[-1]}
awk -v a="${cost[$first]}" -v b="${cost[$last]}" -v l="$last" -v f="$first" \
    'BEGIN { printf "scale_cost_ratio_%d_%d %.3f ratio\n", l, f, (a > 0 ? b / a : 0) }'
