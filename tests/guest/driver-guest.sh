#!/bin/busybox sh
# The guest side of tests/guest/test-driver.sh, run by /init for
# pvclock.cmd=driver.  pvclock.driver= on the kernel command line says
# which part:
#   full      (pc, two devices) bind, non-root mapping, write refusals,
#             memory type, rmmod/insmod, runtime lockdown, hot-unplug
#   lockdown  (booted with lockdown=integrity) insmod refused
#   bind      (one device) bind, non-root mapping, memory type
# Every line the host checks starts with "driver: ".
part=full
for a in $(cat /proc/cmdline); do
    case "$a" in pvclock.driver=*) part=${a#pvclock.driver=} ;; esac
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
    say "kernel problems $(dmesg | grep -cE 'BUG|WARNING|Oops|Call Trace|general protection')"
    dmesg | grep -E -A3 'BUG|WARNING|Oops|Call Trace' | head -40 | prefix "problem "
    echo "pvclock-guest: exit 0"
    poweroff -f
fi

t0=$(cut -d' ' -f1 /proc/uptime)
insmod /pvclock-pages.ko
say "insmod rc $? in $(awk -v t="$t0" '{printf "%.2f", $1 - t}' /proc/uptime) s"
dmesg | grep 'pvclock-pages' | prefix "dmesg "
nodes
for n in /dev/pvclock-pages*; do
    driver-check --uid 1000 map $n | prefix "uid1000 "
done
driver-check --uid 1000 run /bin/pvclock-guest show 2>&1 | prefix "uid1000 show "
bdf0=$(basename "$(readlink /sys/class/pvclock-pages/pvclock-pages0/device)")
driver-check --uid 1000 map /sys/bus/pci/devices/$bdf0/resource0 | prefix "uid1000 "
driver-check map /sys/bus/pci/devices/$bdf0/resource0 | prefix "root-bound "
driver-check --uid 1000 write /dev/pvclock-pages0 | prefix "uid1000 "
driver-check write /dev/pvclock-pages0 | prefix "root "
memtype

if [ "$part" = full ]; then
    driver-check --uid 1000 hold /dev/pvclock-pages0 30 > /tmp/busy 2>&1 &
    busy=$!
    for i in $(seq 600); do grep -q mapped /tmp/busy && break; sleep 0.1; done
    rmmod pvclock_pages 2> /tmp/rmmod.err
    say "rmmod while mapped rc $? $(cat /tmp/rmmod.err)"
    kill $busy; wait $busy
    rmmod pvclock_pages
    say "rmmod rc $? nodes left $(ls /dev | grep -c pvclock-pages) class $(ls /sys/class/pvclock-pages 2>/dev/null | wc -l)"
    insmod /pvclock-pages.ko
    say "insmod again rc $?"
    nodes
    driver-check --uid 1000 map /dev/pvclock-pages0 | prefix "again "

    for level in integrity confidentiality; do
        echo $level > /sys/kernel/security/lockdown
        say "lockdown now $(cat /sys/kernel/security/lockdown)"
        driver-check --uid 1000 map /dev/pvclock-pages0 | prefix "$level "
        driver-check map /sys/bus/pci/devices/$bdf0/resource0 | prefix "$level "
    done

    driver-check --uid 1000 hold /dev/pvclock-pages0 200 > /tmp/hold 2>&1 &
    hold=$!
    for i in $(seq 600); do grep -q mapped /tmp/hold && break; sleep 0.1; done
    say "unplug $bdf0 while held"
    echo "pvclock-guest: ready-unplug"
    wait $hold
    say "hold exit $?"
    prefix "" < /tmp/hold
    say "after unplug: device $([ -e /sys/bus/pci/devices/$bdf0 ] && echo present || echo gone), node $([ -e /dev/pvclock-pages0 ] && echo present || echo gone)"
    nodes
    dmesg | grep -i 'pvclock\|pci 0000:00\|acpiphp' | tail -n 8 | prefix "dmesg "
fi
say "kernel problems $(dmesg | grep -cE 'BUG|WARNING|Oops|Call Trace|general protection')"
dmesg | grep -E -A3 'BUG|WARNING|Oops|Call Trace' | head -40 | prefix "problem "
echo "pvclock-guest: exit 0"
poweroff -f
