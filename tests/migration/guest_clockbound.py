#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ClockBound from the device (issue 34, point 2): a TCG Linux guest runs
`pvclock-guest clockbound` (the writer of ClockBound's shared-memory
segment, protocol 2) and a ClockBound client written from the protocol
(`pvclock-guest-test clockbound-check`), which answers the host over the
second serial line with [earliest, latest] and the status.  Each round
the host reads its own REALTIME (the simulated host's pages, through
host-page.c) before asking and after the answer: wherever the status is
Synchronized or FreeRunning the interval must reach into
[before, after]; the client also brackets its read with the host's
REALTIME through the device (tight).  Then: the guest's clock stepped to
the host's, a migration to a paused destination (host B, +1.5 s), and a
snapshot restore: right after each, every answer is Disrupted/Unknown
or a bound that holds.  PVCLOCK_CB_BREAK=offset|rewrite|client|... (+
joined) runs a broken variant (tests/guest/init).  PVCLOCK_CB_CHRONY=1
(bench/clockbound-chrony.sh) runs instead the comparison with ClockBound
over chronyd: chronyd disciplines the guest from the device (SOCK), and
ClockBound's own rule over chronyd's tracking is set beside the
writer's bound, in the same guest on the same host.  Prints TAP."""
import ctypes
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate as m  # noqa: E402
import guest_migration as gm  # noqa: E402

LIB = os.path.join(m.BUILD, "host/libpvclock-host-page.so")
BREAK = os.environ.get("PVCLOCK_CB_BREAK", "")
CHRONY = os.environ.get("PVCLOCK_CB_CHRONY", "") == "1"
PAUSE = 5
CPU_WINDOW = float(os.environ.get("PVCLOCK_CB_CPU_WINDOW", "30"))
NAMES = {0: "Unknown", 1: "Synchronized", 2: "FreeRunning", 3: "Disrupted",
         -1: "unreadable"}


class HostClock:
    """A simulated host's REALTIME from its pages (host-page.c: libpvclock
    reads no simulated host, whose counter only guests read through the
    device's transform)."""
    lib = None

    def __init__(self, pages):
        if HostClock.lib is None:
            HostClock.lib = ctypes.CDLL(LIB)
            HostClock.lib.host_page_map.restype = ctypes.c_void_p
            HostClock.lib.host_page_map.argtypes = [ctypes.c_char_p]
            HostClock.lib.host_page_ns.argtypes = [
                ctypes.c_void_p, ctypes.c_int,
                ctypes.POINTER(ctypes.c_int64)]
        self.page = HostClock.lib.host_page_map(pages.encode())
        assert self.page, "host_page_map(%s) failed" % pages

    def now(self):
        ns = ctypes.c_int64()
        err = HostClock.lib.host_page_ns(self.page, 0, ctypes.byref(ns))
        assert err == 0, "host_page_ns: %d" % err
        return ns.value


class Line:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(30)
        self.buf = b""

    def ask(self, q, prefix):
        self.s.sendall((q + "\n").encode())
        while True:
            while b"\n" not in self.buf:
                self.buf += self.s.recv(4096)
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.decode(errors="replace").strip()
            if line.startswith(prefix):
                return line.split()


def ns(s):
    sec, frac = s.split(".")
    v = int(sec) * m.NS + int(frac)
    return v if not sec.startswith("-") else int(sec) * m.NS - int(frac)


class Rounds:
    def __init__(self):
        self.n = self.trusted = self.wrong = self.dev_wrong = 0
        self.statuses = {}
        self.widths, self.slack, self.rtt, self.worst = [], [], [], 0
        self.first_good = None

    def add(self, k, host, line, t0):
        a = host.now()
        r = line.ask("B %d" % k, "B %d " % k)
        b = host.now()
        e, l_, st, dev, slack = ns(r[2]), ns(r[3]), int(r[4]), int(r[5]), int(r[6])
        self.n += 1
        self.statuses[st] = self.statuses.get(st, 0) + 1
        self.rtt.append(b - a)
        if st in (1, 2):
            self.trusted += 1
            if self.first_good is None:
                self.first_good = time.monotonic() - t0
            self.widths.append(l_ - e)
            self.slack.append(slack)
            if e > b or l_ < a:
                self.wrong += 1
                self.worst = max(self.worst, e - b if e > b else a - l_)
            if not dev:
                self.dev_wrong += 1
        return st

    def summary(self):
        sts = ", ".join("%s %d" % (NAMES.get(k, k), v)
                        for k, v in sorted(self.statuses.items()))
        if not self.widths:
            return "%d rounds (%s), none trusted" % (self.n, sts)
        return ("%d rounds (%s); width median %.1f us, max %.1f us; least "
                "slack to the device's bracket %.1f us; host round trip "
                "median %.0f us; %d outside the host's stamps (worst %.1f us), "
                "%d outside the device's bracket" % (
                    self.n, sts, statistics.median(self.widths) / 1e3,
                    max(self.widths) / 1e3, min(self.slack) / 1e3,
                    statistics.median(self.rtt) / 1e3, self.wrong,
                    self.worst / 1e3, self.dev_wrong))


def steady(line, host, rounds, spacing):
    r = Rounds()
    t0 = time.monotonic()
    for k in range(rounds):
        r.add(k, host, line, t0)
        time.sleep(spacing)
    return r


def wait_sync(line, host, seconds):
    """Ask as fast as the line answers until Synchronized, then 50 more
    rounds: a Rounds with every answer since the call."""
    r = Rounds()
    t0 = time.monotonic()
    k = 100000
    while time.monotonic() - t0 < seconds:
        k += 1
        if r.add(k, host, line, t0) == 1:
            break
    for _ in range(50):
        k += 1
        r.add(k, host, line, t0)
    return r


def after_event(what, r):
    m.ok(r.wrong == 0 and r.dev_wrong == 0,
         "%s: no trusted answer excludes the host's time: %s" % (what, r.summary()))
    m.ok(r.first_good is not None and r.first_good < 5,
         "%s: Synchronized again %s" % (
             what, "after %.2f s" % r.first_good if r.first_good is not None
             else "never (in 20 s)"))


def chrony_tracking(console):
    """The last whole `chronyc -n tracking` the guest printed ("cb-chrony:
    " lines, up to its Leap status), as {field: text}."""
    text = open(console, errors="replace").read()
    text = text[:text.rfind("\n") + 1]      # the line being written: not yet
    records, cur = [], {}
    for line in text.splitlines():
        if not line.startswith("cb-chrony: ") or " : " not in line:
            continue
        k, v = line[len("cb-chrony: "):].split(" : ", 1)
        cur[k.strip()] = v.strip()
        if k.strip() == "Leap status":
            records.append(cur)
            cur = {}
    return records[-1] if records else {}


def clockbound_rule_ns(t):
    """ClockBound's bound over chronyd (clock-bound-d 2.0.2,
    chronyd_snapshot_poller.rs): root delay / 2 + root dispersion +
    |the system clock's current correction|, in ns, rounded up."""
    delay = float(t["Root delay"].split()[0])
    disp = float(t["Root dispersion"].split()[0])
    corr = abs(float(t["System time"].split()[0]))
    return -(-(delay / 2 + disp + corr) * 1e9 // 1)


def run_chrony(st, tmp):
    """The writer's bound beside ClockBound's rule over chronyd, which
    disciplines the same guest from the same device (SOCK refclock)."""
    kernel, initrd = gm.kernel_and_initrd("chrony")
    pages = st.helper("hostA", "tsc_hz=2500000000")
    os.environ["PVCLOCK_GUEST_APPEND"] = (
        "pvclock.cbargs=--interval-ms,1000,--vmclock,device pvclock.cbchrony=1")
    g = gm.Guest(st, tmp, kernel, initrd)
    g.cmd = "clockbound"
    g.start(pages)
    m.ok(g.wait_ready(), "the guest boots on host A: chronyd on the device "
         "(SOCK), the writer and the client run")
    line = Line(g.serial)
    host = HostClock(pages)
    wait_sync(line, host, 20)
    t, end = {}, time.time() + 120
    while time.time() < end:
        t = chrony_tracking(g.console)
        if "(PVC)" in t.get("Reference ID", "") and \
                t.get("Leap status") == "Normal":
            break
        time.sleep(1)
    m.ok(t.get("Leap status") == "Normal" and "(PVC)" in t.get("Reference ID", ""),
         "chronyd synchronised to the device: %s" % "; ".join(
             "%s %s" % (k, t.get(k, "?")) for k in
             ("Reference ID", "System time", "Root delay", "Root dispersion")))
    time.sleep(20)      # chronyd's estimate settles at 4 samples a second
    r = steady(line, host, 300, 0.02)
    t = chrony_tracking(g.console)
    m.ok(r.wrong == 0 and r.dev_wrong == 0 and r.trusted == 300,
         "300 rounds, chronyd disciplining the guest: every answer of the "
         "writer's segment Synchronized and holding the host's REALTIME: %s"
         % r.summary())
    ok = bool(r.widths) and "Root dispersion" in t
    if ok:
        cb = clockbound_rule_ns(t)
        w = statistics.median(r.widths)
        m.diag("bound widths (latest - earliest) in the same guest: the "
               "writer's median %.1f us (min %.1f, max %.1f); ClockBound's "
               "rule over chronyd %.3f us (2 x (root delay / 2 %s + root "
               "dispersion %s + |system time| %s)); ratio %.0f" % (
                   w / 1e3, min(r.widths) / 1e3, max(r.widths) / 1e3,
                   2 * cb / 1e3, t["Root delay"], t["Root dispersion"],
                   t["System time"], w / (2 * cb) if cb else 0))
    m.ok(ok, "chronyd's tracking read beside the writer's bound")
    try:
        line.s.sendall(b"X\n")
    except OSError:
        pass


def run(st, tmp):
    if CHRONY:
        return run_chrony(st, tmp)
    kernel, initrd = gm.kernel_and_initrd()
    hosts = {
        "A": st.helper("hostA", "tsc_hz=2500000000"),
        "B": st.helper("hostB", "tsc_hz=3000000000,realtime_offset_ns=1500000000,"
                                "freq_ppb=50000"),
    }
    image = os.path.join(tmp, "snap.qcow2")
    subprocess.check_call(["qemu-img", "create", "-q", "-f", "qcow2", image, "64M"])
    os.environ["PVCLOCK_GUEST_APPEND"] = (
        "pvclock.cbargs=--interval-ms,1000,--vmclock,device pvclock.cbbreak=" + BREAK)
    g = gm.Guest(st, tmp, kernel, initrd)
    g.cmd = "clockbound"
    g.qemu_extra = ["-drive", "if=none,id=snaps,format=qcow2,file=" + image]
    qmp = g.start(hosts["A"])
    m.ok(g.wait_ready(), "the guest boots on host A, writer and client run%s"
         % (" (broken: %s)" % BREAK if BREAK else ""))
    line = Line(g.serial)
    host = HostClock(hosts["A"])

    r = wait_sync(line, host, 20)
    m.ok(r.first_good is not None, "the segment says Synchronized %.2f s "
         "after the client's first question" % (r.first_good or -1))
    # the guest's clock as it booted (from the RTC, whole seconds)
    r = steady(line, host, 300, 0.02)
    m.ok(r.wrong == 0 and r.dev_wrong == 0 and r.trusted == 300,
         "300 rounds over %.1f s, the guest's clock as booted: every answer "
         "Synchronized and holding the host's REALTIME: %s" % (
             300 * 0.02, r.summary()))
    # stepped to the host's, as the driver or chronyd would
    step = line.ask("T", "T ")
    time.sleep(0.5)
    r = wait_sync(line, host, 10)
    r2 = steady(line, host, 300, 0.02)
    m.ok(r.wrong == 0 and r2.wrong == 0 and r2.dev_wrong == 0 and r2.trusted == 300,
         "the guest's clock stepped by %.3f ms to the host's: 300 rounds "
         "%s" % (int(step[1]) / 1e6, r2.summary()))
    widths = r2.widths

    # ---- a migration to a paused destination: host B, +1.5 s --------------
    port = 48500 + os.getpid() % 1000
    dst = g.start(hosts["B"], incoming="tcp:127.0.0.1:%d" % port, paused=True)
    res = m.migrate(qmp, dst, "tcp:127.0.0.1:%d" % port)
    for _ in range(200):
        if dst.status() != "inmigrate":
            break
        time.sleep(0.02)
    time.sleep(PAUSE)
    line = Line(g.serial)
    host = HostClock(hosts["B"])
    dst.cmd("cont")
    r = wait_sync(line, host, 20)
    m.ok(res["status"] == "completed", "migrated to B (%s), resumed %d s later"
         % (res["status"], PAUSE))
    after_event("right after the migration", r)
    qmp = dst
    line.ask("T", "T ")
    time.sleep(0.5)
    wait_sync(line, host, 10)

    # ---- a snapshot restore: savevm, 3 s on, loadvm --------------------------
    out = qmp.hmp("savevm s1")
    time.sleep(3)
    out += qmp.hmp("loadvm s1")
    r = wait_sync(line, host, 20)
    m.ok(out.strip() == "", "savevm, 3 s, loadvm%s" % (
        ": " + out.strip() if out.strip() else ""))
    after_event("right after the snapshot restore", r)
    line.ask("T", "T ")
    time.sleep(0.5)
    wait_sync(line, host, 10)

    # ---- the writer's CPU in steady state, the clock stepped to the host's ------------------------------------
    c0, t0 = line.ask("C", "C "), time.monotonic()
    r = steady(line, host, 100, CPU_WINDOW / 100.0)
    c1, t1 = line.ask("C", "C "), time.monotonic()
    hz = int(c1[2])
    if int(c1[4]) >= 0:
        used = (int(c1[4]) - int(c0[4])) / 1e9
        how = "schedstat"
    else:
        used = (int(c1[1]) - int(c0[1])) / hz
        how = "utime+stime"
    m.diag("writer CPU over its life: %d ticks of 1/%d s in %.1f s" % (
        int(c1[1]), hz, float(c1[3])))
    m.ok(r.wrong == 0 and r.dev_wrong == 0 and used / (t1 - t0) < 0.01,
         "steady state, %.0f s (%s): the writer used %.2f ms of CPU a minute "
         "(TCG), under 1 %%; %s" % (t1 - t0, how, used * 1000 * 60 / (t1 - t0),
                                   r.summary()))
    if widths:
        m.diag("bound width (latest - earliest) with the clock stepped: "
               "median %.1f us, min %.1f us, max %.1f us" % (
                   statistics.median(widths) / 1e3, min(widths) / 1e3,
                   max(widths) / 1e3))
    try:
        line.s.sendall(b"X\n")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(m.with_setup("pvclock-cb-", run))
