#!/bin/bash
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for
# SECONDS (default 10), plus the migration stream fuzzer for N loads
# (default 50).  Prints TAP.  Crashes are kept in build/fuzz/crashes/.
#   tests/fuzz/run.sh [SECONDS] [MIGRATION-LOADS]
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"
secs=${1:-10}
loads=${2:-50}
out=$PVCLOCK_BUILD/fuzz
mkdir -p "$out/crashes" "$out/corpus-reader" "$out/corpus-vvar"
command -v clang > /dev/null ||
    { echo "1..0 # SKIP clang not installed (install-deps installs it)"; exit 0; }

R=$PVCLOCK_ROOT
common=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -I"$R/include" -I"$R/contrib/libpvclock" -I"$R/contrib/pvclock-helper"
        -DSEQ_SPIN_LIMIT=64 -DVVAR_SPIN_LIMIT=64)
# fuzz-reader's assertion is the independent oracle (tests/unit/abi-oracle.c)
clang "${common[@]}" -I"$R/tests/unit" "$R/tests/fuzz/fuzz-reader.c" \
    "$R/tests/unit/abi-oracle.c" "$R/contrib/libpvclock/"{open,read,bound}.c \
    -o "$out/fuzz-reader" 2> "$out/build-reader.log"
ok $? "fuzz-reader builds with clang -fsanitize=fuzzer,address,undefined"
clang "${common[@]}" "$R/tests/fuzz/fuzz-vvar.c" \
    "$R/contrib/pvclock-helper/"{vvar,pages,derive,leap,sim}.c \
    "$R/contrib/libpvclock/"{open,read}.c -o "$out/fuzz-vvar" 2> "$out/build-vvar.log"
ok $? "fuzz-vvar builds"

# seeds: a real pages file, a zero page, and this host's vvar layout
"$PVCLOCK_BUILD/host/pvclock-helper" --once --pages "$out/corpus-reader/helper-pages" 2>/dev/null
head -c 32768 /dev/zero > "$out/corpus-reader/zero"

for t in reader vvar; do
    "$out/fuzz-$t" "$out/corpus-$t" -max_total_time="$secs" -max_len=33000 \
        -timeout=10 -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 \
        > "$out/fuzz-$t.log" 2>&1
    rc=$?
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$out/fuzz-$t.log")
    ok $rc "fuzz-$t: ${runs:-0} executions in ${secs} s, no crash, hang or trap"
    [ $rc = 0 ] || diag "$(grep -E 'ERROR|SUMMARY|==' "$out/fuzz-$t.log" | head -5)"
done

python3 "$R/tests/fuzz/fuzz_migration.py" "$loads" > "$out/fuzz-migration.log" 2>&1
rc=$?
ok $rc "migration stream: $(tail -1 "$out/fuzz-migration.log")"
done_testing
