#!/usr/bin/env python3
"""Damage the helper's pages under a running guest (the host side of
tests/guest/test-damage.sh, run by boot.sh once the guest serves).

The pages are pvclock-helper --socket's sealed memfd, reached read-write
as root can, through /proc/PID/fd of the helper.  This tries to truncate
and grow it (the kernel must refuse), and zeroes and scribbles on it
while QEMU maps it and the guest's watcher reads all five clocks, then
prints one "damage:" line per measurement for the test to check.  The
guest's own verdict comes from pvclock-exchange --watch afterwards.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "migration"))
from migrate import QMP  # noqa: E402


class Alive:
    """QMP wants a process to poll; QEMU is boot.sh's."""
    stderr = None

    def poll(self):
        return None


def wait_for(qmp, prop, want, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if qmp.qom(prop) == want:
            return True
        time.sleep(0.05)
    return False


def helper_memfd(pid):
    """/proc path of the helper's pages memfd."""
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, name)).startswith("/memfd:pvclock-pages"):
                return os.path.join(d, name)
        except OSError:
            pass
    raise SystemExit("damage: no pvclock-pages memfd in " + d)


def write_at(path, offset, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qmp", required=True)
    ap.add_argument("--helper-pid", type=int, required=True)
    ap.add_argument("--exchange", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    qmp = QMP(a.qmp, Alive())
    size = 4 * 4096

    def report(key, value):
        print("damage: %s %s" % (key, value), flush=True)

    report("status-before", qmp.qom("status"))

    pages = helper_memfd(a.helper_pid)

    # truncated to nothing, shrunk, grown: the seals refuse each, so no
    # mapping of the pages (QEMU's, the guest's) can ever turn short
    refused = 0
    fd = os.open(pages, os.O_RDWR)
    for length in [0, 4096, 2 * size] * a.rounds:
        try:
            os.ftruncate(fd, length)
        except PermissionError:
            refused += 1
    try:
        os.posix_fallocate(fd, 0, 2 * size)
    except OSError:
        refused += 1
    os.close(fd)
    report("resizes-refused", "%d/%d" % (refused, 3 * a.rounds + 1))
    report("status-after-resizes", qmp.qom("status"))

    # the helper stopped: only the device stands between the guest and
    # zeroed pages
    os.kill(a.helper_pid, signal.SIGSTOP)
    write_at(pages, 0, bytes(size))
    seen = wait_for(qmp, "status", "no-helper", 5)
    report("status-while-zeroed", "no-helper" if seen else qmp.qom("status"))
    os.kill(a.helper_pid, signal.SIGCONT)
    report("status-after-repair", "valid" if wait_for(qmp, "status", "valid", 5) else qmp.qom("status"))

    # zeros and random bytes over the whole file, the helper running
    for _ in range(a.rounds):
        write_at(pages, 0, bytes(size))
        time.sleep(0.1)
        write_at(pages, 0, os.urandom(size))
        time.sleep(0.1)
    report("status-after-scribbles", "valid" if wait_for(qmp, "status", "valid", 5) else qmp.qom("status"))

    # the clock lines and bases of page 0 overwritten, header and seq
    # kept: only the check words can tell (ABI 1.2)
    lines_at, lines_len = 0x48, 0x80
    for _ in range(a.rounds):
        write_at(pages, lines_at, os.urandom(lines_len))
        time.sleep(0.1)
    os.kill(a.helper_pid, signal.SIGSTOP)
    write_at(pages, lines_at, os.urandom(lines_len))
    seen = wait_for(qmp, "status", "no-helper", 5)
    report("status-while-lines-scribbled", "no-helper" if seen else qmp.qom("status"))
    time.sleep(0.5)
    os.kill(a.helper_pid, signal.SIGCONT)
    report("status-after-line-scribbles", "valid" if wait_for(qmp, "status", "valid", 5) else qmp.qom("status"))

    # the guest must agree with the host again, and its watcher must have
    # seen errors, never a step back
    time.sleep(0.5)
    r = subprocess.run([a.exchange, "--rounds", "100", "--watch"],
                       capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stdout.flush()
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
