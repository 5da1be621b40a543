#!/bin/bash
# VMClock's TAI offset end to end (issue 32, finding 10): the real
# pvclock-helper (no --simulate) over L1's own clock, a 7.x guest under
# Linux's own KVM with pvclock-pages vmclock=on and Linux's ptp_vmclock,
# and the clients users run on its PHC: phc_ctl, chronyd ('refclock PHC
# /dev/ptpN ... tai' with leapsectz right/UTC, as docs/vmclock.md says)
# and phc2sys -O -37.  One L1 boot, one L2 boot per case:
#   tai0   L1's kernel TAI - UTC 0 and the helper without a leap second
#          list (--leap-file none): the helper must say it does not know
#          TAI - UTC, the page must say the offset is not valid and the
#          clock unreliable, and no client may set the guest's clock 37 s
#          off the host's: phc_ctl and phc2sys get no reading, chronyd
#          does not select the PHC, and after each the guest's
#          CLOCK_REALTIME is within 5 s of the host's in every round of
#          the host's exchange (it starts from the boot's wall clock,
#          about 1 s behind: no bracket can hold it; 37 s off shows)
#   tai37  L1's kernel TAI - UTC 37 (adjtimex ADJ_TAI, what chronyd's
#          leapsectz does on a host): the helper knows 37, the page says
#          valid, -37; chronyd selects the PHC and phc2sys locks on it,
#          after each the guest's CLOCK_REALTIME lies inside the host's
#          exchange bracket in all 300 rounds, and the PHC reads REALTIME
#          + 37 s (phc_ctl cmp)
# On this machine it prepares the guest (the 7.x kernel, an initramfs
# with ptp_vmclock, chrony and linuxptp's phc2sys and phc_ctl, all
# downloaded and unpacked, never installed) and runs itself inside L1
# (tests/kvm/nested.sh).  Only there (PVCLOCK_IN_L1=1) does it set a
# kernel TAI offset: L1's, never this machine's.
#   PVCLOCK_HELPER   the helper to run (default the build's); with QEMU,
#                    to run this test against another build, e.g. the
#                    code before the fix (docs/testing.md)
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
. "$PVCLOCK_ROOT/tests/console.sh"

dir=$PVCLOCK_BUILD/kvm/vmclock-tai
g=$PVCLOCK_ROOT/tests/guest
if [ "${PVCLOCK_IN_L1:-}" != 1 ]; then
    # --- on this machine: the guest, then this script inside L1
    bail() { echo "Bail out! $*"; exit 1; }
    mkdir -p "$dir"
    kernel=$("$g/fetch-kernel.sh" 7) || bail "no 7.x guest kernel"
    vdir=$("$g/fetch-modules.sh" ptp_vmclock) || bail "no ptp_vmclock.ko"
    # the 7.x module tests/kvm/prepare.sh built (the driver suite's)
    ko=$PVCLOCK_BUILD/driver/7/pvclock-pages.ko
    [ -f "$ko" ] || ko=$("$g/build-driver-trixie.sh" "$PVCLOCK_BUILD/kvm/driver-7") ||
        bail "pvclock-pages.ko did not build for the 7.x kernel"
    lptp=$("$g/fetch-linuxptp.sh") || bail "no linuxptp"
    cp "$vdir/ptp_vmclock.ko" "$ko" "$lptp/usr/sbin/phc2sys" "$lptp/usr/sbin/phc_ctl" "$dir/"
    for t in driver-check vmclock-check; do
        cc -static -O2 -Wall -Wextra -Werror -I"$PVCLOCK_ROOT/include" -o "$dir/$t" \
            "$g/tools/$t.c" || bail "$t did not build"
    done
    "$g/mkinitramfs.sh" "$dir/initramfs.cpio.gz" driver "$dir" || bail "no initramfs"
    echo "$kernel" > "$dir/kernel"
    PVCLOCK_ACCEL=kvm exec "$PVCLOCK_ROOT/tests/kvm/nested.sh" --timeout 600 -- "$0"
fi

# --- inside L1
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
helper=${PVCLOCK_HELPER:-$PVCLOCK_BUILD/host/pvclock-helper}
kernel=$(cat "$dir/kernel")
initrd=$dir/initramfs.cpio.gz
tmp=$(mktemp -d /tmp/vmclock-tai-XXXXXX)
hpid='' qpid=''
trap 'kill $hpid $qpid 2>/dev/null; rm -rf "$tmp"' EXIT
"$helper" --check > "$tmp/check" 2>&1 ||
    { echo "1..0 # SKIP L1's clocks cannot be shared: $(tail -1 "$tmp/check")"; exit 0; }

# tai [N]: L1's kernel TAI - UTC (adjtimex), set to N first if given
tai() {
    python3 - "$@" <<'EOF'
import ctypes, sys
class Timex(ctypes.Structure):      # glibc's struct timex, x86_64
    _fields_ = [(n, ctypes.c_long) for n in ("modes", "offset", "freq",
                "maxerror", "esterror", "status", "constant", "precision",
                "tolerance", "tv_sec", "tv_usec", "tick", "ppsfreq",
                "jitter", "shift", "stabil", "jitcnt", "calcnt", "errcnt",
                "stbcnt")] + [("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]
assert ctypes.sizeof(Timex) == 208 and Timex.tai.offset == 160
libc = ctypes.CDLL(None, use_errno=True)
t = Timex()
if len(sys.argv) > 1:
    t.modes, t.constant = 0x80, int(sys.argv[1])   # ADJ_TAI
if libc.adjtimex(ctypes.byref(t)) < 0:
    sys.exit("adjtimex: " + __import__("os").strerror(ctypes.get_errno()))
t = Timex()
libc.adjtimex(ctypes.byref(t))
print(t.tai)
EOF
}

# boot NAME CHRONYWAIT: the helper on a pages file of its own, then the
# guest (driver-guest.sh's part vmclocktai) to its end, answering the
# exchanges it asks for against L1's REALTIME; $tmp/NAME.log its console
boot() {
    local n=$1 wait=$2 log=$tmp/$1.log p=$tmp/$1-pages start=$SECONDS tag done_tags=" "
    "$helper" --pages "$p" --leap-file none > /dev/null 2> "$tmp/$n-helper.log" &
    hpid=$!
    for _ in $(seq 50); do
        "$helper" --inspect --pages "$p" > "$tmp/$n.inspect" 2>&1 && break
        sleep 0.1
    done
    : > "$log"
    "$QEMU" -M pc -accel kvm -cpu max -m 256 -nodefaults -display none -no-reboot \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 nowatchdog rcupdate.rcu_cpu_stall_suppress=1 pvclock.cmd=driver pvclock.driver=vmclocktai pvclock.chronywait=$wait" \
        -device "pvclock-pages,id=pvc0,vmclock=on,pages=$p" -serial "file:$log" \
        -chardev "socket,id=ex,path=$tmp/$n.ex,server=on,wait=off" -serial chardev:ex \
        2> "$tmp/$n.err" &
    qpid=$!
    while kill -0 $qpid 2>/dev/null; do
        for tag in $(console_asks 'pvclock-guest: ready-exchange-(sys-[a-z0-9]+)' "$log"); do
            case "$done_tags" in *" $tag "*) continue ;; esac
            done_tags="$done_tags$tag "
            GUEST_SOCKET=$tmp/$n.ex timeout 60 "$PVCLOCK_BUILD/host/pvclock-exchange" \
                --rounds 300 --show 3 --quit > "$tmp/$n.exchange-$tag" 2>&1
        done
        grep -q '^pvclock-guest: exit' "$log" && break
        if [ $((SECONDS - start)) -ge 240 ]; then
            diag "$n: no end after 240 s; last console lines:" "$(tail -5 "$log")"
            break
        fi
        sleep 0.2
    done
    for _ in $(seq 50); do kill -0 $qpid 2>/dev/null || break; sleep 0.1; done
    kill $qpid $hpid 2>/dev/null; wait $qpid $hpid 2>/dev/null
    qpid='' hpid=''
    tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
    cp "$log" "$tmp/$n-helper.log" "$PVCLOCK_NESTED_KEEP/" 2>/dev/null
    [ -s "$tmp/$n.err" ] && diag "$n: QEMU said: $(head -3 "$tmp/$n.err")"
    diag "$n: guest ran $((SECONDS - start)) s"
}

has() { grep -qE "^driver: $2" "$tmp/$1.log"; }
line() { grep -E "^driver: $2" "$tmp/$1.log" | head -1 | sed 's/^driver: //'; }
show() { grep -E "^driver: $2" "$tmp/$1.log" | sed 's/^driver: //'; }
# page NAME FIELD: a field of the page as vmclock-check showed it first
page() { sed -nE "s/^driver: page vmclock: .* $2 ([-0-9a-fx]+) .*/\1/p" "$tmp/$1.log" | head -1; }
# exline NAME TAG [N]: line N (1) of what the exchange TAG found
exline() {
    grep '^exchange:' "$tmp/$1.exchange-$2" 2>/dev/null | sed -n "${3:-1}p" | sed 's/^exchange: //'
}
# held NAME TAG: all 300 rounds inside the host's bracket
held() {
    grep -q '^exchange: 300 rounds, 0 violations of host before <= guest <= host after, 0 guest errors' \
        "$tmp/$1.exchange-$2" 2>/dev/null
}
# within5s NAME TAG: the guest answered all 300 rounds and was never 5 s
# or more ahead of the host's before or behind its after
within5s() {
    local a b
    grep -q '^exchange: 300 rounds, [0-9]* violations .*, 0 guest errors' \
        "$tmp/$1.exchange-$2" 2>/dev/null || return 1
    read -r a b < <(sed -nE 's/^exchange: largest guest-before (-?[0-9.]+) ms, largest after-guest (-?[0-9.]+) ms/\1 \2/p' \
        "$tmp/$1.exchange-$2")
    [ -n "$a" ] && awk -v a="$a" -v b="$b" 'BEGIN { exit !(a < 5000 && b < 5000) }'
}
# cmp NAME WHEN: phc_ctl's PHC - REALTIME at WHEN (boot, chrony), in ns
cmp_ns() {
    sed -nE "s/^driver: phc_ctl-$2 .*offset from CLOCK_REALTIME is (approximately )?(-?[0-9]+)ns/\2/p" \
        "$tmp/$1.log" | head -1
}
# near37 NS TOLERANCE-NS: |NS| is 37 s within the tolerance
near37() { [ -n "$1" ] && awk -v x="$1" -v t="$2" 'BEGIN { if (x < 0) x = -x; d = x - 37e9; exit !(d < t && d > -t) }'; }

common_diag() {
    local n=$1
    diag "$n: $(show $n 'page vmclock' | head -1 | cut -c1-200)" \
        "$(show $n '(vmclock phc|phc-read|phc_ctl-boot|phc_ctl-chrony|chrony selected|chrony-sources|chrony (Reference|System time|Last offset|Leap))')" \
        "$(grep -h '^exchange: ' "$tmp/$n".exchange-* 2>/dev/null)" \
        "$(show $n 'phc2sys ' | head -4)" "$(show $n 'phc2sys ' | tail -3)"
}

# --- tai0: L1's kernel TAI - UTC 0, the helper without a leap second list
t=$(tai 0)
[ "$t" = 0 ]
ok $? "tai0: L1's kernel TAI - UTC set to 0 (adjtimex ADJ_TAI in L1; this machine's is untouched): $t"
boot tai0 20
n=tai0
grep -q 'TAI - UTC unknown' "$tmp/$n-helper.log" && grep -q 'known TAI-UTC: unknown' "$tmp/$n.inspect"
ok $? "$n: the real helper (no --simulate, --leap-file none) says it does not know TAI - UTC, in its log and in page 0 ($(grep -m1 'known TAI' "$tmp/$n.inspect" | sed 's/^ *//'))"
diag "$(grep -m2 'TAI' "$tmp/$n-helper.log")"
fl=$(page $n flags) st=$(page $n clock_status) to=$(page $n tai_offset)
[ -n "$fl" ] && [ $((fl & 1)) = 0 ] && [ "$st" = 4 ] && [ "$to" = 0 ]
ok $? "$n: the VMClock page says the TAI offset is not valid and the clock unreliable (flags ${fl:-?}: bit 0 clear; clock_status ${st:-?}, 4 unreliable; tai_offset ${to:-?})"
has $n 'vmclock phc ptp[0-9]+$' && has $n 'phc-read .*not a readable PTP clock' &&
    ! has $n 'phc_ctl-boot .*(clock time is|offset from)'
ok $? "$n: ptp_vmclock offers the PHC ($(line $n 'vmclock phc')) and refuses to read it ($(line $n 'phc-read' | sed 's/.*--clock //')); phc_ctl get and cmp read nothing ($(line $n 'phc_ctl-boot .*unknown clock' | sed 's/.*\]: //'))"
has $n 'chrony-sources .* VMC ' && ! has $n 'chrony-sources #\* VMC '
ok $? "$n: chronyd ('refclock PHC ... tai', leapsectz right/UTC) runs but does not select the PHC in 20 s ($(line $n 'chrony-sources .* VMC ' | tr -s ' ' | cut -c1-80))"
within5s $n sys-chrony
ok $? "$n: after chronyd the guest's REALTIME is within 5 s of the host's in all 300 rounds, not 37 s behind ($(exline $n sys-chrony 3))"
has $n 'phc2sys ' && ! has $n 'phc2sys .* s[12] '
ok $? "$n: phc2sys -O -37 neither steps (s1) nor locks (s2) on the PHC ($(show $n 'phc2sys .*(unknown clock| s[012] )' | tail -1 | sed 's/.*\]: //'))"
within5s $n sys-phc2sys
ok $? "$n: after phc2sys the guest's REALTIME is within 5 s of the host's in all 300 rounds, not 37 s behind ($(exline $n sys-phc2sys 3))"
has $n 'kernel problems 0$'
ok $? "$n: no BUG, WARNING, Oops or call trace in the guest"
common_diag $n

# --- tai37: L1's kernel TAI - UTC 37
t=$(tai 37)
[ "$t" = 37 ]
ok $? "tai37: L1's kernel TAI - UTC set to 37 (adjtimex ADJ_TAI in L1): $t"
boot tai37 60
n=tai37
grep -q 'TAI - UTC is 37 s, the kernel' "$tmp/$n-helper.log" &&
    grep -q 'known TAI-UTC 37 s, from the kernel' "$tmp/$n.inspect"
ok $? "$n: the real helper knows TAI - UTC 37 from the kernel, in its log and in page 0 ($(grep -m1 'known TAI' "$tmp/$n.inspect" | sed 's/^ *//'))"
fl=$(page $n flags) st=$(page $n clock_status) to=$(page $n tai_offset)
[ -n "$fl" ] && [ $((fl & 1)) = 1 ] && { [ "$st" = 2 ] || [ "$st" = 3 ]; } && [ "$to" = -37 ]
ok $? "$n: the VMClock page says TAI offset valid, -37 (flags ${fl:-?}, clock_status ${st:-?}, tai_offset ${to:-?})"
has $n 'chrony-sources #\* VMC ' && ! has $n 'chrony selected after 60 s'
ok $? "$n: chronyd ('refclock PHC ... tai', leapsectz right/UTC) selects the PHC ($(line $n 'chrony selected'))"
held $n sys-chrony
ok $? "$n: after chronyd the guest's REALTIME lies inside the host's exchange bracket in all 300 rounds ($(exline $n sys-chrony); $(exline $n sys-chrony 2))"
c=$(cmp_ns $n chrony)
near37 "$c" 1000000
ok $? "$n: the PHC reads the host's TAI: phc_ctl cmp against the synchronised REALTIME is 37 s within 1 ms (${c:-none} ns)"
o=$(sed -nE 's/^driver: phc2sys .*phc offset +(-?[0-9]+) s2 .*/\1/p' "$tmp/$n.log" | tail -1)
[ -n "$o" ] && [ "${o#-}" -lt 10000 ]
ok $? "$n: phc2sys -O -37 locks on the PHC (s2), its last offset under 10 us (${o:-none} ns)"
held $n sys-phc2sys
ok $? "$n: with phc2sys the guest's REALTIME lies inside the host's exchange bracket in all 300 rounds ($(exline $n sys-phc2sys); $(exline $n sys-phc2sys 2))"
has $n 'kernel problems 0$'
ok $? "$n: no BUG, WARNING, Oops or call trace in the guest"
common_diag $n
done_testing
