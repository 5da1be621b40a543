#!/bin/bash
# Print the directory of Debian's linuxptp package (phc2sys, phc_ctl),
# unpacked (not installed) into the cache, as fetch-chrony.sh does for
# chrony.  The real-KVM suite's VMClock TAI test runs them in a 7.x
# guest (tests/kvm/vmclock-tai.sh).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
deb_unpacked linuxptp usr/sbin/phc2sys
