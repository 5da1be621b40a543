#!/bin/bash
# Run a command inside an outer guest (L1) that runs Linux's own KVM:
# QEMU under TCG with AMD SVM and nested paging boots Debian 12's
# non-cloud kernel (tests/kvm/fetch-l1.sh), which loads kvm-amd; L1's
# user space is this machine's own root file system, read-only over
# virtio-9p with an overlay in L1's memory (tests/kvm/l1-init), so the
# project's QEMU, helper, tests and caches are all there at their paths
# and run as they do here, with -accel kvm now meaning real KVM.
#
#   nested.sh [--timeout S] [--mem MB] [--smp N] -- COMMAND...
#
# COMMAND runs in the current directory with the variables PVCLOCK_*,
# QEMU and CI of this environment; its standard output and error come
# out here (after L1 has powered off) and its exit status is nested.sh's.
# L1's console of the last run is kept as
# $PVCLOCK_BUILD/kvm/console-last.log, and what the command left in
# $PVCLOCK_NESTED_KEEP in $PVCLOCK_BUILD/kvm/keep.  -smp 1 by default:
# with more vCPUs L1 needs tsc=reliable
# (TCG offers no invariant TSC) and one run in four hung before
# KVM_CREATE_VM when that was tried.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

timeout=600 mem=4096 smp=1
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --) shift; break ;;
    *) die "nested.sh: unknown option $1 (see the comment at the top of $0)" ;;
    esac
done
[ $# -gt 0 ] || die "usage: nested.sh [--timeout S] [--mem MB] [--smp N] -- COMMAND..."

QEMU_OUTER=${QEMU_OUTER:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
[ -x "$QEMU_OUTER" ] || die "$QEMU_OUTER not built; run scripts/build.sh"
kdir=$("$PVCLOCK_ROOT/tests/kvm/fetch-l1.sh")

# L1's initramfs: busybox, the modules, /init
initrd=$PVCLOCK_BUILD/kvm/l1-initramfs.cpio.gz
if [ ! -f "$initrd" ] || [ "$PVCLOCK_ROOT/tests/kvm/l1-init" -nt "$initrd" ] ||
   [ "$kdir/modules.order" -nt "$initrd" ]; then
    stage "L1: building $initrd"
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,dev,proc,sys,modules}
    cp /bin/busybox "$root/bin/busybox"
    cp "$kdir"/*.ko "$kdir/modules.order" "$root/modules/"
    mv "$root/modules/modules.order" "$root/modules.order"
    cp "$PVCLOCK_ROOT/tests/kvm/l1-init" "$root/init"
    chmod 755 "$root/init"
    mkdir -p "$(dirname "$initrd")"
    ( cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --owner 0:0 ) |
        gzip -1 > "$initrd.tmp"
    rm -rf "$root"
    mv "$initrd.tmp" "$initrd"
fi

run=$(mktemp -d "$PVCLOCK_BUILD/kvm/run-XXXXXX")
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    cp "$run/console.log" "$PVCLOCK_BUILD/kvm/console-last.log" 2>/dev/null || true
    if [ -n "$(ls -A "$run/keep" 2>/dev/null)" ]; then
        rm -rf "$PVCLOCK_BUILD/kvm/keep"
        mv "$run/keep" "$PVCLOCK_BUILD/kvm/keep"
    fi
    rm -rf "$run"
}
trap cleanup EXIT
{
    echo "cd $(printf '%q' "$PWD") || exit 125"
    # what the command leaves in PVCLOCK_NESTED_KEEP (the driver suite's
    # consoles, by default) comes out to $PVCLOCK_BUILD/kvm/keep
    echo "export PVCLOCK_NESTED_KEEP=$(printf '%q' "$run/keep")"
    echo 'mkdir -p "$PVCLOCK_NESTED_KEEP"'
    echo 'export PVCLOCK_DRIVER_KEEP=${PVCLOCK_DRIVER_KEEP:-$PVCLOCK_NESTED_KEEP}'
    while IFS= read -r -d '' kv; do
        case "${kv%%=*}" in
        PVCLOCK_*|QEMU|CI) printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" ;;
        esac
    done < <(env -0)
    printf 'exec'
    printf ' %q' "$@"
    echo
} > "$run/cmd"

# l1_run: one L1 to its end.  Status 0 with $rc the command's exit
# status; 1 with $why when the command overran the timeout while L1
# still answered; 2 with $why when L1 itself stopped: it powered off
# without the command's status, or its console (a heartbeat every 15 s,
# tests/kvm/l1-init) has been silent for $stall s.
stall=${PVCLOCK_NESTED_STALL:-120}   # tests/kvm/test-nested.sh shortens it
l1_run() {
    local start=$SECONDS
    "$QEMU_OUTER" -M pc -accel tcg -cpu EPYC,+svm,+npt -smp "$smp" -m "$mem" \
        -nodefaults -display none -no-reboot \
        -kernel "$kdir/vmlinuz" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 tsc=reliable clocksource=tsc pvkvm.out=$run" \
        -chardev "file,id=con,path=$run/console.log" -serial chardev:con \
        -chardev "file,id=res,path=$run/output" -serial chardev:res \
        -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=root,mount_tag=root \
        -fsdev "local,id=out,path=$run,security_model=none" \
        -device virtio-9p-pci,fsdev=out,mount_tag=out \
        2> "$run/qemu.err" &
    qemu_pid=$!
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            why="the command still running after ${timeout}s; L1 killed"
            return 1
        fi
        if [ $((SECONDS - start)) -ge "$stall" ] &&
           [ $(($(date +%s) - $(stat -c %Y "$run/console.log" 2>/dev/null || echo 0))) -ge "$stall" ]; then
            why="L1's console silent for ${stall}s (no heartbeat) after $((SECONDS - start))s; L1 killed"
            return 2
        fi
        sleep 1
    done
    wait "$qemu_pid" || true
    qemu_pid=
    rc=$(sed -n 's/^nested: exit \([0-9]*\).*/\1/p' "$run/console.log" | tail -1)
    if [ -z "$rc" ]; then
        why="L1 ended without reporting the command's exit status"
        return 2
    fi
}

# stop_l1: the outer QEMU of an L1 run that l1_run gave up on
stop_l1() {
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
}

# An L1 that stopped is TCG's emulation failing, not the command: it is
# said, with the first L1's console and the command's output so far, and
# the command runs once more in a new L1.  A command that overruns an L1
# that still answers fails at once.
attempt=1
while :; do
    rm -f "$run/console.log" "$run/output"
    l1_run && break
    st=$?
    stop_l1
    if [ $st = 1 ] || [ $attempt -ge 2 ]; then
        [ -f "$run/output" ] && tr -d '\r' < "$run/output"
        tail -20 "$run/console.log" >&2
        cat "$run/qemu.err" >&2
        die "$why (attempt $attempt; L1's console above)"
    fi
    echo "# nested: $why; the command runs again in a new L1"
    [ -f "$run/output" ] && tr -d '\r' < "$run/output" | sed 's/^/# nested: first L1 said: /'
    tail -20 "$run/console.log" 2>/dev/null | tr -d '\r' | sed 's/^/# nested: first L1 console: /'
    cp "$run/console.log" "$PVCLOCK_BUILD/kvm/console-stopped.log" 2>/dev/null || true
    attempt=$((attempt + 1))
done
tr -d '\r' < "$run/output"
grep '^nested: ' "$run/console.log" | grep -v '^nested: \(exit\|alive\)' >&2 || true
exit "$rc"
