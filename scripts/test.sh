#!/bin/bash
# Run every test: build first (scripts/build.sh), then the unit tests, the
# QEMU qtest, the command-line tests and the guest end-to-end test.  Each
# suite speaks TAP; this script counts the results and ends with one line
# "N passed, N failed".  Logs: build/test-logs/.
#   PVCLOCK_TEST_SUITES   space-separated subset of: unit sanitize fuzz
#                         qtest qemu-asan qemu-older patches accel migration
#                         soak cli guest hostkernels chrony libvirt ivshmem
#                         driver kvm
#   PVCLOCK_FUZZ_SECONDS  per libFuzzer target in the short pass (10)
#   PVCLOCK_SHM_SECONDS   length of the ivshmem exchange (default 60)
#   PVCLOCK_SOAK_SECONDS  length of the soak (default 240; the long run
#                         in docs/reliability.md is 840 s)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

"$PVCLOCK_ROOT/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }

logs=$PVCLOCK_BUILD/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=()

# run_tap NAME COMMAND...: run one TAP program and count its results.
run_tap() {
    local name=$1; shift
    local log=$logs/$name.log rc p f s plan seen
    mkdir -p "$(dirname "$log")"
    printf '%-28s ' "$name"
    "$@" > "$log" 2>&1; rc=$?
    p=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
    s=$(grep -cE '^ok [0-9]+.*# *SKIP' "$log" | tr -d ' ')
    f=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
    p=$((p - s))
    plan=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$log" | tail -1)
    seen=$((p + s + f))
    if grep -qE '^1\.\.0 *# *SKIP' "$log"; then
        s=$((s + 1))
        printf 'skipped: %s\n' "$(sed -nE 's/^1\.\.0 *# *SKIP *//p' "$log")"
        skipped=$((skipped + s))
        return
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1     # died without saying which test failed
        failures+=("$name: exited with status $rc (log $log)")
    elif [ -z "$plan" ] || [ "$plan" != "$seen" ]; then
        f=$((f + 1))
        failures+=("$name: ran $seen of ${plan:-?} planned tests (log $log)")
    fi
    grep -E '^not ok' "$log" | sed "s|^|$name: |" | while read -r l; do
        echo "    $l"; done
    while read -r l; do failures+=("$name: $l"); done < <(grep -E '^not ok' "$log")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    printf '%3d passed, %d failed, %d skipped\n' "$p" "$f" "$s"
}

# qtest_in PREFIX QEMU-BUILD [ENV...]: the device's qtest programs, built
# in that QEMU build, each reported as PREFIX/pvclock-pages-CONCERN
qtest_in() {
    local prefix=$1 dir=$2 t
    shift 2
    for t in $PVCLOCK_QTESTS; do
        run_tap "$prefix/${t%-test}" env -C "$dir" "$@" \
            QTEST_QEMU_BINARY=./qemu-system-x86_64 ./tests/qtest/"$t" --tap
    done
}

# accel_with PREFIX QEMU-BINARY: the accel suite's programs with that QEMU
accel_with() {
    run_tap "$1/tsc-relation" env QEMU="$2" python3 "$PVCLOCK_ROOT/tests/accel/tsc_relation.py"
    run_tap "$1/live-page" env QEMU="$2" python3 "$PVCLOCK_ROOT/tests/accel/live_page.py"
    run_tap "$1/gdbstub-write" env QEMU="$2" python3 "$PVCLOCK_ROOT/tests/accel/gdbstub_write.py"
}

all_suites="unit sanitize fuzz qtest qemu-asan qemu-older patches accel migration soak cli guest driver hostkernels chrony libvirt ivshmem kvm"
suites=${PVCLOCK_TEST_SUITES:-$all_suites}
for suite in $suites; do
    case "$suite" in
    unit)
        stage "unit tests (reader library, helper, exactness against the vDSO)"
        for t in "$PVCLOCK_BUILD"/host/tests/unit/test-*; do
            [ -f "$t" ] && [ -x "$t" ] && run_tap "unit/${t##*/test-}" "$t"
        done
        run_tap unit/function-length python3 "$PVCLOCK_ROOT/tests/unit/function-length.py"
        run_tap unit/layers python3 "$PVCLOCK_ROOT/tests/unit/layers.py" ;;
    sanitize)
        stage "unit and command-line tests under AddressSanitizer + UBSan"
        asan=$PVCLOCK_BUILD/asan
        if [ ! -f "$asan/build.ninja" ]; then
            meson setup "$asan" "$PVCLOCK_ROOT" -Db_sanitize=address,undefined \
                -Db_lundef=false -Dstatic_guest=false -Dbuildtype=debug > /dev/null
        fi
        if ninja -C "$asan" > "$logs/asan-build.log" 2>&1; then
            export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1
            export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
            for t in "$asan"/tests/unit/test-*; do
                [ -f "$t" ] && [ -x "$t" ] &&
                    run_tap "asan/${t##*/test-}" env PVCLOCK_EXACT_VALUES=200000 \
                        PVCLOCK_COHERENCE_EXCHANGES=200000 \
                        PVCLOCK_ORACLE_STATES=200000 "$t"
            done
            run_tap asan/cli env PVCLOCK_HOST_BUILD="$asan" \
                PVCLOCK_EXAMPLE_CFLAGS="-fsanitize=address,undefined" \
                "$PVCLOCK_ROOT/tests/cli/test-cli.sh"
            unset ASAN_OPTIONS UBSAN_OPTIONS
        else
            failed=$((failed + 1))
            failures+=("sanitize: build failed (log $logs/asan-build.log)")
        fi ;;
    fuzz)
        stage "fuzzing, a short pass: reader, vvar reading, migration stream"
        run_tap fuzz "$PVCLOCK_ROOT/tests/fuzz/run.sh" "${PVCLOCK_FUZZ_SECONDS:-10}" 20 ;;
    qemu-asan)      # builds a second QEMU (~6.5 min cold)
        stage "qtest against QEMU built with ASan + UBSan (leaks too)"
        if "$PVCLOCK_ROOT/scripts/build-qemu-asan.sh" > "$logs/qemu-asan-build.log" 2>&1; then
            qtest_in qtest-asan "$PVCLOCK_BUILD/qemu-asan" \
                ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:fast_unwind_on_malloc=0 \
                LSAN_OPTIONS=suppressions=$PVCLOCK_ROOT/tests/qtest/lsan.supp:print_suppressions=0 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        else
            failed=$((failed + 1))
            failures+=("qemu-asan: build failed (log $logs/qemu-asan-build.log)")
        fi ;;
    qtest)
        stage "qtest: -device pvclock-pages under the qtest accelerator (QEMU $QEMU_VERSION)"
        qtest_in qtest "$QEMU_DIR/build" ;;
    accel)
        stage "the guest counter relation from the guest's side, TCG and KVM (QEMU $QEMU_VERSION)"
        accel_with accel "$QEMU_DIR/build/qemu-system-x86_64" ;;
    qemu-older)     # one more plain QEMU build per older pin (~4 min cold)
        for v in $(awk 'NF { print $1 }' <<< "$QEMU_PINS" | tail -n +2); do
            dir=$(qemu_select "$v" && echo "$QEMU_DIR")
            stage "QEMU $v: build ($dir), the qtest and the accel suite on it"
            if PVCLOCK_QEMU_VERSION=$v "$PVCLOCK_ROOT/scripts/build.sh" \
                    > "$logs/qemu-$v-build.log" 2>&1; then
                qtest_in "qemu-$v/qtest" "$dir/build"
                accel_with "qemu-$v/accel" "$dir/build/qemu-system-x86_64"
            else
                failed=$((failed + 1))
                failures+=("qemu-$v: build failed (log $logs/qemu-$v-build.log)")
            fi
        done ;;
    migration)
        stage "live migration between two simulated hosts (2.5 and 3.0 GHz)"
        run_tap migration/harness python3 "$PVCLOCK_ROOT/tests/migration/migrate.py"
        run_tap migration/guest python3 "$PVCLOCK_ROOT/tests/migration/guest_migration.py"
        stage "ClockBound's segment from the device, across a migration and a snapshot restore"
        run_tap migration/guest-clockbound python3 "$PVCLOCK_ROOT/tests/migration/guest_clockbound.py"
        stage "migration streams with each field of the device's section at its extremes"
        run_tap migration/fields python3 "$PVCLOCK_ROOT/tests/fuzz/migration_fields.py" ;;
    cli)
        stage "command line: QEMU properties, helper and guest program errors"
        run_tap cli "$PVCLOCK_ROOT/tests/cli/test-cli.sh"
        run_tap cli/console "$PVCLOCK_ROOT/tests/cli/test-console.sh"
        stage "the helper's sealed memfd over its socket, and systemd's fd store"
        run_tap cli/handoff python3 "$PVCLOCK_ROOT/tests/cli/test-handoff.py"
        stage "the helper's socket against a local user who connects and never reads"
        run_tap cli/socket-flood python3 "$PVCLOCK_ROOT/tests/cli/test-socket-flood.py"
        stage "confinement: the AppArmor lines and the SELinux module for the socket"
        run_tap cli/confinement "$PVCLOCK_ROOT/tests/cli/test-confinement.sh" ;;
    guest)
        stage "guest end to end: helper -> QEMU (TCG) -> guest program"
        run_tap guest/e2e "$PVCLOCK_ROOT/tests/guest/test-guest.sh"
        stage "guest under fire: the helper's memfd resized (refused), zeroed, scribbled"
        run_tap guest/damage "$PVCLOCK_ROOT/tests/guest/test-damage.sh"
        stage "a guest hammering writes on the BAR for ${PVCLOCK_HAMMER_SECONDS:-10} s"
        run_tap guest/hammer "$PVCLOCK_ROOT/tests/guest/test-hammer.sh" ;;
    driver)
        stage "the guest driver: /dev/pvclock-pagesN, its interrupt and its PTP clock in TCG guests on Debian's 6.1 and 7.3 kernels"
        run_tap guest/driver "$PVCLOCK_ROOT/tests/guest/test-driver.sh" ;;
    hostkernels)
        stage "the helper on Debian's 6.1, 6.12 and 7.x kernels (TCG guests as hosts)"
        run_tap guest/host-kernels "$PVCLOCK_ROOT/tests/guest/test-host-kernels.sh" ;;
    chrony)
        stage "chronyd in the guest follows the host through pvclock-guest"
        run_tap guest/chrony "$PVCLOCK_ROOT/tests/guest/test-chrony.sh" ;;
    soak)
        stage "soak: a TCG guest through migrations, failures, helper kills, snapshots for ${PVCLOCK_SOAK_SECONDS:-240} s"
        run_tap soak python3 "$PVCLOCK_ROOT/tests/soak/soak.py" \
            --seconds "${PVCLOCK_SOAK_SECONDS:-240}" ;;
    patches)        # the series built after each patch (first: plain QEMU, ~6 min cold, then ccache)
        stage "the patch series: git am to a clean QEMU $QEMU_VERSION, build, qtest, checkpatch"
        run_tap patches env CCACHE_BASEDIR="$PVCLOCK_BUILD/patches-qemu" CCACHE_NOHASHDIR=1 \
            "$PVCLOCK_ROOT/tests/patches/test-patches.sh" ;;
    kvm)            # Linux's own KVM, nested under TCG (tests/kvm/)
        stage "real KVM: the device on Linux's own KVM, in a TCG guest with SVM and nested paging"
        if "$PVCLOCK_ROOT/tests/kvm/prepare.sh" > "$logs/kvm-prepare.log" 2>&1; then
            nested=("$PVCLOCK_ROOT/tests/kvm/nested.sh" --timeout 900 --)
            run_tap kvm/nested-rules "$PVCLOCK_ROOT/tests/kvm/test-nested.sh"
            run_tap kvm/relation "${nested[@]}" \
                python3 "$PVCLOCK_ROOT/tests/accel/tsc_relation.py" kvm
            run_tap kvm/live-page "${nested[@]}" \
                python3 "$PVCLOCK_ROOT/tests/accel/live_page.py" kvm
            run_tap kvm/ivshmem env PVCLOCK_ACCEL=kvm PVCLOCK_SHM_SECONDS=20 \
                "${nested[@]}" "$PVCLOCK_ROOT/tests/guest/test-ivshmem.sh"
            run_tap kvm/migration env PVCLOCK_ACCEL=kvm "${nested[@]}" \
                python3 "$PVCLOCK_ROOT/tests/migration/migrate.py"
            run_tap kvm/guest-migration-kvmclock env PVCLOCK_ACCEL=kvm \
                PVCLOCK_MIGRATE_PAUSE=3 "${nested[@]}" \
                python3 "$PVCLOCK_ROOT/tests/migration/guest_migration.py"
            run_tap kvm/guest-migration-tsc env PVCLOCK_ACCEL=kvm \
                PVCLOCK_MIGRATE_PAUSE=3 \
                PVCLOCK_GUEST_APPEND="clocksource=tsc tsc=reliable" \
                "${nested[@]}" \
                python3 "$PVCLOCK_ROOT/tests/migration/guest_migration.py"
            run_tap kvm/driver env PVCLOCK_ACCEL=kvm PVCLOCK_DRIVER_ONLY=kvm \
                "${nested[@]}" "$PVCLOCK_ROOT/tests/guest/test-driver.sh"
            run_tap kvm/vmclock env PVCLOCK_ACCEL=kvm \
                PVCLOCK_DRIVER_ONLY=vmclock-pv "${nested[@]}" \
                "$PVCLOCK_ROOT/tests/guest/test-driver.sh"
            # prepares its guest here, then runs itself in L1
            run_tap kvm/vmclock-tai "$PVCLOCK_ROOT/tests/kvm/vmclock-tai.sh"
            run_tap kvm/exits "${nested[@]}" "$PVCLOCK_ROOT/tests/kvm/exits.sh"
        else
            failed=$((failed + 1))
            failures+=("kvm: preparing failed (log $logs/kvm-prepare.log)")
        fi ;;
    libvirt)
        stage "libvirt starts a domain with the device (qemu:commandline)"
        run_tap libvirt "$PVCLOCK_ROOT/tests/libvirt/test-libvirt.sh" ;;
    ivshmem)
        stage "guest and host exchange stamps through ivshmem for ${PVCLOCK_SHM_SECONDS:-60} s"
        run_tap guest/ivshmem "$PVCLOCK_ROOT/tests/guest/test-ivshmem.sh" ;;
    *)
        echo "unknown suite '$suite' in PVCLOCK_TEST_SUITES ($all_suites)" >&2
        failed=$((failed + 1)) ;;
    esac
done

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
[ "$skipped" = 0 ] || echo "$skipped skipped (see the logs in $logs for why)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
