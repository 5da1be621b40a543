#!/bin/bash
# The confinement material for the helper's socket (contrib/apparmor,
# contrib/selinux), checked as far as this machine allows: it runs no LSM,
# so neither is loaded or enforced here.
#
# - AppArmor: Debian 12's own libvirt profile template (TEMPLATE.qemu and
#   abstractions/libvirt-qemu from libvirt-daemon-system) with the project's
#   lines as local/abstractions/libvirt-qemu is compiled by Debian's
#   apparmor_parser (-Q: not loaded); the preprocessed profile contains the
#   lines (the include takes effect); a broken line is refused (the check
#   can fail).
# - SELinux: the module compiles with Debian's checkmodule (syntax and
#   structure only: a standalone module is not checked against a policy).
#
# The packages are fetched with apt-get download and unpacked into the
# cache, never installed.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

dir=$PVCLOCK_CACHE/confinement
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dir"
for p in apparmor libvirt-daemon-system checkpolicy; do
    ls "$dir"/${p}_*.deb > /dev/null 2>&1 ||
        ( cd "$dir" && apt-get download "$p" > /dev/null 2>&1 ) ||
        { echo "1..0 # SKIP cannot download $p from Debian"; exit 0; }
done
for d in "$dir"/*.deb; do dpkg -x "$d" "$tmp/root"; done
aa=$tmp/root/etc/apparmor.d
parser=$tmp/root/sbin/apparmor_parser

aa_parse() {
    mkdir -p "$aa/local/abstractions"
    cp "$1" "$aa/local/abstractions/libvirt-qemu"
    sed 's/LIBVIRT_TEMPLATE/libvirt-pvclock-test/' "$aa/libvirt/TEMPLATE.qemu" > "$tmp/profile"
    "$parser" -Q -K -b "$aa" -I "$aa" "$tmp/profile" > "$tmp/aa.out" 2>&1
}
aa_parse "$PVCLOCK_ROOT/contrib/apparmor/libvirt-qemu"
ok $? "AppArmor: Debian's libvirt QEMU profile with contrib/apparmor/libvirt-qemu compiles"
diag "$(grep -v "parser.conf\|Cache read" "$tmp/aa.out")"
"$parser" -p -b "$aa" -I "$aa" "$tmp/profile" 2>/dev/null > "$tmp/pre"
grep -q '^  /run/pvclock/pages.sock rw,' "$tmp/pre" &&
    grep -q '^  /memfd:pvclock-pages\* r,' "$tmp/pre" &&
    grep -q 'flags=(attach_disconnected)' "$tmp/pre"
ok $? "AppArmor: the profile includes the socket and memfd rules (template has attach_disconnected)"
sed 's|/run/pvclock/pages.sock rw,|/run/pvclock/pages.sock rw|' \
    "$PVCLOCK_ROOT/contrib/apparmor/libvirt-qemu" > "$tmp/broken"
! aa_parse "$tmp/broken"
ok $? "AppArmor: a broken rule in the same place is refused (the check can fail)"

mkdir -p "$tmp/se"
cp "$PVCLOCK_ROOT/contrib/selinux/pvclock-pages.te" "$tmp/se/"
"$tmp/root/usr/bin/checkmodule" -M -m -o "$tmp/se/pvclock-pages.mod" \
    "$tmp/se/pvclock-pages.te" > "$tmp/se.out" 2>&1
ok $? "SELinux: contrib/selinux/pvclock-pages.te compiles with checkmodule"
diag "$(cat "$tmp/se.out")"
sed 's/allow svirt_t var_run_t:sock_file { getattr write };/allow svirt_t var_run_t:sock_file { getattr write }/' \
    "$tmp/se/pvclock-pages.te" > "$tmp/se/broken.te"
sed -i 's/^module pvclock-pages/module broken/' "$tmp/se/broken.te"
! "$tmp/root/usr/bin/checkmodule" -M -m -o "$tmp/se/broken.mod" "$tmp/se/broken.te" > /dev/null 2>&1
ok $? "SELinux: a broken rule is refused (the check can fail)"
done_testing
