#!/bin/bash
# The guest driver (contrib/pvclock-driver/, /dev/pvclock-pagesN) in TCG
# guests running Debian 12's 6.1 cloud kernel, built against that
# kernel's linux-headers packages, and trixie-backports' 7.x cloud kernel
# with the module built in a trixie chroot (the boots named ...7).
# Thirteen boots, each running tests/guest/driver-guest.sh from the
# initramfs:
#   pc, pc7   two devices (one with interrupts=off): bind, non-root mapping,
#          write refusals, memory type, rmmod/insmod, the PTP clocks (the
#          host's exchange bracket over a second serial line, chronyd
#          with refclock PHC), runtime lockdown, hot-unplug while mapped,
#          polled and held open by chronyd
#   pc-high, q35-high, pc-high7   SeaBIOS 1.16.3 and RAM above 4 GiB:
#          the BAR above 4 GiB, write-back (tests/guest/fetch-seabios.sh)
#   q35    Debian 12's SeaBIOS: the BAR in the 32-bit hole; pci=nomsi: the
#          disruption interrupt over INTx across a helper restart
#   lockdown, lockdown7   booted with lockdown=integrity: the unsigned
#          module refused
#   irq, irq7   the disruption interrupt over MSI-X: 60 s of steady state,
#          a helper restart, a live migration to a paused destination.
#          Each runs beside the others, with a helper of its own.
#   vmclock-pv7, vmclock-qemu7   Linux's ptp_vmclock on pvclock-pages'
#          vmclock=on and on QEMU's own -device vmclock, side by side,
#          across a migration between two simulated hosts
#          (tests/guest/vmclock-boots.sh, docs/vmclock.md).
# See docs/driver.md for what each finding means.  PVCLOCK_DRIVER_KEEP=DIR
# keeps the guests' consoles there; PVCLOCK_DRIVER_BUILD (default
# $PVCLOCK_BUILD/driver) is where the module and the initramfs are built;
# PVCLOCK_DRIVER_ONLY=pc stops after the build and the pc boot (for
# trying a change of the driver quickly), =vmclock runs only the two
# VMClock boots (tests/guest/vmclock-boots.sh), =unmodified the irq7 boot
# beside a 7.x guest without the driver (ptp_vmclock and chronyd) through
# the same events (bench/guest-resume.sh); the real-KVM suite
# (tests/kvm/, with PVCLOCK_ACCEL=kvm) runs =kvm, the pc and irq boots,
# and =vmclock-pv, the vmclock-pv7 boot alone, inside its L1, where
# nothing is built: tests/kvm/prepare.sh ran =build on the host first,
# the modules and initramfs of both kernels and nothing booted.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/console.sh"
. "$PVCLOCK_ROOT/tests/guest/host-helper.sh"
. "$PVCLOCK_ROOT/tests/guest/vmclock-boots.sh"

# a pages file, not the socket: the restarts below rewrite the same file
# (QEMU's wait for a socket's answer, 100 ms when this was written, was
# missed once here under load; it is 1 s since)
start_host_helper pvclock-driver pages
# and what the background irq boot started, if the test ends early
trap 'for f in irq-qemu irq-helper irq7-qemu irq7-helper vmclock-pv7-qemu vmclock-pv7-helper vmclock-qemu7-qemu vmclock-qemu7-helper; do [ -f "$tmp/$f.pid" ] && kill $(cat "$tmp/$f.pid") 2>/dev/null; done
      [ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
out=${PVCLOCK_DRIVER_BUILD:-$PVCLOCK_BUILD/driver}
[ -x "$QEMU" ] || { echo "Bail out! $QEMU not built; run scripts/build.sh"; exit 1; }
kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh") ||
    { echo "Bail out! no guest kernel"; exit 1; }

# --- build: the module against the guest kernel's headers, the tool, the initramfs
only=${PVCLOCK_DRIVER_ONLY:-}
initrd=$out/initramfs-driver.cpio.gz
# build61: the 6.1 module (checkpatch-clean), driver-check, the initramfs
build61() {
    local kdir rc checkpatch
    kdir=$("$PVCLOCK_ROOT/tests/guest/fetch-headers.sh") ||
        { echo "Bail out! no headers for $kernel"; exit 1; }
    "$PVCLOCK_ROOT/contrib/pvclock-driver/build-for.sh" "$kdir" "$out/6.1" \
        > "$tmp/build.out" 2> "$tmp/build.err"
    rc=$?
    [ $rc = 0 ] && ! grep -q 'warning:' "$tmp/build.err"
    ok $? "pvclock-pages.ko builds without warnings against $(basename "$kdir")"
    [ $rc = 0 ] || { diag "$(cat "$tmp/build.err")"; done_testing; exit 1; }
    if checkpatch=$("$PVCLOCK_ROOT/tests/guest/fetch-checkpatch.sh" 2> "$tmp/cp.err"); then
        perl "$checkpatch" --strict --no-tree -f "$PVCLOCK_ROOT/contrib/pvclock-driver/pvclock-pages.c" \
            > "$tmp/checkpatch" 2>&1
        grep -q '^total: 0 errors, 0 warnings, 0 checks' "$tmp/checkpatch"
        ok $? "Linux 6.1 checkpatch.pl --strict: $(grep '^total:' "$tmp/checkpatch")"
        grep -q '^total: 0 errors, 0 warnings, 0 checks' "$tmp/checkpatch" ||
            diag "$(head -30 "$tmp/checkpatch")"
    else
        skip "Linux 6.1 checkpatch.pl over pvclock-pages.c" "$(tail -1 "$tmp/cp.err")"
    fi
    cc -static -O2 -Wall -Wextra -Werror -I"$PVCLOCK_ROOT/include" \
        -o "$out/6.1/driver-check" "$PVCLOCK_ROOT/tests/guest/tools/driver-check.c" ||
        { echo "Bail out! driver-check did not build"; exit 1; }
    "$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" driver "$out/6.1" ||
        { echo "Bail out! no initramfs"; exit 1; }
}
# build7: trixie-backports' 7.x cloud kernel's module, built in a trixie
# chroot against that kernel's headers (build-driver-trixie.sh), Linux's
# ptp_vmclock from its linux-modules, the initramfs; status 0 when there
# is an initramfs to boot ($kernel7, $initrd7)
initrd7=$out/initramfs-driver-7.cpio.gz
build7() {
    local vdir
    if ! kernel7=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" 7 2> "$tmp/k7.err") ||
       ! "$PVCLOCK_ROOT/tests/guest/build-driver-trixie.sh" "$out/7" \
           > "$tmp/build7.out" 2> "$tmp/build7.err"; then
        ok 1 "the 7.x kernel and its module: $(tail -2 "$tmp/k7.err" "$tmp/build7.err" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
    ! grep 'warning:' "$tmp/build7.err" | grep -vq pahole
    ok $? "pvclock-pages.ko builds without warnings against $(basename "$(dirname "$kernel7")") (trixie chroot: gcc-14, its kbuild)"
    cp "$out/6.1/driver-check" "$out/7/"
    # QEMU's own VMClock device, the baseline of issue 13: Linux's
    # ptp_vmclock from the kernel's linux-modules package
    if vdir=$("$PVCLOCK_ROOT/tests/guest/fetch-modules.sh" ptp_vmclock 2> "$tmp/mods.err") &&
       cc -static -O2 -Wall -Wextra -Werror -o "$out/7/vmclock-check" \
           "$PVCLOCK_ROOT/tests/guest/tools/vmclock-check.c"; then
        cp "$vdir/ptp_vmclock.ko" "$out/7/"
    else
        ok 1 "ptp_vmclock.ko from the 7.x kernel's linux-modules package: $(tail -1 "$tmp/mods.err")"
    fi
    "$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd7" driver "$out/7" ||
        { ok 1 "an initramfs with the 7.x module"; return 1; }
}
# in the real-KVM suite's L1 (tests/kvm/nested.sh), which emulates every
# instruction, nothing is built: tests/kvm/prepare.sh built it all on
# this machine beforehand (PVCLOCK_DRIVER_ONLY=build), and the driver
# suite checks the builds
if [ -n "${PVCLOCK_IN_L1:-}" ]; then
    for f in "$out/6.1/pvclock-pages.ko" "$out/6.1/driver-check" "$initrd"; do
        [ -f "$f" ] || { echo "Bail out! $f not built; run tests/kvm/prepare.sh on the host first"; exit 1; }
    done
    diag "L1: the modules and initramfs tests/kvm/prepare.sh built on the host"
else
    build61
fi
if [ "$only" = build ]; then     # tests/kvm/prepare.sh, before L1
    build7
    done_testing
    exit
fi
bios=$("$PVCLOCK_ROOT/tests/guest/fetch-seabios.sh" 2> "$tmp/bios.err") || bios=

# restart_helper PID PAGES LOG: stop the helper PID and start another on
# the same pages file at once (well inside its 5 s staleness limit), as
# an operator's restart does; the new one's pid in $restarted_pid.  Says
# host page 0's disruptions before and after on stdout.  Both this and
# irq_boot start the helper with the words of $helper_args after --pages.
restart_helper() {
    local pid=$1 file=$2 hlog=$3 before after
    before=$("$H/pvclock-helper" --inspect --pages "$file" 2>/dev/null |
        awk '/disruptions/ {print $2; exit}')
    kill "$pid"; wait "$pid" 2>/dev/null
    "$H/pvclock-helper" --pages "$file" ${helper_args:-} > /dev/null 2>> "$hlog" &
    restarted_pid=$!
    for _ in $(seq 50); do
        after=$("$H/pvclock-helper" --inspect --pages "$file" 2>/dev/null |
            awk '/disruptions/ {print $2; exit}')
        [ "$after" != "$before" ] && break
        sleep 0.1
    done
    echo "host page 0 disruptions $before -> $after"
}

# boot NAME MACHINE MEM BIOS APPEND QEMU-ARGS...: one guest to its end;
# $tmp/NAME.log is its console.  Unplugs pvc0 when the guest asks, and
# restarts the helper when it asks for that.  The
# soft-lockup and RCU-stall detectors are off: a TCG vCPU starved by a
# loaded host trips them, and their reports would read as the driver's.
boot() {
    local name=$1 machine=$2 mem=$3 fw=$4 append=$5; shift 5
    local log=$tmp/$name.log qmp=$tmp/$name.qmp pid start unplugged= restarted= exchanged=
    : > "$log"
    stage "driver: booting $name ($machine, $mem MiB${fw:+, $(cat "$PVCLOCK_CACHE/seabios/version" 2>/dev/null || echo "$fw")})"
    start=$SECONDS
    "$QEMU" -M "$machine" -accel "${PVCLOCK_ACCEL:-tcg}" -cpu max -m "$mem" ${fw:+-bios "$fw"} \
        -nodefaults -display none -no-reboot -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1 pvclock.cmd=driver $append" \
        -serial "file:$log" -qmp "unix:$qmp,server=on,wait=off" "$@" \
        2> "$tmp/$name.err" &
    pid=$!
    while kill -0 $pid 2>/dev/null; do
        if [ -z "$unplugged" ] && grep -q '^pvclock-guest: ready-unplug' "$log"; then
            printf '%s\n' '{"execute":"qmp_capabilities"}' \
                '{"execute":"device_del","arguments":{"id":"pvc0"}}' |
                socat -t 2 - "UNIX-CONNECT:$qmp" > "$tmp/$name.qmp.out" 2>&1
            unplugged=1
        fi
        # the PHC answers the host's questions on ttyS1 ($tmp/NAME.ex)
        if [ -z "$exchanged" ] && grep -q '^pvclock-guest: ready-exchange' "$log"; then
            GUEST_SOCKET=$tmp/$name.ex timeout 60 "$H/pvclock-exchange" --rounds 300 --show 3 --quit \
                > "$tmp/$name.exchange" 2>&1
            exchanged=1
        fi
        if [ -z "$restarted" ] && grep -q '^pvclock-guest: ready-restart' "$log"; then
            restart_helper "$helper_pid" "$pages" "$tmp/helper.log" > "$tmp/$name.restart"
            helper_pid=$restarted_pid restarted=1
        fi
        grep -q '^pvclock-guest: exit' "$log" && break
        if [ $((SECONDS - start)) -ge 300 ]; then
            diag "$name: no end after 300 s; last console lines:" "$(tail -5 "$log")"
            break
        fi
        sleep 0.2
    done
    for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
    [ -z "${PVCLOCK_DRIVER_KEEP:-}" ] || cp "$log" "$PVCLOCK_DRIVER_KEEP/"
    eval "took_${name//-/_}=$((SECONDS - start))"
    [ -s "$tmp/$name.err" ] && diag "$name: QEMU said: $(head -3 "$tmp/$name.err")"
    return 0
}
# migrate_start NAME DST-CONSOLE QEMU-ARG... [-- ARG...]: a destination
# QEMU (those arguments, -S, -incoming, its console DST-CONSOLE on ttyS0,
# then the ARGs after --) and tests/guest/driver-migrate.py moving
# NAME's source there; their pids in $dpid and $mpid
migrate_start() {
    local n=$1 dst=$2 a
    local -a head=() tail=()
    shift 2
    for a in "$@"; do
        if [ "$a" = -- ] && [ ${#tail[@]} = 0 ]; then tail=(--); continue; fi
        if [ ${#tail[@]} -gt 0 ]; then tail+=("$a"); else head+=("$a"); fi
    done
    "$QEMU" "${head[@]}" -S -incoming "unix:$tmp/$n-mig.sock" -serial "file:$dst" \
        "${tail[@]:1}" \
        -qmp "unix:$tmp/$n-dst.qmp,server=on,wait=off" 2> "$tmp/$n-dst.err" &
    dpid=$!
    echo "$dpid" >> "$tmp/$n-qemu.pid"
    python3 "$PVCLOCK_ROOT/tests/guest/driver-migrate.py" "$tmp/$n-src.qmp" \
        "$tmp/$n-dst.qmp" "unix:$tmp/$n-mig.sock" "$dst" > "$tmp/$n.migrate" 2>&1 &
    mpid=$!
}

# guest_over NAME SRC DST START LIMIT PID: has NAME's guest ended (its
# exit line on either console, both QEMUs gone, or LIMIT s since START,
# said in $tmp/NAME.timeout)?
guest_over() {
    local n=$1 src=$2 dst=$3 start=$4 limit=$5 pid=$6
    grep -q '^pvclock-guest: exit' "$src" "$dst" && return 0
    if [ $((SECONDS - start)) -ge "$limit" ]; then
        guest_stuck "$n" "$src" "$dst" "$limit" "$pid" > "$tmp/$n.timeout"
        return 0
    fi
    ! kill -0 "$pid" 2>/dev/null && { [ -z "$dpid" ] || ! kill -0 "$dpid" 2>/dev/null; }
}

# guest_stuck NAME SRC DST LIMIT PID: what a boot that did not end in
# LIMIT s left to go by, on one line: each console's size and last
# lines, and, while the source QEMU is there, its run state and vCPU
# registers (a guest that printed nothing: firmware, kernel or QEMU)
guest_stuck() {
    local n=$1 f qmp=$tmp/$1-src.qmp
    printf 'no end after %s s;' "$4"
    for f in "$2" "$3"; do
        [ -s "$f" ] || { printf ' %s: empty;' "${f##*/}"; continue; }
        printf ' %s: %s bytes, last lines: %s;' "${f##*/}" "$(wc -c < "$f")" \
            "$(tail -n 3 "$f" | tr -d '\r' | tr '\n' '|')"
    done
    if [ -S "$qmp" ] && kill -0 "$5" 2>/dev/null; then
        printf ' source QEMU: %s;' "$(hmp_within 20 "$qmp" "info status" | head -1)"
        printf ' %s' "$(hmp_within 20 "$qmp" "info registers" |
            grep -oE '(RIP|EIP|EFL|CR0|CR3)=[0-9a-f]+' | tr '\n' ' ')"
    fi
    echo
}

# guest_teardown PID: the migration script ($mpid) and both QEMUs (PID,
# $dpid) given time to end, then stopped
guest_teardown() {
    local q
    if [ -n "$mpid" ]; then
        for _ in $(seq 100); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.2; done
        kill "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null
    fi
    for q in $1 $dpid; do
        for _ in $(seq 50); do kill -0 "$q" 2>/dev/null || break; sleep 0.1; done
        kill "$q" 2>/dev/null; wait "$q" 2>/dev/null
    done
}

# hmp QMP-SOCKET COMMAND: an HMP command through QMP; its output on stdout
hmp() {
    python3 - "$PVCLOCK_ROOT/tests/migration" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import migrate as m
print(m.QMP(sys.argv[2], tries=1200).hmp(sys.argv[3]).strip())
PY
}

# hmp_within SECONDS QMP-SOCKET COMMAND: hmp, given up after SECONDS (a
# QEMU whose main loop is stuck answers nothing)
hmp_within() {
    local t=$1; shift
    timeout "$t" bash -c "$(declare -f hmp); PVCLOCK_ROOT=\$1; shift; hmp \"\$@\"" \
        _ "$PVCLOCK_ROOT" "$@" 2>&1 || echo "no answer in $t s"
}

# irq_boot NAME KERNEL INITRD [PART QEMU-ARG...]: an irq guest (pc,
# MSI-X; driver-guest.sh's PART, default irq) with a helper of its own,
# run in the background beside the other boots.  When the guest asks:
# savevm (on a qcow2 drive of the source's own, if=none: the snapshot's
# storage), the source stopped and a new QEMU started with -loadvm of
# that snapshot (its console appended to the source's), a restart of that helper, a migration to a
# second QEMU started with -S (tests/guest/driver-migrate.py: kept
# paused, then cont), and the host's exchange against the guest's own
# clock on ttyS1 ($tmp/NAME.exchange-TAG; the destination's after the
# migration).  $tmp/NAME.log is the source's console and then the
# destination's.  PVCLOCK_DRIVER_SET_CLOCK=0 loads the module with
# set_clock=0; PVCLOCK_DRIVER_IRQ_APPEND adds to the guest's command line
# (pvclock.chrony=1: chronyd beside the steps, by hand).
irq_boot() {
    local n=$1 k=$2 i=$3 part=${4:-irq} p=$tmp/$1-pages src=$tmp/$1-src.log dst=$tmp/$1-dst.log
    local hpid pid dpid= mpid= restarted= migrated= saved= loaded= done_tags=" " tag sock start=$SECONDS
    local -a args
    shift 4 2>/dev/null || shift $#
    "$H/pvclock-helper" --pages "$p" ${helper_args:-} > /dev/null 2> "$tmp/$n-helper.log" &
    hpid=$!
    echo "$hpid" > "$tmp/$n-helper.pid"
    for _ in $(seq 50); do
        "$H/pvclock-helper" --inspect --pages "$p" > /dev/null 2>&1 && break
        sleep 0.1
    done
    qemu-img create -q -f qcow2 "$tmp/$n.qcow2" 16M
    args=(-M pc -accel "${PVCLOCK_ACCEL:-tcg}" -cpu max -m 256 -nodefaults -display none -no-reboot
          -kernel "$k" -initrd "$i"
          -append "console=ttyS0 quiet panic=-1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1 pvclock.cmd=driver pvclock.driver=$part${PVCLOCK_DRIVER_SET_CLOCK:+ pvclock.set_clock=$PVCLOCK_DRIVER_SET_CLOCK}${PVCLOCK_DRIVER_IRQ_APPEND:+ $PVCLOCK_DRIVER_IRQ_APPEND}"
          -device "pvclock-pages,id=pvc0,pages=$p" "$@")
    : > "$src"
    : > "$dst"
    # the source's console, its exchange line, its snapshot drive, its
    # QMP: the same for the QEMU that restores the snapshot later
    local -a own=(-chardev "file,id=con,path=$src,append=on" -serial chardev:con
                  -chardev "socket,id=ex,path=$tmp/$n-src.ex,server=on,wait=off" -serial chardev:ex
                  -drive "if=none,id=snap,format=qcow2,file=$tmp/$n.qcow2"
                  -qmp "unix:$tmp/$n-src.qmp,server=on,wait=off")
    "$QEMU" "${args[@]}" "${own[@]}" 2> "$tmp/$n-src.err" &
    pid=$!
    echo "$pid" > "$tmp/$n-qemu.pid"
    while :; do
        # the guest's own clock against the host's, right after each event
        for tag in $(console_asks 'pvclock-guest: ready-exchange-([a-z]+)' "$src" "$dst"); do
            case "$done_tags" in *" $tag "*) continue ;; esac
            done_tags="$done_tags$tag "
            sock=$tmp/$n-src.ex
            [ "$tag" = migrate ] && sock=$tmp/$n-dst.ex
            GUEST_SOCKET=$sock timeout 60 "$H/pvclock-exchange" --rounds 20 --show 20 --quit \
                > "$tmp/$n.exchange-$tag" 2>&1
        done
        if [ -z "$saved" ] && grep -q '^pvclock-guest: ready-savevm' "$src"; then
            echo "savevm at $(date +%s.%N): $(hmp "$tmp/$n-src.qmp" "savevm pvc" 2>&1)" > "$tmp/$n.snapshot"
            saved=1
        fi
        # the snapshot restored by a new QEMU (-loadvm), as a host
        # restores a saved guest: the guest's TSC goes on from the
        # snapshot's count (a loadvm in the same process keeps it going
        # on from its last, so the guest's clock would lag only by the
        # two stops, not the snapshot's age; docs/driver.md)
        if [ -z "$loaded" ] && grep -q '^pvclock-guest: ready-loadvm' "$src"; then
            kill "$pid"; wait "$pid" 2>/dev/null
            sed -i '/terminating on signal 15/d' "$tmp/$n-src.err"
            echo "loadvm at $(date +%s.%N): a new QEMU with -loadvm pvc" >> "$tmp/$n.snapshot"
            "$QEMU" "${args[@]}" "${own[@]}" -loadvm pvc 2>> "$tmp/$n-src.err" &
            pid=$!
            echo "$pid" >> "$tmp/$n-qemu.pid"
            loaded=1
        fi
        if [ -z "$restarted" ] && grep -q '^pvclock-guest: ready-restart' "$src"; then
            restart_helper "$hpid" "$p" "$tmp/$n-helper.log" > "$tmp/$n.restart"
            hpid=$restarted_pid restarted=1
            echo "$hpid" > "$tmp/$n-helper.pid"
        fi
        if [ -z "$migrated" ] && grep -q '^pvclock-guest: ready-migrate' "$src"; then
            migrate_start "$n" "$dst" "${args[@]}" -- \
                -chardev "socket,id=ex,path=$tmp/$n-dst.ex,server=on,wait=off" -serial chardev:ex
            migrated=1
        fi
        guest_over "$n" "$src" "$dst" "$start" "${irq_boot_limit:-400}" "$pid" && break
        sleep 0.2
    done
    guest_teardown "$pid"
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
    cat "$src" "$dst" | tr -d '\r' > "$tmp/$n.log"
    [ -z "${PVCLOCK_DRIVER_KEEP:-}" ] || cp "$tmp/$n.log" "$tmp/$n".exchange-* "$tmp/$n.snapshot" "$PVCLOCK_DRIVER_KEEP/" 2>/dev/null
    echo $((SECONDS - start)) > "$tmp/$n.took"
}

# bumped FILE: restart_helper's line in FILE says disruptions went up by one
bumped() {
    local a b
    read -r a b < <(sed -nE 's/^host page 0 disruptions ([0-9]+) -> ([0-9]+)$/\1 \2/p' "$1" 2>/dev/null)
    [ -n "$a" ] && [ -n "$b" ] && [ "$b" = $((a + 1)) ]
}
# exchange_held FILE: pvclock-exchange's 300 rounds (its output in FILE) held
# host before <= guest <= host after every time, and the guest answered
# them all
exchange_held() {
    grep -q '^exchange: 300 rounds, 0 violations of host before <= guest <= host after, 0 guest errors' \
        "$1" 2>/dev/null
}
# has NAME ERE: the guest NAME printed a "driver: " line matching ERE
has() { grep -qE "^driver: $2" "$tmp/$1.log"; }
line() { grep -E "^driver: $2" "$tmp/$1.log" | head -1 | sed 's/^driver: //'; }

# memtype NAME: "ADDR PAT-TYPE MTRR-TYPE" of pvclock-pages0's BAR
memtype() {
    local log=$tmp/$1.log bdf start pat mtrr
    bdf=$(sed -nE 's|^driver: node /dev/pvclock-pages0 .* device ||p' "$log" | head -1)
    start=$(sed -nE "s|^driver: bar $bdf (0x[0-9a-f]+) .*|\1|p" "$log" | head -1)
    [ -n "$start" ] || { echo "none none none"; return; }
    pat=$(awk -v s="$(printf '0x%016x' "$start")" \
        '$1 == "driver:" && $2 == "pat" && index($0, "[mem " s "-") {print $NF; exit}' "$log")
    mtrr=write-back
    while read -r base size unit type; do
        [ "$unit" = MB ] && size=$((size << 20)) || size=$((size << 10))
        if [ $((start)) -ge $((base)) ] && [ $((start)) -lt $((base + size)) ]; then
            mtrr=$type
        fi
    done < <(sed -nE 's/^driver: mtrr reg[0-9]+: base=(0x[0-9a-f]+) .*size= *([0-9]+)([MK]B), count=[0-9]+: (.*)/\1 \2 \3 \4/p' "$log")
    echo "$start ${pat:-none} $mtrr"
}

# --- irq, in the background: its minute of steady state costs no time
if [ -z "$only" ] || [ "$only" = kvm ]; then
    stage "driver: booting irq (pc, 256 MiB, MSI-X; in the background: 60 s steady, a helper restart, a migration)"
    irq_boot irq "$kernel" "$initrd" &
    irq_job=$!
fi

# phc_checks NAME: the PTP clocks of a "full" boot (driver-guest.sh's
# phc_checks).  Cross-timestamps need the crosststamp interface of 6.9
# and later and the guest's clocksource to be the TSC.
phc_checks() {
    local b=$1 p0 p1 cs precise xts sys
    p0=$(sed -nE 's/^driver: phc 0000:00:04.0 (ptp[0-9]+) name pvclock-pages node yes$/\1/p' "$tmp/$b.log")
    p1=$(sed -nE 's/^driver: phc 0000:00:05.0 (ptp[0-9]+) name pvclock-pages node yes$/\1/p' "$tmp/$b.log")
    [ -n "$p0" ] && [ -n "$p1" ] && [ "$p0" != "$p1" ] &&
        has $b "dmesg .*0000:00:04.0: pvclock-pages0: PTP clock $p0: the host's CLOCK_REALTIME"
    ok $? "$b: each device has its own PTP clock, a child of its PCI device, clock_name pvclock-pages (${p0:-?}, ${p1:-?}), the host's CLOCK_REALTIME"
    diag "$(grep -E '^driver: (phc 0000|clocksource|dmesg .*PTP clock)' "$tmp/$b.log" | sed 's/^driver: //')"
    cs=$(line $b 'clocksource ' | awk '{print $2}')
    case "$(line $b 'part ' | sed -nE 's/.*kernel ([0-9]+)\.([0-9]+).*/\1 \2/p')" in
    6\ [0-8]|[0-5]\ *) precise='precise: refused \(EOPNOTSUPP\)' xts=0 ;;
    *) xts=1
       if [ "$cs" = tsc ]; then precise='precise: ok, PHC - system -?[0-9]+ ns'
       else precise='precise: refused \(ENODEV\)'; fi ;;
    esac
    has $b "phc: caps: max_adj 0, n_alarm 0, n_ext_ts 0, n_per_out 0, pps 0, cross_timestamping $xts" &&
        has $b 'phc: gettime: ok, ' && has $b 'phc: extended: ok, 10 samples' && has $b "phc: $precise"
    ok $? "$b: the PHC reads by clock_gettime, PTP_SYS_OFFSET_EXTENDED and (clocksource $cs) $(line $b 'phc: precise' | sed 's/^phc: //')"
    diag "$(grep -E '^driver: phc: (caps|gettime|extended|precise)' "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'phc: settime: refused \(EOPNOTSUPP\)' &&
        has $b 'phc: adjtime ADJ_FREQUENCY: refused \(ERANGE\)' &&
        has $b 'phc: adjtime ADJ_SETOFFSET: refused \(EOPNOTSUPP\)'
    ok $? "$b: the guest cannot steer the host's clock: settime and ADJ_SETOFFSET refused by the driver (EOPNOTSUPP), ADJ_FREQUENCY by the PTP core (ERANGE: max_adj 0)"
    has $b 'phc-device offset: /dev/ptp[0-9]+ - host REALTIME: [0-9]+ samples .*; 0 tries outside their bracket; 0 errors'
    ok $? "$b: every PHC reading lies between the device's times at the guest TSC before and after it ($(line $b 'phc-device' | sed -E 's/.*samples //; s/ mean.*//'))"
    diag "$(line $b 'phc-device')"
    exchange_held "$tmp/$b.exchange" &&
        has $b 'serve exit 0 pvclock-guest: answering with /dev/ptp'
    ok $? "$b: 300 exchanges: every PHC reading lies between the host's own clock_gettime() before the question and after the answer"
    diag "$(grep '^exchange:' "$tmp/$b.exchange" 2>/dev/null)"
    has $b 'chrony #\* PHC0 ' && ! has $b 'chrony selected after 90 s'
    ok $? "$b: chronyd with refclock PHC selects the PHC ($(line $b 'chrony selected'))"
    diag "$(grep -E '^driver: chrony (MS|#|Reference|System time|Last offset|RMS|Frequency)' "$tmp/$b.log" | sed 's/^driver: chrony //')"
    sys=$(sed -nE 's/^driver: system-device offset: .* \|offset\| median ([0-9]+) ns.*/\1/p' "$tmp/$b.log")
    [ -n "$sys" ] && [ "$sys" -le 100000 ]
    ok $? "$b: 20 s after selecting it, the guest's own CLOCK_REALTIME is within 100 us (median) of the host's: $(line $b 'system-device' | sed 's/^system-device offset: //')"
}

# exoff FILE [first]: what an exchange of the irq boots (20 rounds, each
# shown) found: the guest's clock - the middle of the host's bracket in
# the first round and the largest of all, the first round trip, how many
# rounds fell outside their bracket; with "first", only the first
# round's offset in seconds (nothing when there was no round)
exoff() {
    awk -v only="${2:-}" '$1 ~ /^[0-9]+$/ && NF >= 6 {
            o = ($5 - $6) / 2 * 1e6; n++
            if (n == 1) { first = o; rtt = ($5 + $6) * 1e6 }
            if (o < 0 ? -o > max : o > max) max = o < 0 ? -o : o
            if ($7 == "VIOLATION") bad++ }
         /^pvclock-exchange: / { said = said " (" $0 ")" }
         END { if (only == "first") { if (n) printf "%.6f", first / 1e6; exit }
               if (!n) { print "no rounds" said; exit }
               printf "guest - host %+.1f us (first round, bracket %.0f us), largest |offset| %.1f us, %d of %d rounds outside\n",
                   first, rtt, max, bad, n }' "$1" 2>/dev/null ||
        { [ -n "${2:-}" ] || echo "no exchange"; }
}
# stepped NAME TAG: the exchange TAG of irq boot NAME held, every round
# inside the host's bracket
stepped() {
    grep -q '^exchange: 20 rounds, 0 violations of host before <= guest <= host after, 0 guest errors' \
        "$tmp/$1.exchange-$2" 2>/dev/null
}

# snapshot_age NAME: seconds from irq boot NAME's savevm to its loadvm
snapshot_age() {
    awk '/^savevm at/ {s = $3 + 0} /^loadvm at/ {l = $3 + 0} END {if (s && l) printf "%.0f", l - s}' "$tmp/$1.snapshot" 2>/dev/null
}

# irq_checks NAME: what an irq boot must show
irq_checks() {
    local n=$1 paused final age st
    [ -s "$tmp/$n.timeout" ] && diag "$n: $(cat "$tmp/$n.timeout")"
    [ -s "$tmp/$n-src.err" ] && diag "$n: source QEMU said: $(head -3 "$tmp/$n-src.err")"
    [ -s "$tmp/$n-dst.err" ] && diag "$n: destination QEMU said: $(head -3 "$tmp/$n-dst.err")"
    touch "$tmp/$n.log"
    has $n 'dmesg .*pvclock-pages0: disruption interrupt: MSI-X, irq [0-9]+' &&
        has $n 'msi_irqs [0-9a-f:.]+ 1$' && has $n 'proc-interrupts .*pvclock-pages0' &&
        ! has $n 'proc-interrupts .*IO-APIC.*pvclock-pages0'
    ok $? "$n (pc): MSI-X by default: one vector in msi_irqs ($(line $n 'proc-interrupts' | cut -c1-70))"
    stepped $n probe
    ok $? "$n: right after insmod (set_clock's step at probe) the guest's own clock_gettime(CLOCK_REALTIME) lies inside the host's exchange bracket, 20 rounds: $(exoff "$tmp/$n.exchange-probe")"
    diag "$(grep -E '^driver: dmesg .*clock:' "$tmp/$n.log" | sed 's/^driver: dmesg //; s/^\[[ 0-9.]*\] //' | awk '!seen[$0]++')"
    # savevm stops the VM (under TCG the guest's TSC with it): one
    # disruption, stepped too; then 60 s in which nothing may disrupt
    has $n 'savevm: interrupts 0 -> 1, wakeups 0 -> 1,' &&
        grep -q '^savevm at [0-9.]*: $' "$tmp/$n.snapshot" 2>/dev/null
    ok $? "$n: savevm (HMP, on the source's if=none qcow2 drive): one interrupt and one poll() wakeup ($(line $n 'savevm:'))"
    has $n 'steady 60 s: interrupts 1 -> 1, wakeups 1 -> 1$'
    ok $? "$n: 60 s of steady state: zero interrupts and zero poll() wakeups ($(line $n 'steady'))"
    age=$(snapshot_age $n)
    has $n 'loadvm: interrupts 0 -> 1, wakeups 0 -> 1,' &&
        grep -q '^loadvm at [0-9.]*: ' "$tmp/$n.snapshot" 2>/dev/null && [ "${age:-0}" -ge 60 ]
    ok $? "$n: a new QEMU started with -loadvm of that snapshot, taken ${age:-?} s earlier: one interrupt and one poll() wakeup in the restored guest ($(line $n 'loadvm:'))"
    stepped $n loadvm
    ok $? "$n: right after the loadvm's interrupt the guest's own CLOCK_REALTIME lies inside the host's exchange bracket: $(exoff "$tmp/$n.exchange-loadvm")"
    has $n 'restart: interrupts 1 -> 2, wakeups 1 -> 2,' && bumped "$tmp/$n.restart"
    ok $? "$n: helper restart on its pages file ($(cat "$tmp/$n.restart" 2>/dev/null)): exactly one interrupt and one poll() wakeup ($(line $n 'restart:'))"
    stepped $n restart
    ok $? "$n: right after the helper restart's interrupt the guest's own CLOCK_REALTIME lies inside the host's exchange bracket: $(exoff "$tmp/$n.exchange-restart")"
    paused=$(sed -nE 's/^migrate: destination .*: interrupts-raised ([0-9]+), after [0-9]+ s paused ([0-9]+)$/\1 \2/p' "$tmp/$n.migrate" 2>/dev/null)
    final=$(sed -nE 's/^migrate: destination after the guest.s window: interrupts-raised ([0-9]+)$/\1/p' "$tmp/$n.migrate" 2>/dev/null)
    grep -q '^migrate: completed ' "$tmp/$n.migrate" 2>/dev/null && [ "$paused" = "2 2" ]
    ok $? "$n: live migration to a destination started with -S: completed, and its device raised nothing in the 5 s it was kept paused (interrupts-raised ${paused:-?}, the source's 2 carried over)"
    diag "$(cat "$tmp/$n.migrate" 2>/dev/null)"
    has $n 'migrate: interrupts 2 -> 3, wakeups 2 -> 3,' && [ "$final" = 3 ]
    ok $? "$n: after cont: exactly one interrupt and one poll() wakeup ($(line $n 'migrate:'); the device raised ${final:-?} in all)"
    stepped $n migrate
    ok $? "$n: right after the migration's interrupt (5 s paused) the guest's own CLOCK_REALTIME lies inside the host's exchange bracket: $(exoff "$tmp/$n.exchange-migrate")"
    diag "$(grep -E '^driver: watch' "$tmp/$n.log" | sed 's/^driver: //')"
    has $n 'watch: wakeup 3 ' && ! has $n 'watch: wakeup 4 ' &&
        ! has $n 'watch: wakeup .*(readable until read NO|after YES)'
    ok $? "$n: each wakeup stays readable until a read() and the read acknowledges it (poll() alone acknowledges nothing)"
}

# high_boot M NAME: pc or q35 (M) with SeaBIOS 1.16.3 and RAM above
# 4 GiB, which is what it looks at: on pc 256 MiB of 1.25 GiB put there
# by max-ram-below-4g, on q35 4.5 GiB (2 GiB below 4 GiB).  The BAR must
# land above 4 GiB, write-back.
high_boot() {
    local m=$1 b=$2 machine mem what addr pat mtrr
    if [ "$m" = pc ]; then
        machine=pc,max-ram-below-4g=1G mem=1280 what="1.25 GiB, 256 MiB of it above 4 GiB"
    else
        machine=q35 mem=4608 what="4.5 GiB"
    fi
    if [ -z "$bios" ]; then
        skip "$b: $m, SeaBIOS 1.16.3, $what: write-back above 4 GiB" "$(tail -1 "$tmp/bios.err")"
        echo "$b" >> "$tmp/skipped"
        return
    fi
    boot "$b" "$machine" "$mem" "$bios" "pvclock.driver=bind" -device "pvclock-pages,id=pvc0,pages=$pages"
    read -r addr pat mtrr < <(memtype "$b")
    has "$b" 'uid1000 map /dev/pvclock-pages0: all pages ok' &&
        [ $((addr)) -ge $((1 << 32)) ] && [ "$pat" = write-back ] && [ "$mtrr" = write-back ]
    ok $? "$b: $machine, SeaBIOS $(cat "$PVCLOCK_CACHE/seabios/version"), $what: BAR at $addr (above 4 GiB), MTRR $mtrr, PAT $pat; uid 1000 maps it"
    diag "$(grep -E '^driver: (bar|pat|mtrr) ' "$tmp/$b.log" | sed 's/^driver: //')"
}
# lockdown_boot NAME: booted locked down, the kernel refuses the unsigned module
lockdown_boot() {
    local b=$1
    boot "$b" pc 256 "" "pvclock.driver=lockdown lockdown=integrity" \
        -device "pvclock-pages,id=pvc0,pages=$pages"
    has $b 'part lockdown, .*\[integrity\]' && ! has $b 'insmod rc 0' &&
        has $b 'dmesg .*Lockdown: insmod: unsigned module loading is restricted' &&
        ! has $b 'node /dev/pvclock-pages'
    ok $? "$b: lockdown=integrity at boot: insmod of the unsigned module is refused ($(line $b 'insmod rc' | cut -c1-80))"
    diag "$(grep -E '^driver: (insmod|dmesg)' "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'before 0000:00:0[0-9].0 map .*: mmap refused \(EPERM\)'
    ok $? "$b: lockdown=integrity at boot: root's sysfs resource0 mmap refused too (EPERM): such guests need the module signed"
}

# --- pc: two devices, everything that needs the module loaded
# full_checks NAME: what a "pvclock.driver=full" boot with two devices
# (pvc0, and pvc1 with live-page=off,interrupts=off) must show.
full_checks() {
    local b=$1 n same before after bdf clocks level addr pat mtrr
    has $b 'insmod rc 0 ' &&
        has $b 'dmesg .*0000:00:04.0: pvclock-pages0: BAR0 0x[0-9a-f]+\+0x8000, asked for write-back' &&
        has $b 'dmesg .*0000:00:05.0: pvclock-pages1: BAR0 0x[0-9a-f]+\+0x8000, asked for write-back'
    ok $? "$b: insmod binds both devices ($(line $b 'insmod rc'))"
    diag "$(grep -E '^driver: dmesg .*pvclock-pages[01]: BAR0' "$tmp/$b.log" | head -2 | sed 's/^driver: //')"
    has $b 'node /dev/pvclock-pages0 cr--r--r-- 0:0 device 0000:00:04.0' &&
        has $b 'node /dev/pvclock-pages1 cr--r--r-- 0:0 device 0000:00:05.0' &&
        has $b 'sysfs 0000:00:04.0 pvclock-pages0 ' && has $b 'sysfs 0000:00:05.0 pvclock-pages1 '
    ok $? "$b: /dev/pvclock-pages0 and 1, mode 0444, /sys/class/pvclock-pages/*/device and /sys/bus/pci/devices/BDF/pvclock-pages/ name their devices"
    diag "$(grep -E '^driver: (node|sysfs) ' "$tmp/$b.log" | head -4 | sed 's/^driver: //')"
    same=0
    for n in 0 1; do
        bdf=0000:00:0$((n + 4)).0
        before=$(sed -nE "s|^driver: before $bdf map .*: offset page .* sum ([0-9a-f]+)$|\1|p" "$tmp/$b.log")
        after=$(sed -nE "s|^driver: uid1000 map /dev/pvclock-pages$n: offset page .* sum ([0-9a-f]+)$|\1|p" "$tmp/$b.log")
        [ -n "$before" ] && [ "$before" = "$after" ] || same=1
        diag "pvclock-pages$n: offset page sum $after, $bdf resource0 before insmod $before"
    done
    has $b 'uid1000 map /dev/pvclock-pages0: offset page .* live valid' &&
        has $b 'uid1000 map /dev/pvclock-pages1: offset page .* live off' && [ $same = 0 ]
    ok $? "$b: each node maps its own device (offset page as in that device's resource0; live page on 0, off on 1)"
    has $b 'uid1000 map /dev/pvclock-pages0: all pages ok' &&
        has $b 'uid1000 map /dev/pvclock-pages1: all pages ok' &&
        has $b 'uid1000 map /dev/pvclock-pages0: read 24576 bytes, offset page magic ok' &&
        has $b 'uid1000 map /dev/pvclock-pages1: read 20480 bytes, offset page magic ok'
    ok $? "$b: uid 1000 maps /dev/pvclock-pages0 and 1 and reads the offset page and all four host pages (magic, ABI, seq), and read() gives the BAR's memory (24 KiB with the live page, 20 KiB without)"
    has $b 'uid1000 holes /dev/pvclock-pages0: live flags 0x[0-9a-f]+: memory up to 0x6000' &&
        has $b 'uid1000 holes /dev/pvclock-pages0: no hole reachable' &&
        has $b 'uid1000 holes /dev/pvclock-pages1: live flags 0: memory up to 0x5000' &&
        has $b 'uid1000 holes /dev/pvclock-pages1: no hole reachable' &&
        has $b 'uid1000 holes /dev/pvclock-pages1: mmap 0x5000\+4096: refused \(EINVAL\)' &&
        has $b 'uid1000 holes /dev/pvclock-pages0: mmap 0x7000\+4096: refused \(EINVAL\)' &&
        has $b 'uid1000 holes /dev/pvclock-pages0: pread 0x6000\+4096: 0 bytes'
    ok $? "$b: uid 1000 cannot mmap or pread() the BAR's MMIO holes (0x6000-0x7fff; 0x5000 on the device without a live page): EINVAL, 0 bytes (finding 7 of issue 32)"
    diag "$(grep -E '^driver: uid1000 holes ' "$tmp/$b.log" | sed 's/^driver: //')"
    n=$(grep -c 'pvclock_pages_hole_read' "$tmp/$b.trace" 2>/dev/null)
    [ -f "$tmp/$b.trace" ] && [ "$n" = 0 ]
    ok $? "$b: QEMU served no MMIO read of a BAR0 hole in the whole boot (trace pvclock_pages_hole_read: ${n:-no trace file})"
    [ "${n:-0}" = 0 ] || diag "$(grep -m3 pvclock_pages_hole_read "$tmp/$b.trace")"
    diag "$(grep -E '^driver: uid1000 map /dev/pvclock-pages0' "$tmp/$b.log" | sed 's/^driver: //')"
    clocks=0
    for c in REALTIME TAI MONOTONIC MONOTONIC_RAW BOOTTIME; do
        has $b "uid1000 show $c +[0-9]+\.[0-9]{9} " || clocks=1
    done
    has $b "uid1000 show mapping: the pvclock-pages driver's node" && [ $clocks = 0 ]
    ok $? "$b: uid 1000 runs pvclock-guest show: libpvclock picks the driver's node and reads all five clocks"
    diag "$(grep -E "^driver: uid1000 show (mapping|REALTIME|page 0)" "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'uid1000 map /sys/bus/pci/devices/0000:00:04.0/resource0: open refused \(EACCES\)'
    ok $? "$b: the same user is refused sysfs resource0 (EACCES, mode 0600)"
    has $b 'uid1000 write: every write refused' &&
        has $b 'uid1000 write: MAP_SHARED PROT_WRITE: refused \(EACCES\)' &&
        has $b 'uid1000 write: MAP_PRIVATE PROT_WRITE: refused \(EPERM\)' &&
        has $b 'uid1000 write: mprotect PROT_WRITE of MAP_SHARED: refused \(EACCES\)' &&
        has $b 'uid1000 write: mprotect PROT_WRITE of MAP_PRIVATE: refused \(EACCES\)' &&
        has $b 'uid1000 write: mmap past the BAR .*: refused \(EINVAL\)' &&
        has $b 'uid1000 write: mmap longer than the BAR .*: refused \(EINVAL\)'
    ok $? "$b: uid 1000 (O_RDONLY): PROT_WRITE refused shared (EACCES) and private (EPERM), mprotect(PROT_WRITE) refused (EACCES), out-of-BAR offsets and lengths refused (EINVAL)"
    has $b 'uid1000 write: MAP_PRIVATE PROT_READ \(allowed\): GRANTED, offset page magic ok'
    ok $? "$b: a read-only MAP_PRIVATE mapping works (faulted in, not copy-on-write)"
    has $b 'root write: opened /dev/pvclock-pages0 O_RDWR' &&
        has $b 'root write: every write refused' &&
        has $b 'root write: MAP_SHARED PROT_WRITE: refused \(EPERM\)'
    ok $? "$b: root with O_RDWR: MAP_SHARED and MAP_PRIVATE PROT_WRITE refused by the driver (EPERM), mprotect refused"
    has $b 'root-bound map /sys/bus/pci/devices/0000:00:04.0/resource0: mmap refused \(EINVAL\)'
    ok $? "$b: while the driver is bound, even root's sysfs resource0 mmap is refused (EINVAL: the region is busy, CONFIG_IO_STRICT_DEVMEM)"
    read -r addr pat mtrr < <(memtype $b)
    [ "$pat" != none ] && { [ "$pat" = write-back ] && [ "$mtrr" = write-back ] ||
                            [ "$pat" = uncached-minus ] && [ "$mtrr" = uncachable ]; }
    ok $? "$b, Debian 12 SeaBIOS, 256 MiB: BAR at $addr, MTRR $mtrr, PAT $pat$([ "$pat" = write-back ] || echo ": write-back cannot be had in the 32-bit hole")"
    diag "$(grep -E '^driver: (bar|pat|mtrr|iomem) ' "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'rmmod while mapped rc [1-9]'
    ok $? "$b: rmmod is refused while a process maps the node ($(line $b 'rmmod while mapped' | cut -c1-90))"
    has $b 'rmmod rc 0 nodes left 0 class 0' && has $b 'insmod again rc 0' &&
        has $b 'again map /dev/pvclock-pages0: all pages ok'
    ok $? "$b: rmmod removes the nodes and the class; insmod again brings /dev/pvclock-pages0 back and it maps"
    phc_checks $b
    for level in integrity confidentiality; do
        has $b "lockdown now .*\[$level\]" &&
            has $b "$level map /dev/pvclock-pages0: all pages ok" &&
            has $b "$level map /sys/bus/pci/devices/0000:00:04.0/resource0: mmap refused \(EPERM\)"
        ok $? "$b: lockdown raised to $level at run time: uid 1000 still maps /dev/pvclock-pages0, root's sysfs resource0 mmap refused (EPERM)"
    done
    has $b 'dmesg .*0000:00:04.0: pvclock-pages0: disruption interrupt: MSI-X, irq [0-9]+' &&
        has $b 'dmesg .*0000:00:05.0: pvclock-pages1: no BAR2 \(interrupts=off\): no disruption interrupt, poll\(\) reports no events' &&
        has $b 'nobar2 watch: 0 wakeups in 2 s, interrupts 0'
    ok $? "$b: pvclock-pages0 takes an MSI-X vector; pvclock-pages1 (interrupts=off, no BAR2) says so in dmesg and its poll() reports nothing in 2 s"
    diag "$(grep -E '^driver: (dmesg .*(disruption interrupt|no BAR2)|nobar2)' "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'hold: SIGBUS reading the mapping after [0-9]+ reads: the device is gone' &&
        has $b 'hold exit 3' &&
        has $b 'hold: a new mmap of the open file: refused \(ENODEV\)' &&
        has $b 'hold: read of the open file: refused \(ENODEV\)'
    ok $? "$b: hot-unplug while uid 1000 holds a mapping: the process gets SIGBUS, then ENODEV from mmap and read of its open file"
    diag "$(grep -E '^driver: hold' "$tmp/$b.log" | sed 's/^driver: //')" "QMP: $(tr -d '\n' < "$tmp/$b.qmp.out" 2>/dev/null | cut -c1-200)"
    has $b 'uffd: reader blocked in a fault at byte 0 of its buffer' &&
        has $b 'uffd: unplug done in [0-9.]+ s, device gone, reader blocked' &&
        has $b 'uffd: resolving; reader still blocked' &&
        has $b 'uffd: read returned (ENODEV|EFAULT|[0-9]+ bytes, host page 0 magic ok)' &&
        has $b 'uffd exit 0'
    ok $? "$b: hot-unplug while uid 1000's read() is stuck in a userfaultfd fault: the removal completes at once ($(line $b 'uffd: unplug' | cut -c7-60)); resolved afterwards, the read gives the old bytes or an error (finding 5 of issue 32)"
    diag "$(grep -E '^driver: uffd' "$tmp/$b.log" | sed 's/^driver: //')"
    has $b 'poll exit 3' && has $b 'watch: hangup at [0-9.]+ s \(revents POLLHUP POLLERR\)'
    ok $? "$b: hot-unplug while uid 1000 polls the node: poll() returns POLLHUP|POLLERR ($(line $b 'watch: hangup'))"
    has $b 'after unplug: device gone, node gone'
    ok $? "$b: after the unplug the PCI device is released and /dev/pvclock-pages0 is gone"
    diag "$(grep -E '^driver: dmesg .*(removed|remov|eject|acpiphp)' "$tmp/$b.log" | sed 's/^driver: //' | tail -4)"
    has $b 'kernel problems 0$'
    ok $? "$b: no BUG, WARNING, Oops or call trace in dmesg through all of the above"
    diag "$(grep -E '^driver: problem ' "$tmp/$b.log" | head -20)"
}

# follows NAME TAG: an unmodified boot's samples of the guest's own clock
# - the host's after event TAG (driver-guest.sh's follow), summed up:
# the first, the last, and when |offset| first fell below 1 ms
follows() {
    grep -E "^driver: follow $2 " "$tmp/$1.log" 2>/dev/null |
        sed -nE 's/.* \+([0-9]+) s: mean (-?[0-9]+) ns$/\1 \2/p' |
        awk 'function us(o) { return sprintf("%+.1f ms", o / 1e6) }
             { if (!n++) { t0 = $1; first = $2 }
               last = $2; tl = $1
               if (below == "" && ($2 < 0 ? -$2 : $2) < 1000000) below = $1 - t0 }
             END { if (!n) { print "no samples"; exit }
                   printf "%s at +0 s, %s at +%d s, below 1 ms %s", us(first), us(last),
                       tl - t0, below == "" ? "never in " (tl - t0) " s" : "after " below " s"
                   # still off: the rate it is being corrected at, and
                   # how long that rate would take for the rest
                   r = tl > t0 ? (last - first) / (tl - t0) : 0
                   if (below == "" && r != 0 && (r < 0) == (last > 0))
                       printf " (corrected at %.1f ms/s, %.0f ppm: about %.0f s more)", (r < 0 ? -r : r) / 1e6,
                           (r < 0 ? -r : r) / 1e3, (last < 0 ? -last : last) / (r < 0 ? -r : r)
                   else if (below == "")
                       printf " (not being corrected)"
                   printf "\n" }'
}
# unmodified_checks NAME: the unmodified 7.x guest (ptp_vmclock and
# chronyd, no pvclock-pages driver) through irq's events
unmodified_checks() {
    local n=$1 age off
    [ -s "$tmp/$n.timeout" ] && diag "$n: $(cat "$tmp/$n.timeout")"
    has $n 'insmod: none' && has $n 'vmclock phc ptp[0-9]+' && has $n 'chrony #\* VMC '
    ok $? "$n: no pvclock-pages driver; ptp_vmclock's PHC ($(line $n 'vmclock phc')), chronyd selected it ($(line $n 'chrony selected'))"
    diag "$(grep -E '^driver: chrony (System time|Last offset|RMS)' "$tmp/$n.log" | head -3 | sed 's/^driver: //')"
    age=$(snapshot_age $n)
    off=$(exoff "$tmp/$n.exchange-loadvm" first)
    has $n 'loadvm: marker ' && [ -n "$off" ] && [ -n "$age" ] &&
        awk -v o="$off" -v a="$age" 'BEGIN {exit !(o < -(a - 15) && o > -(a + 15))}'
    ok $? "$n: right after a -loadvm of a snapshot ${age:-?} s old, the guest's own CLOCK_REALTIME is behind the host's by about the snapshot's age: $(exoff "$tmp/$n.exchange-loadvm")"
    for tag in restart migrate; do
        has $n "$tag: marker [0-9]+ -> [0-9]+" && [ -n "$(exoff "$tmp/$n.exchange-$tag" first)" ]
        ok $? "$n: the $tag event seen (VMClock's marker: $(line $n "$tag: marker" | sed "s/^$tag: marker //")), the guest's own clock measured right after it: $(exoff "$tmp/$n.exchange-$tag")"
    done
    for tag in loadvm restart migrate; do
        diag "$n: $tag: the guest's own clock - the host's: $(follows $n $tag)"
    done
    # what ClockBound's daemon would publish over this chronyd: its bound
    # is root delay / 2 + root dispersion + |system time offset|
    # (clock-bound-d 2.0.2, chronyd_snapshot_poller.rs), of chronyd's
    # own estimate only; against what the host says of its own clock
    diag "$n: ClockBound's daemon over this chronyd would publish $(grep -E '^driver: chrony (System time|Root delay|Root dispersion) ' "$tmp/$n.log" | head -3 |
        awk '{v[$3 $4] = $(NF - 1) + 0; if ($3 == "System") v["off"] = $6 + 0}
             END {b = (v["Rootdelay"] / 2 + v["Rootdispersion"] + (v["off"] < 0 ? -v["off"] : v["off"])) * 1e9
                  printf "+/- %d ns, Synchronized", b == int(b) ? b : int(b) + 1}'); the host's own clock, as its helper publishes it: $("$H/pvclock-helper" --inspect --pages "$tmp/$n-pages" 2>/dev/null | grep -m1 'ntp:' | sed 's/^ *ntp: //')"
    diag "$(grep -E '^driver: (chrony-end (System time|Last offset|Frequency)|chronyd-log .*(step|slew|offset|jump))' "$tmp/$n.log" | sed 's/^driver: //' | head -12)"
    has $n 'kernel problems 0$'
    ok $? "$n: no BUG, WARNING, Oops or call trace in dmesg"
}

# PVCLOCK_DRIVER_ONLY=unmodified (bench/guest-resume.sh): irq7 (the
# driver, set_clock on) and unmod7 (pvclock-pages' vmclock=on with
# ptp_vmclock and chronyd only) through the same events, side by side
if [ "$only" = unmodified ]; then
    build7 && [ -f "$out/7/ptp_vmclock.ko" ] ||
        { echo "Bail out! no 7.x kernel, module and ptp_vmclock to boot"; exit 1; }
    # ptp_vmclock reads only while the VMClock page says the host knows
    # TAI - UTC: from the host kernel (chronyd's leapsectz sets it) or an
    # unexpired leap second list.  This machine's kernel says 0 and
    # Debian 12's list expired on 2026-06-28, so unless PVCLOCK_LEAP_FILE
    # names a current one the helpers read a copy of that list whose
    # expiry is a year from now (no leap second since 2017's)
    leap=${PVCLOCK_LEAP_FILE:-}
    if [ -z "$leap" ]; then
        leap=$tmp/leap-seconds.list
        awk -v e="$(( $(date +%s) + 2208988800 + 365 * 86400 ))" \
            '/^#@/ { print "#@\t" e; next } /^#h/ { next } { print }' \
            /usr/share/zoneinfo/leap-seconds.list > "$leap"
        diag "unmod7: the helpers read $leap, /usr/share/zoneinfo/leap-seconds.list with its expiry moved a year on"
    fi
    helper_args="--leap-file $leap" PVCLOCK_DRIVER_IRQ_APPEND="tsc=reliable" irq_boot_limit=800 irq_boot unmod7 "$kernel7" "$initrd7" unmodified \
        -global pvclock-pages.vmclock=on &
    unmod_job=$!
    irq_boot irq7 "$kernel7" "$initrd7"
    wait "$unmod_job"
    irq_checks irq7
    unmodified_checks unmod7
    diag "side by side: the guest's own CLOCK_REALTIME - the host's right after each event (first exchange round), 7.x guests under ${PVCLOCK_ACCEL:-tcg}"
    # the unmodified guest's clock just before each event: the probe's
    # exchange, then the last sample of the previous event's follow
    before=$(exoff "$tmp/unmod7.exchange-probe" first) prev=
    for tag in loadvm restart migrate; do
        [ -z "$prev" ] || before=$(grep -E "^driver: follow $prev " "$tmp/unmod7.log" |
            sed -nE 's/.* mean (-?[0-9]+) ns$/\1/p' | tail -1 | awk '{printf "%.6f", $1 / 1e9}')
        diag "$(printf '%-8s with the driver %+9.6f s | ptp_vmclock + chronyd: before %+10.6f s, right after %+10.6f s; then %s' "$tag" \
            "$(exoff "$tmp/irq7.exchange-$tag" first)" "${before:-0}" \
            "$(exoff "$tmp/unmod7.exchange-$tag" first)" "$(follows unmod7 $tag)")"
        prev=$tag
    done
    diag "boot times: irq7 $(cat "$tmp/irq7.took" 2>/dev/null || echo '?') s, unmod7 $(cat "$tmp/unmod7.took" 2>/dev/null || echo '?') s"
    done_testing
    exit
fi

# PVCLOCK_DRIVER_ONLY=irq or =irq7: that boot alone, in the foreground
if [ "$only" = irq ] || [ "$only" = irq7 ]; then
    if [ "$only" = irq ]; then
        irq_boot irq "$kernel" "$initrd"
        irq_checks irq
    elif build7; then
        irq_boot irq7 "$kernel7" "$initrd7"
        irq_checks irq7
    fi
    diag "boot time: $only $(cat "$tmp/$only.took" 2>/dev/null || echo '?') s"
    done_testing
    exit
fi
case "$only" in
vmclock|vmclock-pv) ;;
*)  boot pc pc 256 "" "pvclock.driver=full" \
        -trace enable=pvclock_pages_hole_read -D "$tmp/pc.trace" \
        -chardev "socket,id=ex,path=$tmp/pc.ex,server=on,wait=off" -serial chardev:ex \
        -device "pvclock-pages,id=pvc0,addr=4,pages=$pages" \
        -device "pvclock-pages,id=pvc1,addr=5,pages=$pages,live-page=off,interrupts=off"
    full_checks pc ;;
esac
[ "$only" = pc ] && { done_testing; exit 0; }
if [ "$only" = kvm ]; then
    stage "driver: waiting for the irq boot"
    wait "$irq_job"
    took_irq=$(cat "$tmp/irq.took" 2>/dev/null)
    irq_checks irq
    diag "boot times: pc ${took_pc:-?} s, irq ${took_irq:-?} s (beside it)"
    done_testing
    exit
fi

# --- trixie-backports' 7.x cloud kernel: the same boot, the module built
# in a trixie chroot against that kernel's headers (build-driver-trixie.sh)
kernel61=$kernel initrd61=$initrd
if [ -n "${PVCLOCK_IN_L1:-}" ]; then
    kernel7=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh" 7) &&
        [ -f "$out/7/pvclock-pages.ko" ] && [ -f "$initrd7" ] ||
        { echo "Bail out! the 7.x module or initramfs not built; run tests/kvm/prepare.sh on the host first"; exit 1; }
    have7=0
else
    build7
    have7=$?
fi
if [ $have7 = 0 ]; then
    kernel=$kernel7 initrd=$initrd7
    [ -z "$only" ] && boot pc7 pc 256 "" "pvclock.driver=full" \
        -trace enable=pvclock_pages_hole_read -D "$tmp/pc7.trace" \
        -chardev "socket,id=ex,path=$tmp/pc7.ex,server=on,wait=off" -serial chardev:ex \
        -device "pvclock-pages,id=pvc0,addr=4,pages=$pages" \
        -device "pvclock-pages,id=pvc1,addr=5,pages=$pages,live-page=off,interrupts=off"
    if [ -z "$only" ]; then
        diag "pc7: $(grep -m1 '^pvclock-guest: booted' "$tmp/pc7.log")"
        full_checks pc7
        # and the boots the 6.1 kernel gets below: the interrupt (in
        # the background), write-back above 4 GiB, boot-time lockdown
        stage "driver: booting irq7 (pc, 256 MiB, MSI-X; in the background: 60 s steady, a helper restart, a migration)"
        irq_boot irq7 "$kernel" "$initrd" &
        irq7_job=$!
    fi
    if [ -f "$out/7/ptp_vmclock.ko" ]; then
        stage "driver: booting vmclock-pv7 and vmclock-qemu7 (pc, ptp_vmclock on pvclock-pages' vmclock=on and on QEMU's -device vmclock; in the background: exchanges, chronyd, a migration to another simulated host)"
        vmclock_boot vmclock-pv7 "$kernel" "$initrd" pv &
        vmclock_pv7_job=$!
        if [ "$only" != vmclock-pv ]; then
            vmclock_boot vmclock-qemu7 "$kernel" "$initrd" qemu &
            vmclock_qemu7_job=$!
        fi
    fi
    if [ -z "$only" ]; then
        high_boot pc pc-high7
        lockdown_boot lockdown7
    fi
    kernel=$kernel61 initrd=$initrd61
fi

if [ "$only" = vmclock-pv ]; then
    [ -n "${vmclock_pv7_job:-}" ] ||
        { echo "Bail out! no 7.x kernel, module and ptp_vmclock to boot"; exit 1; }
    wait "$vmclock_pv7_job"
    vmclock_pv_checks vmclock-pv7
    diag "boot time: vmclock-pv7 $(cat "$tmp/vmclock-pv7.took" 2>/dev/null || echo '?') s"
    done_testing
    exit
fi
if [ "$only" = vmclock ]; then
    [ -n "${vmclock_pv7_job:-}" ] ||
        { echo "Bail out! no 7.x kernel, module and ptp_vmclock to boot"; exit 1; }
    wait "$vmclock_pv7_job" "$vmclock_qemu7_job"
    vmclock_pv_checks vmclock-pv7
    vmclock_qemu_checks vmclock-qemu7
    vmclock_side_by_side vmclock-pv7 vmclock-qemu7
    done_testing
    exit
fi

# --- firmware and RAM size decide where the BAR goes, and so its memory type
boot q35 q35 256 "" "pvclock.driver=bind pvclock.irq=restart pci=nomsi" \
    -device "pvclock-pages,id=pvc0,pages=$pages"
read -r addr pat mtrr < <(memtype q35)
has q35 'uid1000 map /dev/pvclock-pages0: all pages ok' && [ "$pat" != none ] &&
    { [ "$pat" = write-back ] && [ "$mtrr" = write-back ] ||
      [ "$pat" = uncached-minus ] && [ "$mtrr" = uncachable ]; }
ok $? "q35, Debian 12 SeaBIOS, 256 MiB: binds, uid 1000 maps it; BAR at $addr, MTRR $mtrr, PAT $pat$([ "$pat" = write-back ] || echo ": write-back cannot be had in the 32-bit hole")"
diag "$(grep -E '^driver: (bar|pat|mtrr) ' "$tmp/q35.log" | sed 's/^driver: //')"
has q35 'dmesg .*pvclock-pages0: disruption interrupt: INTx, irq [0-9]+' &&
    has q35 'msi_irqs [0-9a-f:.]+ 0$' && has q35 'proc-interrupts .*IO-APIC.*pvclock-pages0'
ok $? "q35 with pci=nomsi: the disruption interrupt over INTx ($(line q35 'proc-interrupts' | cut -c1-70))"
has q35 'restart: interrupts 0 -> 1, wakeups 0 -> 1,' &&
    has q35 'watch: wakeup 1 .*readable until read yes, after no' &&
    bumped "$tmp/q35.restart"
ok $? "q35, INTx: a helper restart ($(cat "$tmp/q35.restart" 2>/dev/null)): exactly one interrupt and one poll() wakeup ($(line q35 'restart:'))"
diag "$(grep -E '^driver: (restart|watch)' "$tmp/q35.log" | sed 's/^driver: //')"
high_boot pc pc-high
high_boot q35 q35-high

# --- booted locked down: the kernel refuses the unsigned module
lockdown_boot lockdown

# --- irq: the disruption interrupt over MSI-X, steady, restart, migration
stage "driver: waiting for the irq boots"
wait "$irq_job"
took_irq=$(cat "$tmp/irq.took" 2>/dev/null)
irq_checks irq
if [ -n "${irq7_job:-}" ]; then
    wait "$irq7_job"
    took_irq7=$(cat "$tmp/irq7.took" 2>/dev/null)
    irq_checks irq7
fi
if [ -n "${vmclock_pv7_job:-}" ]; then
    wait "$vmclock_pv7_job" "$vmclock_qemu7_job"
    took_vmclock_pv7=$(cat "$tmp/vmclock-pv7.took" 2>/dev/null)
    took_vmclock_qemu7=$(cat "$tmp/vmclock-qemu7.took" 2>/dev/null)
    vmclock_pv_checks vmclock-pv7
    vmclock_qemu_checks vmclock-qemu7
    vmclock_side_by_side vmclock-pv7 vmclock-qemu7
fi

probs=
for name in pc pc7 pc-high7 lockdown7 irq7 vmclock-pv7 vmclock-qemu7 q35 pc-high q35-high lockdown irq; do
    grep -qx "$name" "$tmp/skipped" 2>/dev/null && continue
    [ -f "$tmp/$name.log" ] || { probs="$probs $name(not booted)"; continue; }
    grep -q '^driver: kernel problems 0$' "$tmp/$name.log" || {
        probs="$probs $name"
        diag "$(grep -E '^driver: problem ' "$tmp/$name.log" | head -20)"
    }
    grep -q '^pvclock-guest: exit 0' "$tmp/$name.log" || probs="$probs $name(no end)"
done
[ -z "$probs" ]
ok $? "every boot ran to its end with no BUG, WARNING, Oops or call trace${probs:+ (not:$probs)}"
diag "boot times: pc ${took_pc:-?} s, pc7 ${took_pc7:-?} s, pc-high7 ${took_pc_high7:-?} s, lockdown7 ${took_lockdown7:-?} s, irq7 ${took_irq7:-?} s, vmclock-pv7 ${took_vmclock_pv7:-?} s, vmclock-qemu7 ${took_vmclock_qemu7:-?} s, q35 ${took_q35:-?} s, pc-high ${took_pc_high:-?} s, q35-high ${took_q35_high:-?} s, lockdown ${took_lockdown:-?} s, irq ${took_irq:-?} s (beside them)"
done_testing
