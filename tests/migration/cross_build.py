#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration between two builds of the device, both ways (TAP).

    tests/migration/cross_build.py OTHER-QEMU [THIS-QEMU]

A change to how the device describes its migration state (field names,
VMSTATE_STRUCT instead of single fields) must leave the byte stream as
it was: a guest migrates from a QEMU built before the change to one
built after it and back.  Each direction: the source runs on simulated
host pages, is stopped (so the at-stop sample is the one sent), migrates
over TCP, and the destination must complete the load, run with status
valid, a generation above the source's, and the guest's MONOTONIC
continuing from the source's (not back, not more than the wall time
since).  THIS-QEMU defaults to the build's, whose firmware both use.
"""
import os
import sys
import tempfile
import time

import migrate as m

NS = 10**9
# firmware for a binary away from its build tree: this build's
BIOS = ["-L", os.path.join(os.path.dirname(m.QEMU), "qemu-bundle", "usr",
                          "local", "share", "qemu")]


def one_way(st, pages, src_qemu, dst_qemu, port, label):
    m.QEMU = src_qemu
    src = st.qemu(pages, args_extra=BIOS)
    time.sleep(0.3)
    before, _, op = m.guest_now(src)
    gen = m.u64(op, 0x10)
    src.cmd("stop")
    t0 = time.time_ns()
    m.QEMU = dst_qemu
    dst = st.qemu(pages, incoming="tcp:127.0.0.1:%d" % port,
                  args_extra=BIOS)
    time.sleep(0.5)
    r = m.migrate(src, dst, "tcp:127.0.0.1:%d" % port)
    m.ok(r.get("status") == "completed", "%s: migration completed (%s)" %
         (label, r.get("status") if r.get("status") == "completed"
          else r))
    if r.get("status") != "completed":
        return
    dst.cmd("cont")
    m.ok(dst.wait_running(), "%s: the destination runs" % label)
    after, _, op2 = m.guest_now(dst)
    elapsed = time.time_ns() - t0
    m.ok(m.u32(op2, 0x0c) == 1 and m.u64(op2, 0x10) > gen,
         "%s: status valid (%d), generation %d above the source's %d" %
         (label, m.u32(op2, 0x0c), m.u64(op2, 0x10), gen))
    d = after["monotonic"] - before["monotonic"]
    m.ok(0 <= d <= elapsed + NS // 2,
         "%s: MONOTONIC continues (+%.3f s, wall time since the stop "
         "%.3f s)" % (label, d / NS, elapsed / NS))
    for q in (src, dst):
        q.cmd("quit")


def main():
    if len(sys.argv) < 2:
        print(__doc__.split("\n\n")[1])
        return 2
    other = sys.argv[1]
    this = sys.argv[2] if len(sys.argv) > 2 else m.QEMU
    with tempfile.TemporaryDirectory(prefix="pvclock-xbuild-") as tmp:
        st = m.Setup(tmp)
        try:
            pages = st.helper("host", "tsc_hz=2500000000")
            one_way(st, pages, other, this, 47611, "other -> this build")
            one_way(st, pages, this, other, 47612, "this -> other build")
        finally:
            st.close()
    print("1..%d" % m.n)
    return 1 if m.failed else 0


if __name__ == "__main__":
    sys.exit(main())
