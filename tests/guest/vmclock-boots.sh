# The VMClock boots of tests/guest/test-driver.sh (issue 13): one guest
# test, driver-guest.sh's part vmclockpv on trixie-backports' 7.x kernel
# with Linux's ptp_vmclock, run against two VMClock devices:
#   vmclock-pv7    pvclock-pages with vmclock=on (the page filled)
#   vmclock-qemu7  QEMU's own -device vmclock, pvclock-pages beside it
# Each guest starts on simulated host A (2.5 GHz) and is migrated, when
# it asks, to a destination kept paused on simulated host B (3.0 GHz,
# REALTIME 0.25 s ahead); the host answers its exchange rounds from the
# host pages of whichever host the guest is on.  Sourced by
# test-driver.sh, which has set QEMU, H, tmp and the tap functions.
# shellcheck shell=bash

# vmclock_boot NAME KERNEL INITRD pv|qemu: one such guest to its end, in
# the background beside the other boots; $tmp/NAME.log is its console.
vmclock_boot() {
    local n=$1 k=$2 i=$3 which=$4 pa=$tmp/$1-A pb=$tmp/$1-B
    local src=$tmp/$1-src.log dst=$tmp/$1-dst.log ha hb pid dpid= mpid= migrated=
    local start=$SECONDS tag sock hp done_tags=" "
    local -a args dev_a dev_b
    "$H/pvclock-helper" --pages "$pa" --simulate tsc_hz=2500000000 \
        > /dev/null 2> "$tmp/$n-helperA.log" &
    ha=$!
    "$H/pvclock-helper" --pages "$pb" \
        --simulate tsc_hz=3000000000,realtime_offset_ns=250000000 \
        > /dev/null 2> "$tmp/$n-helperB.log" &
    hb=$!
    echo "$ha $hb" > "$tmp/$n-helper.pid"
    for _ in $(seq 50); do
        "$H/pvclock-helper" --inspect --pages "$pa" > /dev/null 2>&1 &&
            "$H/pvclock-helper" --inspect --pages "$pb" > /dev/null 2>&1 && break
        sleep 0.1
    done
    # Under TCG the guest's clocksource watchdog compares the TSC with
    # the HPET, both QEMU's emulation: on a loaded host a vCPU thread
    # descheduled between the two reads made the guest mark its TSC
    # unstable at boot (seen once, "tsc-early unstable due to frequency
    # skew"), and ptp_vmclock then refuses every read.  That verdict is
    # about TCG's scheduling, not the device, so TCG guests are told the
    # TSC is reliable; under KVM the watchdog stays on (see
    # vmclock_pv_checks: after a paused-destination migration it marks
    # the TSC unstable, which is KVM's doing and is checked as such).
    local reliable=
    [ "${PVCLOCK_ACCEL:-tcg}" = tcg ] && reliable=" tsc=reliable"
    args=(-M pc -accel "${PVCLOCK_ACCEL:-tcg}" -cpu max -m 256 -nodefaults -display none -no-reboot
          -kernel "$k" -initrd "$i"
          -append "console=ttyS0 quiet panic=-1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1$reliable pvclock.cmd=driver pvclock.driver=vmclockpv")
    if [ "$which" = pv ]; then
        dev_a=(-device "pvclock-pages,id=pvc0,vmclock=on,pages=$pa")
        dev_b=(-device "pvclock-pages,id=pvc0,vmclock=on,pages=$pb")
    else
        dev_a=(-device vmclock -device "pvclock-pages,id=pvc0,pages=$pa")
        dev_b=(-device vmclock -device "pvclock-pages,id=pvc0,pages=$pb")
    fi
    : > "$src"
    : > "$dst"
    "$QEMU" "${args[@]}" "${dev_a[@]}" -serial "file:$src" \
        -chardev "socket,id=ex,path=$tmp/$n-src.ex,server=on,wait=off" -serial chardev:ex \
        -qmp "unix:$tmp/$n-src.qmp,server=on,wait=off" 2> "$tmp/$n-src.err" &
    pid=$!
    echo "$pid" > "$tmp/$n-qemu.pid"
    while :; do
        # the exchanges the guest asks for: TAG's clock against host A or B
        for tag in $(console_asks 'pvclock-guest: ready-exchange-([a-z]+-[ab])' "$src" "$dst"); do
            case "$done_tags" in *" $tag "*) continue ;; esac
            done_tags="$done_tags$tag "
            case "$tag" in *-a) sock=$tmp/$n-src.ex hp=$pa ;; *) sock=$tmp/$n-dst.ex hp=$pb ;; esac
            case "$tag" in phc-*) set -- --tai ;; *) set -- ;; esac
            GUEST_SOCKET=$sock timeout 60 "$H/pvclock-exchange" --host-pages "$hp" "$@" \
                --rounds 300 --show 3 --quit > "$tmp/$n.exchange-$tag" 2>&1
        done
        if [ -z "$migrated" ] && grep -q '^pvclock-guest: ready-migrate' "$src"; then
            migrate_start "$n" "$dst" "${args[@]}" "${dev_b[@]}" -- \
                -chardev "socket,id=ex,path=$tmp/$n-dst.ex,server=on,wait=off" -serial chardev:ex
            migrated=1
        fi
        guest_over "$n" "$src" "$dst" "$start" 500 "$pid" && break
        sleep 0.2
    done
    guest_teardown "$pid"
    kill "$ha" "$hb" 2>/dev/null; wait "$ha" "$hb" 2>/dev/null
    cat "$src" "$dst" | tr -d '\r' > "$tmp/$n.log"
    [ -z "${PVCLOCK_DRIVER_KEEP:-}" ] || cp "$tmp/$n.log" "$PVCLOCK_DRIVER_KEEP/"
    echo $((SECONDS - start)) > "$tmp/$n.took"
}

# exline NAME TAG: what the exchange TAG of boot NAME found
exline() { grep -m1 '^exchange:' "$tmp/$1.exchange-$2" 2>/dev/null | sed 's/^exchange: //'; }

# vmclock_common NAME: what both boots must show, and their diagnostics
vmclock_common() {
    local b=$1
    [ -s "$tmp/$b.timeout" ] && diag "$b: $(cat "$tmp/$b.timeout")"
    [ -s "$tmp/$b-src.err" ] && diag "$b: source QEMU said: $(head -3 "$tmp/$b-src.err")"
    [ -s "$tmp/$b-dst.err" ] && diag "$b: destination QEMU said: $(head -3 "$tmp/$b-dst.err")"
    touch "$tmp/$b.log"
    has $b 'vmclock insmod rc 0 ' && has $b 'vmclock nodes vmclock0 '
    ok $? "$b: ptp_vmclock (7.x, from linux-modules) binds and offers /dev/vmclock0"
    diag "$(grep -E '^driver: (vmclock insmod|dmesg|vmclock nodes|vmclock ptp|vmclock phc)' "$tmp/$b.log" | sed 's/^driver: //')"
    diag "$(grep -E '^driver: (before|after) vmclock' "$tmp/$b.log" | sed 's/^driver: //')"
}

# vmclock_marker_grew NAME: the migration completed and the marker moved
vmclock_marker_grew() {
    local b=$1 m0 m1
    read -r m0 m1 < <(sed -nE 's/^driver: migrate: disruption marker ([0-9]+) -> ([0-9]+);.*/\1 \2/p' "$tmp/$b.log")
    grep -q '^migrate: completed ' "$tmp/$b.migrate" 2>/dev/null && [ -n "$m0" ] &&
        [ -n "$m1" ] && [ "$m1" -gt "$m0" ]
    ok $? "$b: a live migration to a paused destination on host B moves the disruption marker (${m0:-?} -> ${m1:-?})"
    diag "$(grep -E '^migrate: ' "$tmp/$b.migrate" 2>/dev/null)"
}

vmclock_pv_checks() {
    local b=$1
    vmclock_common $b
    has $b 'vmclock phc ptp[0-9]+$' &&
        has $b 'before vmclock: magic ok size 4096 version 1 counter_id 1 time_type 1 .* clock_status [23] tai_offset -37 .* notifications yes$'
    ok $? "$b: the page is filled: x86 TSC, TAI, status synchronised or free-running, TAI offset -37 (as ptp_vmclock applies it), notifications; so ptp_vmclock registers a PTP clock ($(line $b 'vmclock phc'))"
    has $b 'steady vmclock: poll /dev/vmclock0: nothing in time after'
    ok $? "$b: steady state: poll() on /dev/vmclock0 stays quiet for 5 s ($(line $b 'steady'))"
    exchange_held "$tmp/$b.exchange-phc-a" && has $b 'serve phc-a exit 0 pvclock-guest: answering with /dev/ptp'
    ok $? "$b: 300 exchanges on host A: every reading of ptp_vmclock's PHC lies between host A's TAI before the question and after the answer ($(exline $b phc-a))"
    exchange_held "$tmp/$b.exchange-vmc-a" && has $b 'serve vmc-a exit 0 pvclock-guest: answering with /dev/vmclock0'
    ok $? "$b: 300 exchanges on host A: our reader of the /dev/vmclock0 mapping (UTC from the ABI) lies between host A's REALTIME before and after ($(exline $b vmc-a))"
    has $b 'chrony #\* VMC ' && ! has $b 'chrony selected after 90 s'
    ok $? "$b: chronyd with 'refclock PHC /dev/ptpN tai' (leapsectz right/UTC) selects ptp_vmclock's PHC ($(line $b 'chrony selected'))"
    diag "$(grep -E '^driver: (chrony (#|Reference|System time|Last offset|RMS)|system-device)' "$tmp/$b.log" | sed 's/^driver: //')"
    vmclock_marker_grew $b
    has $b 'migrate: disruption marker .*revents POLLIN after'
    ok $? "$b: poll() on /dev/vmclock0 woke for the migration (the ACPI notification, GPE _E00) ($(line $b 'migrate: disruption' | sed 's/.*; //'))"
    if [ "${PVCLOCK_ACCEL:-tcg}" = kvm ] && ! exchange_held "$tmp/$b.exchange-phc-b" &&
       has $b 'serve phc-b exit 2 .*not a readable PTP clock: Invalid argument' &&
       has $b 'dmesg-after .*tsc: Marking TSC unstable due to clocksource watchdog'; then
        # Linux's KVM: the guest TSC runs from the paused destination's
        # load to its cont, kvm-clock does not; the guest's watchdog then
        # marks the TSC unstable and ptp_vmclock refuses every read
        # (check_tsc_unstable()): a refusal, never a wrong time
        exchange_held "$tmp/$b.exchange-vmc-b"
        ok $? "$b: after the migration /dev/vmclock0 follows host B (3.0 GHz, 0.25 s ahead): 300 exchanges inside host B's bracket ($(exline $b vmc-b)); ptp_vmclock's PHC refuses to read (EINVAL), since under KVM the guest marked its TSC unstable ($(line $b 'dmesg-after .*clocksource tsc unstable' | sed 's/.*clocksource: //'))"
    else
        exchange_held "$tmp/$b.exchange-phc-b" && exchange_held "$tmp/$b.exchange-vmc-b"
        ok $? "$b: after the migration both follow host B (3.0 GHz, 0.25 s ahead): 300 exchanges each inside host B's bracket (PHC: $(exline $b phc-b); /dev/vmclock0: $(exline $b vmc-b))"
    fi
    has $b 'kernel problems 0$'
    ok $? "$b: no BUG, WARNING, Oops or call trace in dmesg"
    diag "$(grep -E '^driver: problem ' "$tmp/$b.log" | head -20)"
}

vmclock_qemu_checks() {
    local b=$1
    vmclock_common $b
    has $b 'before vmclock: magic ok size 4096 version 1 counter_id 255 ' &&
        has $b 'vmclock phc none$'
    ok $? "$b: QEMU's page holds no time (counter_id 255: invalid), so ptp_vmclock registers no PTP clock"
    has $b 'steady vmclock: poll /dev/vmclock0: revents POLLHUP' && has $b 'before vmclock: .* notifications no$'
    ok $? "$b: no notifications: poll() on /dev/vmclock0 hangs up at once ($(line $b 'steady'))"
    has $b 'serve vmc-a exit 2 pvclock-guest: --clock /dev/vmclock0: the page gives no usable time' && [ ! -s "$tmp/$b.exchange-vmc-a" ]
    ok $? "$b: /dev/vmclock0 gives no time to read, so there is nothing to exchange ($(grep -m1 'no usable time' "$tmp/$b.log" 2>/dev/null | sed 's/^driver: //' | cut -c1-120))"
    vmclock_marker_grew $b
}

# vmclock_side_by_side PV QEMU: the two boots' findings as one table
vmclock_side_by_side() {
    local pv=$1 q=$2 row
    diag "VMClock side by side: pvclock-pages vmclock=on ($pv) | QEMU -device vmclock ($q)"
    for row in "PTP clock from ptp_vmclock|vmclock phc" \
               "steady poll()|steady vmclock: poll" \
               "marker across the migration|migrate: disruption marker"; do
        diag "  ${row%%|*}: $(line $pv "${row#*|}" | cut -c1-90) | $(line $q "${row#*|}" | cut -c1-90)"
    done
    diag "  PHC on host A: $(exline $pv phc-a) | none" \
         "  /dev/vmclock0 on host A: $(exline $pv vmc-a) | $(grep -m1 -o 'no usable time.*' "$tmp/$q.log" 2>/dev/null)" \
         "  PHC on host B: $(exline $pv phc-b) | none"
}
