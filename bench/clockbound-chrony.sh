#!/bin/bash
# The ClockBound writer's bound beside ClockBound's own rule over chronyd,
# in one TCG guest on one (simulated, synchronised) host: chronyd
# disciplines the guest from the device through pvclock-guest's SOCK
# refclock, `pvclock-guest clockbound` writes the segment, and a client
# from the protocol answers the host 300 times; ClockBound's daemon would
# publish root delay / 2 + root dispersion + |system time| of chronyd's
# tracking (clock-bound-d 2.0.2), which is computed from the guest's
# `chronyc tracking`: the daemon itself (Rust) cannot be had here.  About
# 2 minutes.  It is tests/migration/guest_clockbound.py with
# PVCLOCK_CB_CHRONY=1 (TAP; the widths in its comment lines).
#
#   bench/clockbound-chrony.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
"$PVCLOCK_ROOT/scripts/build.sh" >&2
PVCLOCK_CB_CHRONY=1 exec python3 "$PVCLOCK_ROOT/tests/migration/guest_clockbound.py"
