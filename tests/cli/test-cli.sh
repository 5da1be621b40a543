#!/bin/bash
# Command-line behaviour users meet first: QEMU's -device pvclock-pages
# with good and bad properties, and the helper's and the guest program's
# errors.  Every error must be one clear line and a non-zero exit.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

H=${PVCLOCK_HOST_BUILD:-$PVCLOCK_BUILD/host}   # the sanitizer suite points it elsewhere
QEMU=${QEMU:-$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# qemu_err ARGS...: run QEMU (TCG, stopped, no firmware needed to fail)
# and leave its stderr in $tmp/err and exit status in $rc.
qemu_err() {
    timeout 30 "$QEMU" -M pc -accel tcg -nodefaults -display none -S \
        -monitor none "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null &
    local pid=$!
    # a QEMU that accepted the device stays up (-S): stop it.  $pid is
    # timeout's; QEMU is its child, which a SIGKILL of timeout would
    # leave running.
    alive=0
    for _ in $(seq 30); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    if kill -0 $pid 2>/dev/null; then
        alive=1
        pkill -KILL -P $pid 2>/dev/null
        kill -KILL $pid 2>/dev/null
    fi
    wait $pid 2>/dev/null; rc=$?
}
one_line_with() {   # one_line_with TEXT: stderr is one line containing TEXT
    [ "$(wc -l < "$tmp/err")" = 1 ] && grep -qF -- "$1" "$tmp/err"
}

# --- QEMU -------------------------------------------------------------
"$QEMU" -device pvclock-pages,help > "$tmp/help" 2>&1
grep -q "^  pages=<str> *- pvclock-helper's --socket" "$tmp/help" &&
    grep -q '^  memdev=<link<memory-backend>> *- a memory backend' "$tmp/help"
ok $? "-device pvclock-pages,help documents pages= and memdev="
grep -q "^  on-missing=<PvclockOnMissing> - .*'fail'.*'degraded'.*(default: fail)" "$tmp/help" &&
    grep -q "^  downtime=<PvclockDowntime> - .*'exclude'.*'include'.*(default: exclude)" "$tmp/help"
ok $? "-device pvclock-pages,help gives the enum properties' types, values and defaults"

qemu_err -device pvclock-pages,pages="$tmp/missing"
[ $rc = 1 ] && one_line_with "cannot open pages '$tmp/missing' (property 'pages'); is pvclock-helper running?"
ok $? "missing pages file: one line naming file and property, exit 1"
diag "$(cat "$tmp/err")"

echo garbage > "$tmp/short"
qemu_err -device pvclock-pages,pages="$tmp/short"
[ $rc = 1 ] && one_line_with "is 8 bytes, pvclock-pages has 16384"
ok $? "truncated pages file: one line with its size"

truncate -s 16384 "$tmp/zero"
qemu_err -device pvclock-pages,pages="$tmp/zero"
[ $rc = 1 ] && one_line_with "has no pvclock-pages header in page 0 (magic 0x00000000)"
ok $? "wrong magic: one line naming the page and the magic found"

"$H/pvclock-helper" --once --pages "$tmp/good" 2>/dev/null
cp "$tmp/good" "$tmp/v9"
# abi_major is the u16 at offset 4 of every page: make it 9
for p in 0 1 2 3; do
    printf '\x09\x00' | dd of="$tmp/v9" bs=1 seek=$((p * 4096 + 4)) conv=notrunc status=none
done
qemu_err -device pvclock-pages,pages="$tmp/v9"
[ $rc = 1 ] && one_line_with "has ABI version 9." && grep -q "this QEMU supports 1.x" "$tmp/err"
ok $? "wrong ABI version: one line with both versions"

qemu_err -device pvclock-pages,pages="$tmp"
[ $rc = 1 ] && one_line_with "is not a regular file"
ok $? "a directory as pages file: one line"

# the live page: QEMU's own vDSO data is the host's only in the initial
# time namespace; in another one the device maps none and says why
qemu_err -device pvclock-pages,pages="$tmp/good"
[ $alive = 1 ] && [ ! -s "$tmp/err" ]
ok $? "live page in the initial time namespace: the device starts without a word"
if unshare --fork --kill-child --time --boottime 86400 true 2>/dev/null; then
    printf '#!/bin/sh\nexec unshare --fork --kill-child --time --boottime 86400 "%s" "$@"\n' \
        "$QEMU" > "$tmp/qemu-timens"
    chmod +x "$tmp/qemu-timens"
    QEMU=$tmp/qemu-timens qemu_err -device pvclock-pages,pages="$tmp/good"
    [ $alive = 1 ] && one_line_with "pvclock-pages: no live page (" &&
        grep -q "time namespace" "$tmp/err"
    ok $? "QEMU in a time namespace: the device starts, without a live page, and one warning says why"
    diag "$(cat "$tmp/err")"
else
    skip "QEMU in a time namespace" "unshare --time is not available here"
fi

mkfifo "$tmp/fifo"
start=$SECONDS
qemu_err -device pvclock-pages,pages="$tmp/fifo"
[ $rc = 1 ] && one_line_with "is not a regular file" && [ $((SECONDS - start)) -lt 10 ]
ok $? "a FIFO as pages file: one line at once, no hang in open (exit $rc)"
"$H/pvclock-helper" --inspect --pages "$tmp/fifo" > /dev/null 2>&1; rc=$?
[ $rc = 3 ]
ok $? "the helper's --inspect of a FIFO: refused at once, exit $rc"

qemu_err -device pvclock-pages,pages=
[ $rc = 1 ] && one_line_with "property 'pages' must name pvclock-helper's --socket or --pages file"
ok $? "empty pages property: one line"

qemu_err -device pvclock-pages,pages="$tmp/good",on-missing=maybe
[ $rc = 1 ] && one_line_with "'on-missing' does not accept value 'maybe'"
ok $? "a bad enum value: one line naming the property and the value"

qemu_err -device pvclock-pages,pages="$tmp/good",x-counter-backend=qtest
[ $rc = 1 ] && one_line_with "property 'x-counter-backend' is 'qtest'"
ok $? "the qtest backend outside the qtest accelerator: one line"

qemu_err -device pvclock-pages,pages="$tmp/good",bogus=1
[ $rc = 1 ] && one_line_with "Property 'pvclock-pages.bogus' not found"
ok $? "unknown property: QEMU's one-line error"

qemu_err -device pvclock-pages,pages="$tmp/good"
[ $alive = 1 ] && [ ! -s "$tmp/err" ]
ok $? "a good pages file: QEMU starts and stays up, silently"

# --- helper -------------------------------------------------------------
"$H/pvclock-helper" --bogus > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 2 ] && grep -q -- "--help" "$tmp/err"
ok $? "helper: unknown option -> exit 1, the error and a pointer to --help"

"$H/pvclock-helper" --once --pages /proc/nope/pages 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && one_line_with "cannot create the directory of /proc/nope/pages"
ok $? "helper: unwritable pages path -> exit 3, one line"

"$H/pvclock-helper" --once --pages "$tmp/p2" --socket "$tmp/s2" 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && one_line_with "--pages and --socket are two places for the pages: give one"
ok $? "helper: --pages and --socket together -> exit 1, one line"

"$H/pvclock-helper" --once --socket "$tmp/short" 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && one_line_with "$tmp/short exists and is not a socket"
ok $? "helper: --socket over a regular file -> exit 3, one line, the file untouched"

"$H/pvclock-helper" --inspect --pages "$tmp/short" 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && one_line_with "cannot inspect $tmp/short"
ok $? "helper --inspect on a corrupt file: one line, non-zero"

"$H/pvclock-helper" --inspect --pages "$tmp/good" > "$tmp/out" 2>&1
grep -q "magic" "$tmp/out" || grep -qi "page 0" "$tmp/out"
ok $? "helper --inspect prints the pages in human form"

"$H/pvclock-helper" --check > "$tmp/out" 2>&1; rc=$?
if [ $rc = 0 ]; then
    grep -q "validated against clock_gettime: REALTIME MONOTONIC MONOTONIC_RAW BOOTTIME TAI" "$tmp/out"
    ok $? "helper --check validates all five clocks on this host"
else
    [ $rc = 2 ] && [ "$(wc -l < "$tmp/out")" -ge 1 ]
    ok $? "helper --check refuses this host with a reason (exit 2)"
fi
diag "$(cat "$tmp/out")"

# --- helper as a daemon: systemd notify, SIGTERM, restart in place -------
rm -f "$tmp/notify.out"
socat -u UNIX-RECV:"$tmp/notify" "OPEN:$tmp/notify.out,creat,append" &
socat_pid=$!
for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$tmp/notify "$H/pvclock-helper" --pages "$tmp/d/pages" 2> "$tmp/d.log" &
hp=$!
for _ in $(seq 50); do grep -q READY=1 "$tmp/notify.out" 2>/dev/null && break; sleep 0.1; done
ino1=$(stat -c %i "$tmp/d/pages" 2>/dev/null)
kill -TERM $hp; wait $hp; rc=$?
sleep 0.2
kill $socat_pid 2>/dev/null; wait $socat_pid 2>/dev/null
grep -q 'READY=1' "$tmp/notify.out" && grep -q 'STOPPING=1' "$tmp/notify.out" && [ $rc = 0 ]
ok $? "helper: READY=1 to \$NOTIFY_SOCKET once published, STOPPING=1 and exit 0 on SIGTERM"
grep -q "stopping on signal 15" "$tmp/d.log"
ok $? "helper: says it stops and that the pages stay in place"
rm -f "$tmp/notify.out"
socat -u UNIX-RECV:"$tmp/notify2" "OPEN:$tmp/notify.out,creat,append" &
socat_pid=$!
for _ in $(seq 50); do [ -S "$tmp/notify2" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$tmp/notify2 "$H/pvclock-helper" --pages "$tmp/d/pages" --once 2>/dev/null
sleep 0.2
kill $socat_pid 2>/dev/null; wait $socat_pid 2>/dev/null
grep -q 'READY=1' "$tmp/notify.out"
ok $? "helper: a restart over current pages still tells systemd READY=1"
ino2=$(stat -c %i "$tmp/d/pages")
"$H/pvclock-helper" --inspect --pages "$tmp/d/pages" > "$tmp/out"
[ -n "$ino1" ] && [ "$ino1" = "$ino2" ] && grep -q "helper: epoch 2 " "$tmp/out"
ok $? "helper: a restart reuses the same file (inode $ino1 -> $ino2) with the next epoch"

# --- simulate mode and the leap second list -----------------------------
"$H/pvclock-helper" --pages "$tmp/sim" --once \
    --simulate tsc_hz=3000000000,realtime_offset_ns=5000000000 2>/dev/null
"$H/pvclock-helper" --inspect --pages "$tmp/sim" > "$tmp/out"
grep -q "page 0: .*counter_hz 3000000000" "$tmp/out" &&
    grep -q "simulated host: counter = real TSC" "$tmp/out" &&
    grep -q "page 2: .*not published" "$tmp/out"
ok $? "helper --simulate publishes a synthetic 3 GHz host (unscaled pages only)"
# Taking over pages in place (a restart on the same file): devices build
# a simulated host's transform into their guests' (ABI 1.7), so the same
# simulated host goes on with its counter and another host is refused
simx() { "$H/pvclock-helper" --inspect --pages "$1" | sed -n 's/.*simulated host: counter = //p' | head -1; }
sim0=$(simx "$tmp/sim")
"$H/pvclock-helper" --pages "$tmp/sim" --once \
    --simulate tsc_hz=3000000000,realtime_offset_ns=5000000000 2> "$tmp/err"; rc=$?
[ $rc = 0 ] && [ -n "$sim0" ] && [ "$(simx "$tmp/sim")" = "$sim0" ] &&
    grep -q "going on with the previous helper's simulated 3000000000 Hz counter" "$tmp/err"
ok $? "helper --simulate over its own earlier pages: the same counter goes on (counter = $sim0)"
"$H/pvclock-helper" --pages "$tmp/sim" --once --simulate tsc_hz=2500000000 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && grep -q "sim holds a simulated 3000000000 Hz host's pages: .* so a simulated 2500000000 Hz host cannot take them over; use another file" "$tmp/err" &&
    [ "$(simx "$tmp/sim")" = "$sim0" ]
ok $? "helper --simulate at another rate over a simulated host's pages: refused naming both, exit 3, the pages as they were"
"$H/pvclock-helper" --pages "$tmp/sim" --once 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && grep -q "so the real host cannot take them over" "$tmp/err" &&
    [ "$(simx "$tmp/sim")" = "$sim0" ]
ok $? "the real host's helper over a simulated host's pages: refused, exit 3"
"$H/pvclock-helper" --pages "$tmp/realpages" --once 2> /dev/null
"$H/pvclock-helper" --pages "$tmp/realpages" --once --simulate tsc_hz=2500000000 2> "$tmp/err"; rc=$?
[ $rc = 3 ] && grep -q "realpages holds the real host's pages: .* so a simulated 2500000000 Hz host cannot" "$tmp/err" &&
    [ -z "$(simx "$tmp/realpages")" ]
ok $? "a simulated host's helper over the real host's pages: refused, exit 3"
printf 'tsc_hz=2500000000\n' > "$tmp/ctl0"
"$H/pvclock-helper" --pages "$tmp/simstep" --simulate @"$tmp/ctl0" 2>/dev/null &
sp=$!
sleep 0.5
printf 'tsc_hz=2500000000\nfreq_ppb=1000\n' > "$tmp/ctl0"; sleep 0.4
d1=$("$H/pvclock-helper" --inspect --pages "$tmp/simstep" | awk '/disruptions/ {print $2; exit}')
printf 'tsc_hz=2500000000\nfreq_ppb=1000\nrealtime_offset_ns=-2000000000\n' > "$tmp/ctl0"; sleep 0.4
d2=$("$H/pvclock-helper" --inspect --pages "$tmp/simstep" | awk '/disruptions/ {print $2; exit}')
kill $sp; wait $sp 2>/dev/null
[ "$d1" = 1 ] && [ "$d2" = 2 ]
ok $? "host disruptions: 1 after start, unchanged by a frequency change, 2 after a REALTIME step ($d1, $d2)"
"$H/pvclock-helper" --pages "$tmp/sim" --once --simulate freq_ppb=9999999 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && one_line_with "freq_ppb=9999999: the kernel allows"
ok $? "helper --simulate with a bad value: one line naming it, exit 1"
printf 'tsc_hz=2500000000\nbogus\n' > "$tmp/ctl"
"$H/pvclock-helper" --pages "$tmp/sim" --once --simulate @"$tmp/ctl" 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && one_line_with "'bogus' is not key=value"
ok $? "helper --simulate @FILE with a bad line: one line, exit 1"
echo "garbage" > "$tmp/leap.list"
"$H/pvclock-helper" --pages "$tmp/lp" --once --leap-file "$tmp/leap.list" 2> "$tmp/err"; rc=$?
[ $rc = 0 ] && grep -q "leap second list not used: $tmp/leap.list: line 1" "$tmp/err"
ok $? "helper: a corrupt leap second list is named and not used"

if command -v systemd-analyze > /dev/null; then
    sed "s|/usr/local/sbin/pvclock-helper|$H/pvclock-helper|" \
        "$H/pvclock-helper.service" > "$tmp/pvclock-helper.service"
    systemd-analyze verify "$tmp/pvclock-helper.service" > "$tmp/err" 2>&1
    [ ! -s "$tmp/err" ]
    ok $? "the systemd unit passes systemd-analyze verify"
    diag "$(cat "$tmp/err")"
else
    skip "the systemd unit passes systemd-analyze verify" "no systemd-analyze"
fi

# --- the library as installed: headers, pkg-config, shared and static -----
if meson install -C "$H" --destdir "$tmp/inst" --quiet > "$tmp/inst.log" 2>&1; then
    prefix=$(meson introspect "$H" --buildoptions |
             python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
    root=$tmp/inst$prefix
    pc=$(find "$root" -name libpvclock.pc | head -1)
    sed -i "s|^prefix=.*|prefix=$root|" "$pc"
    # shellcheck disable=SC2086
    PKG_CONFIG_PATH=$(dirname "$pc") cc ${PVCLOCK_EXAMPLE_CFLAGS:-} \
        "$root/share/doc/pvclock-pages/examples/example.c" \
        $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs libpvclock) \
        -Wl,-rpath,"$(dirname "$(dirname "$pc")")" -o "$tmp/example" 2> "$tmp/cc.err"
    ok $? "installed library: the example builds with pkg-config (shared)"
    "$tmp/example" "$tmp/good" > "$tmp/out" 2>&1
    grep -q "^host CLOCK_REALTIME [0-9]*\.[0-9]\{9\}" "$tmp/out"
    ok $? "the example reads a pages file: $(cat "$tmp/out")"
    [ -f "$(dirname "$(dirname "$pc")")/libpvclock.a" ] &&
        [ -f "$root/include/pvclock-pages/pvclock-pages-abi.h" ] &&
        [ -f "$root/lib/systemd/system/pvclock-helper.service" ] &&
        [ -x "$root/sbin/pvclock-helper" ]
    ok $? "installed: static library, ABI header, systemd unit, helper"
    # the public headers and nothing else, in a directory of their own:
    # no QEMU-side path (hw/...) and no internal header
    inst=$(cd "$root/include" && find . -type f -o -type l | sort | tr '\n' ' ')
    [ "$inst" = "./pvclock-pages/pvclock-pages-abi.h ./pvclock-pages/pvclock-pages-calc.h ./pvclock.h " ]
    ok $? "installed headers: exactly pvclock.h and pvclock-pages/{abi,calc} ($inst)"
    cat > "$tmp/inc.c" <<'EOC'
#include <pvclock.h>
#include <pvclock-pages/pvclock-pages-abi.h>
#include <pvclock-pages/pvclock-pages-calc.h>

int main(void)
{
    struct pvcp_time t = { 1, 2 };

    return pvcp_time_cmp(t, t) + (int)sizeof(struct pvcp_offset_page) * 0;
}
EOC
    cc -c -o "$tmp/inc.o" -I"$root/include" "$tmp/inc.c" 2> "$tmp/inc.err"
    ok $? "the installed headers compile with -I\$DESTDIR$prefix/include alone"
    diag "$(head -5 "$tmp/inc.err")"
else
    ok 1 "meson install into a DESTDIR: $(tail -1 "$tmp/inst.log")"
fi

# --- guest program on a machine without the device ----------------------
"$H/pvclock-guest" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && one_line_with "no pvclock-pages PCI device (1af4:10f0) found"
ok $? "pvclock-guest without the device: one line, non-zero"

"$H/pvclock-guest" --resource "$tmp/zero" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && [ "$(wc -l < "$tmp/err")" = 1 ]
ok $? "pvclock-guest over a too small BAR file: one line, non-zero"
diag "$(cat "$tmp/err")"

truncate -s 32768 "$tmp/zero32"
"$H/pvclock-guest" --resource "$tmp/zero32" show > /dev/null 2> "$tmp/err"; rc=$?
[ $rc != 0 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -qi "magic" "$tmp/err"
ok $? "pvclock-guest over a zeroed BAR: one line about the magic, non-zero"
diag "$(cat "$tmp/err")"

# --- the Debian mirror the scripts write into apt configuration ---------
# (scripts/lib.sh debian_mirror: the machine's own, never a fixed host)
mirror() {  # mirror: debian_mirror over $tmp/apt and $tmp/os-release
    ( unset PVCLOCK_DEBIAN_MIRROR
      export PVCLOCK_APT_ETC=$tmp/apt PVCLOCK_OS_RELEASE=$tmp/os-release
      debian_mirror ) > "$tmp/out" 2> "$tmp/err"
    rc=$?
}
mkdir -p "$tmp/apt/sources.list.d"
echo 'VERSION_CODENAME=bookworm' > "$tmp/os-release"
cat > "$tmp/apt/sources.list.d/pvclock-pages.sources" <<'SRC'
# Written by pvclock-pages scripts/install-deps.sh
Types: deb deb-src
URIs: file:///srv/written-by-us
Suites: bookworm bookworm-backports
Components: main
SRC
cat > "$tmp/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: file:///srv/disabled
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: file:///srv/security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: file:///srv/local-mirror/
Suites: bookworm bookworm-updates
Components: main contrib
SRC
mirror
[ $rc = 0 ] && [ "$(cat "$tmp/out")" = file:///srv/local-mirror ]
ok $? "debian_mirror: the machine's deb822 entry for its release (not a disabled one, not security, not the project's own file): $(cat "$tmp/out")"
rm "$tmp/apt/sources.list.d/debian.sources"
printf '%s\n' '# deb file:///srv/commented bookworm main' \
    'deb-src file:///srv/src-only bookworm main' \
    'deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] file:///srv/proxied bookworm main' \
    > "$tmp/apt/sources.list"
mirror
[ $rc = 0 ] && [ "$(cat "$tmp/out")" = file:///srv/proxied ]
ok $? "debian_mirror: a one-line 'deb [options] URI bookworm main' entry: $(cat "$tmp/out")"
echo 'deb file:///srv/other-release trixie main' > "$tmp/apt/sources.list"
mirror
[ $rc != 0 ] && one_line_with "no Debian mirror in this machine's apt sources" &&
    grep -qF "suite bookworm, component main" "$tmp/err" && grep -qF PVCLOCK_DEBIAN_MIRROR "$tmp/err"
ok $? "debian_mirror with no entry for this release: one line naming what is missing and what to do, non-zero"
diag "$(cat "$tmp/err")"
PVCLOCK_DEBIAN_MIRROR=file:///srv/given/ debian_mirror > "$tmp/out" 2>&1
[ "$(cat "$tmp/out")" = file:///srv/given ]
ok $? "debian_mirror: PVCLOCK_DEBIAN_MIRROR overrides the sources"

done_testing
