#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of tests/guest/test-driver.sh's migration of the irq guest.

    driver-migrate.py SRC-QMP DST-QMP URI DST-CONSOLE

Migrates the running source (QMP socket SRC-QMP) to a destination started
with -incoming URI -S (DST-QMP), checks that the destination's device
raises nothing while it is kept paused, lets it run ('cont'), then waits
for the guest's "driver: migrate:" line on DST-CONSOLE and reports the
device's own interrupt count there.  One "migrate: " line per finding;
exit status 0 when the migration completed, 1 otherwise.
"""
import json
import os
import socket
import sys
import time

PAUSED_S = 3


class QMP:
    def __init__(self, path, timeout=60):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > end:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" not in r:
                return r

    def raised(self):
        r = self.cmd("qom-get", path="/machine/peripheral/pvc0",
                     property="interrupts-raised")
        return r.get("return", r.get("error"))

    def status(self):
        return self.cmd("query-status")["return"]["status"]


def say(msg):
    print("migrate: " + msg, flush=True)


def main():
    src_path, dst_path, uri, console = sys.argv[1:5]
    src = QMP(src_path)
    dst = QMP(dst_path)
    say("source interrupts-raised %s before, destination status %s" %
        (src.raised(), dst.status()))
    src.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 30})
    t0 = time.time()
    r = src.cmd("migrate", uri=uri)
    if "error" in r:
        say("refused: %s" % r["error"]["desc"])
        return 1
    st = {}
    while time.time() - t0 < 180:
        st = src.cmd("query-migrate")["return"]
        if st.get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    say("%s in %.1f s (downtime %s ms), source %s" %
        (st.get("status"), time.time() - t0, st.get("downtime"), src.status()))
    if st.get("status") != "completed":
        say("error: %s" % st.get("error-desc"))
        return 1
    for _ in range(100):
        if dst.status() != "inmigrate":
            break
        time.sleep(0.1)
    before = dst.raised()
    time.sleep(PAUSED_S)
    say("destination %s: interrupts-raised %s, after %d s paused %s" %
        (dst.status(), before, PAUSED_S, dst.raised()))
    dst.cmd("cont")
    say("cont: destination %s" % dst.status())
    end = time.time() + 180
    while time.time() < end:
        with open(console, errors="replace") as f:
            if any(line.startswith("driver: migrate: ") for line in f):
                break
        time.sleep(0.2)
    say("destination after the guest's window: interrupts-raised %s" %
        dst.raised())
    try:
        src.cmd("quit")
    except (OSError, ValueError):
        pass                    # gone before it answered
    return 0


if __name__ == "__main__":
    sys.exit(main())
