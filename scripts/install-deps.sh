#!/bin/bash
# Install everything the build, the demo and the tests need on Debian 12.
# Idempotent: does nothing (and touches no network) when all is present.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SOURCES=/etc/apt/sources.list.d/pvclock-pages.sources

# name of package -> wanted from backports?
PKGS_MAIN="build-essential ninja-build pkg-config libglib2.0-dev zlib1g-dev
    python3 python3-venv dpkg-dev libfdt-dev xz-utils bzip2 ccache
    seabios qemu-system-data busybox-static cpio socat util-linux
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    clang libclang-rt-14-dev qemu-utils debootstrap tzdata gdb"
PKGS_BPO="meson python3-pycotap"

# the backports and source entries go to the mirror this machine's apt
# already uses (scripts/lib.sh debian_mirror)
mirror=$(debian_mirror)
want_sources() {
    cat <<SRC
# Written by pvclock-pages scripts/install-deps.sh
Types: deb deb-src
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || echo "$p"
    done
}

meson_ok() {
    command -v meson >/dev/null 2>&1 || return 1
    local v
    v=$(meson --version 2>/dev/null) || return 1
    # QEMU 10.0 and 10.2 want meson >= 1.5; bookworm-backports carries 1.7.
    [ "$(printf '%s\n1.5.0\n' "$v" | sort -V | head -1)" = 1.5.0 ]
}

stage "dependencies: checking Debian packages"
need_update=0
if ! cmp -s <(want_sources) "$SOURCES" 2>/dev/null; then
    need_root "adding bookworm-backports and deb-src entries"
    want_sources > "$SOURCES"
    need_update=1
fi

# shellcheck disable=SC2086
miss_main=$(missing $PKGS_MAIN)
# shellcheck disable=SC2086
miss_bpo=$(missing $PKGS_BPO)
meson_ok || miss_bpo=$(printf '%s\nmeson\n' "$miss_bpo" | sort -u)

if [ -z "$miss_main$miss_bpo" ] && [ $need_update = 0 ]; then
    note "all present"
    exit 0
fi
need_root "installing packages"
export DEBIAN_FRONTEND=noninteractive
if [ $need_update = 1 ] || [ -n "$miss_main$miss_bpo" ]; then
    stage "dependencies: apt-get update"
    apt-get update -qq || die "apt-get update failed; check the network and $SOURCES"
fi
if [ -n "$miss_main" ]; then
    stage "dependencies: installing" $miss_main
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $miss_main >/dev/null ||
        die "apt-get install failed for: $miss_main"
fi
if [ -n "$miss_bpo" ]; then
    stage "dependencies: installing from bookworm-backports" $miss_bpo
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends -t bookworm-backports $miss_bpo >/dev/null ||
        die "apt-get install -t bookworm-backports failed for: $miss_bpo"
fi
meson_ok || die "meson >= 1.5 not found after install (have: $(meson --version 2>&1))"
note "done"
