#!/bin/bash
# Fetch and build, on this machine, what the real-KVM suite's checks
# need inside L1, which has no network: L1's kernel, the L2 guests' 6.1
# and 7.x kernels with their headers, modules and the driver built
# against each, chrony, checkpatch.  Each step is the guest suites' own
# script, cached; a second run does nothing.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

g=$PVCLOCK_ROOT/tests/guest
stage "real KVM: L1's kernel and the L2 guests' kernels, headers, modules"
"$PVCLOCK_ROOT/tests/kvm/fetch-l1.sh" > /dev/null
"$g/fetch-kernel.sh" 6.1 > /dev/null
"$g/fetch-kernel.sh" 7 > /dev/null
"$g/fetch-headers.sh" > /dev/null
"$g/fetch-modules.sh" ptp_vmclock > /dev/null
"$g/fetch-chrony.sh" > /dev/null
"$g/fetch-checkpatch.sh" > /dev/null
# the drivers of both kernels and the guests' initramfs, which L1 would
# build again under TCG for minutes (a loaded run once took L1 past its
# timeout): the driver suite's own build, nothing booted
stage "real KVM: the driver suite's modules and initramfs, built here"
out=$(PVCLOCK_DRIVER_ONLY=build "$g/test-driver.sh" 2>&1) ||
    die "the driver suite's build failed: $(echo "$out" | tail -5)"
if echo "$out" | grep -q '^not ok'; then
    die "the driver suite's build: $(echo "$out" | grep '^not ok' | head -3)"
fi
