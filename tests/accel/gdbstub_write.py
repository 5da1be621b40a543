#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's writers that ignore read-only regions, against the BAR's pages.

The host pages (a read-only mapping of the helper's memfd) and the live
page (the kernel's read-only vDSO data page) are shown in BAR0 without a
copy.  A debug write goes past the read-only flag QEMU keeps for guests
(memory_access_is_direct() lets debug accesses write to ROM): QEMU's
gdbstub, asked by gdb's remote protocol to write memory ('M' packet),
would memcpy into the read-only mapping and die of SIGSEGV.

This starts a TCG VM with the device and its gdbstub on a unix socket,
waits for the firmware to place BAR0, and speaks the GDB remote serial
protocol: '$M<addr>,<len>:<hex>#<checksum>' at host page 0's magic, at
host page 3, and at the live page.  QEMU must answer (OK or an error),
stay alive, and the pages must not change.  Prints TAP.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402

PATTERN = bytes.fromhex("0df0feca efbeadde".replace(" ", ""))


class Gdb:
    """The few packets of the GDB remote serial protocol needed here."""
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        for i in range(100):
            try:
                self.s.connect(path)
                break
            except OSError:
                if i == 99:
                    raise
                time.sleep(0.05)
        self.s.settimeout(10)
        self.buf = b""

    def packet(self, body):
        """Send one packet, return the reply's body (None: no reply)."""
        cs = sum(body.encode()) & 0xff
        self.s.sendall(b"$%s#%02x" % (body.encode(), cs))
        while True:
            at = self.buf.find(b"$")
            end = self.buf.find(b"#", at)
            if at >= 0 and end >= 0 and len(self.buf) >= end + 3:
                reply = self.buf[at + 1:end].decode()
                self.buf = self.buf[end + 3:]
                self.s.sendall(b"+")
                return reply
            try:
                data = self.s.recv(4096)
            except (OSError, socket.timeout):
                return None
            if not data:
                return None
            self.buf += data


def main():
    return m.with_setup("pvclock-gdbstub-", run)


def start(st, tmp, pages, k):
    """A VM with the device and its gdbstub; its QMP, BAR0 and gdb socket."""
    gdb_sock = os.path.join(tmp, "gdb%d.sock" % k)
    q = st.qemu(pages, args_extra=["-gdb", "unix:%s,server=on,wait=off"
                                   % gdb_sock])
    for _ in range(200):
        bar = q.bar0()
        if bar and bar > 0:
            return q, bar, gdb_sock
        time.sleep(0.05)
    return q, None, gdb_sock


def write_one(st, tmp, pages, k, name, offset):
    """One VM, one 'M' packet at BAR0 + offset."""
    q, bar, gdb_sock = start(st, tmp, pages, k)
    if not m.ok(bar, "%s: the firmware placed BAR0" % name):
        return
    addr = bar + offset
    before = q.read(addr, 8)
    g = Gdb(gdb_sock)
    reply = g.packet("M%x,%x:%s" % (addr, len(PATTERN), PATTERN.hex()))
    try:
        after = q.read(addr, 8)
    except (OSError, ValueError):
        after = b""
    time.sleep(0.1)
    alive = q.proc.poll() is None
    m.ok(alive and reply is not None and
         (reply == "OK" or reply.startswith("E")) and after != PATTERN and
         (offset < 0x5000 and after == before or offset >= 0x5000 and after),
         "gdbstub 'M' at %s (%#x): reply %r, QEMU %s, bytes %s -> %s" %
         (name, addr, reply, "alive" if alive else
          "died (exit status %s%s)" % (q.proc.poll(), ", SIGSEGV"
                                       if q.proc.poll() == -11 else ""),
          before.hex(), after.hex() if after else "-"))
    if alive:
        m.ok(q.status() in ("paused", "running", "debug"),
             "%s: QEMU still answers QMP (%s)" % (name, q.status()))
        q.cmd("quit")


def run(st, tmp):
    pages = st.helper("host", "tsc_hz=2500000000")
    q, _, _ = start(st, tmp, pages, 0)
    live = q.qom("live-page-status") or ""
    q.cmd("quit")
    m.diag("live page: " + live)
    write_one(st, tmp, pages, 1, "host page 0's magic", 0)
    write_one(st, tmp, pages, 2, "host page 3", 3 * 4096 + 0x100)
    if live.startswith("not mapped"):
        m.skip("gdbstub 'M' at the live page", "not mapped here: " + live)
    else:
        write_one(st, tmp, pages, 3, "the live page", 0x5000 + 0x80)


if __name__ == "__main__":
    sys.exit(main())
