#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Mutation fuzzer for the device's migration state.  One valid stream is
saved to a file; each round flips 1-8 random bytes of the pvclock-pages
section (header or payload) and loads it into a new QEMU with
migrate-incoming.  QEMU must never crash (a signal, an assertion): it may
refuse the stream with an error, or accept it and then report a status
through the device's QOM properties.  Usage: fuzz_migration.py [ROUNDS]
Last line: a summary."""
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rng = random.Random(int(os.environ.get("PVCLOCK_SEED", "1")))
    with tempfile.TemporaryDirectory(prefix="pvclock-fuzzmig-") as tmp:
        st = m.Setup(tmp)
        try:
            pages = st.helper("host", "tsc_hz=2500000000")
            src = st.qemu(pages)
            state = os.path.join(tmp, "state")
            src.cmd("migrate", uri="file:" + state)
            src.wait_migration()
            data = open(state, "rb").read()
            at = data.find(b"/pvclock-pages")
            start = at
            while start > 0 and data[start - 1] != at + 14 - start:
                start -= 1
            lo, hi = start - 6, at + 14 + 8 + 400     # header .. payload
            refused = accepted = crashes = 0
            for r in range(rounds):
                d = bytearray(data)
                for _ in range(rng.randint(1, 8)):
                    d[rng.randrange(lo, min(hi, len(d)))] = rng.randrange(256)
                f = os.path.join(tmp, "mut")
                open(f, "wb").write(d)
                q = st.qemu(pages, incoming="defer")
                q.cmd("migrate-incoming", uri="file:" + f)
                status = "none"
                for _ in range(200):
                    if q.proc.poll() is not None:
                        break
                    try:
                        status = q.cmd("query-migrate")["return"].get("status", "none")
                    except Exception:
                        break
                    if status in ("completed", "failed"):
                        break
                    time.sleep(0.02)
                outcome = "refused"
                if q.proc.poll() is None:
                    try:
                        if status == "completed":
                            outcome = "accepted"
                            q.qom("status")          # still answers
                        q.cmd("quit")
                    except (OSError, ValueError):
                        pass                         # it exited meanwhile
                    try:
                        q.proc.wait(10)
                    except subprocess.TimeoutExpired:
                        q.proc.kill()
                        q.proc.wait()
                rc = q.proc.returncode
                err = q.proc.stderr.read().decode(errors="replace")
                if rc < 0 and rc != -9 or "Assertion" in err or \
                        "Segmentation" in err or "Sanitizer" in err:
                    outcome = "crash"
                    keep = os.path.join(m.BUILD, "fuzz", "crashes",
                                        "migration-%d" % r)
                    os.makedirs(os.path.dirname(keep), exist_ok=True)
                    open(keep, "wb").write(d)
                    print("round %d: QEMU died (%s): %s" % (r, rc, err.strip()[-200:]))
                if outcome == "crash":
                    crashes += 1
                elif outcome == "accepted":
                    accepted += 1
                else:
                    refused += 1
        finally:
            st.close()
    print("%d mutated streams: %d refused cleanly, %d accepted, %d crashes"
          % (rounds, refused, accepted, crashes))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
