# Shared shell helpers for the pvclock-pages scripts.  Source, don't run.
# shellcheck shell=bash

PVCLOCK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PVCLOCK_CACHE=${PVCLOCK_CACHE:-/var/cache/pvclock-pages}
PVCLOCK_BUILD=${PVCLOCK_BUILD:-$PVCLOCK_ROOT/build}

# QEMU pinned by the project: Debian's bookworm-backports source tarball.
QEMU_VERSION=10.0.2
QEMU_TARBALL=qemu_${QEMU_VERSION}+ds.orig.tar.xz
QEMU_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1

# Guest kernel: Debian 12's cloud kernel metapackage, resolved at fetch time.
GUEST_KERNEL_PKG=linux-image-cloud-amd64

stage() { printf '==> %s\n' "$*" >&2; }
note()  { printf '    %s\n' "$*" >&2; }
die()   { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (apt-get); run it as root or with sudo"
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

# pvclock_hook FILE MARKER AWK-PROGRAM: add a line to one of QEMU's own
# files (FILE, relative to $QSRC) unless MARKER is already there.
pvclock_hook() {
    local file=$QSRC/$1 marker=$2 prog=$3
    grep -qF -- "$marker" "$file" && return 0
    awk "$prog" "$file" > "$file.pvclock-tmp" && mv "$file.pvclock-tmp" "$file"
    grep -qF -- "$marker" "$file" || die "could not add the pvclock-pages hook to $1"
}

# pvclock_hooks QSRC: the hook lines the device needs in QEMU's build
# files, and nothing else of QEMU's is touched.
pvclock_hooks() {
    local QSRC=$1
    pvclock_hook hw/meson.build "subdir('pvclock')" \
        "{print} /^subdir\\('pci'\\)/ {print \"subdir('pvclock')\"}"
    pvclock_hook hw/Kconfig "source pvclock/Kconfig" \
        "{print} /^source pci\\/Kconfig/ {print \"source pvclock/Kconfig\"}"
    pvclock_hook meson.build "'hw/pvclock'," \
        "{print} /^    'hw\\/pci',\$/ {print \"    'hw/pvclock',\"}"
    # vmclock=on: the SSDT of the VMClock notification (hw/pvclock/vmclock.c)
    pvclock_hook hw/i386/acpi-build.c '#include "hw/pvclock/pvclock-pages-acpi.h"' \
        "{print} /^#include \"hw\\/acpi\\/vmclock.h\"/ {print \"#include \\\"hw/pvclock/pvclock-pages-acpi.h\\\"\"}"
    pvclock_hook hw/i386/acpi-build.c "pvclock_pages_build_acpi(" \
        "/^    if \\(misc.has_hpet\\) \\{/ {print \"    pvclock_pages_build_acpi(table_offsets, tables_blob, tables->linker,\"; print \"                             x86ms->oem_id);\"} {print}"
    pvclock_hook tests/qtest/meson.build "pvclock-pages-test" \
        "{print} /'pvpanic-pci-test'/ {print \"  (config_all_devices.has_key('CONFIG_PVCLOCK_PAGES') ? ['pvclock-pages-test'] : []) +  \\\\\"}"
}

# qemu_edk2_placeholders SRC: the +ds tarball has no edk2 firmware;
# QEMU's meson wants to unpack edk2-*.fd.bz2 whenever bzip2 exists.
# Empty placeholders (valid, empty bzip2 streams) satisfy it; this
# project boots SeaBIOS and never uses them.
qemu_edk2_placeholders() {
    local f b
    for f in aarch64-code arm-code arm-vars riscv-code riscv-vars i386-code \
             i386-secure-code i386-vars x86_64-code x86_64-secure-code \
             loongarch64-code loongarch64-vars; do
        b=$1/pc-bios/edk2-$f.fd.bz2
        [ -f "$b" ] || bzip2 -c < /dev/null > "$b"
    done
}

# qemu_build SRC BUILD LOGDIR WHAT [CONFIGURE-ARGS...]: configure BUILD
# once (x86_64-softmmu, KVM + TCG, no default features, ccache when
# present, then the extra arguments, which may override those), build
# qemu-system-x86_64 and the device's qtest, and put Debian's firmware
# where QEMU looks when run from its build tree (its qemu-bundle data
# directory), so the binary and the qtests work without -L: the +ds
# tarball has no firmware blobs.  Logs go to LOGDIR/configure.log and
# LOGDIR/ninja.log.
qemu_build() {
    local src=$1 bld=$2 logs=$3 what=$4 cc=() bundle f
    shift 4
    export CCACHE_DIR=${CCACHE_DIR:-$PVCLOCK_CACHE/ccache}
    # paths relative to the checkout, so a fresh clone elsewhere hits too
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PVCLOCK_ROOT}
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
    mkdir -p "$bld" "$logs"
    # a build configured with other arguments is configured afresh
    if [ -f "$bld/build.ninja" ] &&
       [ "$(cat "$bld/.pvclock-configure" 2>/dev/null)" != "$*" ]; then
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
        printf '%s' "$*" > "$bld/.pvclock-configure"
    fi
    stage "QEMU: building qemu-system-x86_64 and the pvclock-pages qtest ($what)"
    if ! ninja -C "$bld" qemu-system-x86_64 tests/qtest/pvclock-pages-test \
            > "$logs/ninja.log" 2>&1; then
        grep -E ': (fatal )?error:|^FAILED' -A3 "$logs/ninja.log" | head -40
        die "QEMU build failed (log: $logs/ninja.log)"
    fi
    # QEMU's configure runs with --disable-werror; the device's own files
    # must still build without a warning (upstream builds with -Werror)
    if grep -E '(hw/pvclock/|pvclock-pages-test).*warning:' "$logs/ninja.log"; then
        die "warnings in the pvclock-pages files (log: $logs/ninja.log)"
    fi
    bundle=$bld/qemu-bundle/usr/local/share/qemu
    mkdir -p "$bundle"
    for f in /usr/share/seabios/*.bin /usr/share/qemu/*.bin; do
        [ -e "$bundle/${f##*/}" ] || ln -s "$f" "$bundle/${f##*/}"
    done
}
