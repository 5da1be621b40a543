#!/bin/bash
# Build a second QEMU with AddressSanitizer + UBSan (build/qemu-asan) from
# the tree scripts/build.sh prepared, for the opt-in 'qemu-asan' test
# suite.  About 11 minutes on 2 cores cold, so not in the default suites.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$PVCLOCK_ROOT/scripts/build.sh"
qemu_build "$PVCLOCK_BUILD/qemu/src" "$PVCLOCK_BUILD/qemu-asan" \
    "$PVCLOCK_BUILD/qemu-asan-logs" "ASan + UBSan" --enable-asan --enable-ubsan
