#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A real Linux guest (TCG) reads all five clocks through -device
pvclock-pages in a loop while it migrates across three simulated hosts:
A (2.5 GHz), B (3.0 GHz, REALTIME +1.5 s, +50 ppm), C (2.0 GHz, +3 s).
Before and after each migration the host exchanges REALTIME stamps with
the guest over its second serial line against the current host's own
clock (its pages): the guest's value must lie between the host's stamps
every time.  At the end the guest's watcher reports, per clock, the
backward steps it saw across both migrations: zero for all five.
Prints TAP."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate as m  # noqa: E402

EXCHANGE = os.path.join(m.BUILD, "host/pvclock-exchange")
# PVCLOCK_MIGRATE_PAUSE=S: each destination starts paused (-S) and is
# resumed S seconds after the migration completed
PAUSE = int(os.environ.get("PVCLOCK_MIGRATE_PAUSE", "0"))


def kernel_and_initrd(extra=None):
    """Debian 12's cloud kernel and the test initramfs, made first;
    extra: mkinitramfs.sh's "chrony" adds chronyd (its own file)."""
    kernel = subprocess.check_output(
        [os.path.join(m.ROOT, "tests/guest/fetch-kernel.sh")]).decode().strip()
    initrd = os.path.join(m.BUILD, "guest/initramfs%s.cpio.gz" %
                          ("-" + extra if extra else ""))
    subprocess.check_call([os.path.join(m.ROOT, "tests/guest/mkinitramfs.sh"),
                           initrd] + ([extra] if extra else []))
    return kernel, initrd


class Guest:
    cmd = "watch"   # pvclock.cmd= of tests/guest/init

    def __init__(self, st, tmp, kernel, initrd):
        self.st, self.tmp, self.kernel, self.initrd = st, tmp, kernel, initrd
        self.k = 0

    def start(self, pages, incoming=None, dev_extra="", paused=False):
        """QEMU with the guest on pages; self.qemu_extra is added to every
        start (the soak's snapshot image)."""
        self.k += 1
        sock = os.path.join(self.tmp, "qmp-g%d.sock" % self.k)
        self.serial = os.path.join(self.tmp, "ttyS1-%d.sock" % self.k)
        self.console = os.path.join(self.tmp, "console-%d.log" % self.k)
        args = [m.QEMU, "-M", "pc", "-accel", m.ACCEL, "-cpu", "max", "-m", "256",
                "-nodefaults", "-display", "none", "-no-reboot",
                "-kernel", self.kernel, "-initrd", self.initrd,
                "-append", "console=ttyS0 quiet panic=-1 pvclock.cmd=%s " % self.cmd
                + os.environ.get("PVCLOCK_GUEST_APPEND", ""),
                "-chardev", "file,id=con,path=" + self.console,
                "-serial", "chardev:con",
                "-chardev", "socket,id=ex,path=%s,server=on,wait=off" % self.serial,
                "-serial", "chardev:ex",
                "-device", "pvclock-pages,id=pvc,pages=" + pages + dev_extra,
                "-qmp", "unix:%s,server=on,wait=off" % sock]
        args += getattr(self, "qemu_extra", [])
        if incoming:
            args += ["-incoming", incoming]
        if paused:
            args.append("-S")
        self.stderr = os.path.join(self.tmp, "qemu-g%d.err" % self.k)
        with open(self.stderr, "w") as err:
            p = subprocess.Popen(args, stderr=err)
        self.st.procs.append(p)
        self.logs = getattr(self, "logs", {})
        self.logs[p] = self.stderr
        return m.QMP(sock, p)

    def stderrs(self, p):
        """The stderr log of process p, if this started it."""
        return [self.logs[p]] if p in getattr(self, "logs", {}) else []

    def wait_ready(self, seconds=240):
        """True once the guest's pvclock-guest says it is ready."""
        end = time.time() + seconds
        while time.time() < end:
            if os.path.exists(self.console) and "pvclock-guest: ready" in \
                    open(self.console, errors="replace").read():
                return True
            time.sleep(0.5)
        return False

    def exchange(self, pages, rounds=100, watch=False, quit=False):
        args = [EXCHANGE, "--socket", self.serial, "--rounds", str(rounds),
                "--show", "0", "--host-pages", pages]
        if watch:
            args.append("--watch")
        if quit:
            args.append("--quit")
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        return r.returncode, r.stdout.decode() + r.stderr.decode()


def main():
    return m.with_setup("pvclock-gmig-", run)


def summary(out):
    return " ".join(l for l in out.splitlines() if l.startswith("exchange: 100"))


def run(st, tmp):
    kernel, initrd = kernel_and_initrd()
    hosts = {
        "A": st.helper("hostA", "tsc_hz=2500000000"),
        "B": st.helper("hostB", "tsc_hz=3000000000,realtime_offset_ns=1500000000,"
                                "freq_ppb=50000"),
        "C": st.helper("hostC", "tsc_hz=2000000000,realtime_offset_ns=3000000000"),
    }
    g = Guest(st, tmp, kernel, initrd)
    qmp = g.start(hosts["A"])
    m.ok(g.wait_ready(), "the guest boots on host A and its clock watcher runs")
    m.diag("".join(l for l in open(g.console, errors="replace")
                   if "booted, kernel" in l).strip())

    rc, out = g.exchange(hosts["A"])
    m.ok(rc == 0, "on A: guest REALTIME between host A's stamps: %s" % summary(out))

    port = 48000 + os.getpid() % 1000
    for name in ("B", "C"):
        port += 1
        hp1, op1 = qmp.bar()
        dst = g.start(hosts[name], incoming="tcp:127.0.0.1:%d" % port,
                      paused=PAUSE > 0)
        r = m.migrate(qmp, dst, "tcp:127.0.0.1:%d" % port)
        if PAUSE:
            # as libvirt does: the destination started with -S, resumed
            # once management has done its part
            for _ in range(200):
                if dst.status() != "inmigrate":
                    break
                time.sleep(0.02)
            time.sleep(PAUSE)
            dst.cmd("cont")
        dst.wait_running(200)
        m.ok(r["status"] == "completed" and dst.status() == "running",
             "migrated to %s (%s)%s, running there" % (
                 name, r["status"], ", resumed %d s later" % PAUSE
                 if PAUSE else ""))
        hp2, op2 = dst.bar()
        m.ok(m.u64(op2, 0x10) > m.u64(op1, 0x10) and
             m.disruptions(hp2, op2) > m.disruptions(hp1, op1),
             "on %s: generation %d -> %d, disruption count %d -> %d"
             % (name, m.u64(op1, 0x10), m.u64(op2, 0x10),
                m.disruptions(hp1, op1), m.disruptions(hp2, op2)))
        m.diag("post_load on %s: %d us" % (name, dst.qom("last-post-load-us")))
        qmp = dst
        rc, out = g.exchange(hosts[name], watch=(name == "C"))
        m.ok(rc == 0, "on %s right after: guest REALTIME between host %s's "
             "stamps: %s" % (name, name, summary(out)))
        if name == "C":
            w = [l for l in out.splitlines() if l.startswith("watch:")]
            m.diag(w[0] if w else out)
            good = bool(w) and all(
                ("%s 0 " % c) in w[0] for c in ("REALTIME", "TAI", "MONOTONIC",
                                                "MONOTONIC_RAW", "BOOTTIME"))
            m.ok(good and " 0 errors" in w[0],
                 "across two migrations the guest saw 0 backward steps in all "
                 "five clocks")
    g.exchange(hosts["C"], rounds=1, quit=True)


if __name__ == "__main__":
    sys.exit(main())
