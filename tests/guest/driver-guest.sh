#!/bin/busybox sh
# The guest side of tests/guest/test-driver.sh, run by /init for
# pvclock.cmd=driver.  pvclock.driver= on the kernel command line says
# which part:
#   full      (pc, two devices) bind, non-root mapping, write refusals,
#             memory type, rmmod/insmod, the PTP clocks (with chronyd,
#             and the host's exchange on ttyS1), runtime lockdown,
#             hot-unplug
#   lockdown  (booted with lockdown=integrity) insmod refused
#   bind      (one device) bind, non-root mapping, memory type
#   irq       (one device, MSI-X) the disruption interrupt and the
#             driver's step of the guest's own clock: a savevm, 60 s of
#             steady state, a loadvm of that snapshot, a helper restart
#             and a live migration to a paused destination, each asked of
#             the host with a "pvclock-guest: ready-NAME" line; after
#             insmod and right after each interrupt the host's exchange
#             on ttyS1 against the guest's own CLOCK_REALTIME
#   vmclockpv (7.x, a VMClock device: pvclock-pages' vmclock=on or
#             QEMU's own) ptp_vmclock's PHC and /dev/vmclock0 against
#             the host's exchange bracket, chronyd on the PHC, poll()
#             across a migration to another (simulated) host, both
#             clocks again against that host; what is missing is said
#   vmclocktai (7.x, pvclock-pages' vmclock=on over the real helper in
#             L1, tests/kvm/vmclock-tai.sh) the page's TAI fields, then
#             what clients make of them: a read of the PHC
#             (pvclock-guest offset --clock), phc_ctl get and cmp, chronyd with
#             'refclock PHC ... tai' and leapsectz right/UTC (waiting
#             pvclock.chronywait= s, default 90, for it to select the
#             PHC), phc2sys -O -37; after each, the host's exchange
#             against this guest's own CLOCK_REALTIME
#   chrony    (bench/phc.sh) chronyd disciplining this guest from
#             pvclock.refclock=phc (refclock PHC /dev/ptp0) or =sock
#             (pvclock-guest chrony, the SOCK feeder), both 4 samples a
#             second at poll 0; after pvclock.settle= s (default 120),
#             pvclock.minutes= min (default 10) of pvclock-guest offset
#   unmodified (7.x, pvclock-pages' vmclock=on; PVCLOCK_DRIVER_ONLY=
#             unmodified, bench/guest-resume.sh) no pvclock-pages driver:
#             ptp_vmclock and chronyd on its PHC with Debian's own
#             'makestep 1 3', through irq's events (a savevm, 60 s, a
#             loadvm of that snapshot, a helper restart, a migration to a
#             paused destination), each seen as a change of VMClock's
#             disruption marker; right after each the host's exchange
#             against the guest's own CLOCK_REALTIME, then that clock -
#             the host's every 2 s for 60 s (pvclock-guest offset)
# pvclock.irq=restart (with bind) watches poll() across one helper
# restart too (the INTx boot, pci=nomsi).  pvclock.set_clock=0 loads the
# module with set_clock=0 (the guest's clock never stepped);
# pvclock.chrony=1 (with irq; by hand, docs/driver.md) runs chronyd on
# the PHC beside the driver's steps and logs what it did.
# Every line the host checks starts with "driver: ".
part=full
irq=
refclock=phc settle=120 minutes=10 chronywait=90
modparams= chrony=
for a in $(cat /proc/cmdline); do
    case "$a" in
    pvclock.set_clock=*) modparams="set_clock=${a#pvclock.set_clock=}" ;;
    pvclock.chrony=*) chrony=${a#pvclock.chrony=} ;;
    pvclock.driver=*) part=${a#pvclock.driver=} ;;
    pvclock.irq=*) irq=${a#pvclock.irq=} ;;
    pvclock.refclock=*) refclock=${a#pvclock.refclock=} ;;
    pvclock.settle=*) settle=${a#pvclock.settle=} ;;
    pvclock.minutes=*) minutes=${a#pvclock.minutes=} ;;
    pvclock.chronywait=*) chronywait=${a#pvclock.chronywait=} ;;
    esac
done
say() { echo "driver: $*"; }
prefix() { sed "s/^/driver: $1/"; }
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp

devices() {
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x10f0 ] && echo "${d##*/}"
    done
}

# kernel_problems: the count of BUG, WARNING, Oops, call trace and
# general protection lines in dmesg, and the first of them with context.
# A CPU's vulnerability advisory at boot ("Speculative Return Stack
# Overflow: WARNING: See .../admin-guide/hw-vuln/...", printed under KVM
# on an AMD host model) is the CPU's, not a kernel problem.
kernel_problems() {
    dmesg | grep -v 'admin-guide/hw-vuln/' > /tmp/dmesg.problems
    say "kernel problems $(grep -cE 'BUG|WARNING|Oops|Call Trace|general protection' /tmp/dmesg.problems)"
    grep -E -A3 'BUG|WARNING|Oops|Call Trace' /tmp/dmesg.problems | head -40 | prefix "problem "
}

# the BAR, its memory type in PAT's list and the MTRRs (the host judges)
memtype() {
    for bdf in $(devices); do
        set -- $(head -1 /sys/bus/pci/devices/$bdf/resource)
        say "bar $bdf $1 $2 $3"
        grep -i "$(printf '%x' $(($1)))" /sys/kernel/debug/x86/pat_memtype_list |
            prefix "pat $bdf "
    done
    prefix "mtrr " < /proc/mtrr
    grep -i 'pvclock\|PCI Bus 0000:00' /proc/iomem | prefix "iomem "
}

nodes() {
    for n in /dev/pvclock-pages*; do
        [ -e "$n" ] || continue
        c=${n#/dev/}
        say "node $n $(stat -c '%A %u:%g' $n) device $(basename "$(readlink /sys/class/pvclock-pages/$c/device)")"
    done
    for bdf in $(devices); do
        say "sysfs $bdf $(ls /sys/bus/pci/devices/$bdf/pvclock-pages 2>/dev/null | tr '\n' ' ')"
    done
}

# the disruption interrupt: how it is delivered, and a poll() watcher
irqs() { cat /sys/class/pvclock-pages/pvclock-pages0/interrupts; }
wakeups() { grep -c '^watch: wakeup' /tmp/watch; }
irq_mode() {
    local bdf
    bdf=$(basename "$(readlink /sys/class/pvclock-pages/pvclock-pages0/device)")
    grep 'pvclock-pages' /proc/interrupts | tr -s ' ' | prefix "proc-interrupts "
    say "msi_irqs $bdf $(ls /sys/bus/pci/devices/$bdf/msi_irqs 2>/dev/null | wc -l)"
    say "interrupts at start $(irqs)"
}
watch_start() {
    driver-check watch /dev/pvclock-pages0 100000 > /tmp/watch 2>&1 &
    watcher=$!
    for i in $(seq 100); do grep -q '^watch: polling' /tmp/watch && break; sleep 0.1; done
}
# window NAME [exchange]: ask the host for NAME, wait for the first
# wakeup (60 s at most), [then the host's exchange against the guest's
# own clock, right after it,] then 5 s more for any other
window() {
    local i0 w0 t0 i
    i0=$(irqs) w0=$(wakeups) t0=$(cut -d' ' -f1 /proc/uptime)
    echo "pvclock-guest: ready-$1"
    for i in $(seq 300); do [ "$(wakeups)" -gt "$w0" ] && break; sleep 0.2; done
    [ -z "${2:-}" ] || vmc_exchange "$1" system
    sleep 5
    say "$1: interrupts $i0 -> $(irqs), wakeups $w0 -> $(wakeups), in $(awk -v t="$t0" '{printf "%.1f", $1 - t}' /proc/uptime) s"
}
watch_end() {
    kill $watcher; wait $watcher
    prefix "" < /tmp/watch
}

# chrony_start LINE REFID [FEEDER ARG...]: chronyd with that refclock
# line (and FEEDER started in the background once chronyd made its
# socket), until it selects REFID ($chronywait s at most, 90 by default)
chrony_start() {
    local i line=$1 refid=$2
    shift 2
    mkdir -p /run/chrony /var/lib/chrony
    printf '%s\nmakestep %s\n' "$line" "${chrony_makestep:-0.1 3}" > /etc/chrony.conf
    chmod 750 /run/chrony
    chronyd -u root -f /etc/chrony.conf -L 0 -l /tmp/chronyd.log
    if [ $# -gt 0 ]; then
        sleep 1
        "$@" > /tmp/feeder 2>&1 &
    fi
    for i in $(seq "$chronywait"); do
        sleep 1
        chronyc -n sources 2>/dev/null | grep -q "^#\* $refid " && break
    done
    say "chrony selected after $i s"
    chronyc -n sources | prefix "chrony "
}

# The PTP clocks: one per device, named and parented; what reading and
# steering them gives; the PHC inside every bracket of two device reads;
# the host's exchange bracket over ttyS1 (pvclock-guest serve --clock);
# chronyd with refclock PHC selecting it, and then how far the guest's
# own CLOCK_REALTIME is from the host's.  chronyd stays running (and
# holding /dev/ptp0) through what follows, the hot-unplug too.
phc_checks() {
    local bdf p i
    for bdf in $(devices); do
        p=$(ls /sys/bus/pci/devices/$bdf/ptp 2>/dev/null | head -1)
        say "phc $bdf ${p:-none} name $(cat /sys/class/ptp/$p/clock_name 2>/dev/null) node $([ -c /dev/$p ] && echo yes || echo no)"
    done
    say "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
    p=$(ls /sys/bus/pci/devices/$bdf0/ptp | head -1)
    driver-check phc /dev/$p | prefix ""
    pvclock-guest offset --clock /dev/$p --seconds 3 --interval-ms 10 2>&1 | prefix "phc-device "
    pvclock-guest serve --tty /dev/ttyS1 --clock /dev/$p > /tmp/serve 2>&1 &
    for i in $(seq 100); do grep -q 'pvclock-guest: ready' /tmp/serve && break; sleep 0.2; done
    echo "pvclock-guest: ready-exchange"
    wait $!
    say "serve exit $? $(grep -m1 answering /tmp/serve)"
    chrony_start "refclock PHC /dev/$p poll 0 dpoll -2 refid PHC0" PHC0
    sleep 20
    chronyc -n tracking | prefix "chrony "
    pvclock-guest offset --seconds 20 --interval-ms 100 2>&1 | prefix "system-device "
}

say "part $part, kernel $(uname -r), lockdown $(cat /sys/kernel/security/lockdown)"
for bdf in $(devices); do
    say "device $bdf"
    driver-check map /sys/bus/pci/devices/$bdf/resource0 | prefix "before $bdf "
done

if [ "$part" = lockdown ]; then
    insmod /pvclock-pages.ko 2> /tmp/insmod.err
    say "insmod rc $? $(cat /tmp/insmod.err)"
    dmesg | grep -i 'lockdown\|pvclock' | prefix "dmesg "
    nodes
    kernel_problems
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

t0=$(cut -d' ' -f1 /proc/uptime)
if [ "$part" = unmodified ]; then
    say "insmod: none (part unmodified)"
else
    insmod /pvclock-pages.ko $modparams
    say "insmod rc $? in $(awk -v t="$t0" '{printf "%.2f", $1 - t}' /proc/uptime) s"
fi
dmesg | grep 'pvclock-pages' | prefix "dmesg "
nodes

# vmc_exchange TAG CLOCK: answer the host's exchange TAG on ttyS1 from
# CLOCK (pvclock-guest serve --clock); the host ends it (--quit)
vmc_exchange() {
    local i pid
    pvclock-guest serve --tty /dev/ttyS1 --clock "$2" > /tmp/serve-$1 2>&1 &
    pid=$!
    for i in $(seq 100); do
        grep -q 'pvclock-guest: ready' /tmp/serve-$1 && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.2
    done
    grep -q 'pvclock-guest: ready' /tmp/serve-$1 && echo "pvclock-guest: ready-exchange-$1"
    wait $pid
    say "serve $1 exit $? $(grep -m1 'answering\|pvclock-guest: --clock' /tmp/serve-$1)"
}

# the marker of /dev/vmclock0's page now
vmc_marker() {
    vmclock-check show /dev/vmclock0 | sed -nE 's/.* disruption_marker ([0-9]+) .*/\1/p'
}
# vmc_wait MARKER [SECONDS]: until VMClock's disruption marker is not
# MARKER (SECONDS, default 60, at most)
vmc_wait() {
    local i m
    for i in $(seq $((${2:-60} * 5))); do
        m=$(vmc_marker)
        [ -n "$m" ] && [ "$m" != "$1" ] && return
        sleep 0.2
    done
}

# vmc_probe: insmod ptp_vmclock; its nodes, and its PTP clock in $vp
vmc_probe() {
    local p
    insmod /ptp_vmclock.ko 2> /tmp/insmod.err
    say "vmclock insmod rc $? $(cat /tmp/insmod.err)"
    dmesg | grep -i vmclock | grep -iv 'command line' | prefix "dmesg "
    say "vmclock nodes $(ls /dev | grep -E '^vmclock[0-9]' | tr '\n' ' ')"
    vp=
    for p in /sys/class/ptp/*; do
        [ -e "$p" ] || continue
        say "vmclock ptp ${p##*/} $(cat $p/clock_name)"
        [ "$(cat $p/clock_name)" = pvclock-pages ] || vp=${p##*/}
    done
    say "vmclock phc ${vp:-none}"
}

# TAI - UTC as the host knows it (or not), through clients as users run
# them (docs/vmclock.md): each may refuse the PHC, or must set this
# guest's clock to the host's, never 37 s off (issue 32, finding 10)
if [ "$part" = vmclocktai ]; then
    vmc_probe
    vmclock-check show /dev/vmclock0 | prefix "page "
    pvclock-guest offset --clock /dev/$vp --seconds 1 --interval-ms 100 2>&1 |
        prefix "phc-read "
    phc_ctl -q /dev/$vp get cmp 2>&1 | prefix "phc_ctl-boot "
    chrony_start "$(printf 'leapsectz right/UTC\nrefclock PHC /dev/%s poll 0 dpoll -2 refid VMC tai' "$vp")" VMC
    chronyc -n sources | grep -q '^#\* VMC ' && sleep 10
    chronyc -n sources | prefix "chrony-sources "
    chronyc -n tracking | prefix "chrony "
    vmc_exchange sys-chrony system
    phc_ctl -q /dev/$vp cmp 2>&1 | prefix "phc_ctl-chrony "
    kill $(pidof chronyd)
    sleep 1
    say "chronyd $(pidof chronyd > /dev/null && echo 'still running' || echo stopped)"
    phc2sys -s /dev/$vp -c CLOCK_REALTIME -O -37 -R 4 -m -q > /tmp/phc2sys 2>&1 &
    p2s=$!
    for i in $(seq 8); do kill -0 $p2s 2>/dev/null && sleep 1; done
    vmc_exchange sys-phc2sys system
    kill $p2s; wait $p2s
    prefix "phc2sys " < /tmp/phc2sys
    vmclock-check show /dev/vmclock0 | prefix "page-end "
    kernel_problems
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

if [ "$part" = vmclockpv ]; then
    vmc_probe
    vmclock-check show /dev/vmclock0 | prefix "before "
    vmclock-check poll /dev/vmclock0 5 | prefix "steady "
    vmc_exchange vmc-a /dev/vmclock0
    if [ -n "$vp" ]; then
        vmc_exchange phc-a /dev/$vp
        chrony_start "$(printf 'leapsectz right/UTC\nrefclock PHC /dev/%s poll 0 dpoll -2 refid VMC tai' "$vp")" VMC
        sleep 10
        chronyc -n tracking | prefix "chrony "
        pvclock-guest offset --seconds 10 --interval-ms 100 2>&1 | prefix "system-device "
    fi
    m0=$(vmc_marker)
    vmclock-check poll /dev/vmclock0 300 > /tmp/mig-poll 2>&1 &
    pollpid=$!
    sleep 1
    echo "pvclock-guest: ready-migrate"
    vmc_wait "$m0" 120
    wait $pollpid
    say "migrate: disruption marker $m0 -> $(vmc_marker); $(cat /tmp/mig-poll)"
    sleep 2
    vmclock-check show /dev/vmclock0 | prefix "after "
    # under KVM the TSC runs from the destination's load to its cont,
    # kvm-clock does not: the clocksource watchdog may mark the TSC
    # unstable, and ptp_vmclock then refuses every read (EINVAL)
    dmesg | grep -iE 'tsc.*(unstable|skew)|clocksource.*(unstable|watchdog)' |
        tail -3 | prefix "dmesg-after "
    [ -z "$vp" ] || vmc_exchange phc-b /dev/$vp
    vmc_exchange vmc-b /dev/vmclock0
    kernel_problems
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

if [ "$part" = chrony ]; then
    if [ "$refclock" = sock ]; then
        chrony_start "refclock SOCK /run/chrony.pvc.sock refid PVC poll 0 precision 1e-7" PVC \
            pvclock-guest chrony --socket /run/chrony.pvc.sock --interval-ms 250
    else
        chrony_start "refclock PHC /dev/ptp0 poll 0 dpoll -2 refid PHC0" PHC0
    fi
    sleep "$settle"
    chronyc -n tracking | prefix "chrony "
    pvclock-guest offset --seconds $((minutes * 60)) --interval-ms 1000 2>&1 | prefix "$refclock "
    chronyc -n tracking | prefix "chrony-end "
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

# skew: the device's REALTIME - its MONOTONIC (the guest's), in s: it
# grows by what the guest did not live through (a stop, a snapshot's age)
skew() {
    pvclock-guest show 2>/dev/null |
        awk '$1 == "REALTIME" {r = $2} $1 == "MONOTONIC" {m = $2} END {printf "%.3f", r - m}'
}

# follow TAG: the guest's own CLOCK_REALTIME - the host's, each 2 s for
# 60 s, as "follow TAG +S s: mean N ns"
follow() {
    local t0 i
    t0=$(cut -d' ' -f1 /proc/uptime)
    for i in $(seq 30); do
        pvclock-guest offset --seconds 1 --interval-ms 100 2>&1 |
            sed -nE 's/.* mean (-?[0-9]+) ns;.*/\1/p' > /tmp/follow
        say "follow $1 +$(awk -v t="$t0" '{printf "%.0f", $1 - t}' /proc/uptime) s: mean $(cat /tmp/follow) ns"
        sleep 1
    done
}

# What an unmodified guest's own clock does after each disruption: the
# same events as the irq part, no pvclock-pages driver
if [ "$part" = unmodified ]; then
    vmc_probe
    chrony_makestep="1 3"
    chrony_start "$(printf 'leapsectz right/UTC\nrefclock PHC /dev/%s poll 0 dpoll -2 refid VMC tai' "$vp")" VMC
    sleep 10
    chronyc -n tracking | prefix "chrony "
    vmc_exchange probe system
    m0=$(vmc_marker) d0=$(skew)
    echo "pvclock-guest: ready-savevm"
    vmc_wait "$m0"
    d1=$(skew)
    if awk -v a="$d0" -v b="$d1" 'BEGIN {exit !(b - a < 30)}'; then
        say "savevm: marker $m0 -> $(vmc_marker), the guest missed $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.1f", b - a}') s"
        sleep 60
        echo "pvclock-guest: ready-loadvm"
        sleep 600
    fi
    say "loadvm: marker $m0 -> $(vmc_marker), the guest missed $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.1f", b - a}') s"
    vmc_exchange loadvm system
    follow loadvm
    for ev in restart migrate; do
        m0=$(vmc_marker)
        echo "pvclock-guest: ready-$ev"
        vmc_wait "$m0"
        say "$ev: marker $m0 -> $(vmc_marker)"
        vmc_exchange $ev system
        follow $ev
    done
    chronyc -n tracking | prefix "chrony-end "
    prefix "chronyd-log " < /tmp/chronyd.log
    kernel_problems
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

if [ "$part" = irq ]; then
    irq_mode
    watch_start
    # the guest's own clock right after probe (set_clock's first step)
    vmc_exchange probe system
    if [ -n "$chrony" ]; then
        chrony_start "$(printf 'refclock PHC /dev/ptp0 poll 0 dpoll -2 refid PHC0\nlogdir /tmp\nlog tracking refclocks')" PHC0
    fi
    # a snapshot, then 60 s of steady state, then a loadvm of it: the
    # host's loadvm takes this timeline away, and the restored guest
    # goes on from the snapshot, told apart by what it did not live
    # through (the snapshot's age; savevm's own stop is a second or two)
    i0=$(irqs) w0=$(wakeups) d0=$(skew)
    echo "pvclock-guest: ready-savevm"
    for i in $(seq 300); do [ "$(wakeups)" -gt "$w0" ] && break; sleep 0.2; done
    d1=$(skew)
    if awk -v a="$d0" -v b="$d1" 'BEGIN {exit !(b - a < 30)}'; then
        say "savevm: interrupts $i0 -> $(irqs), wakeups $w0 -> $(wakeups), the guest missed $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.1f", b - a}') s"
        # steady state: nothing may disrupt this guest's clocks for 60 s
        i0=$(irqs) w0=$(wakeups)
        sleep 60
        say "steady 60 s: interrupts $i0 -> $(irqs), wakeups $w0 -> $(wakeups)"
        dmesg | grep 'pvclock-pages.*clock:' | prefix "dmesg "
        echo "pvclock-guest: ready-loadvm"
        sleep 600
    fi
    say "loadvm: interrupts $i0 -> $(irqs), wakeups $w0 -> $(wakeups), the guest missed $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.1f", b - a}') s"
    vmc_exchange loadvm system
    window restart exchange
    window migrate exchange
    dmesg | grep 'pvclock-pages.*clock:' | prefix "dmesg "
    if [ -n "$chrony" ]; then
        chronyc -n tracking | prefix "chrony "
        prefix "chronyd-log " < /tmp/chronyd.log
        prefix "chrony-tracking " < /tmp/tracking.log
        prefix "chrony-refclocks " < /tmp/refclocks.log
    fi
    sleep 3     # the host reads the device's count now
    watch_end
    kernel_problems
    echo "pvclock-guest: exit 0"
    poweroff -f
fi
if [ "$irq" = restart ]; then
    irq_mode
    watch_start
    window restart
    watch_end
fi
for n in /dev/pvclock-pages*; do
    driver-check --uid 1000 map $n | prefix "uid1000 "
    driver-check --uid 1000 holes $n | prefix "uid1000 "
done
driver-check --uid 1000 run /bin/pvclock-guest show 2>&1 | prefix "uid1000 show "
bdf0=$(basename "$(readlink /sys/class/pvclock-pages/pvclock-pages0/device)")
driver-check --uid 1000 map /sys/bus/pci/devices/$bdf0/resource0 | prefix "uid1000 "
driver-check map /sys/bus/pci/devices/$bdf0/resource0 | prefix "root-bound "
driver-check --uid 1000 write /dev/pvclock-pages0 | prefix "uid1000 "
driver-check write /dev/pvclock-pages0 | prefix "root "
memtype

if [ "$part" = full ]; then
    # pvclock-pages1 has no BAR2 (interrupts=off): poll() never wakes
    driver-check --uid 1000 watch /dev/pvclock-pages1 2 | prefix "nobar2 "
    driver-check --uid 1000 hold /dev/pvclock-pages0 30 > /tmp/busy 2>&1 &
    busy=$!
    for i in $(seq 600); do grep -q mapped /tmp/busy && break; sleep 0.1; done
    rmmod pvclock_pages 2> /tmp/rmmod.err
    say "rmmod while mapped rc $? $(cat /tmp/rmmod.err)"
    kill $busy; wait $busy
    rmmod pvclock_pages
    say "rmmod rc $? nodes left $(ls /dev | grep -c pvclock-pages) class $(ls /sys/class/pvclock-pages 2>/dev/null | wc -l)"
    insmod /pvclock-pages.ko $modparams
    say "insmod again rc $?"
    nodes
    driver-check --uid 1000 map /dev/pvclock-pages0 | prefix "again "
    phc_checks

    for level in integrity confidentiality; do
        echo $level > /sys/kernel/security/lockdown
        say "lockdown now $(cat /sys/kernel/security/lockdown)"
        driver-check --uid 1000 map /dev/pvclock-pages0 | prefix "$level "
        driver-check map /sys/bus/pci/devices/$bdf0/resource0 | prefix "$level "
    done

    # a reader whose buffer faults until told otherwise (userfaultfd;
    # unprivileged users need the sysctl for faults in the kernel's copy)
    echo 1 > /proc/sys/vm/unprivileged_userfaultfd
    rm -f /tmp/uffd-resolve
    driver-check --uid 1000 uffd /dev/pvclock-pages0 > /tmp/uffd 2>&1 &
    uffd=$!
    for i in $(seq 100); do grep -q 'blocked\|refused' /tmp/uffd && break; sleep 0.1; done
    driver-check --uid 1000 hold /dev/pvclock-pages0 200 > /tmp/hold 2>&1 &
    hold=$!
    driver-check --uid 1000 watch /dev/pvclock-pages0 200 > /tmp/hup 2>&1 &
    hup=$!
    for i in $(seq 600); do grep -q mapped /tmp/hold && break; sleep 0.1; done
    for i in $(seq 100); do grep -q '^watch: polling' /tmp/hup && break; sleep 0.1; done
    say "unplug $bdf0 while held"
    t0=$(cut -d' ' -f1 /proc/uptime)
    # the rmmod above said it once already
    r0=$(dmesg | grep -c "$bdf0: pvclock-pages0: removed")
    echo "pvclock-guest: ready-unplug"
    # the removal must not wait for the reader's fault: 30 s at most
    for i in $(seq 300); do
        [ "$(dmesg | grep -c "$bdf0: pvclock-pages0: removed")" -gt "$r0" ] && break
        sleep 0.1
    done
    if [ "$(dmesg | grep -c "$bdf0: pvclock-pages0: removed")" -gt "$r0" ]; then
        say "uffd: unplug done in $(awk -v t="$t0" '{printf "%.1f", $1 - t}' /proc/uptime) s, device $([ -e /sys/bus/pci/devices/$bdf0 ] && echo present || echo gone), reader $(grep -q 'read returned' /tmp/uffd && echo returned || echo blocked)"
    else
        say "uffd: unplug NOT done after 30 s while the reader was blocked"
    fi
    touch /tmp/uffd-resolve
    wait $uffd
    say "uffd exit $?"
    prefix "" < /tmp/uffd
    wait $hold
    say "hold exit $?"
    prefix "" < /tmp/hold
    wait $hup
    say "poll exit $?"
    prefix "" < /tmp/hup
    say "after unplug: device $([ -e /sys/bus/pci/devices/$bdf0 ] && echo present || echo gone), node $([ -e /dev/pvclock-pages0 ] && echo present || echo gone)"
    nodes
    dmesg | grep -i 'pvclock\|pci 0000:00\|acpiphp' | tail -n 8 | prefix "dmesg "
fi
kernel_problems
echo "pvclock-guest: exit 0"
poweroff -f
