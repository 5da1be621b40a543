#!/usr/bin/env python3
"""pvclock-helper --socket against a local user who connects and never
reads (TAP).

A descriptor sent with SCM_RIGHTS and not yet received is charged to the
sender's user (the kernel's unix_inflight), against its RLIMIT_NOFILE,
until the receiver reads it or closes its socket: the sender closing its
end does not release it.  Past the limit every sendmsg() with a
descriptor fails with ETOOMANYREFS.  So a user who opens more connections
than the helper's limit and never reads would make the helper refuse
everyone: no new QEMU realizes, none follows a helper restart.

The helper runs here as its own unprivileged user (as under systemd:
root would be exempt, CAP_SYS_RESOURCE) with RLIMIT_NOFILE 256; user
nobody opens 300 connections and never reads.  Then:

- a well-behaved client (another user) still gets the memfd, within 1 s;
- so does a third user;
- the flooding user got at most a bounded number of descriptors and a
  refusal (a closed connection, no message) for the rest;
- the helper's own descriptor count stays bounded;
- once the flooder closes its connections, its user is served again;
- a flooder that shuts its connections down (the helper sees them hang
  up) but keeps them open, message unread, is still counted, and the
  helper does not spin on them.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PVCLOCK_BUILD", os.path.join(ROOT, "build"))
HOST = os.environ.get("PVCLOCK_HOST_BUILD", os.path.join(BUILD, "host"))
HELPER = os.environ.get("PVCLOCK_HELPER", os.path.join(HOST, "pvclock-helper"))
HELPER_UID = 4242           # the helper's own user, as DynamicUser= gives it
FLOOD_UID = 65534           # nobody
OTHER_UID = 65533
NOFILE = 256
FLOOD = 300
PER_UID = 64                # HANDOFF_PER_UID in contrib/pvclock-helper/handoff.h

# the TAP output of the migration harness, as the other Python tests use
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402
from migrate import ok, diag  # noqa: E402


def receive(path, timeout=1.0):
    """(seconds taken, descriptor or -1, what went wrong)"""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        msg, fds, _, _ = socket.recv_fds(s, 64, 1)
    except OSError as e:
        return time.monotonic() - t0, -1, str(e)
    finally:
        s.close()
    took = time.monotonic() - t0
    if not fds:
        return took, -1, "no descriptor (%d bytes)" % len(msg)
    for fd in fds[1:]:
        os.close(fd)
    return took, fds[0], ""


# Runs as another user: connect COUNT times, never read, report how many
# connections hold a message (FIONREAD, which does not receive it) and
# how many were closed without one, then hold them until stdin closes.
FLOODER = r"""
import fcntl, os, socket, struct, sys, termios, time
path, count, shut = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "shut"
socks = []
for i in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        print("connect %d: %s" % (i, e), file=sys.stderr)
        break
    socks.append(s)
    if shut:
        time.sleep(0.002)
        s.shutdown(socket.SHUT_RDWR)
time.sleep(1.0)
held = refused = 0
for s in socks:
    pending = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0" * 4))[0]
    if pending:
        held += 1
    else:
        s.setblocking(False)
        try:
            refused += s.recv(1) == b""
        except BlockingIOError:
            pass
print(len(socks), held, refused, flush=True)
sys.stdin.read()
"""


def as_user(uid, argv, **kw):
    return subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                             "--clear-groups"] + argv, **kw)


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood(uid, path, count, how):
    p = as_user(uid, [sys.executable, "-c", FLOODER, path, str(count), how],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    return p, ((int(x) for x in line) if len(line) == 3 else (0, 0, 0))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def probe_as(uid, path):
    """Can user uid get a descriptor? (True/False, detail)"""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(%r)\n"
            "m, f, _, _ = socket.recv_fds(s, 64, 1)\n"
            "print('fd' if f else 'none %%d' %% len(m))\n" % path)
    p = as_user(uid, [sys.executable, "-c", code], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=10)
    return out.strip() == "fd", (out + err).strip()


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root to run the helper and the flooder as other users")
        return 0
    tmp = tempfile.mkdtemp(prefix="pvclock-flood-")
    os.chmod(tmp, 0o755)
    run = os.path.join(tmp, "run")
    os.mkdir(run)
    os.chown(run, HELPER_UID, HELPER_UID)
    sock_path = os.path.join(run, "pages.sock")
    log = open(os.path.join(tmp, "helper.log"), "w+")
    helper = as_user(HELPER_UID, ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE),
                                  HELPER, "--socket", sock_path],
                     stderr=log)
    flooder = None
    try:
        end = time.time() + 10
        while not os.path.exists(sock_path) and time.time() < end:
            time.sleep(0.02)
        took, fd, why = receive(sock_path, 2.0)
        ok(fd >= 0, "before the flood a client gets the memfd (%s)" % (why or "ok"))
        if fd >= 0:
            os.close(fd)
        hpid = helper.pid
        # setpriv and prlimit exec: the helper is this pid
        base = fd_count(hpid)

        flooder, (opened, held, refused) = flood(FLOOD_UID, sock_path, FLOOD, "keep")
        diag("flooder (uid %d): %d connections, %d hold a descriptor unread, "
             "%d closed without one" % (FLOOD_UID, opened, held, refused))
        ok(opened == FLOOD, "user nobody holds %d connections open, reading none" % opened)

        took, fd, why = receive(sock_path, 1.0)
        ok(fd >= 0 and took < 1.0,
           "during the flood a well-behaved client still gets the memfd within "
           "1 s (%.3f s%s)" % (took, ", " + why if why else ""))
        if fd >= 0:
            os.close(fd)
        got, detail = probe_as(OTHER_UID, sock_path)
        ok(got, "so does a third user (uid %d: %s)" % (OTHER_UID, detail))
        ok(held <= PER_UID and held + refused == opened,
           "the flooding user got a bounded number of descriptors (%d of %d) "
           "and a refusal for the rest (%d)" % (held, opened, refused))
        count = fd_count(hpid)
        ok(count <= base + PER_UID + 8,
           "the helper's descriptors stay bounded: %d (%d before the flood, "
           "RLIMIT_NOFILE %d)" % (count, base, NOFILE))

        flooder.stdin.close()
        flooder.wait(timeout=10)
        flooder = None
        got, detail = probe_as(FLOOD_UID, sock_path)
        ok(got, "once its connections are closed, user nobody is served again (%s)" %
           detail)

        flooder, (opened, held, refused) = flood(FLOOD_UID, sock_path, FLOOD, "shut")
        cpu0 = cpu_seconds(hpid)
        time.sleep(1.0)
        cpu = cpu_seconds(hpid) - cpu0
        took, fd, why = receive(sock_path, 1.0)
        ok(held <= PER_UID and held + refused == opened and fd >= 0,
           "connections shut down but kept, unread: still counted (%d held, %d "
           "refused), others served (%s)" % (held, refused, why or "ok"))
        if fd >= 0:
            os.close(fd)
        ok(cpu < 0.2, "and the helper does not spin on them (%.2f s CPU in 1 s)" % cpu)
        flooder.stdin.close()
        flooder.wait(timeout=10)
        flooder = None
        ok(helper.poll() is None, "the helper is still running")
    finally:
        if flooder and flooder.poll() is None:
            flooder.kill()
            flooder.wait()
        if helper.poll() is None:
            helper.terminate()
            helper.wait()
        log.flush()
        log.seek(0)
        text = log.read()
        diag("helper log:\n" + "\n".join(text.splitlines()[-8:]))
    print("1..%d" % m.n)
    return 1 if m.failed else 0


if __name__ == "__main__":
    sys.exit(main())
