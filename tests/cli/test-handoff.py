#!/usr/bin/env python3
"""pvclock-helper --socket: the pages memfd it hands out, and systemd's
file descriptor store across restarts (TAP).

The machine this runs on has no systemd as PID 1, so this test plays
systemd's documented part of the protocol itself (sd_notify(3) with
FDSTORE=1 and an SCM_RIGHTS descriptor, sd_listen_fds(3) with LISTEN_PID,
LISTEN_FDS and LISTEN_FDNAMES on restart), as the service manager does for
a unit with FileDescriptorStoreMax=1:

- a client gets a read-only descriptor of a memfd sealed against shrinking
  and growing (and further sealing); no truncation, no growth, no writable
  shared mapping, also not through a read-write reopen; the memfd is mode
  0444, so another user cannot reopen it read-write at all (a memfd is
  made 0777, and without this any client could write every guest's pages);
- the helper stores the memfd with "systemd"; after a SIGKILL, a restart
  handed the stored descriptor publishes into the same memfd (same inode),
  and a reader that kept its mapping across the restart (as QEMU does)
  sees no backward step of MONOTONIC and REALTIME inside the host's
  clock_gettime bracket before and after;
- without the stored descriptor a restart makes a new memfd (the control:
  the inode check can fail);
- QEMU with pages=SOCKET keeps the same pages across the restart
  (pages-replaced 0, status valid again).
"""
import array
import ctypes
import fcntl
import json
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PVCLOCK_BUILD", os.path.join(ROOT, "build"))
HOST = os.environ.get("PVCLOCK_HOST_BUILD", os.path.join(BUILD, "host"))
HELPER = os.path.join(HOST, "pvclock-helper")
QEMU = os.environ.get("QEMU", os.path.join(BUILD, "qemu/build/qemu-system-x86_64"))
PAGES = 16384
SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL

n = 0
failed = 0


def ok(cond, what):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what), flush=True)


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def receive(path, timeout=2.0):
    """The handoff: (header bytes, descriptor)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    msg, fds, _, _ = socket.recv_fds(s, 64, 1)
    s.close()
    return msg, fds[0] if fds else -1


def wait_for(cond, seconds=5.0):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class FakeSystemd:
    """The service manager's notify socket and file descriptor store."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.messages = []
        self.store = {}         # FDNAME -> descriptor
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 4096, 4)
            except socket.timeout:
                continue
            fields = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
            self.messages.append(fields)
            name = fields.get("FDNAME", "stored")
            if fields.get("FDSTOREREMOVE") == "1":
                old = self.store.pop(name, None)
                if old is not None:
                    os.close(old)
            if fields.get("FDSTORE") == "1":
                for fd in fds:
                    self.store[name] = fd
            else:
                for fd in fds:
                    os.close(fd)

    def ready_count(self):
        return sum(1 for m in self.messages if m.get("READY") == "1")

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def start_helper(sock_path, log, notify=None, stored=None):
    """Start the helper as systemd would: NOTIFY_SOCKET, and on a restart
    the stored memfd as descriptor 3 with LISTEN_* naming it."""
    env = dict(os.environ)
    env.pop("LISTEN_PID", None)
    pass_fds = ()
    cmd = [HELPER, "--socket", sock_path]
    if notify:
        env["NOTIFY_SOCKET"] = notify
    if stored is not None:
        pass_fds = (stored,)
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = "pvclock-pages"
        # the stored descriptor as fd 3; LISTEN_PID is the helper's own:
        # the shell's PID, which exec keeps
        cmd = ["sh", "-c", 'exec 3<&%d %d<&-; LISTEN_PID=$$ exec "$@"' %
               (stored, stored), "sh"] + cmd
    return subprocess.Popen(cmd, env=env, pass_fds=pass_fds, stderr=log)


class Reader:
    """libpvclock over the socket; keeps its mapping across restarts."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(os.path.join(HOST, "libpvclock.so"))
        self.lib.pvclock_open_host.argtypes = [ctypes.c_void_p,
                                               ctypes.c_char_p]
        self.lib.pvclock_gettime.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                             ctypes.c_void_p]
        self.pc = ctypes.c_void_p()     # the library's opaque handle
        self.rc = self.lib.pvclock_open_host(ctypes.byref(self.pc),
                                             path.encode())
        self.stop = False
        self.reads = self.errors = self.backward = self.outside = 0
        self.last = {}

    class TS(ctypes.Structure):
        _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]

    def read(self, clk):
        ts = Reader.TS()
        rc = self.lib.pvclock_gettime(self.pc, clk, ctypes.byref(ts))
        return rc, ts.sec * 10**9 + ts.nsec

    def run(self):
        while not self.stop:
            for clk in (time.CLOCK_MONOTONIC, time.CLOCK_REALTIME):
                before = time.clock_gettime_ns(clk)
                rc, t = self.read(clk)
                after = time.clock_gettime_ns(clk)
                self.reads += 1
                if rc != 0:
                    self.errors += 1
                    continue
                if t < self.last.get(clk, 0):
                    self.backward += 1
                self.last[clk] = t
                if clk == time.CLOCK_REALTIME and not before <= t <= after:
                    self.outside += 1


def qmp(sock, cmd, **args):
    sock.sendall((json.dumps({"execute": cmd, "arguments": args}) + "\n").encode())
    buf = b""
    while True:
        buf += sock.recv(65536)
        for line in buf.split(b"\n"):
            if line.strip():
                m = json.loads(line)
                if "return" in m or "error" in m:
                    return m
        buf = buf[buf.rfind(b"\n") + 1:]


def main():
    tmp = tempfile.mkdtemp(prefix="pvclock-handoff-")
    os.chmod(tmp, 0o755)        # the other user's probe must reach the socket
    sock_path = os.path.join(tmp, "run/pages.sock")
    log = open(os.path.join(tmp, "helper.log"), "w+")
    sd = FakeSystemd(os.path.join(tmp, "notify"))
    helper = start_helper(sock_path, log, notify=sd.path)
    qemu = None
    try:
        ok(wait_for(lambda: sd.ready_count() >= 1), "helper --socket: READY=1 once published")
        msg, fd = receive(sock_path)
        ok(len(msg) == 16 and int.from_bytes(msg[0:4], "little") == 0x44465650 and
           int.from_bytes(msg[8:12], "little") == PAGES and fd >= 0,
           "a client gets the pvcp_handoff header (PVFD, 16384 bytes) and a descriptor")
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        ok(seals & SEALS == SEALS, "the memfd is sealed: shrink, grow, seal (0x%x)" % seals)
        ok(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY,
           "the descriptor handed out is read-only")
        try:
            mmap.mmap(fd, PAGES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            wr = "mapped"
        except OSError as e:
            wr = e.errno
        ok(wr == 13, "a writable shared mapping of it is refused (EACCES: %s)" % wr)
        rw = os.open("/proc/self/fd/%d" % fd, os.O_RDWR)
        res = []
        for size in (0, 4096, 2 * PAGES):
            try:
                os.ftruncate(rw, size)
                res.append("allowed")
            except OSError as e:
                res.append(e.errno)
        ok(res == [1, 1, 1], "truncate to 0, shrink, grow: EPERM each, even through "
           "a read-write reopen (%s)" % res)
        os.close(rw)
        mode = os.fstat(fd).st_mode & 0o7777
        probe = ("import socket, os\n"
                 "s = socket.socket(socket.AF_UNIX); s.connect(%r)\n"
                 "fd = socket.recv_fds(s, 64, 1)[1][0]\n"
                 "try:\n"
                 "    os.open('/proc/self/fd/%%d' %% fd, os.O_RDWR); print('opened')\n"
                 "except OSError as e:\n"
                 "    print(e.errno)\n" % sock_path)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/usr/bin/python3", "-c", probe], capture_output=True, text=True)
        ok(mode == 0o444 and r.stdout.strip() == "13",
           "memfd mode 0%o: another user who got it cannot reopen it read-write "
           "(EACCES: %s%s)" % (mode, r.stdout.strip(), r.stderr.strip()))
        ino1 = os.fstat(fd).st_ino
        os.close(fd)
        stored = sd.store.get("pvclock-pages")
        ok(stored is not None and os.fstat(stored).st_ino == ino1,
           "FDSTORE=1 FDNAME=pvclock-pages: systemd holds the same memfd")

        # the same socket cannot be taken twice
        r = subprocess.run([HELPER, "--socket", sock_path, "--once"],
                           capture_output=True, text=True)
        ok(r.returncode == 3 and "another pvclock-helper serves" in r.stderr,
           "a second helper on the socket: exit 3, one line (%s)" % r.stderr.strip())

        # QEMU on the socket, and a host reader, across a SIGKILL restart
        qmp_path = os.path.join(tmp, "qmp")
        qemu = subprocess.Popen([QEMU, "-M", "pc", "-accel", "tcg", "-nodefaults",
                                 "-display", "none", "-S",
                                 "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
                                 "-device", "pvclock-pages,id=pvc,pages=" + sock_path],
                                stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(qmp_path))
        q = socket.socket(socket.AF_UNIX)
        q.connect(qmp_path)
        q.recv(65536)
        qmp(q, "qmp_capabilities")
        qmp(q, "cont")
        status = lambda: qmp(q, "qom-get", path="/machine/peripheral/pvc",
                             property="status").get("return")
        ok(wait_for(lambda: status() == "valid"), "QEMU pages=SOCKET: status valid")

        reader = Reader(sock_path)
        ok(reader.rc == 0, "libpvclock opens the socket (%d)" % reader.rc)
        t = threading.Thread(target=reader.run)
        t.start()
        time.sleep(0.3)
        helper.send_signal(signal.SIGKILL)
        helper.wait()
        time.sleep(0.3)
        helper = start_helper(sock_path, log, notify=sd.path, stored=stored)
        ok(wait_for(lambda: sd.ready_count() >= 2), "restart with the stored memfd: READY=1")
        time.sleep(1.5)
        reader.stop = True
        t.join()
        msg, fd = receive(sock_path)
        ino2 = os.fstat(fd).st_ino
        os.close(fd)
        log.flush()
        log.seek(0)
        text = log.read()
        ok(ino2 == ino1 and "publishing into the pages systemd kept" in text,
           "the restarted helper publishes into the same memfd (inode %d -> %d)" % (ino1, ino2))
        ok(reader.backward == 0 and reader.outside == 0 and reader.reads > 1000,
           "a reader across the restart: %d reads, %d backward, %d REALTIME outside "
           "the host bracket, %d errors (while no helper ran)" %
           (reader.reads, reader.backward, reader.outside, reader.errors))
        rc, _ = reader.read(time.CLOCK_MONOTONIC)
        ok(rc == 0, "and it reads again after the restart (%d)" % rc)
        ok(wait_for(lambda: status() == "valid") and
           qmp(q, "qom-get", path="/machine/peripheral/pvc",
               property="pages-replaced")["return"] == 0,
           "QEMU kept the same pages: status valid, pages-replaced 0")
        stores = sum(1 for m in sd.messages if m.get("FDSTORE") == "1")
        ok(stores == 1, "the memfd was stored once, not again on the restart (%d)" % stores)

        # the control: no stored descriptor, a new memfd
        helper.send_signal(signal.SIGKILL)
        helper.wait()
        helper = start_helper(sock_path, log, notify=sd.path)
        wait_for(lambda: sd.ready_count() >= 3)
        msg, fd = receive(sock_path)
        ino3 = os.fstat(fd).st_ino
        os.close(fd)
        ok(ino3 != ino1, "without the stored descriptor a restart makes a new memfd "
           "(inode %d -> %d): the check above can fail" % (ino1, ino3))
        ok(wait_for(lambda: qmp(q, "qom-get", path="/machine/peripheral/pvc",
                                property="pages-replaced")["return"] == 1, 10) and
           status() == "valid",
           "QEMU shows the new pages once the old are stale (pages-replaced 1)")
    finally:
        for p in (helper, qemu):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        sd.close()
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
