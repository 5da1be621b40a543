#!/bin/bash
# libvirt starts a guest with -device pvclock-pages from a domain XML
# (contrib/libvirt/pvclock-domain.xml.in: the device through libvirt's
# qemu:commandline namespace, the project's QEMU as <emulator>).  The XML
# must pass virt-xml-validate; libvirt's embedded QEMU driver
# (qemu:///embed, all its state in a temporary directory: no libvirtd,
# no system configuration) defines and starts the domain; the device must
# be on the running guest's PCI bus with status valid, the guest program
# must read it; then the domain is destroyed and undefined.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

H=$PVCLOCK_BUILD/host
QEMU=$PVCLOCK_BUILD/qemu/build/qemu-system-x86_64
tmp=$(mktemp -d /tmp/pvclock-libvirt-XXXXXX)
helper_pid=
trap '[ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

for t in virsh virt-xml-validate; do
    command -v "$t" > /dev/null ||
        { echo "1..0 # SKIP $t not installed (scripts/install-deps.sh installs libvirt-clients)"; exit 0; }
done
# libvirt resolves its default QEMU account even when told to run QEMU
# as root; Debian's libvirt-daemon-system would create it.
id libvirt-qemu > /dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /var/lib/libvirt \
        --shell /usr/sbin/nologin libvirt-qemu

# the helper as users run it: its sealed memfd handed over on a socket,
# which QEMU, here running as libvirt's unprivileged account, connects to
"$H/pvclock-helper" --socket "$tmp/pages.sock" 2> "$tmp/helper.log" &
helper_pid=$!
kernel=$("$PVCLOCK_ROOT/tests/guest/fetch-kernel.sh")
initrd=$PVCLOCK_BUILD/guest/initramfs.cpio.gz
"$PVCLOCK_ROOT/tests/guest/mkinitramfs.sh" "$initrd"
sed -e "s|@NAME@|pvclock-test|; s|@EMULATOR@|$QEMU|; s|@KERNEL@|$kernel|" \
    -e "s|@INITRD@|$initrd|; s|@CONSOLE@|$tmp/console.log|; s|@PAGES@|$tmp/pages.sock|" \
    "$PVCLOCK_ROOT/contrib/libvirt/pvclock-domain.xml.in" > "$tmp/domain.xml"

virt-xml-validate "$tmp/domain.xml" > "$tmp/validate" 2>&1
ok $? "virt-xml-validate: $(cat "$tmp/validate")"

mkdir -p "$tmp/embed/etc"
# QEMU runs as libvirt-qemu, not root: it must reach the helper's socket
# (mode 0666) and map the read-only memfd it is given.  It also needs to
# read the kernel and initramfs and write the console log.
chmod 0755 "$tmp"
touch "$tmp/console.log"
chown libvirt-qemu "$tmp/console.log"
chmod a+r "$initrd" "$kernel"
cat > "$tmp/embed/etc/qemu.conf" <<CONF
user = "libvirt-qemu"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
CONF
uri="qemu:///embed?root=$tmp/embed"
( for _ in $(seq 600); do
      # this domain's QEMU only: other tests may run QEMUs meanwhile
      ps -o user:32=,args= -C qemu-system-x86_64 2>/dev/null |
          awk '/guest=pvclock-test/ {print $1}' >> "$tmp/qemu-user"
      sleep 0.2
  done ) &
sampler=$!
timeout 120 virsh -c "$uri" "define $tmp/domain.xml; start pvclock-test; \
    event --domain pvclock-test --event lifecycle --loop --timeout 15; \
    domstate pvclock-test; \
    qemu-monitor-command pvclock-test --hmp 'info pci'; \
    qemu-monitor-command pvclock-test '{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/pvc\",\"property\":\"status\"}}'; \
    destroy pvclock-test; undefine pvclock-test; list --all" \
    > "$tmp/virsh.out" 2> "$tmp/virsh.err"
rc=$?
kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
grep -q "Domain 'pvclock-test' started" "$tmp/virsh.out" && grep -q '^running' "$tmp/virsh.out"
ok $? "libvirt defines and starts the domain with the project's QEMU, as libvirt-qemu"
diag "$(grep -v ' info \| warning ' "$tmp/virsh.err" | tail -3)"
grep -q 'PCI device 1af4:10f0' "$tmp/virsh.out" && grep -q '"return":"valid"' "$tmp/virsh.out"
ok $? "the running guest has the device (info pci: 1af4:10f0) with status valid"
users=$(sort -u "$tmp/qemu-user" 2>/dev/null | tr '\n' ' ')
[ "$users" = "libvirt-qemu " ]
ok $? "QEMU ran as libvirt-qemu and got the pages from the helper's socket (users seen: $users)"
grep -q '^pvclock-guest: device at ' "$tmp/console.log" 2>/dev/null &&
    grep -q '^device: status valid' "$tmp/console.log"
ok $? "the guest program found and read the device"
grep -q "Domain 'pvclock-test' destroyed" "$tmp/virsh.out" &&
    grep -q "Domain 'pvclock-test' has been undefined" "$tmp/virsh.out" && [ $rc = 0 ]
ok $? "libvirt stops and undefines the domain"
done_testing
