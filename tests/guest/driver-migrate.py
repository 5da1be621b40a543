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
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m             # noqa: E402  its QMP client

PAUSED_S = 5


def say(msg):
    print("migrate: " + msg, flush=True)


def main():
    src_path, dst_path, uri, console = sys.argv[1:5]
    src = m.QMP(src_path, tries=1200)      # 60 s: a loaded host is slow
    dst = m.QMP(dst_path, tries=1200)
    say("source interrupts-raised %s before, destination status %s" %
        (src.qom('interrupts-raised', dev='pvc0'), dst.status()))
    src.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 30})
    t0 = time.time()
    r = src.cmd("migrate", uri=uri)
    if "error" in r:
        say("refused: %s" % r["error"]["desc"])
        return 1
    st = src.wait_migration(timeout=180)
    say("%s in %.1f s (downtime %s ms), source %s" %
        (st.get("status"), time.time() - t0, st.get("downtime"), src.status()))
    if st.get("status") != "completed":
        say("error: %s" % st.get("error-desc"))
        return 1
    for _ in range(100):
        if dst.status() != "inmigrate":
            break
        time.sleep(0.1)
    before = dst.qom('interrupts-raised', dev='pvc0')
    time.sleep(PAUSED_S)
    say("destination %s: interrupts-raised %s, after %d s paused %s" %
        (dst.status(), before, PAUSED_S, dst.qom('interrupts-raised', dev='pvc0')))
    dst.cmd("cont")
    say("cont: destination %s" % dst.status())
    end = time.time() + 180
    while time.time() < end:
        with open(console, errors="replace") as f:
            if any(line.startswith("driver: migrate: ") for line in f):
                break
        time.sleep(0.2)
    say("destination after the guest's window: interrupts-raised %s" %
        dst.qom('interrupts-raised', dev='pvc0'))
    try:
        src.cmd("quit")
    except (OSError, ValueError):
        pass                    # gone before it answered
    return 0


if __name__ == "__main__":
    sys.exit(main())
