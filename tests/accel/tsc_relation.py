#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest counter relation of -device pvclock-pages, checked from the
guest's side, per accelerator (TCG, and KVM where /dev/kvm works).

A 64 KiB firmware image (hand-assembled below) executes RDTSC at the
reset vector and writes the 8 bytes to the isa-debugcon port.  The host
reads its own TSC just before 'cont' and just after the bytes arrive; the
device's relation (QOM counter-offset, as published in the offset page)
must map the guest's reading into that bracket.  A wrong or estimated
relation lands far outside it.  Under TCG, a stop/cont must move the
relation and bump the generation; both accelerators must say 'valid'.
Prints TAP.
"""
import contextlib
import os
import subprocess
import sys
import tempfile
import time

# the QMP client, TAP output and host TSC reader of the migration harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "migration"))
import migrate as m  # noqa: E402
from migrate import ok, diag, tsc  # noqa: E402

WRMSR_VALUE = 0x10000000
# Linux's own KVM (tests/kvm/nested.sh runs this inside a TCG guest with
# SVM); elsewhere /dev/kvm may be a paravirtual KVM that keeps the guest
# TSC equal to the host's and ignores a guest's TSC write
REAL_KVM = bool(os.environ.get("PVCLOCK_IN_L1"))


def firmware(write_tsc=False):
    code = b""
    if write_tsc:
        # set the guest TSC (as an OS might), say 'W', then wait for three
        # RTC second changes (> 2 s: the device's watch runs at 1 Hz)
        code += bytes.fromhex("66b910000000"      # mov ecx, 0x10
                              "6631d2"            # xor edx, edx
                              "66b8") + WRMSR_VALUE.to_bytes(4, "little")
        code += bytes.fromhex("0f30"              # wrmsr
                              "bae900" "b057" "ee"  # mov dx,0xe9; 'W'; out
                              "b703"              # mov bh, 3
                              "b000e670e47188c3")  # bl = RTC seconds
        wait = len(code)
        code += bytes.fromhex("b000e670e471" "38d8")   # al = RTC sec; cmp
        code += bytes([0x74, (wait - (len(code) + 2)) & 0xff])   # je wait
        code += bytes.fromhex("88c3" "fecf")    # mov bl, al; dec bh
        code += bytes([0x75, (wait - (len(code) + 2)) & 0xff])   # jnz wait
    code += bytes.fromhex(
        "0f31"          # rdtsc
        "6689c3"        # mov ebx, eax
        "6689d1"        # mov ecx, edx
        "bae900")       # mov dx, 0xe9
    out_ebx = bytes.fromhex("88d8ee" "66c1eb08")   # mov al,bl; out; shr ebx,8
    out_ecx = bytes.fromhex("88c8ee" "66c1e908")   # mov al,cl; out; shr ecx,8
    code += out_ebx * 4 + out_ecx * 4
    code += bytes.fromhex("f4" "ebfd")             # hlt; jmp hlt
    img = bytearray(65536)
    img[:len(code)] = code
    # reset vector at 0xfff0: near jmp to offset 0 (IP 0xfff3 + 0x000d)
    img[0xfff0:0xfff3] = bytes.fromhex("e90d00")
    return bytes(img)


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True, ""
    except OSError as e:
        return False, "/dev/kvm: " + e.strerror


@contextlib.contextmanager
def firmware_vm(accel, tmp, pages, write_tsc, paused, smp=1, extra=()):
    """A VM booting firmware(write_tsc) with the device on smp vCPUs (the
    firmware runs on the first; the others wait for a SIPI that never
    comes); yields its QMP and the file its debugcon port writes to."""
    name = "%s-%s-%d%s" % ("w" if write_tsc else "r", accel, smp,
                           "-x" if extra else "")
    rom = os.path.join(tmp, "tsc-%s.rom" % name)
    out = os.path.join(tmp, "tsc-%s.out" % name)
    sock = os.path.join(tmp, "qmp-%s.sock" % name)
    with open(rom, "wb") as f:
        f.write(firmware(write_tsc))
    q = subprocess.Popen([m.QEMU, "-M", "pc", "-accel", accel, "-nodefaults",
                          "-smp", str(smp),
                          "-display", "none", "-bios", rom,
                          "-chardev", "file,id=dbg,path=" + out,
                          "-device", "isa-debugcon,iobase=0xe9,chardev=dbg",
                          "-device", "pvclock-pages,id=pvc,pages=" + pages,
                          "-qmp", "unix:%s,server=on,wait=off" % sock]
                         + (["-S"] if paused else []) + list(extra),
                         stderr=subprocess.PIPE)
    try:
        try:
            qmp = m.QMP(sock, q)
        except OSError as e:      # QEMU went away during the handshake
            try:
                q.wait(10)
            except subprocess.TimeoutExpired:
                raise e
            raise RuntimeError("QEMU exited: " + q.stderr.read().decode())
        yield qmp, out
        try:
            qmp.cmd("quit")
            q.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass                # a stuck QEMU: killed below
    finally:
        if q.poll() is None:
            q.kill()
            q.wait()


def wrmsr_reading(accel, out, timeout):
    """The writing firmware's report: its 'W' after the WRMSR, then its
    RDTSC; (guest TSC, host TSC at the 'W', host TSC after the report),
    or None (and a failed check) if it did not come within timeout s."""
    deadline = time.time() + timeout
    before = None
    while time.time() < deadline:
        size = os.path.getsize(out) if os.path.exists(out) else 0
        if size >= 1 and before is None:
            before = tsc()
        if size >= 9:
            break
        time.sleep(0.001)
    after = tsc()
    data = open(out, "rb").read()
    if not ok(len(data) >= 9 and data[0:1] == b"W",
              "%s: the firmware wrote its TSC and reported RDTSC later"
              % accel):
        return None
    return int.from_bytes(data[1:9], "little"), before, after


def run_wrmsr(accel, tmp, pages):
    """The guest writes its TSC: the relation must follow (1 Hz watch)."""
    with firmware_vm(accel, tmp, pages, True, False) as (qmp, out):
        r = wrmsr_reading(accel, out, 20)
        if r is None:
            return
        guest, before, after = r
        offset = qmp.qom("counter-offset")
        host = (guest + offset) % (1 << 64)
        ok(guest >= WRMSR_VALUE and before <= host <= after,
           "%s: after the guest's WRMSR the relation still maps its TSC "
           "into the host bracket (%d <= %d <= %d)" % (accel, before, host,
                                                      after))


def run_wrmsr_real(accel, tmp, pages):
    """Linux's KVM applies a guest's WRMSR IA32_TSC (it moves the vCPU's
    offset and IA32_TSC_ADJUST) and tells userspace nothing.  What the
    device shows then: the relation it read at the start, with the offset
    page's relation_flags saying TSC_WRITES_UNSEEN (the guest's own cue
    that a TSC it wrote itself is not covered), so its mapping of the
    rewritten TSC is off by exactly the write's jump; at the next VM start
    (stop/cont) it reads KVM's new offset, the jump away from the old one,
    and maps the same reading into the bracket again."""
    with firmware_vm(accel, tmp, pages, True, False) as (qmp, out):
        r = wrmsr_reading(accel, out, 30)
        if r is None:
            return
        guest, before, after = r
        hz = qmp.qom("guest-counter-hz")
        # three RTC second changes after the write: 2 to 3 s of counts
        ok(WRMSR_VALUE + 1.5 * hz <= guest <= WRMSR_VALUE + 4 * hz,
           "%s: KVM applied the guest's WRMSR: RDTSC %.3f s after the "
           "value written" % (accel, (guest - WRMSR_VALUE) / hz))
        # the relation property carries relation_flags' TSC_WRITES_UNSEEN
        # (the firmware programs no BAR to read the offset page through)
        relation = qmp.qom("relation")
        unseen = "write to its TSC is not seen" in relation
        # the status is the helper's pages' as much as the relation's: a
        # helper starved on L1's one vCPU for seconds says stale
        status = qmp.qom("status")
        old = qmp.qom("counter-offset")
        diag("%s: status %s, relation: %s" % (accel, status, relation))
        ok(unseen and status in ("valid", "stale"),
           "%s: the device does not see the write (KVM reports none): "
           "status %s, and it says so (TSC_WRITES_UNSEEN: %s)"
           % (accel, status, unseen))
        gen = qmp.qom("generation")
        qmp.cmd("stop")
        qmp.cmd("cont")
        good, host = in_bracket(qmp, guest, before, after)
        jump = (qmp.qom("counter-offset") - old) % (1 << 64)
        jump = jump - (1 << 64) if jump >= 1 << 63 else jump
        # the bracket spans the firmware's 3 s wait, so the old relation
        # may land inside it: the jump itself is the device's error
        ok(good and jump != 0 and qmp.qom("generation") > gen,
           "%s: until the next VM start the relation was off by the "
           "write's jump (%+.3f s); at stop/cont the device reads KVM's "
           "new offset: the reading maps into the bracket (%d <= %d <= %d),"
           " generation %d -> %d"
           % (accel, jump / hz, before, host, after, gen,
              qmp.qom("generation")))


def run_tsc_frequency(tmp, pages):
    """-cpu host,tsc-frequency=F under Linux's KVM without TSC scaling
    (KVM_CAP_TSC_CONTROL 0, as TCG's SVM offers none): QEMU asks
    KVM_SET_TSC_KHZ only where KVM can scale, and otherwise accepts F
    only if KVM already runs the vCPU at it.  For the host's own rate,
    inside kvm.tsc_tolerance_ppm and outside it either way: QEMU refuses
    at vCPU init with its message, or the device publishes a relation
    that maps the guest's RDTSC into the host bracket, or a status that
    is not valid.  Never valid and wrong."""
    with firmware_vm("kvm", tmp, pages, False, True) as (qmp, out):
        qmp.cmd("cont")
        readings(out, 1)
        host_hz = qmp.qom("guest-counter-hz")
    khz = host_hz // 1000
    for label, want in (("the host's rate", khz),
                        ("+100 ppm, inside tsc_tolerance_ppm",
                         khz + khz // 10000),
                        ("+10%", khz + khz // 10),
                        ("-10%", khz - khz // 10)):
        extra = ["-cpu", "host,tsc-frequency=%d" % (want * 1000)]
        what = None
        try:
            with firmware_vm("kvm", tmp, pages, False, True,
                             extra=extra) as (qmp, out):
                before = tsc()
                qmp.cmd("cont")
                guest = readings(out, 1)
                after = tsc()
                status = qmp.qom("status")
                good, host = in_bracket(qmp, guest or 0, before, after)
                if guest is not None and status == "valid" and good:
                    what = ("runs; the device maps RDTSC into the bracket "
                            "(%s)" % qmp.qom("relation").split(";")[0])
                elif status != "valid":
                    what = "runs; the device says %s (%s)" % (
                        status, qmp.qom("relation"))
                else:
                    what = None
                    diag("valid and wrong: %d <= %d <= %d?"
                         % (before, host, after))
        except RuntimeError as e:
            msg = str(e)
            if "TSC frequency" in msg or "tsc" in msg.lower():
                lines = msg.strip().splitlines()
                why = [l for l in lines if "TSC frequency" in l] or lines
                what = "QEMU refuses at vCPU init: " + why[-1][:200]
            else:
                diag(msg)
        ok(what is not None,
           "kvm: tsc-frequency %d kHz (%s), host %d kHz: %s"
           % (want, label, khz, what or "valid and wrong"))


def run_idle_vcpu(accel, tmp, pages):
    """Two vCPUs, the second waiting for a SIPI that never comes (so under
    KVM it sits in KVM_RUN for good).  The device reads every vCPU's TSC
    relation at vm start and once a second; it must not stall QEMU's main
    loop doing so (it did under KVM: a vCPU ioctl from the main loop waits
    for the vCPU's mutex, held in KVM_RUN).  QMP must answer promptly."""
    with firmware_vm(accel, tmp, pages, False, True, smp=2) as (qmp, out):
        qmp.s.settimeout(10)
        worst = 0.0
        status = None
        try:
            qmp.cmd("cont")
            for _ in range(6):              # 3 s: three watch rounds
                t0 = time.time()
                status = qmp.qom("status")
                worst = max(worst, time.time() - t0)
                time.sleep(0.5)
        except OSError as e:
            status = "no answer (%s)" % e
            worst = float("inf")
        ok(status == "valid" and worst < 1.0,
           "%s, 2 vCPUs, one idle in the accelerator for good: QMP answers "
           "within %.3f s through three watch rounds, status %s"
           % (accel, worst, status))


def readings(out, n, timeout=10):
    """Wait for the firmware's n-th RDTSC report (8 bytes each)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(out) and os.path.getsize(out) >= 8 * n:
            break
        time.sleep(0.0005)
    data = open(out, "rb").read()
    if len(data) < 8 * n:
        return None
    return int.from_bytes(data[8 * (n - 1):8 * n], "little")


def in_bracket(qmp, guest, before, after):
    host = (guest + qmp.qom("counter-offset")) % (1 << 64)
    return before <= host <= after, host


def check_reading(accel, qmp, out, n, command, label):
    """Run command; the firmware's n-th RDTSC report must map into the
    host TSC bracket around it through the relation then published."""
    before = tsc()
    qmp.cmd(command)
    guest = readings(out, n)
    after = tsc()
    good, host = in_bracket(qmp, guest or 0, before, after)
    ok(guest is not None and good and qmp.qom("status") == "valid",
       "%s: %s the relation maps the firmware's RDTSC into the host "
       "bracket (%d <= %d <= %d)" % (accel, label, before, host, after))


def run_events(accel, tmp, pages):
    """The relation is read on events only, and is right after each: a
    reset of the running VM (the firmware runs again from the reset
    vector and reports RDTSC again; under KVM the CPUs' reset state
    rewrites the TSC after the devices' reset, so the device reads the
    relation after it), and a reset while stopped (under TCG the tick
    offset is an absolute count while stopped: a relation made from it
    must never be published as valid)."""
    with firmware_vm(accel, tmp, pages, False, True) as (qmp, out):
        qmp.cmd("cont")
        if readings(out, 1) is None:
            ok(False, "%s: the firmware reported its RDTSC" % accel)
            return
        # stop/cont: the relation is read again at cont; under KVM it
        # stays what it was (the TSC runs on), under TCG it moves by the
        # stopped time; either way the next reading must map right
        off = qmp.qom("counter-offset")
        qmp.cmd("stop")
        time.sleep(0.2)
        qmp.cmd("cont")
        moved = qmp.qom("counter-offset") != off
        ok(qmp.qom("status") == "valid" and moved == (accel == "tcg"),
           "%s: stop/cont: status valid, relation %s" %
           (accel, "moved by the stopped time" if moved else "unchanged"))
        reads = qmp.qom("relation-reads")
        check_reading(accel, qmp, out, 2, "system_reset",
                      "after stop/cont and a reset of the running VM")
        diag("%s: the reset read the relation %d more time(s)"
             % (accel, qmp.qom("relation-reads") - reads))
        qmp.cmd("stop")
        off_stopped = qmp.qom("counter-offset")
        qmp.cmd("system_reset")
        time.sleep(0.2)
        st, off = qmp.qom("status"), qmp.qom("counter-offset")
        ok(st != "valid" or off == off_stopped,
           "%s: a reset while stopped publishes no relation read while "
           "stopped (status %s, offset %s)" %
           (accel, st, "unchanged" if off == off_stopped else
            "moved by %d" % ((off - off_stopped) % (1 << 64))))
        check_reading(accel, qmp, out, 3, "cont", "and after cont")
        # the qtest's way to run watch rounds on a stopped VM is the
        # qtest accelerator's only: here the watch runs on host time
        r = qmp.cmd("qom-set", path="/machine/peripheral/pvc",
                    property="x-qtest-watch", value=1)
        why = r.get("error", {}).get("desc", "")
        ok("x-qtest-watch" in why and "qtest accelerator only" in why,
           "%s: x-qtest-watch is refused, naming itself (%s)" %
           (accel, why or "accepted"))


def run_loadvm(accel, tmp, pages):
    """A snapshot loaded in the same QEMU: TCG's cpu_get_ticks() never goes
    back, so the tick offset that loadvm restores is corrected up by its
    first call and the guest TSC goes on from its last value.  The
    relation read at the start after loadvm must be that corrected one:
    the snapshot is taken before the firmware runs, the firmware reports
    RDTSC, and after loadvm it runs again from the reset vector and
    reports again, which must map into the host bracket around it (before
    the fix the relation was the stale offset, a second off here)."""
    image = os.path.join(tmp, "snap-%s.qcow2" % accel)
    subprocess.check_call(["qemu-img", "create", "-q", "-f", "qcow2", image,
                           "16M"])
    drive = ["-drive", "if=none,id=snaps,format=qcow2,file=" + image]
    with firmware_vm(accel, tmp, pages, False, True, extra=drive) as (qmp, out):
        qmp.hmp("savevm first")
        qmp.cmd("cont")
        if readings(out, 1) is None:
            ok(False, "%s: the firmware reported its RDTSC" % accel)
            return
        time.sleep(1.0)
        before = tsc()
        qmp.hmp("loadvm first")
        guest = readings(out, 2)
        after = tsc()
        good, host = in_bracket(qmp, guest or 0, before, after)
        ok(guest is not None and good and qmp.qom("status") == "valid",
           "%s: after loadvm of a snapshot taken 1 s earlier the relation "
           "maps the firmware's new RDTSC into the host bracket (%d <= %d "
           "<= %d, %.3f s off)" % (accel, before, host, after,
                                   ((host - after) if host > after else
                                    (host - before) if host < before else 0)
                                   / 2.445e9))


def run_no_kicks(accel, tmp, pages, seconds):
    """No periodic work against the vCPUs: over an idle stretch of a
    two-vCPU guest the device reads the relation 0 times, and under KVM
    no vCPU leaves KVM_RUN for a signal (a run_on_cpu() kick makes
    KVM_RUN return EINTR, traced as kvm_io_window_exit, or exit with
    KVM_EXIT_INTR, reason 10 in kvm_run_exit)."""
    log = os.path.join(tmp, "trace-%s.log" % accel)
    trace = ["-trace", "kvm_run_exit", "-trace", "kvm_io_window_exit",
             "-D", log] if accel == "kvm" else []
    with firmware_vm(accel, tmp, pages, False, True, smp=2,
                     extra=trace) as (qmp, out):
        qmp.cmd("cont")
        readings(out, 1)
        time.sleep(0.5)
        reads = qmp.qom("relation-reads")
        mark = os.path.getsize(log) if trace else 0
        time.sleep(seconds)
        reads = qmp.qom("relation-reads") - reads
        kicks = 0
        if trace:
            with open(log) as f:
                f.seek(mark)
                kicks = sum(1 for l in f if "kvm_io_window_exit" in l or
                            ("kvm_run_exit" in l and
                             l.rstrip().endswith("reason 10")))
        ok(reads == 0 and kicks == 0 and qmp.qom("status") == "valid",
           "%s, 2 vCPUs idle for %d s: the device read the relation %d "
           "times%s" % (accel, seconds, reads,
                        ", %d vCPU kicks out of KVM_RUN" % kicks
                        if trace else ""))


def run(accel, tmp, pages):
    with firmware_vm(accel, tmp, pages, False, True) as (qmp, out):
        before = tsc()
        qmp.cmd("cont")
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(out) and os.path.getsize(out) >= 8:
                break
            time.sleep(0.001)
        after = tsc()
        data = open(out, "rb").read()
        ok(len(data) >= 8, "%s: the firmware reported its RDTSC" % accel)
        if len(data) < 8:
            return
        guest = int.from_bytes(data[:8], "little")
        status = qmp.qom("status")
        backend = qmp.qom("counter-backend")
        offset = qmp.qom("counter-offset")
        gen = qmp.qom("generation")
        host = (guest + offset) % (1 << 64)
        ok(status == "valid" and backend == accel,
           "%s: status %s, counter backend %s" % (accel, status, backend))
        ok(before <= host <= after,
           "%s: guest TSC + relation offset lies between the host TSC "
           "before cont and after the report (%d <= %d <= %d, bracket "
           "%.3f ms at nominal rate)" % (accel, before, host, after,
                                        (after - before) / 2.6e6))
        diag("%s: guest TSC %d, offset %d (0x%x)" % (accel, guest, offset,
                                                    offset % (1 << 64)))
        if accel == "kvm" and REAL_KVM:
            ok(guest < after // 2 and offset > 0,
               "kvm: KVM's own offset: the guest TSC started near 0 "
               "(guest %d, host %d, KVM's vCPU offset %d)"
               % (guest, host, -offset))
        if accel == "tcg":
            # the guest TSC stops while the VM is stopped: a new relation
            qmp.cmd("stop")
            time.sleep(0.2)
            qmp.cmd("cont")
            gen2 = qmp.qom("generation")
            off2 = qmp.qom("counter-offset")
            ok(gen2 > gen and off2 != offset,
               "tcg: stop/cont moves the relation by the stopped time and "
               "bumps the generation (%d -> %d, offset moved %.3f ms)"
               % (gen, gen2, (off2 - offset) / 2.6e6))


def main():
    """tsc_relation.py [tcg] [kvm]: the accelerators to test (both by
    default; kvm is skipped where /dev/kvm cannot be opened).  In the
    real-KVM suite (tests/kvm/, PVCLOCK_IN_L1 set) KVM is Linux's own,
    nested under TCG's SVM: its offsets are KVM's (the guest TSC starts
    near 0), a guest WRMSR IA32_TSC is applied, a snapshot can be loaded."""
    accels = sys.argv[1:] or ["tcg", "kvm"]
    with tempfile.TemporaryDirectory(prefix="pvclock-tsc-") as tmp:
        pages = os.path.join(tmp, "pages")
        if subprocess.call([m.HELPER, "--once", "--pages", pages],
                           stderr=subprocess.DEVNULL) != 0:
            print("1..0 # SKIP this host's clocks cannot be shared")
            return 0
        helper = subprocess.Popen([m.HELPER, "--pages", pages],
                                  stderr=subprocess.DEVNULL)
        try:
            if "tcg" in accels:
                run("tcg", tmp, pages)
                run_wrmsr("tcg", tmp, pages)
                run_idle_vcpu("tcg", tmp, pages)
                run_events("tcg", tmp, pages)
                run_loadvm("tcg", tmp, pages)
                run_no_kicks("tcg", tmp, pages, 10)
            usable, why = kvm_usable()
            if "kvm" not in accels:
                pass
            elif usable and REAL_KVM:
                run("kvm", tmp, pages)
                run_wrmsr_real("kvm", tmp, pages)
                run_idle_vcpu("kvm", tmp, pages)
                run_events("kvm", tmp, pages)
                run_loadvm("kvm", tmp, pages)
                run_tsc_frequency(tmp, pages)
                # 10 s: tests/kvm/exits.sh counts a minute's exits
                run_no_kicks("kvm", tmp, pages, 10)
            elif usable:
                run("kvm", tmp, pages)
                run_wrmsr("kvm", tmp, pages)
                run_idle_vcpu("kvm", tmp, pages)
                run_events("kvm", tmp, pages)
                run_no_kicks("kvm", tmp, pages, 60)
            else:
                for what in ("the firmware reported its RDTSC",
                             "status and backend", "relation bracket",
                             "WRMSR reported", "relation after WRMSR",
                             "2 vCPUs, one idle", "stop/cont",
                             "reset while running",
                             "reset while stopped", "cont after reset",
                             "no kicks in 60 s"):
                    m.skip("kvm: " + what, "KVM unusable here (%s)" % why)
        finally:
            helper.terminate()
            helper.wait()
    print("1..%d" % m.n)
    return 1 if m.failed else 0


if __name__ == "__main__":
    sys.exit(main())
