#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak: a TCG Linux guest reads all five clocks through -device
pvclock-pages, continuously, while everything that may happen to it
happens, over and over, for --seconds (TAP).

Hosts: A and B are simulated (2.5 GHz; 3.0 GHz, REALTIME +1.5 s,
+50 ppm), R is this real host; each has its own pvclock-helper on a
socket (its sealed memfd).  Round after round:

- a live migration to the other host (A <-> B ping-pong; every fourth
  round through R);
- every third round a migration that fails on purpose, alternating: the
  destination refuses the stream (other device properties) or the
  stream is cut (the destination killed mid-way); the source must
  resume, running, status valid;
- stop, a pause, cont;
- every ~30 s the current host's helper is killed with SIGKILL and a new
  one started on the same socket: new pages (a new memfd), which the
  device shows once the old ones are stale (pages-replaced grows);
- every ~60 s a snapshot is saved (savevm, on a qcow2 image the guest
  carries for that along its migrations), and about 20 s later loaded
  (loadvm), on whichever host the guest is then (runs shorter than
  240 s scale both: a quarter and a twelfth of the run);

Before and after each round the host exchanges REALTIME stamps with the
guest (20 rounds) against the current host's pages: every guest value
must lie between the host's stamps.  At the end the guest's watcher
reports per clock the backward steps it saw over the whole run: 0 for
MONOTONIC, MONOTONIC_RAW and BOOTTIME (REALTIME and TAI follow the host
they are on, and these hosts disagree about them).  Also: no process died unasked; the helpers' and each
successive QEMU's RSS and open descriptors flat (the figures are
printed; allowed: fds +2, RSS +25% over the first sample, QEMU compared
at the same point of each life); every failure visible in the status
properties (stale after a helper kill, pages-replaced, query-migrate's
failed status).

    tests/soak/soak.py [--seconds 240]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402
from guest_migration import Guest, kernel_and_initrd  # noqa: E402

# savevm/loadvm rounds (PVCLOCK_SOAK_SNAPSHOTS=0 leaves them out).  Never
# a loadvm in a round whose migration failed on purpose: QEMU's loadvm
# fails with -EINVAL after a failed outgoing migration in the same QEMU,
# device or not (measured on 10.0.2; 10.2.2 has the same check;
# docs/reliability.md row 38c)
SNAPSHOTS = os.environ.get("PVCLOCK_SOAK_SNAPSHOTS") != "0"

SIMS = {
    "A": "tsc_hz=2500000000",
    "B": "tsc_hz=3000000000,realtime_offset_ns=1500000000,freq_ppb=50000",
    "R": None,
}


def proc_stats(pid):
    """(RSS in KiB, open descriptors) of a live process."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


class Helpers:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = {}
        self.unasked = []       # helpers that died without being killed
        self.stats = {}         # name -> [(rss, fds)] of the current life

    def path(self, name):
        return os.path.join(self.tmp, "host%s.sock" % name)

    def start(self, name):
        args = [m.HELPER, "--socket", self.path(name), "--stale-ms", "2000",
                "--heartbeat-ms", "500"]
        if SIMS[name]:
            args += ["--simulate", SIMS[name]]
        self.procs[name] = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        self.stats[name] = []
        for _ in range(200):
            if subprocess.run([m.HELPER, "--inspect", "--socket", self.path(name)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.05)

    def kill(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait()

    def sample(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                self.unasked.append((name, p.returncode))
                self.start(name)
            else:
                self.stats[name].append(proc_stats(p.pid))

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                p.wait()


def free_port():
    """A TCP port on loopback nobody listens on now (ports are not reused
    round after round: a destination's may still be taken)."""
    import socket
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def flat(samples, fd_slack=2, rss_frac=0.25):
    """Samples [(rss, fds)]: flat if no later one exceeds the first by
    more than the allowance."""
    if len(samples) < 2:
        return True, "%d samples" % len(samples)
    rss0, fd0 = samples[0]
    rss_max = max(s[0] for s in samples[1:])
    fd_max = max(s[1] for s in samples[1:])
    good = fd_max <= fd0 + fd_slack and rss_max <= rss0 * (1 + rss_frac)
    return good, "RSS %d -> max %d KiB, fds %d -> max %d, %d samples" % (
        rss0, rss_max, fd0, fd_max, len(samples))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int,
                    default=int(os.environ.get("PVCLOCK_SOAK_SECONDS", "240")))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pvclock-soak-") as tmp:
        st = m.Setup(tmp)
        hs = Helpers(tmp)
        try:
            run(st, hs, tmp, a.seconds)
        finally:
            st.close()
            hs.close()
    print("1..%d" % m.n)
    return 1 if m.failed else 0


def run(st, hs, tmp, seconds):
    kernel, initrd = kernel_and_initrd()
    for name in SIMS:
        hs.start(name)
    g = Guest(st, tmp, kernel, initrd)
    image = os.path.join(tmp, "snapshots.qcow2")
    subprocess.check_call(["qemu-img", "create", "-q", "-f", "qcow2", image,
                           "64M"])
    # the image holds the snapshots (and migrates along, shared storage)
    g.qemu_extra = ["-drive", "if=none,id=snaps,format=qcow2,file=" + image]
    here = "A"
    qmp = g.start(hs.path(here))
    serial = g.serial
    m.ok(g.wait_ready(), "the guest boots on host A and its clock watcher runs")

    counts = dict(rounds=0, migrations=0, to_real=0, refused=0, cut=0,
                  kills=0, replaced=0, stale_seen=0, snapshots=0, loads=0,
                  stopconts=0, exchanges=0)
    bad = []                    # what went wrong, for the report
    refusers = set()            # destinations meant to refuse (exit 1)
    qemu_stats = []             # (rss, fds) of each QEMU, 3 s into its life
    start = time.time()
    last_kill = last_snap = start
    # a snapshot every 60 s, loaded 20 s later; shorter runs scale both
    snap_every, load_after = min(60, seconds / 4), min(20, seconds / 12)
    snapshot = False
    life_start = time.time()

    def exchange(label):
        rc, out = g.exchange(hs.path(here), rounds=20)
        counts["exchanges"] += 1
        if rc != 0:
            bad.append("%s: exchange failed: %s" % (label, out.strip()[-200:]))

    def settle(q, label):
        if not q.wait_running(200):
            bad.append("%s: not running (%s)" % (label, q.status()))
        for _ in range(100):
            if q.qom("status") == "valid":
                return
            time.sleep(0.05)
        bad.append("%s: status %s" % (label, q.qom("status")))

    def sample_qemu(q):
        if time.time() - life_start >= 1 and q.proc.poll() is None:
            qemu_stats.append(proc_stats(q.proc.pid))

    exchange("start")
    try:
        while time.time() - start < seconds:
            counts["rounds"] += 1
            r_no = counts["rounds"]
            hs.sample()
            if qmp.proc.poll() is not None:
                bad.append("round %d: QEMU died (%s)" % (r_no, qmp.proc.returncode))
                break

            # stop, a pause, cont
            qmp.cmd("stop")
            time.sleep(0.2)
            qmp.cmd("cont")
            counts["stopconts"] += 1
            settle(qmp, "round %d after cont" % r_no)

            # a migration that fails on purpose; the source resumes
            if r_no % 3 == 0:
                port = free_port()
                other = "B" if here == "A" else "A"
                if (r_no // 3) % 2:
                    dst = g.start(hs.path(other), incoming="tcp:127.0.0.1:%d" % port,
                                  dev_extra=",monotonic=host")
                    refusers.add(dst.proc)
                    r, _ = m.refused_by(qmp, dst, port)
                    counts["refused"] += 1
                    what = "a refusing destination"
                else:
                    dst = g.start(hs.path(other), incoming="tcp:127.0.0.1:%d" % port)
                    qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 20})
                    qmp.cmd("migrate-set-capabilities", capabilities=[
                        {"capability": "return-path", "state": True}])
                    qmp.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
                    time.sleep(0.3)
                    dst.proc.kill()
                    r = qmp.wait_migration()
                    qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
                    counts["cut"] += 1
                    what = "a cut stream"
                g.serial = serial       # the guest is still the source's
                if r["status"] != "failed":
                    bad.append("round %d: %s: migration %s" % (r_no, what, r["status"]))
                settle(qmp, "round %d after %s" % (r_no, what))

            # the current host's helper killed and started over: new pages
            if time.time() - last_kill >= 30:
                replaced = qmp.qom("pages-replaced")
                hs.kill(here)
                counts["kills"] += 1
                seen_stale = False
                for _ in range(100):
                    if qmp.qom("status") == "stale":
                        seen_stale = True
                        break
                    time.sleep(0.05)
                hs.start(here)
                for _ in range(200):
                    if qmp.qom("pages-replaced") > replaced and \
                            qmp.qom("status") == "valid":
                        break
                    time.sleep(0.05)
                counts["stale_seen"] += seen_stale
                if qmp.qom("pages-replaced") > replaced:
                    counts["replaced"] += 1
                else:
                    bad.append("round %d: new pages after a helper kill not shown"
                               % r_no)
                last_kill = time.time()

            # a snapshot saved, or the saved one loaded
            if not SNAPSHOTS:
                pass
            elif time.time() - last_snap >= snap_every and not snapshot:
                out = qmp.hmp("savevm soak")
                counts["snapshots"] += 1
                snapshot = "error" not in out.lower()
                if not snapshot:
                    bad.append("round %d: savevm: %s" % (r_no, out.strip()))
                settle(qmp, "round %d after savevm" % r_no)
                last_snap = time.time()
            elif snapshot and time.time() - last_snap >= load_after and r_no % 3:
                out = qmp.hmp("loadvm soak")
                counts["loads"] += 1
                if "error" in out.lower():
                    bad.append("round %d: loadvm: %s (QEMU said: %s)" % (
                        r_no, out.strip(), " | ".join(
                            open(e).read()[-400:].replace("\n", " / ")
                            for e in g.stderrs(qmp.proc))))
                settle(qmp, "round %d after loadvm" % r_no)
                qmp.hmp("delvm soak")
                snapshot = False
                last_snap = time.time()

            # the live migration of the round
            port = free_port()
            dest = "R" if r_no % 4 == 0 and here != "R" else \
                ("B" if here == "A" else "A")
            sample_qemu(qmp)
            exchange("round %d before" % r_no)
            dst = g.start(hs.path(dest), incoming="tcp:127.0.0.1:%d" % port)
            r = m.migrate(qmp, dst, "tcp:127.0.0.1:%d" % port)
            if r["status"] != "completed":
                bad.append("round %d: migration to %s %s" % (r_no, dest, r["status"]))
                dst.proc.kill()
                g.serial = serial
                continue
            qmp.proc.terminate()
            qmp.proc.wait()
            qmp = dst
            serial = g.serial
            life_start = time.time()
            here = dest
            counts["migrations"] += 1
            counts["to_real"] += dest == "R"
            settle(qmp, "round %d on %s" % (r_no, dest))
            exchange("round %d after, on %s" % (r_no, dest))
    except Exception:           # a QEMU that died under us: say which, how
        bad.append("round %d: %s" % (counts["rounds"], traceback.format_exc(
            limit=2).strip().splitlines()[-1]))
        for p in st.procs:
            if p.poll() is not None and p.returncode not in (0, -15, -9) \
                    and p not in refusers:
                bad.append("a QEMU exited %s: %s" % (p.returncode, " | ".join(
                    open(err).read()[-300:] for err in g.stderrs(p))))

    # the verdict
    rc, out = g.exchange(hs.path(here), rounds=20, watch=True)
    w = [l for l in out.splitlines() if l.startswith("watch:")]
    m.diag("counts: " + " ".join("%s %d" % kv for kv in counts.items()))
    m.diag(w[0] if w else out[-300:])
    for b in bad[:60]:
        m.diag(b)
    m.ok(counts["migrations"] >= 3 and counts["refused"] >= 1 and
         counts["cut"] >= 1 and counts["stopconts"] >= 3 and
         (not SNAPSHOTS or (counts["snapshots"] >= 1 and
                            counts["loads"] >= 1)),
         "%d rounds: %d live migrations (%d to the real host), %d refused and "
         "%d cut (source resumed), %d stop/cont, %d snapshots saved and %d "
         "loaded" % (
             counts["rounds"], counts["migrations"], counts["to_real"],
             counts["refused"], counts["cut"], counts["stopconts"],
             counts["snapshots"], counts["loads"]))
    m.ok(counts["kills"] >= 1 and counts["replaced"] == counts["kills"],
         "%d helper SIGKILLs, new pages shown after each (%d), status stale "
         "seen %d times" % (counts["kills"], counts["replaced"],
                            counts["stale_seen"]))
    m.ok(not bad, "no round went wrong (%d problems; exchanges %d, each guest "
         "REALTIME between the host's stamps)" % (len(bad), counts["exchanges"]))
    good = bool(w) and all((" %s 0 " % c) in w[0] for c in
                           ("MONOTONIC", "MONOTONIC_RAW", "BOOTTIME"))
    m.ok(good, "the guest's watcher saw 0 backward steps of MONOTONIC, "
         "MONOTONIC_RAW and BOOTTIME (REALTIME and TAI step back where "
         "a migration goes to a host whose clock is behind: B is 1.5 s "
         "ahead of A and R, and the simulated hosts' TAI is 37 s ahead)")
    m.ok(not hs.unasked, "no helper died unasked (%s)" % hs.unasked)
    for name in SIMS:
        good, what = flat(hs.stats[name])
        m.ok(good, "helper %s (current life) flat: %s" % (name, what))
    good, what = flat(qemu_stats)
    m.ok(good, "each successive QEMU, just before it migrates away (1 s or more into its life): %s" % what)
    g.exchange(hs.path(here), rounds=1, quit=True)


if __name__ == "__main__":
    sys.exit(main())
