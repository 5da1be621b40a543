#!/bin/bash
# Boot the test guest under TCG with -device pvclock-pages and run a host
# command against it.
#
#   boot.sh [options] [-- HOST-COMMAND...]
#     --pages FILE     pages file of a running pvclock-helper (required)
#     --cmd serve|watch|hammer|show|shm  what the guest does (default
#                      serve; watch: serve while a thread reads all five
#                      clocks; hammer: and another writes all over the BAR; shm:
#                      the ivshmem stamp exchange, give the ivshmem device
#                      with --qemu-arg)
#     --log FILE       guest console log (default: a temporary file)
#     --timeout S      give up waiting for the guest after S s (default 240)
#     --qemu-arg ARG   one more QEMU argument (repeatable)
#     --cmd demo --initrd FILE   scripts/demo.sh's guest: FILE is an
#                      initramfs with the driver (mkinitramfs.sh OUT
#                      driver DIR); the guest's clock is measured before
#                      and after insmod, then it serves its own clock
#
# With serve, HOST-COMMAND runs once the guest is ready, with
# GUEST_SOCKET naming the unix socket of the guest's second serial line
# (pvclock-exchange talks to it).  The exit status is HOST-COMMAND's, or
# non-zero with one line on stderr if the guest does not come up.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

pages= cmd=serve log= timeout=240 extra=() initrd=
while [ $# -gt 0 ]; do
    case "$1" in
    --pages) pages=$2; shift 2 ;;
    --cmd) cmd=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --qemu-arg) extra+=("$2"); shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --) shift; break ;;
    *) die "boot.sh: unknown option $1 (see the comment at the top of $0)" ;;
    esac
done
[ -n "$pages" ] || die "boot.sh: --pages FILE is required"
case "$cmd" in serve|watch|hammer|show|shm|bench|chrony|demo) ;; *) die "boot.sh: --cmd must be serve, watch, hammer, show, shm, bench, chrony or demo, not '$cmd'" ;; esac
[ "$cmd" != demo ] || [ -f "$initrd" ] || die "boot.sh: --cmd demo needs --initrd FILE, an initramfs with the driver"

QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
[ -x "$QEMU" ] || die "$QEMU not built; run scripts/build.sh"
kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh")
if [ "$cmd" = demo ]; then
    true                # the caller's, with the driver
elif [ "$cmd" = chrony ]; then
    initrd=$PVCLOCK_BUILD/guest/initramfs-chrony.cpio.gz
    "$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd" chrony
else
    initrd=$PVCLOCK_BUILD/guest/initramfs.cpio.gz
    "$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd"
fi

work=$(mktemp -d /tmp/pvclock-guest-XXXXXX)
[ -n "$log" ] || log=$work/console.log
: > "$log"
sock=$work/ttyS1.sock
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

stage "guest: booting $(basename "$(dirname "$kernel")") under ${PVCLOCK_ACCEL:-tcg} with -device pvclock-pages"
"$QEMU" -M pc -accel "${PVCLOCK_ACCEL:-tcg}" -cpu max -m 256 -nodefaults -display none \
    -no-reboot -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 pvclock.cmd=$cmd" \
    -chardev "file,id=con,path=$log" -serial chardev:con \
    -chardev "socket,id=ex,path=$sock,server=on,wait=off" -serial chardev:ex \
    -device "pvclock-pages,id=pvc,pages=$pages" "${extra[@]}" \
    2> "$work/qemu.err" &
qemu_pid=$!

start=$SECONDS
while :; do
    if grep -q 'pvclock-guest: ready' "$log" 2>/dev/null; then
        break
    fi
    if grep -q 'pvclock-guest: exit' "$log" 2>/dev/null; then
        case "$cmd" in show|bench|chrony) break ;; esac
        cat "$log" >&2
        die "guest program exited before it was ready (console above)"
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        cat "$work/qemu.err" >&2
        die "QEMU exited before the guest was ready (its stderr above)"
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
        tail -20 "$log" >&2
        die "guest not ready after ${timeout}s (last console lines above)"
    fi
    sleep 0.5
done
note "guest up after $((SECONDS - start)) s"

rc=0
if [ "$cmd" != show ] && [ $# -gt 0 ]; then
    GUEST_SOCKET=$sock "$@" || rc=$?
    # tell a serving guest to finish; it powers off
    case "$cmd" in serve|watch|hammer|demo) true ;; *) false ;; esac &&
        { printf 'X\n' | socat -u - "UNIX-CONNECT:$sock" 2>/dev/null || true; }
fi
for _ in $(seq 60); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.5
done
exit $rc
