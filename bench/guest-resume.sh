#!/bin/bash
# What a 7.x guest's own CLOCK_REALTIME (clock_gettime(), no library) is
# right after each disruption, side by side: with this project's driver
# (set_clock on, tests/guest/driver-guest.sh part irq) and unmodified,
# with Linux's ptp_vmclock on pvclock-pages' vmclock=on and chronyd on
# its PHC under Debian's own 'makestep 1 3' (part unmodified).  Both TCG
# guests go at the same time through the same events: a savevm, 60 s, a
# new QEMU with -loadvm of that snapshot, a helper restart, a migration
# to a destination kept paused 5 s.  Right after each the host's
# exchange (pvclock-exchange, its clock_gettime() before the question
# and after the answer) against the guest's own clock; the unmodified
# guest's clock is then followed for 60 s.  About 8 minutes.
#
#   bench/guest-resume.sh
#
# It is tests/guest/test-driver.sh with PVCLOCK_DRIVER_ONLY=unmodified
# (TAP; the side-by-side table in its comment lines).  Not in the CI
# run: the figures are measurements (docs/operators.md), not rules.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
"$PVCLOCK_ROOT/scripts/build.sh" >&2
PVCLOCK_DRIVER_ONLY=unmodified exec "$PVCLOCK_ROOT/tests/guest/test-driver.sh"
