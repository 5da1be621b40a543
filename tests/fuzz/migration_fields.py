#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Structure-aware writer of the device's migration state.

A source QEMU saves its state to a file; the writer finds the
'pvclock-pages' section through the vmstate description QEMU appends to
the stream (each field's name and the bytes it took), rewrites chosen
fields to chosen values (0, 1, 2^62, 2^63, 2^64-2, 2^64-1, a REALTIME of
0 or decades ahead, ISR/IER bits no interrupt sets) and loads each
stream into a new QEMU (-incoming defer, migrate-incoming with
exit-on-error off).  Each load must end in one of two ways:

  refused   the migration fails, QEMU stays alive, and its error names
            the field;
  accepted  the VM runs with status valid, the generation grew past the
            stream's and stays below 2^63, it grows again at the next
            disruption (stop/cont), the guest's disruption count grew,
            and the guest's MONOTONIC continued from the stream's
            (within the wall time since the load, plus the downtime the
            policy adds).

Never a crash.  Each case states which outcome the device must give
(docs/reliability.md, "migration stream values").  With --random N it
also writes N streams with random fields set to random extremes, where
either outcome is fine but the rules above must hold.  Prints TAP.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402

NS = 10**9
DAY = 86400 * NS
MAX_DOWNTIME = 365 * DAY      # what downtime=include adds at most
M64 = (1 << 64) - 1
QEMU_VM_SECTION_FULL = 4
QEMU_VM_SUBSECTION = 5
QEMU_VM_VMDESCRIPTION = 6
FIELD_FMT = {1: ">B", 4: ">I", 8: ">Q"}

# the device's fields as the stream's description names them (the
# errors name them as docs/reliability.md does: mig_generation, ...)
ABI_MAJOR = "mig.abi_major"
GEN = "mig.generation"
HZ = "mig.guest_hz"
MONO = "mig.sample.mono_ns[%d]"
RT = "mig.sample.realtime_ns"
MONOTONIC = "mig.monotonic"
DOWNTIME = "mig.downtime"
DIS = "pvclock-pages/at-stop:mig.sample.disruptions"
GC = "pvclock-pages/at-stop:mig.sample.guest_counter"
FRZ = "pvclock-pages/at-stop:mig.sample.frozen"
ISR = "pvclock-pages/irq:irq.isr"
IER = "pvclock-pages/irq:irq.ier"


# ---- the stream ------------------------------------------------------------

def vmdesc(data):
    """The JSON description QEMU writes after the last section."""
    for p in range(len(data) - 5, 0, -1):
        if data[p] == QEMU_VM_VMDESCRIPTION and \
                p + 5 + struct.unpack_from(">I", data, p + 1)[0] == len(data):
            return json.loads(data[p + 5:])
    raise ValueError("no vmstate description at the end of the stream")


def layout(data):
    """{field name: (offset, size)} of every field of the device's
    section and subsections, from the description's sizes; a struct's
    fields (VMSTATE_STRUCT) as struct.field, besides the struct."""
    desc = next(d for d in vmdesc(data)["devices"]
                if d["vmsd_name"] == "pvclock-pages")
    idstr = desc["name"].encode()
    hdr = bytes([len(idstr)]) + idstr + \
        struct.pack(">II", desc["instance_id"], desc["version"])
    at = data.find(hdr)
    if at < 5 or data[at - 5] != QEMU_VM_SECTION_FULL:
        raise ValueError("section %s not found" % desc["name"])
    fields = {}
    o = at + len(hdr)

    def walk(flist, o, prefix=""):
        for f in flist:
            n = f.get("array_len", 1)
            for i in range(n):
                name = prefix + f["name"] + ("[%d]" % i if n > 1 else "")
                fields[name] = (o, f["size"])
                if "struct" in f:       # VMSTATE_STRUCT: its fields too
                    walk(f["struct"]["fields"], o, name + ".")
                o += f["size"]
        return o

    o = walk(desc["fields"], o)
    # the PCI device's config space: version_id (4 bytes), then config
    pci = fields["parent_obj"][0] + 4
    fields["pci:interrupt_pin"] = (pci + 0x3d, 1)
    for sub in desc.get("subsections", []):
        name = sub["vmsd_name"].encode()
        want = bytes([QEMU_VM_SUBSECTION, len(name)]) + name + \
            struct.pack(">I", sub["version"])
        if data[o:o + len(want)] != want:
            raise ValueError("subsection %s not where expected" % name)
        o = walk(sub["fields"], o + len(want), sub["vmsd_name"] + ":")
    return fields


def get(data, fields, name):
    off, size = fields[name]
    return struct.unpack_from(FIELD_FMT[size], data, off)[0]


def rewrite(data, fields, changes):
    d = bytearray(data)
    for name, value in changes.items():
        off, size = fields[name]
        struct.pack_into(FIELD_FMT[size], d, off, value & ((1 << 8 * size) - 1))
    return bytes(d)


# ---- loading one stream ------------------------------------------------------

class Dest:
    """A destination QEMU whose stderr goes to a file (read while it runs)."""
    def __init__(self, st, pages, extra, tmp, k):
        self.err = os.path.join(tmp, "dst%d.err" % k)
        sock = os.path.join(tmp, "dst%d.sock" % k)
        args = [m.QEMU, "-M", "pc", "-accel", m.ACCEL, "-nodefaults",
                "-display", "none", "-m", "64", "-device",
                "pvclock-pages,id=pvc,pages=" + pages + extra,
                "-qmp", "unix:%s,server=on,wait=off" % sock,
                "-incoming", "defer"]
        self.proc = subprocess.Popen(args, stderr=open(self.err, "w"))
        st.procs.append(self.proc)
        self.q = m.QMP(sock, self.proc)

    def stderr(self):
        return open(self.err).read()

    def load(self, path):
        r = self.q.cmd("migrate-incoming", uri="file:" + path,
                       **{"exit-on-error": False})
        if "error" in r:
            return "failed", r["error"]["desc"]
        for _ in range(400):
            if self.proc.poll() is not None:
                return "died", "exit status %s" % self.proc.returncode
            r = self.q.cmd("query-migrate")["return"]
            if r.get("status") in ("completed", "failed"):
                return r["status"], r.get("error-desc", "")
            time.sleep(0.025)
        return "timeout", ""

    def close(self):
        if self.proc.poll() is None:
            try:
                self.q.cmd("quit")
                self.proc.wait(10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def check_accepted(q, orig, fields, changes, include, t_load):
    """The ABI's promises after an accepted load; a list of what broke."""
    bad = []
    stream_gen = changes.get(GEN, get(orig, fields, GEN))
    stream_dis = changes.get(DIS, get(orig, fields, DIS))
    stream_rt = changes.get(RT, get(orig, fields, RT))
    if not q.wait_running():
        return ["the VM did not start after the load"]
    try:
        g, hp, op = m.guest_now(q)
    except AssertionError as e:
        return ["no usable pages after the load: %s" % e]
    elapsed = time.time_ns() - t_load
    gen = m.u64(op, 0x10)
    if m.u32(op, 0x0c) != 1:
        bad.append("status %d, not valid" % m.u32(op, 0x0c))
    if not stream_gen < gen < 1 << 63:
        bad.append("generation %d: not above the stream's %d and below "
                   "2^63" % (gen, stream_gen))
    if m.disruptions(hp, op) & M64 <= max(stream_dis, stream_gen):
        bad.append("disruption count %d not above the stream's %d" %
                   (m.disruptions(hp, op) & M64, max(stream_dis, stream_gen)))
    # the downtime include adds: this host's REALTIME minus the stream's
    # when that is in the device's window (0 .. 1 year), else none
    real = m.host_clocks(hp, m.tsc())["realtime"]
    downtime = real - stream_rt if include and \
        0 <= real - stream_rt <= MAX_DOWNTIME else None
    for i, clk in enumerate(m.MONO):
        want = changes.get(MONO % i, get(orig, fields, MONO % i))
        want -= (want >> 63) << 64             # signed
        d = g[clk] - want
        if downtime is None and not 0 <= d <= elapsed + NS // 2 or \
                downtime is not None and abs(d - downtime) > NS // 2:
            bad.append("%s %d ns from the stream's %d (%.3g s; wall time "
                       "since the load %.3f s%s)" %
                       (clk, d, want, d / NS, elapsed / NS,
                        "" if downtime is None else
                        ", downtime to add %.3f s" % (downtime / NS)))
    # the next disruption: the generation grows again, the clocks go on
    q.cmd("stop")
    q.cmd("cont")
    g2, hp2, op2 = m.guest_now(q)
    gen2 = m.u64(op2, 0x10)
    if not gen < gen2 < 1 << 63:
        bad.append("after stop/cont generation %d -> %d" % (gen, gen2))
    if m.disruptions(hp2, op2) & M64 <= m.disruptions(hp, op) & M64:
        bad.append("after stop/cont the disruption count did not grow")
    if g2["monotonic"] < g["monotonic"]:
        bad.append("after stop/cont MONOTONIC went back %d ns" %
                   (g["monotonic"] - g2["monotonic"]))
    return bad


def run_case(st, tmp, pages, orig, fields, k, name, changes, expect,
             include, words):
    """Load orig with changes; expect 'refused', 'accepted' or 'either'."""
    path = os.path.join(tmp, "case%d" % k)
    open(path, "wb").write(rewrite(orig, fields, changes))
    dst = Dest(st, pages, ",downtime=include" if include else "", tmp, k)
    t_load = time.time_ns()
    status, desc = dst.load(path)
    alive = dst.proc.poll() is None
    err = dst.stderr()
    why = []
    if status == "completed":
        outcome = "accepted"
        why = check_accepted(dst.q, orig, fields, changes, include, t_load)
    elif status == "failed" and alive:
        outcome = "refused"
        if not any(w in err for w in words):
            why.append("the error does not name the field (%s): %s" %
                       (" or ".join(words), err.strip()[-300:]))
        dst.q.cmd("query-status")       # still answers
    else:
        outcome = "crash" if not alive else status
        why.append("QEMU %s: %s %s" % (status, desc, err.strip()[-300:]))
    dst.close()
    good = not why and (expect == "either" or outcome == expect)
    m.ok(good, "%s: %s (expected %s)%s" %
         (name, outcome, expect, "" if good or not why else ": " + "; ".join(why)))
    if not good and outcome != expect and not why:
        m.diag("stderr: " + err.strip()[-400:])
    return outcome


def save(st, tmp, pages, include):
    src = st.qemu(pages, extra=",downtime=include" if include else "")
    time.sleep(0.3)
    path = os.path.join(tmp, "state-%s" % ("include" if include else "exclude"))
    src.cmd("migrate", uri="file:" + path)
    r = src.wait_migration()
    assert r["status"] == "completed", r
    src.cmd("quit")
    data = open(path, "rb").read()
    return data, layout(data)


# name, changes, expected outcome, words the error names, downtime=include
def cases(now_rt):
    out = []
    for v, e in ((0, "accepted"), (1, "accepted"), ((1 << 62) - 2, "accepted"),
                 (1 << 62, "refused"), (1 << 63, "refused"),
                 (M64 - 1, "refused"), (M64, "refused")):
        out.append(("generation %#x" % v, {GEN: v, DIS: max(v, 1)}, e,
                    ["mig_generation"], False))
    for v, e in ((0, "accepted"), ((1 << 62) - 2, "accepted"),
                 (1 << 62, "refused"), (M64 - 1, "refused"), (M64, "refused")):
        out.append(("disruptions %#x" % v, {DIS: v}, e,
                    ["mig_disruptions"], False))
    for i in range(3):
        # signed: a guest's clocks may start below 0 (pages behind the
        # host's clock_gettime() at realize)
        for v, e in ((0, "accepted"), ((1 << 62) - 1, "accepted"),
                     (1 << 62, "refused"), (1 << 63, "refused"),
                     (M64 - (1 << 62) + 1, "refused"),
                     (M64 - 1000 * NS + 1, "accepted"), (M64, "accepted")):
            out.append(("mono_ns[%d] %#x" % (i, v), {MONO % i: v},
                        e, ["mig_mono_ns"], False))
    # downtime=include: a REALTIME outside the window is no downtime at all
    for label, v in (("0", 0), ("1", 1), ("now - 2 years", now_rt - 730 * DAY),
                     ("now + 2 days", now_rt + 2 * DAY),
                     ("now + 30 years", now_rt + 30 * 365 * DAY),
                     ("2^63", 1 << 63), ("2^64-1", M64)):
        out.append(("include, realtime_ns %s" % label, {RT: v}, "accepted",
                    [], True))
    for label, v in (("now - 1 h", now_rt - 3600 * NS),
                     ("now - 300 days", now_rt - 300 * DAY)):
        out.append(("include, realtime_ns %s" % label, {RT: v}, "accepted",
                    [], True))
    out.append(("exclude, realtime_ns 0", {RT: 0}, "accepted", [], False))
    # where the guest counter stood still: any value is a counter value,
    # but one far from where the destination's counter resumes is no
    # sample of this guest's stop
    for v in (0, 1 << 63, M64):
        out.append(("frozen 1, guest_counter %#x" % v, {FRZ: 1, GC: v},
                    "accepted", [], False))
    for v, e in ((0, "accepted"), (3000000000, "accepted"),
                 (1 << 40, "accepted"), ((1 << 40) + 1, "refused"),
                 (M64, "refused")):
        out.append(("guest_hz %#x" % v, {HZ: v}, e,
                    ["mig_guest_hz"], False))
    for f, k, v in (("mig_monotonic", MONOTONIC, 2),
                    ("mig_downtime", DOWNTIME, 0xffffffff)):
        out.append(("%s %#x" % (f, v), {k: v}, "refused", [f], False))
    for v in (2, 0xff):
        out.append(("frozen %d" % v, {FRZ: v}, "refused", ["mig_frozen"], False))
    for v in (2, 0x80000000, 0xffffffff):
        out.append(("irq_isr %#x" % v, {ISR: v}, "refused", ["irq_isr"], False))
        out.append(("irq_ier %#x" % v, {IER: v}, "refused", ["irq_ier"], False))
    for v in (1,):
        out.append(("irq_isr %#x with IER set" % v, {ISR: v, IER: 1},
                    "accepted", [], False))
    # the PCI config's interrupt pin: INTA (1) is this device's; another
    # made pci_set_irq() assert at the next interrupt
    for v in (0, 2, 50):
        out.append(("PCI interrupt pin %d" % v, {"pci:interrupt_pin": v},
                    "refused", ["interrupt pin"], False))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--random", type=int, default=0, metavar="N")
    ap.add_argument("--only", default="", help="cases whose name has this")
    a = ap.parse_args()
    rng = random.Random(int(os.environ.get("PVCLOCK_SEED", "1")))
    with tempfile.TemporaryDirectory(prefix="pvclock-migfields-") as tmp:
        st = m.Setup(tmp)
        try:
            pages = st.helper("host", "tsc_hz=2500000000")
            streams = {inc: save(st, tmp, pages, inc) for inc in (False, True)}
            orig, fields = streams[False]
            m.diag("device section fields: " + ", ".join(
                "%s@%d" % (k, v[0]) for k, v in fields.items()
                if "parent_obj" not in k))
            m.ok(get(orig, fields, ABI_MAJOR) == 1 and
                 get(orig, fields, DOWNTIME) == 0 and
                 get(streams[True][0], streams[True][1], DOWNTIME) == 1,
                 "the writer finds the device's fields in a saved stream "
                 "(ABI major 1, downtime 0 and 1 where they were saved)")
            now_rt = time.time_ns()
            k = 0
            for name, ch, expect, words, inc in cases(now_rt):
                if a.only and a.only not in name:
                    continue
                k += 1
                orig, fields = streams[inc]
                run_case(st, tmp, pages, orig, fields, k, name, ch, expect,
                         inc, words)
            names = [n for n in fields if "parent_obj" not in n and
                     not n.startswith("pvclock-pages/irq:parent") and
                     fields[n][1] in FIELD_FMT]
            extremes = (0, 1, 2, 1 << 31, 1 << 32, 1 << 62, 1 << 63,
                        M64 - 1, M64)
            for r in range(a.random):
                inc = rng.random() < 0.5
                orig, fields = streams[inc]
                ch = {n: rng.choice(extremes)
                      for n in rng.sample(names, rng.randint(1, 3))}
                k += 1
                run_case(st, tmp, pages, orig, fields, k, "random %d: %s" %
                         (r, ", ".join("%s=%#x" % x for x in ch.items())),
                         ch, "either", inc,
                         ["mig_", "irq_", "ABI", "monotonic="])
        finally:
            st.close()
    print("1..%d" % m.n)
    return 1 if m.failed else 0


if __name__ == "__main__":
    sys.exit(main())
