#!/bin/bash
# Print the directory of Debian's chrony package, unpacked (not installed:
# installing it would start chronyd on this host) into the cache.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
deb_unpacked chrony usr/sbin/chronyd
