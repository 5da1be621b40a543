# Shared shell helpers for the pvclock-pages scripts.  Source, don't run.
# shellcheck shell=bash

PVCLOCK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PVCLOCK_CACHE=${PVCLOCK_CACHE:-/var/cache/pvclock-pages}
PVCLOCK_BUILD=${PVCLOCK_BUILD:-$PVCLOCK_ROOT/build}

# The QEMU versions the project builds against: Debian's source tarballs
# (qemu_VERSION+ds.orig.tar.xz), pinned by sha256, each from the Debian
# suite that carries it.  The first is the default (README, demo, every
# suite); the others get a build of their own (build/qemu-MAJOR.MINOR)
# that the test suite qemu-older runs the qtest and the accel suite on.
#   version  suite   sha256
QEMU_PINS="
10.2.2   sid     be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb
10.0.13  trixie  6a0888e806c2ffc0c5f0733e974f9aea55491950d3c47c98669c8b236dde59ae
"
QEMU_DEFAULT_VERSION=$(awk 'NF { print $1; exit }' <<< "$QEMU_PINS")

# The device's qtest (tests/qtest/): one program per concern, and the
# fixture they share.  The build, the test suites, the meson hook lines
# and scripts/make-patches.sh take the list from here.
PVCLOCK_QTESTS="pvclock-pages-bar-test pvclock-pages-offset-test
pvclock-pages-migration-test pvclock-pages-irq-test pvclock-pages-live-test
pvclock-pages-vmclock-test"
PVCLOCK_QTEST_FILES="$(for t in $PVCLOCK_QTESTS; do printf 'tests/qtest/%s.c ' "$t"; done)tests/qtest/pvclock-pages-common.c tests/qtest/pvclock-pages-common.h"

# Guest kernel: Debian 12's cloud kernel metapackage, resolved at fetch time.
GUEST_KERNEL_PKG=linux-image-cloud-amd64

stage() { printf '==> %s\n' "$*" >&2; }
note()  { printf '    %s\n' "$*" >&2; }
die()   { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (apt-get); run it as root or with sudo"
}

# deb_unpacked PKG FILE: the directory of Debian's package PKG (this
# release's candidate) downloaded and unpacked, never installed, into
# the cache ($PVCLOCK_CACHE/PKG/VERSION); FILE, relative to it, tells an
# unpacked one.  The guest images take chrony and linuxptp from there.
deb_unpacked() {
    local pkg=$1 probe=$2 ver dir tmp
    ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] ||
        die "apt-cache knows no $pkg package; run scripts/install-deps.sh (apt-get update) first"
    dir=$PVCLOCK_CACHE/$pkg/$ver
    if [ ! -e "$dir/$probe" ]; then
        stage "guest: downloading $pkg $ver"
        tmp=$(mktemp -d)
        ( cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1 ) ||
            { rm -rf "$tmp"; die "apt-get download $pkg failed; check the network"; }
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        dpkg-deb -x "$tmp/${pkg}"_*.deb "$dir.tmp" ||
            { rm -rf "$tmp"; die "cannot unpack $pkg"; }
        rm -rf "$tmp" "$dir"
        mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

# debian_mirror: the URI of the Debian archive this machine's own apt
# sources use for its release (a "deb" entry of suite $VERSION_CODENAME,
# component main, in /etc/apt/sources.list or sources.list.d, one-line
# or deb822), so that what the scripts write (bookworm-backports, the
# trixie lists, debootstrap) goes where the machine's apt already goes:
# a local mirror or a proxy included.  PVCLOCK_DEBIAN_MIRROR overrides.
# Files the project wrote itself are not read.  (PVCLOCK_APT_ETC and
# PVCLOCK_OS_RELEASE, for tests/cli, stand for /etc/apt and
# /etc/os-release.)
debian_mirror() {
    local etc=${PVCLOCK_APT_ETC:-/etc/apt} codename uri f
    if [ -n "${PVCLOCK_DEBIAN_MIRROR:-}" ]; then
        echo "${PVCLOCK_DEBIAN_MIRROR%/}"
        return
    fi
    codename=$(. "${PVCLOCK_OS_RELEASE:-/etc/os-release}" 2>/dev/null &&
        echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell this machine's Debian release (no VERSION_CODENAME in ${PVCLOCK_OS_RELEASE:-/etc/os-release}); set PVCLOCK_DEBIAN_MIRROR to your Debian mirror's URI"
    for f in "$etc/sources.list" "$etc"/sources.list.d/*.list \
             "$etc"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -q '^# Written by pvclock-pages' "$f" && continue
        case "$f" in
        *.sources)
            # deb822 stanzas, blank-line separated
            uri=$(awk -v want="$codename" '
                function flush() {
                    if (deb && suite && main && enabled && u != "") { print u; found = 1; exit }
                    deb = suite = main = 0; enabled = 1; u = ""
                }
                BEGIN { enabled = 1 }
                /^[ \t]*$/ { flush(); next }
                /^#/ { next }
                tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
                tolower($1) == "uris:" { u = $2 }
                tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == want) suite = 1 }
                tolower($1) == "components:" { for (i = 2; i <= NF; i++) if ($i == "main") main = 1 }
                tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
                END { if (!found) flush() }' "$f") ;;
        *)
            uri=$(awk -v want="$codename" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    u = $i; s = $(i + 1)
                    for (j = i + 2; j <= NF; j++) if ($j == "main" && s == want) { print u; exit }
                }' "$f") ;;
        esac
        [ -n "$uri" ] && { echo "${uri%/}"; return; }
    done
    die "no Debian mirror in this machine's apt sources: no 'deb' entry for suite $codename, component main, in $etc/sources.list or $etc/sources.list.d/; add your mirror there (apt itself needs it) or set PVCLOCK_DEBIAN_MIRROR to its URI"
}

# qemu_select VERSION: QEMU_VERSION, QEMU_TARBALL, QEMU_SHA256 and
# QEMU_SUITE of a pinned version, and QEMU_DIR, where build.sh puts its
# tree (src/) and build (build/): $PVCLOCK_BUILD/qemu for the default
# version, $PVCLOCK_BUILD/qemu-MAJOR.MINOR for the others.
qemu_select() {
    local pin
    pin=$(awk -v v="$1" '$1 == v { print $2, $3 }' <<< "$QEMU_PINS")
    [ -n "$pin" ] || die "QEMU $1 is not pinned in scripts/lib.sh (pinned: $(awk 'NF { printf "%s ", $1 }' <<< "$QEMU_PINS"))"
    QEMU_VERSION=$1
    QEMU_SUITE=${pin% *}
    QEMU_SHA256=${pin#* }
    QEMU_TARBALL=qemu_${QEMU_VERSION}+ds.orig.tar.xz
    if [ "$QEMU_VERSION" = "$QEMU_DEFAULT_VERSION" ]; then
        QEMU_DIR=$PVCLOCK_BUILD/qemu
    else
        QEMU_DIR=$PVCLOCK_BUILD/qemu-${QEMU_VERSION%.*}
    fi
}

# PVCLOCK_QEMU_VERSION picks another pinned version (scripts/build.sh
# builds it into its own QEMU_DIR); the test suites use the default's.
qemu_select "${PVCLOCK_QEMU_VERSION:-$QEMU_DEFAULT_VERSION}"

# qemu_apt apt-get|apt-cache ARGS...: apt with the private configuration
# in the cache ($PVCLOCK_CACHE/apt-qemu) whose deb-src entries name the
# pinned versions' suites, so the host's own sources stay as they are.
qemu_apt() {
    local adir=$PVCLOCK_CACHE/apt-qemu cmd=$1
    shift
    "$cmd" -o "Dir::Etc::SourceList=$adir/qemu.sources" -o Dir::Etc::SourceParts=/dev/null \
        -o "Dir::State::Lists=$adir/lists" -o "Dir::Cache=$adir/cache" \
        -o Dir::State::status=/dev/null "$@"
}

# qemu_deb_version: the Debian version (epoch, revision) of the source
# package whose orig tarball is $QEMU_TARBALL, from those lists.
qemu_deb_version() {
    qemu_apt apt-cache showsrc qemu 2>/dev/null |
        awk -v t="$QEMU_TARBALL" '/^Version:/ { v = $2 } $NF == t { print v; exit }'
}

# qemu_fetch: $PVCLOCK_CACHE/src/$QEMU_TARBALL, downloaded with apt-get
# source --tar-only unless it is there with the pinned sha256, and
# checked.  The lists are fetched when the sources change or do not know
# the version.
qemu_fetch() {
    local tarball=$PVCLOCK_CACHE/src/$QEMU_TARBALL adir=$PVCLOCK_CACHE/apt-qemu
    local want deb='' sum
    [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$QEMU_SHA256" ] &&
        return 0
    rm -f "$tarball"
    want="# Written by pvclock-pages scripts/lib.sh (QEMU source tarballs)
Types: deb-src
URIs: $(debian_mirror)
Suites: $(awk 'NF { print $2 }' <<< "$QEMU_PINS" | sort -u | xargs)
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial" "$PVCLOCK_CACHE/src"
    [ "$(cat "$adir/qemu.sources" 2>/dev/null)" = "$want" ] && deb=$(qemu_deb_version)
    if [ -z "$deb" ]; then
        stage "QEMU source: apt lists of Debian's QEMU sources in $adir"
        echo "$want" > "$adir/qemu.sources"
        qemu_apt apt-get -qq update >/dev/null 2>&1 ||
            die "apt-get update of the QEMU source lists failed; check the network ($(debian_mirror), this machine's Debian mirror)"
        deb=$(qemu_deb_version)
        [ -n "$deb" ] || die "Debian's $QEMU_SUITE no longer carries $QEMU_TARBALL (QEMU $QEMU_VERSION); put the pinned tarball (sha256 $QEMU_SHA256) in $PVCLOCK_CACHE/src by hand"
    fi
    stage "QEMU source: apt-get source --tar-only qemu=$deb ($QEMU_SUITE)"
    ( cd "$PVCLOCK_CACHE/src" &&
      qemu_apt apt-get source -qq --tar-only "qemu=$deb" >/dev/null 2>&1 ) ||
        die "could not download the QEMU $QEMU_VERSION source with apt-get source; check the network"
    [ -f "$tarball" ] || die "apt-get source qemu=$deb did not produce $QEMU_TARBALL"
    sum=$(sha256sum "$tarball" | cut -d' ' -f1)
    [ "$sum" = "$QEMU_SHA256" ] ||
        die "sha256 of $tarball is $sum, expected $QEMU_SHA256; refusing to build from an unverified QEMU source"
}

# pvclock_hook FILE MARKER AWK-PROGRAM: add a line to one of QEMU's own
# files (FILE, relative to $QSRC) unless MARKER is already there.
pvclock_hook() {
    local file=$QSRC/$1 marker=$2 prog=$3
    grep -qF -- "$marker" "$file" && return 0
    awk "$prog" "$file" > "$file.pvclock-tmp" && mv "$file.pvclock-tmp" "$file"
    grep -qF -- "$marker" "$file" || die "could not add the pvclock-pages hook to $1"
}

# pvclock_hooks QSRC: the hook lines the device needs in QEMU's build
# files, and nothing else of QEMU's is touched.  They follow what QSRC
# has of the device (scripts/make-patches.sh calls this after each patch
# of the series): the qtest programs whose source is there, and the
# acpi-build.c lines once hw/pvclock/vmclock.c is.
pvclock_hooks() {
    local QSRC=$1
    pvclock_hook hw/meson.build "subdir('pvclock')" \
        "{print} /^subdir\\('pci'\\)/ {print \"subdir('pvclock')\"}"
    pvclock_hook hw/Kconfig "source pvclock/Kconfig" \
        "{print} /^source pci\\/Kconfig/ {print \"source pvclock/Kconfig\"}"
    pvclock_hook meson.build "'hw/pvclock'," \
        "{print} /^    'hw\\/pci',\$/ {print \"    'hw/pvclock',\"}"
    # vmclock=on: the SSDT of the VMClock notification (hw/pvclock/vmclock.c)
    if [ -e "$QSRC/hw/pvclock/vmclock.c" ]; then
        pvclock_hook hw/i386/acpi-build.c '#include "hw/pvclock/pvclock-pages-acpi.h"' \
            "{print} /^#include \"hw\\/acpi\\/vmclock.h\"/ {print \"#include \\\"hw/pvclock/pvclock-pages-acpi.h\\\"\"}"
        pvclock_hook hw/i386/acpi-build.c "pvclock_pages_build_acpi(" \
            "/^    if \\(misc.has_hpet\\) \\{/ {print \"    pvclock_pages_build_acpi(table_offsets, tables_blob, tables->linker,\"; print \"                             x86ms->oem_id);\"} {print}"
    fi
    # the qtest programs QSRC has (a tree laid before they were split had
    # one): their list, and a line each with the shared fixture; lines
    # for another list go first
    local t list="" files="" qm=$QSRC/tests/qtest/meson.build
    ! grep -q "\['pvclock-pages-test'\]" "$qm" ||
        sed -i "/\['pvclock-pages-test'\]/d" "$qm"
    for t in $PVCLOCK_QTESTS; do
        [ -e "$QSRC/tests/qtest/$t.c" ] || continue
        list+="${list:+, }'$t'"
        files+=" print \"  '$t': files('pvclock-pages-common.c'),\";"
    done
    [ -n "$list" ] || return 0
    grep -qF "? [$list]" "$qm" ||
        sed -i "/CONFIG_PVCLOCK_PAGES') ? \['pvclock-pages/d; /^  'pvclock-pages-[a-z]*-test': files('pvclock-pages-common.c'),\$/d" "$qm"
    pvclock_hook tests/qtest/meson.build "? [$list]" \
        "{print} /'pvpanic-pci-test'/ {print \"  (config_all_devices.has_key('CONFIG_PVCLOCK_PAGES') ? [$list] : []) +  \\\\\"}"
    pvclock_hook tests/qtest/meson.build "files('pvclock-pages-common.c')" \
        "{print} /^  'pxe-test': files\\('boot-sector.c'\\),\$/ {$files}"
}

# qemu_blob_placeholders SRC: the +ds tarball has no firmware blobs.
# QEMU's meson wants to unpack edk2-*.fd.bz2 whenever bzip2 exists, and
# (10.2, not 10.0) to install pc-bios/dtb/*.dtb when dtc is missing.
# Empty placeholders (for edk2, valid, empty bzip2 streams) satisfy it;
# this project boots SeaBIOS on x86 and uses neither.
qemu_blob_placeholders() {
    local f b
    for f in aarch64-code arm-code arm-vars riscv-code riscv-vars i386-code \
             i386-secure-code i386-vars x86_64-code x86_64-secure-code \
             loongarch64-code loongarch64-vars; do
        b=$1/pc-bios/edk2-$f.fd.bz2
        [ -f "$b" ] || bzip2 -c < /dev/null > "$b"
    done
    for f in "$1"/pc-bios/dtb/*.dts; do
        [ -f "$f" ] && [ ! -f "${f%.dts}.dtb" ] && : > "${f%.dts}.dtb"
    done
    return 0
}

# qemu_build SRC BUILD LOGDIR WHAT [CONFIGURE-ARGS...]: configure BUILD
# once (x86_64-softmmu, KVM + TCG, no default features, ccache when
# present, then the extra arguments, which may override those), build
# qemu-system-x86_64 and the device's qtest programs (or the ninja
# targets QEMU_BUILD_TARGETS names: the patch series' test builds a tree
# that has no qtest yet), and put Debian's firmware where QEMU looks when
# run from its build tree (its qemu-bundle data directory), so the binary
# and the qtests work without -L: the +ds
# tarball has no firmware blobs.  Logs go to LOGDIR/configure.log and
# LOGDIR/ninja.log.
qemu_build() {
    local src=$1 bld=$2 logs=$3 what=$4 cc=() bundle f conf targets
    shift 4
    export CCACHE_DIR=${CCACHE_DIR:-$PVCLOCK_CACHE/ccache}
    # paths relative to the checkout, so a fresh clone elsewhere hits too
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PVCLOCK_ROOT}
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    mkdir -p "$bld" "$logs"
    # a build configured with other arguments, or from another QEMU
    # version, is configured afresh
    conf="QEMU $(cat "$src/VERSION") $*"
    if [ -f "$bld/build.ninja" ] &&
       [ "$(cat "$bld/.pvclock-configure" 2>/dev/null)" != "$conf" ]; then
        rm -rf "$bld"
        mkdir -p "$bld"
    fi
    if [ ! -f "$bld/build.ninja" ]; then
        stage "QEMU: configure (x86_64-softmmu, $what)"
        command -v ccache >/dev/null && cc=(--cc="ccache gcc" --cxx="ccache g++")
        ( cd "$bld" && "$src/configure" --python=/usr/bin/python3 \
            --target-list=x86_64-softmmu --without-default-features \
            --enable-kvm --enable-tcg --disable-docs --disable-install-blobs \
            --disable-download --disable-werror "${cc[@]}" "$@" ) \
            > "$logs/configure.log" 2>&1 ||
            { tail -30 "$logs/configure.log"; die "QEMU configure failed (log: $logs/configure.log)"; }
        printf '%s' "$conf" > "$bld/.pvclock-configure"
    fi
    stage "QEMU: building qemu-system-x86_64 and the pvclock-pages qtest ($what)"
    read -r -a targets <<< "${QEMU_BUILD_TARGETS:-qemu-system-x86_64 $(for t in $PVCLOCK_QTESTS; do printf ' tests/qtest/%s' "$t"; done)}"
    if ! ninja -C "$bld" "${targets[@]}" > "$logs/ninja.log" 2>&1; then
        grep -E ': (fatal )?error:|^FAILED' -A3 "$logs/ninja.log" | head -40
        die "QEMU build failed (log: $logs/ninja.log)"
    fi
    # QEMU's configure runs with --disable-werror; the device's own files
    # must still build without a warning (upstream builds with -Werror)
    if grep -E '(hw/pvclock/|tests/qtest/pvclock-pages-).*warning:' "$logs/ninja.log"; then
        die "warnings in the pvclock-pages files (log: $logs/ninja.log)"
    fi
    bundle=$bld/qemu-bundle/usr/local/share/qemu
    mkdir -p "$bundle"
    for f in /usr/share/seabios/*.bin /usr/share/qemu/*.bin; do
        [ -e "$bundle/${f##*/}" ] || ln -s "$f" "$bundle/${f##*/}"
    done
}
