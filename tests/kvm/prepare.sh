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
# the trixie chroot the 7.x module builds in (debootstrap, once)
"$g/build-driver-trixie.sh" "$PVCLOCK_BUILD/kvm/driver-7" > /dev/null
