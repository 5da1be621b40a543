#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The live page of -device pvclock-pages (BAR0 0x5000: QEMU's own [vvar]
page, the host kernel's vDSO time data, mapped read-only), read by a
guest, per accelerator (TCG, and KVM where /dev/kvm works).

A 64 KiB firmware image (hand-assembled below) far-jumps from the reset
vector to 0xf000:0000, switches to 32-bit flat protected mode, finds the
device on PCI bus 0 (1af4:10f0) through ports 0xcf8/0xcfc, puts BAR0 at
0xe0000000 and enables memory decoding.  It then reads the offset page's
live descriptor (struct pvcp_live at 0x40e0) and, through it, the live
page's first clock block: seq, mult, shift and cycle_last (retrying
while seq is odd or changes).  Everything goes out raw on the
isa-debugcon port 0xe9, with a marker before each step, so a guest that
dies on the way shows where.  Last it writes the complement of mult into
the live page and reads it back, then halts.

The host checks: the descriptor is valid and the device says "in use";
mult and shift are the host kernel's (sampled while the guest reads,
from host page 0 of the real, non-simulated helper, which copies them
from the same kernel data, within one unit, or from this process's own
[vvar] page, the kernel data itself: the slope moves under adjtimex);
cycle_last is the host TSC of a recent kernel update (at most a few
seconds before the host's own TSC reading after the report); the
guest's write changed nothing and QEMU runs on.  Under KVM also: the
page is a read-only memslot over QEMU's [vvar] mapping, the reads do not
exit to QEMU and the write is the one KVM_EXIT_MMIO.  With
live-page=off the descriptor is invalid and the page reads as zeros.
Prints TAP.
"""
import ctypes
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "migration"))
import migrate as m  # noqa: E402
from migrate import ok, diag, tsc  # noqa: E402
import tsc_relation as tr  # noqa: E402

BAR0 = 0xe0000000
OFFSET_PAGE = BAR0 + 0x4000
LIVE_DESC = OFFSET_PAGE + 0xe0          # struct pvcp_live
LIVE_PAGE = BAR0 + 0x5000
SCRATCH = 0x9000                        # guest RAM for the block's words
FAR_AHEAD_S = 5                         # cycle_last at most this old

# the debugcon report: marker bytes, then little-endian u32s
REPORT = (
    # after 'L': the descriptor as the firmware read it
    ("flags", "version_layout", "block0", "off_seq", "off_cycle_last",
     "off_mult", "off_shift"),
    # after 'B': block[0] of the live page under its seq
    ("seq", "mult", "shift", "cycle_last_lo", "cycle_last_hi", "retries"),
    # after 'W': mult read back after the guest wrote ~mult over it
    ("mult_after_write",),
)
MARKERS = b"LBW"


class Asm:
    """Just enough of an assembler for the firmware: raw bytes with
    labels, rel8/rel32 jumps and absolute 32-bit addresses of labels
    (the image sits at 0xf0000; the 32-bit code runs there, flat)."""

    def __init__(self, base):
        self.base = base
        self.code = bytearray()
        self.labels = {}
        self.fixups = []            # (position, label, kind)

    def here(self):
        return len(self.code)

    def label(self, name):
        self.labels[name] = self.here()

    def hex(self, h):
        self.code += bytes.fromhex(h.replace(" ", ""))

    def u16(self, v):
        self.code += struct.pack("<H", v)

    def u32(self, v):
        self.code += struct.pack("<I", v & 0xffffffff)

    def ref(self, name, kind):
        self.fixups.append((self.here(), name, kind))
        self.code += bytes({"rel8": 1, "rel32": 4, "abs32": 4,
                            "off16": 2}[kind])

    def jcc8(self, opcode, name):       # 74 je, 75 jne, 72 jb, eb jmp
        self.hex(opcode)
        self.ref(name, "rel8")

    def call(self, name):
        self.hex("e8")
        self.ref(name, "rel32")

    def jmp(self, name):
        self.hex("e9")
        self.ref(name, "rel32")

    def link(self):
        for pos, name, kind in self.fixups:
            target = self.labels[name]
            if kind == "rel8":
                d = target - (pos + 1)
                assert -128 <= d < 128, name
                self.code[pos] = d & 0xff
            elif kind == "rel32":
                self.code[pos:pos + 4] = struct.pack("<i", target - (pos + 4))
            elif kind == "abs32":
                self.code[pos:pos + 4] = struct.pack("<I", self.base + target)
            else:
                self.code[pos:pos + 2] = struct.pack("<H", target)
        return bytes(self.code)


def firmware():
    a = Asm(0xf0000)
    # ---- 16-bit real mode, CS = 0xf000 (base 0xf0000) -----------------
    a.label("start16")
    a.hex("fa")                         # cli
    a.hex("fc")                         # cld
    a.hex("66 2e 0f 01 16")             # lgdtd cs:[gdtr]
    a.ref("gdtr", "off16")
    a.hex("0f 20 c0")                   # mov eax, cr0
    a.hex("0c 01")                      # or al, 1 (PE)
    a.hex("0f 22 c0")                   # mov cr0, eax
    a.hex("66 ea")                      # jmp dword 0x08:pm32
    a.ref("pm32", "abs32")
    a.u16(0x08)
    # ---- GDT: null, flat 4 GiB code (0x08) and data (0x10), with the
    # accessed bits preset: the image is ROM, the CPU could not set them
    while a.here() % 8:
        a.hex("90")
    a.label("gdt")
    a.hex("0000000000000000")
    a.hex("ffff0000009bcf00")
    a.hex("ffff00000093cf00")
    a.label("gdtr")
    a.u16(3 * 8 - 1)
    a.ref("gdt", "abs32")
    # ---- 32-bit flat protected mode ------------------------------------
    a.label("pm32")
    a.hex("66 b8 10 00")                # mov ax, 0x10
    a.hex("8e d8 8e c0 8e d0")          # mov ds, ax; mov es, ax; mov ss, ax
    a.hex("bc"); a.u32(0x8000)          # mov esp, 0x8000
    a.hex("b0 50"); a.call("putc")      # 'P': in protected mode
    # find 1af4:10f0 on bus 0: ebx = 0x80000000 | dev << 11
    a.hex("bb"); a.u32(0x80000000)      # mov ebx, 0x80000000
    a.label("scan")
    a.hex("89 d8")                      # mov eax, ebx
    a.hex("ba"); a.u32(0xcf8)           # mov edx, 0xcf8
    a.hex("ef")                         # out dx, eax
    a.hex("b2 fc")                      # mov dl, 0xfc
    a.hex("ed")                         # in eax, dx
    a.hex("3d"); a.u32(0x10f01af4)      # cmp eax, 0x10f01af4
    a.jcc8("74", "found")               # je found
    a.hex("81 c3"); a.u32(0x800)        # add ebx, 0x800 (next device)
    a.hex("81 fb"); a.u32(0x80010000)   # cmp ebx, past device 31
    a.jcc8("72", "scan")                # jb scan
    a.hex("b0 4e"); a.call("putc")      # 'N': no device
    a.jmp("halt")
    a.label("found")
    a.hex("b0 44"); a.call("putc")      # 'D': device found
    # BAR0 low dword (config 0x10) = 0xe0000000, high (0x14) = 0
    a.hex("8d 43 10")                   # lea eax, [ebx+0x10]
    a.hex("ba"); a.u32(0xcf8)           # mov edx, 0xcf8 (putc took edx)
    a.hex("ef")                         # out dx, eax
    a.hex("b8"); a.u32(BAR0)            # mov eax, BAR0
    a.hex("b2 fc ef")                   # mov dl, 0xfc; out dx, eax
    a.hex("8d 43 14")                   # lea eax, [ebx+0x14]
    a.hex("b2 f8 ef")                   # mov dl, 0xf8; out dx, eax
    a.hex("31 c0")                      # xor eax, eax
    a.hex("b2 fc ef")                   # mov dl, 0xfc; out dx, eax
    # command register (config 0x04, 16 bits): | memory space enable
    a.hex("8d 43 04")                   # lea eax, [ebx+4]
    a.hex("b2 f8 ef")                   # mov dl, 0xf8; out dx, eax
    a.hex("b2 fc")                      # mov dl, 0xfc
    a.hex("66 ed")                      # in ax, dx
    a.hex("66 83 c8 02")                # or ax, 2
    a.hex("66 ef")                      # out dx, ax
    # 'L' and the descriptor: esi = offset page
    a.hex("b0 4c"); a.call("putc")
    a.hex("be"); a.u32(OFFSET_PAGE)     # mov esi, OFFSET_PAGE
    a.hex("8b 86"); a.u32(0xe0)         # mov eax, [esi+0xe0]: flags
    a.call("put32")
    a.hex("8b 86"); a.u32(0xe4)         # mov eax, [esi+0xe4]: version, layout
    a.call("put32")
    for off in (0xe8, 0xec, 0xf0, 0xf6, 0xf8):  # block[0], seq, cycle_last,
        a.hex("0f b7 86"); a.u32(off)   # mult, shift: movzx eax, word [esi+o]
        a.call("put32")
    # edi = the live page's block[0]
    a.hex("0f b7 be"); a.u32(0xe8)      # movzx edi, word [esi+0xe8]
    a.hex("81 c7"); a.u32(LIVE_PAGE)    # add edi, LIVE_PAGE
    a.hex("31 ed")                      # xor ebp, ebp: retries
    a.label("again")
    a.hex("0f b7 8e"); a.u32(0xec)      # movzx ecx, word [esi+0xec]: seq
    a.hex("8b 1c 0f")                   # mov ebx, [edi+ecx]
    a.hex("f6 c3 01")                   # test bl, 1
    a.jcc8("75", "retry")               # jnz retry (the kernel is writing)
    a.hex("0f b7 8e"); a.u32(0xf6)      # movzx ecx, word [esi+0xf6]: mult
    a.hex("8b 04 0f")                   # mov eax, [edi+ecx]
    a.hex("a3"); a.u32(SCRATCH)         # mov [SCRATCH], eax
    a.hex("0f b7 8e"); a.u32(0xf8)      # movzx ecx, word [esi+0xf8]: shift
    a.hex("8b 04 0f")                   # mov eax, [edi+ecx]
    a.hex("a3"); a.u32(SCRATCH + 4)     # mov [SCRATCH+4], eax
    a.hex("0f b7 8e"); a.u32(0xf0)      # movzx ecx, [esi+0xf0]: cycle_last
    a.hex("8b 04 0f")                   # mov eax, [edi+ecx]
    a.hex("a3"); a.u32(SCRATCH + 8)     # mov [SCRATCH+8], eax
    a.hex("8b 44 0f 04")                # mov eax, [edi+ecx+4]
    a.hex("a3"); a.u32(SCRATCH + 12)    # mov [SCRATCH+12], eax
    a.hex("0f b7 8e"); a.u32(0xec)      # movzx ecx, word [esi+0xec]: seq
    a.hex("3b 1c 0f")                   # cmp ebx, [edi+ecx]
    a.jcc8("74", "consistent")          # je consistent
    a.label("retry")
    a.hex("45")                         # inc ebp
    a.hex("81 fd"); a.u32(1000000)      # cmp ebp, 1000000 (then give up:
    a.jcc8("72", "again")               # jb again     retries says so)
    a.label("consistent")
    a.hex("b0 42"); a.call("putc")      # 'B' and the block's words
    a.hex("89 d8"); a.call("put32")     # seq
    for off in (0, 4, 8, 12):           # mult, shift, cycle_last lo, hi
        a.hex("a1"); a.u32(SCRATCH + off)
        a.call("put32")
    a.hex("89 e8"); a.call("put32")     # retries
    # 'W': write ~mult over mult, read it back
    a.hex("b0 57"); a.call("putc")
    a.hex("0f b7 8e"); a.u32(0xf6)      # movzx ecx, word [esi+0xf6]: mult
    a.hex("8b 04 0f")                   # mov eax, [edi+ecx]
    a.hex("f7 d0")                      # not eax
    a.hex("89 04 0f")                   # mov [edi+ecx], eax
    a.hex("8b 04 0f")                   # mov eax, [edi+ecx]
    a.call("put32")
    a.hex("b0 45"); a.call("putc")      # 'E': the end
    a.label("halt")
    a.hex("f4")                         # hlt
    a.jcc8("eb", "halt")
    # putc: al to port 0xe9
    a.label("putc")
    a.hex("ba"); a.u32(0xe9)            # mov edx, 0xe9
    a.hex("ee c3")                      # out dx, al; ret
    # put32: eax to port 0xe9, little-endian
    a.label("put32")
    a.hex("51")                         # push ecx
    a.hex("ba"); a.u32(0xe9)            # mov edx, 0xe9
    a.hex("b1 04")                      # mov cl, 4
    a.label("put32_loop")
    a.hex("ee")                         # out dx, al
    a.hex("c1 e8 08")                   # shr eax, 8
    a.hex("fe c9")                      # dec cl
    a.jcc8("75", "put32_loop")          # jnz
    a.hex("59 c3")                      # pop ecx; ret
    code = a.link()
    img = bytearray(65536)
    img[:len(code)] = code
    # reset vector (CS base 0xffff0000, IP 0xfff0): jmp 0xf000:start16
    img[0xfff0:0xfff5] = bytes.fromhex("ea") + struct.pack(
        "<HH", a.labels["start16"], 0xf000)
    return bytes(img)


def parse(data):
    """The report as far as it got: {field: value}, and the steps seen."""
    got = {}
    steps = ""
    pos = 0
    if data[:2] != b"PD":
        return got, data[:2].decode("latin-1")
    steps, pos = "PD", 2
    for marker, fields in zip(MARKERS, REPORT):
        if data[pos:pos + 1] != bytes([marker]):
            break
        pos += 1
        if len(data) < pos + 4 * len(fields):
            break
        for f in fields:
            got[f] = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        steps += chr(marker)
    if data[pos:pos + 1] == b"E":
        steps += "E"
    return got, steps


def host_line(f):
    """Host page 0's hres line and counter_hz, under its seq (f: the
    helper's pages file, open)."""
    for _ in range(1000):
        f.seek(0)
        pg = f.read(4096)
        f.seek(0x18)
        seq = m.u32(pg, 0x18)
        if seq & 1 or m.u32(f.read(4), 0) != seq:
            continue
        return {"cycle_last": m.u64(pg, 0x48), "mult": m.u32(pg, 0x58),
                "shift": m.u32(pg, 0x5c), "hz": m.u64(pg, 0x28)}
    return None


def vvar_start(pid="self"):
    """Where a process has the kernel's vDSO data ([vvar]) mapped."""
    with open("/proc/%s/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith("[vvar]"):
                return int(line.split("-")[0], 16)
    return None


class HostSampler(threading.Thread):
    """What the host kernel's words are while the guest reads them: host
    page 0 of the helper (as the brief of this test says: the helper's
    copy, which follows the kernel at its next look) and this process's
    own [vvar] page, the very kernel data the live page maps, without
    lag.  Under adjtimex frequency steps (a concurrent test-freqstep
    steps +-100 ppm every few ms) mult moves by hundreds of units: the
    guest's value must be one the host had during the window."""

    def __init__(self, pages):
        super().__init__(daemon=True)
        self.f = open(pages, "rb")
        self.vvar = vvar_start()
        self.lines = []
        self.blobs = set()
        self.halt = threading.Event()
        self.sample()

    def sample(self):
        line = host_line(self.f)
        if line and line not in self.lines:
            self.lines.append(line)
        if self.vvar:
            self.blobs.add(ctypes.string_at(self.vvar, 0x100))

    def run(self):
        while not self.halt.is_set():
            self.sample()
            time.sleep(0.0001)

    def finish(self):
        self.halt.set()
        self.join()
        self.sample()
        self.f.close()

    def own(self, off):
        return sorted(set(struct.unpack_from("<I", b, off)[0]
                          for b in self.blobs if off + 4 <= len(b)))


def boot(accel, tmp, pages, extra=()):
    """Run the firmware once: its report, what the device and QEMU said."""
    run_dir = tempfile.mkdtemp(prefix=accel + "-", dir=tmp)
    log = os.path.join(run_dir, "trace.log")
    if accel == "kvm":
        # the memslots QEMU gives KVM, and why each KVM_RUN returned
        extra = list(extra) + ["-trace", "kvm_set_user_memory", "-trace",
                               "kvm_run_exit", "-D", log]
    r = {"data": b"", "alive": False, "state": "?", "stderr": "",
         "log": log}
    tr.firmware = lambda write_tsc: firmware()   # firmware_vm boots ours
    qmp = None
    try:
        with tr.firmware_vm(accel, run_dir, pages, False, True,
                            extra=extra) as (qmp, out):
            r["qemu_vvar"] = vvar_start(qmp.proc.pid)
            sampler = HostSampler(pages)
            sampler.start()
            r["tsc_before"] = tsc()
            qmp.cmd("cont")
            deadline = time.time() + 10
            while time.time() < deadline:
                data = open(out, "rb").read() if os.path.exists(out) else b""
                steps = parse(data)[1]
                if steps.endswith("E") or steps == "PN" or \
                        qmp.proc.poll() is not None:
                    break
                time.sleep(0.002)
            r["tsc_after"] = tsc()
            sampler.finish()
            r["sampler"] = sampler
            time.sleep(0.1)     # let a dying vCPU say so
            r["data"] = open(out, "rb").read() if os.path.exists(out) else b""
            r["alive"] = qmp.proc.poll() is None
            if r["alive"]:
                r["state"] = qmp.cmd("query-status")["return"]["status"]
                r["status"] = qmp.qom("live-page-status")
    except (ValueError, OSError) as e:      # QMP gone: QEMU died
        r["qmp_error"] = repr(e)
    if qmp is not None:
        if qmp.proc.poll() is None:
            qmp.proc.kill()
        qmp.proc.wait()
        r["rc"] = qmp.proc.returncode
        r["stderr"] = qmp.proc.stderr.read().decode(errors="replace")
    r["got"], r["steps"] = parse(r["data"])
    return r


def describe(accel, r):
    diag("%s: firmware steps %r (P pm, D device, L descriptor, B block, "
         "W write, E end), %d bytes" % (accel, r["steps"], len(r["data"])))
    diag("%s: QEMU %s, VM state %s, live-page-status %r" %
         (accel, "alive" if r["alive"] else "exited rc %s" % r.get("rc"),
          r["state"], r.get("status")))
    if r["got"]:
        diag("%s: report %s" % (accel, ", ".join(
            "%s=0x%x" % kv for kv in r["got"].items())))
    if r.get("qmp_error"):
        diag("%s: QMP: %s" % (accel, r["qmp_error"]))
    if r["stderr"].strip():
        diag("%s: QEMU stderr:\n%s" % (accel, r["stderr"].rstrip()))


def span(values):
    if not values:
        return "-"
    if len(values) > 4:
        return "%d values %d..%d" % (len(values), values[0], values[-1])
    return "/".join(map(str, values))


def check_kvm_path(r):
    """How KVM serves the page: a read-only memslot (KVM_MEM_READONLY,
    flags bit 1) over QEMU's own [vvar] mapping; the reads do not leave
    KVM; the write is a KVM_EXIT_MMIO (reason 6) that QEMU drops."""
    slot, mmio = None, 0
    if os.path.exists(r["log"]):
        with open(r["log"]) as f:
            for line in f:
                mo = re.search(r"kvm_set_user_memory .*Slot#(\d+) "
                               r"flags=0x(\w+) gpa=0x(\w+) size=0x(\w+) "
                               r"ua=0x(\w+) .* ret=(-?\d+)", line)
                if mo and int(mo.group(3), 16) == LIVE_PAGE:
                    slot = (int(mo.group(1)), int(mo.group(2), 16),
                            int(mo.group(4), 16), int(mo.group(5), 16),
                            int(mo.group(6)))
                elif "kvm_run_exit" in line and \
                        line.rstrip().endswith("reason 6"):
                    mmio += 1
    good = (slot is not None and slot[1] & 2 and slot[2] == 0x1000 and
            slot[4] == 0 and slot[3] == r.get("qemu_vvar"))
    ok(good,
       "kvm: BAR0 0x5000 is a read-only memslot over QEMU's [vvar] (%s; "
       "QEMU's [vvar] at %s)" %
       ("slot %d flags 0x%x size 0x%x ua 0x%x ret %d" % slot if slot
        else "no memslot at 0x%x" % LIVE_PAGE,
        "0x%x" % r["qemu_vvar"] if r.get("qemu_vvar") else "?"))
    ok(r["steps"] == "PDLBWE" and mmio == 1,
       "kvm: the reads stayed in KVM, the write was the one exit to QEMU "
       "as MMIO (%d KVM_EXIT_MMIO)" % mmio)
    if os.path.isdir("/sys/module/kvm_pvm"):
        diag("kvm: this KVM is kvm_pvm: it runs a guest that is not a PVM "
             "kernel (this firmware, real, protected and long mode alike) "
             "in KVM's instruction emulator (seen by hand with perf "
             "kvm:kvm_emulate_insn, no kvm:kvm_page_fault), so these reads "
             "went through a copy from QEMU's [vvar] mapping, not through "
             "a KVM mapping of its page (hva_to_pfn): that path is "
             "untested here")


def check_on(accel, r):
    """The live page in use: the guest reads the host kernel's words."""
    g = r["got"]
    describe(accel, r)
    ok(r["steps"].startswith("PDLB"),
       "%s: the firmware found the device and read descriptor and live "
       "page (steps %r)" % (accel, r["steps"]))
    ok((g.get("flags", 0) & 1) and g.get("version_layout", 0) & 0xffff == 1
       and str(r.get("status", "")).startswith("in use"),
       "%s: the descriptor is valid (flags 0x%x, version %d, layout %d), "
       "live-page-status %r" % (accel, g.get("flags", 0),
                                g.get("version_layout", 0) & 0xffff,
                                g.get("version_layout", 0) >> 16,
                                r.get("status")))
    if "mult" not in g:
        for what in ("mult and shift", "seq", "cycle_last", "write"):
            ok(False, "%s: %s: the firmware never reported the live "
               "page's words" % (accel, what))
        return
    smp = r.get("sampler")
    lines = smp.lines if smp else []
    hm = sorted(set(x["mult"] for x in lines))
    hs = sorted(set(x["shift"] for x in lines))
    own_m = smp.own(g["block0"] + g["off_mult"]) if smp else []
    own_s = smp.own(g["block0"] + g["off_shift"]) if smp else []
    by_page = any(abs(g["mult"] - v) <= 1 for v in hm) and g["shift"] in hs
    by_own = g["mult"] in own_m and g["shift"] in own_s
    ok(by_page or by_own,
       "%s: mult %d shift %d are the host kernel's (during the run host "
       "page 0 had mult %s shift %s, this process's [vvar] mult %s shift "
       "%s)" % (accel, g["mult"], g["shift"], span(hm), span(hs),
                span(own_m), span(own_s)))
    ok(g["seq"] % 2 == 0 and g["retries"] < 1000000,
       "%s: block seq %d even and unchanged across the reads (%d retries)" %
       (accel, g["seq"], g["retries"]))
    cl = g["cycle_last_lo"] | g["cycle_last_hi"] << 32
    hz = lines[-1]["hz"] if lines else 0
    age = (r["tsc_after"] - cl) / hz if hz else float("nan")
    ok(hz and r["tsc_before"] - FAR_AHEAD_S * hz <= cl <= r["tsc_after"],
       "%s: cycle_last %d is a recent host TSC: %.3f s before the host's "
       "TSC after the report (%d; before cont %d; %d Hz)" %
       (accel, cl, age, r["tsc_after"], r["tsc_before"], hz))
    ok(r["steps"].endswith("WE") and
       g.get("mult_after_write") == g["mult"] and r["alive"] and
       r["state"] == "running",
       "%s: the guest's write of ~mult (0x%x) to the live page is ignored: "
       "read back 0x%s, QEMU %s, VM %s" %
       (accel, ~g["mult"] & 0xffffffff,
        "%x" % g["mult_after_write"] if "mult_after_write" in g else "-",
        "alive" if r["alive"] else "gone", r["state"]))


def check_off(accel, r):
    """live-page=off: an invalid descriptor and zeros at 0x5000."""
    g = dict.fromkeys(REPORT[0] + REPORT[1] + REPORT[2])
    g.update(r["got"])
    describe(accel, r)
    ok(r["steps"] == "PDLBWE" and g["flags"] == 0 and g["mult"] == 0 and
       g["shift"] == 0 and g["cycle_last_lo"] == g["cycle_last_hi"] == 0 and
       g["mult_after_write"] == 0 and r["state"] == "running" and
       r.get("status") == "not mapped: live-page=off",
       "%s, live-page=off: descriptor flags %s, the page reads as zeros "
       "(mult %s shift %s), write ignored, status %r" %
       (accel, g.get("flags"), g.get("mult"), g.get("shift"),
        r.get("status")))


def main():
    """live_page.py [tcg] [kvm]: the accelerators to test (both by default;
    kvm is skipped where /dev/kvm cannot be opened).  The real-KVM suite
    (tests/kvm/) runs "kvm" inside a guest with Linux's own KVM, where
    the firmware reads the page through nested paging."""
    accels = sys.argv[1:] or ["tcg", "kvm"]
    with tempfile.TemporaryDirectory(prefix="pvclock-live-") as tmp:
        pages = os.path.join(tmp, "pages")
        if subprocess.call([m.HELPER, "--once", "--pages", pages],
                           stderr=subprocess.DEVNULL) != 0:
            print("1..0 # SKIP this host's clocks cannot be shared")
            return 0
        helper = subprocess.Popen([m.HELPER, "--pages", pages],
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.2)
            if "tcg" in accels:
                check_on("tcg", boot("tcg", tmp, pages))
                check_off("tcg", boot("tcg", tmp, pages,
                                      ["-global",
                                       "pvclock-pages.live-page=off"]))
            usable, why = tr.kvm_usable()
            if "kvm" not in accels:
                pass
            elif usable:
                r = boot("kvm", tmp, pages)
                check_on("kvm", r)
                check_kvm_path(r)
                check_off("kvm", boot("kvm", tmp, pages,
                                      ["-global",
                                       "pvclock-pages.live-page=off"]))
            else:
                for what in ("device and reads", "descriptor valid",
                             "mult and shift", "seq", "cycle_last",
                             "write ignored", "read-only memslot",
                             "reads in KVM, write as MMIO",
                             "live-page=off"):
                    m.skip("kvm: " + what, "KVM unusable here (%s)" % why)
        finally:
            helper.terminate()
            helper.wait()
    print("1..%d" % m.n)
    return 1 if m.failed else 0


if __name__ == "__main__":
    sys.exit(main())
