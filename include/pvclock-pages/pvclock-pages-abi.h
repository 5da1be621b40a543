/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-pages ABI: the host's clocks, exactly, in shared memory.
 *
 * The problem.  A program on the host turns a TSC reading into
 * CLOCK_REALTIME with a few multiplications over the kernel's vDSO data.
 * A guest has no such data: it gets MONOTONIC from kvmclock and REALTIME
 * from NTP or PTP, which poll, drift between polls and start over after
 * every live migration.  This ABI hands the host's vDSO data to guests so
 * that a guest program computes the host's clocks from its own counter,
 * bit for bit, with no syscall, no VM exit and no periodic wakeup.
 *
 * The pieces.
 *
 *   host pages   One helper per host (pvclock-helper) copies the kernel's
 *                timekeeping data into a 16 KiB pages file, four 4 KiB
 *                host pages, one per (counter domain, REALTIME flavour):
 *
 *                  page 0  unscaled counter (host TSC), unsmeared REALTIME
 *                  page 1  unscaled counter (host TSC), smeared REALTIME
 *                  page 2  scaled counter (host MONOTONIC_RAW ns), unsmeared
 *                  page 3  scaled counter (host MONOTONIC_RAW ns), smeared
 *
 *                The helper writes in place; it never replaces the file,
 *                so every mapping of it (QEMU's, the host readers') sees
 *                the same pages.
 *
 *   offset page  One per guest, owned by the QEMU device: how to turn the
 *                guest's counter into a host page's counter, timens-like
 *                offsets for the monotonic clocks, a generation counter and
 *                a status.  It changes only on events (start, stop/cont,
 *                migration, snapshot restore), never periodically.
 *
 *   BAR0         The device `-device pvclock-pages` (PCI 1af4:10f0) maps
 *                both into a 32 KiB memory BAR, read-only to the guest:
 *
 *                  0x0000-0x3fff  host pages 0..3 (the pages file, mapped)
 *                  0x4000-0x4fff  offset page
 *                  0x5000-0x5fff  live page (ABI 1.4): the host kernel's
 *                                 own vDSO time data where the device
 *                                 could map it, zeros otherwise; read
 *                                 it only while the offset page's live
 *                                 descriptor is valid
 *                  0x6000-0x7fff  reserved, reads as zero
 *
 *                Guest writes anywhere in the BAR are ignored.
 *
 * Reading (see contrib/libpvclock/ for the reference reader):
 *
 *   1. o = offset page seq; wait while odd; g = its generation; read barrier
 *   2. h = host page seq;   wait while odd; read barrier
 *   3. read the guest counter (RDTSC, ordered like the host vDSO orders it)
 *   4. copy what is needed from both pages
 *   5. read barrier; if either seq or the offset page's generation
 *      changed, start again (the generation: across a migration the
 *      pages change under a paused reader, and the two hosts' seqs may
 *      be equal by chance; the generation always grows)
 *   6. compute: guest counter -> host counter (offset page ref_xform),
 *      host counter -> clock (host page, with pvcp_* in
 *      pvclock-pages-calc.h), plus the offset page's timens offset for
 *      the monotonic clocks.
 *
 * With a valid live descriptor (ABI 1.4, struct pvcp_live) a reader of
 * the unscaled domain may take the line and base from the live page
 * instead of the host page, under the live page's own seq: it lags the
 * host kernel by nothing.  See struct pvcp_live.
 *
 * Versioning.  abi_major changes when a reader of the old version would
 * compute a wrong time: readers must refuse a major they do not know.
 * abi_minor changes when what a writer writes changes within the major:
 * fields added in reserved space (which is zero in older writers), new
 * flag bits, or a field withdrawn that only older readers read (its
 * space becomes reserved and zero, which those readers refuse: they lose
 * the page, never compute a wrong time; 1.6 withdrew the offset page's
 * pre-1.3 transform).  Readers accept any newer minor and ignore what
 * they do not know; they refuse offset pages older than they read
 * (PVCP_OFFSET_MINOR_MIN: 1.7, where the offset page's transform came to
 * include a simulated host's stage, so that readers need not know of
 * one).  Sizes and offsets of existing fields never
 * change within a major.
 *
 * Byte order: everything is little-endian (the x86 TSC is the counter).
 * Every struct below has a fixed size, checked at compile time.
 *
 * PCI ID: 1af4:10f0 is in QEMU's range for experimental devices without
 * registration (1af4:10f0..10ff); upstream submission needs an official ID.
 */
#ifndef PVCLOCK_PAGES_ABI_H
#define PVCLOCK_PAGES_ABI_H

/* a Linux kernel module defines PVCP_KERNEL before including this */
#ifdef PVCP_KERNEL
#include <linux/types.h>
typedef __u8 pvcp_u8;
typedef __u16 pvcp_u16;
typedef __u32 pvcp_u32;
typedef __u64 pvcp_u64;
typedef __s8 pvcp_s8;
typedef __s32 pvcp_s32;
typedef __s64 pvcp_s64;
#else
#include <stdint.h>
typedef uint8_t pvcp_u8;
typedef uint16_t pvcp_u16;
typedef uint32_t pvcp_u32;
typedef uint64_t pvcp_u64;
typedef int8_t pvcp_s8;
typedef int32_t pvcp_s32;
typedef int64_t pvcp_s64;
#endif

#define PVCP_ABI_MAJOR          1
#define PVCP_ABI_MINOR          7

#define PVCP_PAGE_SIZE          4096
#define PVCP_HOST_PAGES         4
/* Size of the helper's pages file: exactly the four host pages. */
#define PVCP_FILE_SIZE          (PVCP_HOST_PAGES * PVCP_PAGE_SIZE)

/* BAR0 layout. */
#define PVCP_BAR_HOST_PAGE(n)   ((n) * PVCP_PAGE_SIZE)
#define PVCP_BAR_OFFSET_PAGE    (PVCP_HOST_PAGES * PVCP_PAGE_SIZE)
#define PVCP_BAR_LIVE_PAGE      (PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE)
#define PVCP_BAR_SIZE           (8 * PVCP_PAGE_SIZE)

/*
 * BAR2 (4 KiB, memory; present unless the device was started with
 * interrupts=off): the disruption interrupt.  The device raises it when
 * what a guest's clocks rest on changes: the offset page's status, or
 * the guest's disruption count (the offset page's generation plus host
 * page 0's disruptions), which grows at a migration, a snapshot
 * restore, new host pages or a helper restart, a new counter relation
 * and a step of the host's clock.  Never in steady state.  It is raised
 * only while the VM runs (a change while it is stopped is raised when it
 * starts, once) and only while the driver enables it in IER.
 *   MSI-X (one vector, table and PBA in BAR2) when enabled, else INTx:
 *   the pin stays asserted until ISR is read.
 */
#define PVCP_REGS_BAR           2
#define PVCP_REGS_SIZE          0x1000
/* ISR: read, the causes since the last read; the read clears them. */
#define PVCP_REG_ISR            0x00
#define PVCP_REG_IER            0x04    /* rw: causes the driver wants */
#define PVCP_REG_IRQ_COUNT      0x08    /* r: interrupts raised, all time */
#define PVCP_IRQ_DISRUPTION     (1u << 0)
#define PVCP_MSIX_TABLE         0x800
#define PVCP_MSIX_PBA           0xc00
#define PVCP_MSIX_VECTORS       1

/* PCI identity (experimental range, see above). */
#define PVCP_PCI_VENDOR_ID      0x1af4
#define PVCP_PCI_DEVICE_ID      0x10f0
#define PVCP_PCI_REVISION       1

/* Host page index = counter domain | REALTIME flavour. */
#define PVCP_PAGE_SMEARED       0x1     /* bit 0: REALTIME leap-smeared */
#define PVCP_PAGE_SCALED        0x2     /* bit 1: counter is host raw ns */
#define PVCP_PAGE_UNSCALED_UNSMEARED    0
#define PVCP_PAGE_UNSCALED_SMEARED      1
#define PVCP_PAGE_SCALED_UNSMEARED      2
#define PVCP_PAGE_SCALED_SMEARED        3

/*
 * One vDSO-style linear mapping from host counter cycles to nanoseconds,
 * exactly as the Linux x86 vDSO applies it (lib/vdso/gettimeofday.c and
 * arch/x86/include/asm/vdso/gettimeofday.h, vdso_calc_ns()):
 *
 *   delta = cycles - cycle_last                         (mod 2^64)
 *   delta <= max_cycles:  ns = (delta * mult + base) >> shift   (64 bit)
 *   delta >  max_cycles:  bit 62 of delta set (the counter went backwards
 *                         a little): ns = base >> shift;
 *                         else ns = ((u128)(delta & S64_MAX) * mult + base)
 *                         >> shift, or the 64-bit formula if the host
 *                         kernel predates overflow protection
 *                         (PVCP_HOST_F_MUL_WRAPS)
 *
 * where base is a clock's nsec_shifted below.  Then
 *   tv_sec = sec + ns / 10^9, tv_nsec = ns % 10^9.
 * All fields are protected by the host page's seq.
 */
struct pvcp_line {
    pvcp_u64 cycle_last;        /* host counter value the bases are at */
    pvcp_u64 max_cycles;        /* larger deltas take the slow path */
    pvcp_u32 mult;              /* ns << shift per cycle */
    pvcp_u32 shift;             /* 0..63 */
};

/* A clock's value at cycle_last: sec + (nsec_shifted >> shift) / 10^9. */
struct pvcp_base {
    pvcp_u64 sec;               /* seconds since the clock's epoch */
    pvcp_u64 nsec_shifted;      /* nanoseconds << line.shift, may exceed 1 s */
};

/* Indexes into pvcp_host_page.hres_base[]. */
#define PVCP_HRES_REALTIME      0
#define PVCP_HRES_MONOTONIC     1
#define PVCP_HRES_BOOTTIME      2
#define PVCP_HRES_TAI           3
#define PVCP_HRES_CLOCKS        4

/*
 * The kvmclock stage, present when the host is itself a KVM guest whose
 * clocksource is kvm-clock (PVCP_COUNTER_TSC_KVMCLOCK): the host kernel's
 * clocksource counter is not the TSC but
 *
 *   delta  = tsc - tsc_timestamp                        (mod 2^64)
 *   delta  = tsc_shift < 0 ? delta >> -tsc_shift : delta << tsc_shift
 *   cycles = (system_time + ((u128)delta * tsc_to_system_mul >> 32))
 *            & S64_MAX
 *
 * i.e. struct pvclock_vcpu_time_info of the host's vCPU 0, exactly as the
 * host vDSO applies it (vread_pvclock()).  Protected by seq.
 */
struct pvcp_kvmclock {
    pvcp_u64 tsc_timestamp;
    pvcp_u64 system_time;       /* ns */
    pvcp_u32 tsc_to_system_mul; /* 0.32 fixed point */
    pvcp_s8 tsc_shift;
    pvcp_u8 reserved[3];
};

/*
 * A counter transform without a reference point, used by simulated host
 * pages (real host TSC -> the simulated host's counter):
 *
 *   host = (u64)(((u128)real * mult) >> frac_bits) + offset   (mod 2^64)
 *
 * mult == 1 << frac_bits means the two counters run at the same rate
 * (with frac_bits 0 the formula is a plain addition).  This form cannot
 * invert a wrapped offset of a scaled counter (a KVM guest whose TSC
 * starts near 0 has offset -host*ratio mod 2^64), so the offset page's
 * guest-to-host transform is struct pvcp_ref_xform.  Protected by the
 * seq of the page that holds it.
 */
struct pvcp_xform {
    pvcp_u64 mult;
    pvcp_u32 frac_bits;         /* 0..63 */
    pvcp_u32 flags;             /* PVCP_XFORM_F_* */
    pvcp_u64 offset;            /* two's complement, added mod 2^64 */
};

#define PVCP_XFORM_F_VALID      (1u << 0)
/*
 * struct pvcp_ref_xform only (ABI 1.7): the transform maps to the host
 * page's counter, a simulated host's stage included; what readers of
 * 1.7 and later require.  The device sets PVCP_XFORM_F_VALID beside it
 * where a reader of 1.3-1.6 (which applies a simulated host's sim after
 * the transform) computes the same, i.e. everywhere but the unscaled
 * domain of a simulated host, where it is clear: such readers refuse it.
 */
#define PVCP_XFORM_F_PAGE_COUNTER (1u << 1)

/*
 * Leap second smearing, on the smeared pages (1 and 3) only; zero on the
 * others and when no leap is scheduled (leap == 0).  The smear is linear
 * over the 24 UTC hours from noon before to noon after the leap, i.e.
 * 86400 + leap TAI seconds starting at start_tai_sec.  With T the page's
 * CLOCK_TAI and e = T - start_tai_sec clamped to [0, duration_s s]:
 *
 *   T <  start:  smeared REALTIME = the page's CLOCK_REALTIME
 *   otherwise:   smeared REALTIME = T - tai_offset_before s
 *                                   - leap * floor(e_ns / duration_s)  (ns)
 *
 * (the correction's size rounds down for either sign of leap); a reader
 * refuses a smear it would apply whose leap is not +1 or -1 or whose
 * duration_s is not 86400 + leap.
 *
 * so a reader switches segments exactly on time from its own counter,
 * even if the helper is late.  start_counter and end_counter are the
 * page's counter values at the window's ends by the current line, for
 * humans and tools.  Protected by seq.
 */
struct pvcp_smear {
    pvcp_u64 start_tai_sec;     /* TAI second of noon UTC before the leap */
    pvcp_u32 duration_s;        /* 86400 + leap */
    pvcp_s32 leap;              /* +1 inserted, -1 deleted, 0 none */
    pvcp_s32 tai_offset_before; /* TAI - UTC before the leap, seconds */
    pvcp_u32 reserved;
    pvcp_u64 start_counter;     /* informational */
    pvcp_u64 end_counter;       /* informational */
};

/*
 * A host page.  Layout is fixed; offsets in comments.  Everything in the
 * first cache lines up to and including the lines and bases is protected
 * by seq (a seqcount: odd while the helper writes, incremented by two per
 * update).  The helper bumps seq when the mapping really changes, and
 * when the bases of an unchanged line have fallen half a second behind
 * the kernel's (a rebase: the same time for every counter value, so
 * that a reader's delta stays short and its arithmetic on the vDSO's
 * short path), so readers are not made to retry for nothing.  After
 * each change of mapping, not after a rebase, it wakes every FUTEX_WAIT
 * on seq (a shared futex on the mapped file), so that a process which
 * must act on a new line (QEMU with vmclock=on) waits instead of
 * polling; readers of the time never need to.
 */
struct pvcp_host_page {
    /* 0x000: identity, written once when the page is created */
    pvcp_u32 magic;             /* PVCP_HOST_MAGIC */
    pvcp_u16 abi_major;         /* PVCP_ABI_MAJOR */
    pvcp_u16 abi_minor;         /* PVCP_ABI_MINOR of the writer */
    pvcp_u32 page_index;        /* 0..3, PVCP_PAGE_* */
    pvcp_u32 reserved0;
    pvcp_u64 reserved1;

    /* 0x018: seqcount for everything from here to 0x170 */
    pvcp_u32 seq;
    pvcp_u32 counter_mode;      /* PVCP_COUNTER_* */
    pvcp_u64 flags;             /* PVCP_HOST_F_* */
    pvcp_u64 counter_hz;        /* nominal host counter frequency, 0 unknown */

    /* 0x030 */
    struct pvcp_kvmclock kvmclock;      /* if counter_mode says so */

    /* 0x048: CLOCK_REALTIME, MONOTONIC, BOOTTIME and TAI */
    struct pvcp_line hres;
    struct pvcp_base hres_base[PVCP_HRES_CLOCKS];

    /* 0x0a0: CLOCK_MONOTONIC_RAW */
    struct pvcp_line raw;
    struct pvcp_base raw_base;

    /*
     * 0x0c8: host NTP state (adjtimex), informational.  tai_offset is
     * the kernel's, what CLOCK_TAI above is REALTIME plus: 0 unless an
     * NTP daemon set it, and then CLOCK_TAI is UTC.  Whether it is the
     * true TAI - UTC: see known_tai_offset.
     */
    pvcp_s32 tai_offset;        /* TAI - UTC, seconds */
    pvcp_u32 ntp_status;        /* adjtimex STA_* bits */
    pvcp_u64 esterror_ns;       /* estimated error */
    pvcp_u64 maxerror_ns;       /* maximum error */

    /* 0x0e0: leap second smear, smeared pages only (ABI 1.1) */
    struct pvcp_smear smear;

    /*
     * 0x108: simulate mode (PVCP_HOST_F_SIMULATED, ABI 1.1): this page's
     * counter is sim applied to the real host TSC.  Simulated hosts
     * publish the unscaled pages (0 and 1) only.  For the device and the
     * helper (and a test tool reading such pages on the host): since
     * ABI 1.7 guests read through the offset page's transform, which
     * includes sim (PVCP_XFORM_F_PAGE_COUNTER), and never apply it.
     */
    struct pvcp_xform sim;

    /*
     * 0x120: host disruptions (ABI 1.1): bumped by the helper in the same
     * seq write as a step of the host's REALTIME or TAI against its
     * MONOTONIC (settimeofday, a leap second, a new TAI offset) and at a
     * helper restart.  A guest's disruption count is the offset page's
     * generation plus this; both only grow.
     */
    pvcp_u64 disruptions;

    /*
     * 0x128 (ABI 1.5): TAI - UTC as the helper knows it, valid only with
     * PVCP_HOST_F_TAI_KNOWN: the kernel's tai_offset when it is not 0
     * (an NTP daemon set it), else, with PVCP_HOST_F_TAI_FROM_LIST, the
     * leap second list (leap-seconds.list) at the page's REALTIME if the
     * list has not expired.  Without the flag nobody here knows TAI:
     * true TAI is CLOCK_TAI + (known_tai_offset - tai_offset) s only
     * with it.  Writers before 1.5 leave 0 and no flag: a reader may
     * then take a nonzero tai_offset as known (0 never is TAI - UTC).
     */
    pvcp_s32 known_tai_offset;  /* TAI - UTC, seconds */
    pvcp_u32 reserved_tai;
    pvcp_u64 reserved_seq[2];

    /*
     * 0x140: check words (ABI 1.2), written in the same seq write as what
     * they cover, so that a page damaged by anyone but the helper (a
     * stray write, a scribble that keeps the header and an even seq) is
     * refused instead of read as clocks.  check[i] covers what a reader
     * of clock i loads (pvcp_check_clock(): counter_mode, flags, the
     * line, the clock's base, smear.leap), i = PVCP_HRES_* or 4 for
     * MONOTONIC_RAW; check_aux everything else under seq
     * (pvcp_check_aux()).  Readers verify them when the page's abi_minor
     * is 2 or more.  They catch accidents, not an adversary: whoever can
     * write the file can also write matching check words.
     */
    pvcp_u64 check[PVCP_HRES_CLOCKS + 1];
    pvcp_u64 check_aux;

    /* 0x170: outside seq */
    pvcp_u64 reserved2[2];

    /*
     * 0x180, own cache line, NOT protected by seq: the helper's liveness,
     * rewritten about every heartbeat_interval_ms without bumping seq, so
     * that a live helper costs readers nothing.  A reader whose host
     * counter is more than stale_after past heartbeat_counter reports the
     * page stale (and may still use it).  helper_epoch changes at every
     * helper start, so a reader can tell a restart.
     */
    pvcp_u64 heartbeat_counter; /* host counter at the last heartbeat */
    pvcp_u64 heartbeat_ns;      /* host CLOCK_MONOTONIC then, for humans */
    pvcp_u64 stale_after;       /* counter delta; 0 = never stale */
    pvcp_u64 helper_epoch;
    pvcp_u32 heartbeat_interval_ms;
    pvcp_u32 helper_pid;        /* 0 since 1.3 (was the helper's PID, */
                                /* which guests have no use for) */
    pvcp_u64 reserved3[3];

    /* 0x1c0 */
    pvcp_u8 reserved4[PVCP_PAGE_SIZE - 0x1c0];
};

#define PVCP_HOST_MAGIC         0x48435650u     /* "PVCH" */

/* counter_mode: what the page's counter is. */
#define PVCP_COUNTER_NONE       0   /* not published: readers must refuse */
#define PVCP_COUNTER_TSC        1   /* host TSC & S64_MAX */
#define PVCP_COUNTER_TSC_KVMCLOCK 2 /* host TSC through the kvmclock stage */
#define PVCP_COUNTER_RAW_NS     3   /* host CLOCK_MONOTONIC_RAW ns (scaled) */

/* flags */
#define PVCP_HOST_F_VALID       (1ull << 0) /* page published and usable */
/* the host vDSO has no overflow protection: its slow path wraps */
#define PVCP_HOST_F_MUL_WRAPS   (1ull << 1)
#define PVCP_HOST_F_SIMULATED   (1ull << 2) /* synthetic host (simulate mode) */
#define PVCP_HOST_F_LEAP_INS    (1ull << 3) /* leap second insertion armed */
#define PVCP_HOST_F_LEAP_DEL    (1ull << 4) /* leap second deletion armed */
#define PVCP_HOST_F_UNSYNC      (1ull << 5) /* host clock not synchronised */
/* known_tai_offset is TAI - UTC (ABI 1.5) ... */
#define PVCP_HOST_F_TAI_KNOWN   (1ull << 6)
/* ... taken from the leap second list: the kernel's tai_offset was 0 */
#define PVCP_HOST_F_TAI_FROM_LIST (1ull << 7)


/*
 * The guest-to-host counter transform of the offset page (ABI 1.3), a
 * line through a reference point:
 *
 *   d    = guest - guest_ref               (mod 2^64, read as signed 64-bit)
 *   host = host_ref + floor((d * mult + frac_ref) / 2^frac_bits)
 *                                          (mod 2^64)
 *
 * The product and sum are exact (|d| < 2^63, mult and frac_ref < 2^64:
 * they fit a signed 128-bit integer); frac_bits is 0..64 and floor rounds
 * towards minus infinity.  mult 1, frac_bits 0, frac_ref 0 is the
 * unscaled case, host = host_ref + d: exact for any offset.
 *
 * "host" is the host page's counter (ABI 1.7): on a simulated host
 * (PVCP_HOST_F_SIMULATED) the unscaled domain's transform has the page's
 * sim composed in, exactly (bit for bit sim of the host TSC) when the
 * guest counter is the host TSC plus an offset; for a scaled guest
 * counter never ahead, at most floor(sim's rate) + 2 counts behind.
 *
 * For a guest counter scaled as KVM scales a guest TSC,
 *   guest = floor(host * ratio / 2^F) + offset   (mod 2^64, any offset),
 * the device picks host_ref near the host counter at the time it writes
 * and guest_ref = the guest counter at host_ref exactly, and guarantees
 * for every guest counter value g whose host counts lie within 2^62 of
 * host_ref: the result is m or m - 1, where m is the first host count at
 * which the guest counter reads g.  Never ahead of the host, at most one
 * count behind (the reasoning is in hw/pvclock/relation.c).
 *
 * For the scaled domain (host pages 2 and 3) the result is host
 * CLOCK_MONOTONIC_RAW in ns at host count m: never ahead, at most 1 ns
 * behind.  Protected by the offset page's seq.
 */
struct pvcp_ref_xform {
    pvcp_u64 guest_ref;         /* guest counter at the reference */
    pvcp_u64 host_ref;          /* host page counter there, whole part */
    pvcp_u64 mult;              /* host counts per guest count, 2^-frac_bits */
    pvcp_u64 frac_ref;          /* fraction at the reference, 2^-frac_bits */
    pvcp_u32 frac_bits;         /* 0..64 */
    pvcp_u32 flags;             /* PVCP_XFORM_F_PAGE_COUNTER, _VALID */
};

/*
 * The live page (ABI 1.4): where the words are in the host kernel's own
 * vDSO time data page, which the device maps read-only at BAR0 0x5000
 * (the page QEMU's own vDSO reads: no copy, no helper, no lag).  The
 * kernel's layout is private to it and changes between versions; this
 * descriptor is the ABI, the page is not.  A host kernel whose layout
 * the device does not recognise only loses the live page.
 *
 * The page holds two clock blocks, each under its own seqcount (the
 * kernel bumps both in one update): block[0] for REALTIME, MONOTONIC,
 * BOOTTIME and TAI, block[1] for MONOTONIC_RAW.  Offsets of the fields
 * are relative to a block; all are little-endian, naturally aligned:
 *
 *   seq (u32), clock_mode (s32), cycle_last (u64), max_cycles (u64,
 *   PVCP_LIVE_NONE: absent), mask (u64, unused on x86), mult (u32),
 *   shift (u32), and per clock a base of two u64 {sec, nsec_shifted}:
 *   base[PVCP_HRES_*] in block[0], base[PVCP_LIVE_RAW] in block[1].
 *
 * The page's counter is the host TSC & S64_MAX: the unscaled domain's
 * host counter, reached through ref_xform[PVCP_DOMAIN_UNSCALED].  The
 * device marks the descriptor valid only while that domain is the real
 * host TSC (host page 0 not simulated, counter_mode TSC) and the
 * relation is linear, so the live page and host page 0 describe the
 * same clocks and the offset page's mono_offset applies to both.
 *
 * Reading one clock (block b):
 *
 *   1. o = offset page seq, wait while odd; g = generation; check
 *      live.flags & PVCP_LIVE_F_VALID and live.version; read barrier
 *   2. s = block b's seq; wait while odd; read barrier
 *   3. read the guest counter
 *   4. copy clock_mode, cycle_last, max_cycles, mult, shift and the base
 *   5. read barrier; if s, o or g changed, start again
 *   6. clock_mode != clock_mode_tsc (the host left the TSC): use the
 *      host pages.  Else compute exactly as for a host page (struct
 *      pvcp_line, with max_cycles (1 << 62) - 1 where absent and
 *      PVCP_HOST_F_MUL_WRAPS when flags has PVCP_LIVE_F_MUL_WRAPS), plus
 *      mono_offset for the monotonic clocks.
 *
 * Smeared REALTIME is the live TAI through the smeared host page's
 * smear (struct pvcp_smear), read under that page's seq.  The live page
 * has no heartbeat: it is the kernel's, never stale, so a reader using
 * it needs no helper alive.  Protected by the offset page's seq.
 */
struct pvcp_live {
    pvcp_u32 flags;             /* PVCP_LIVE_F_* */
    pvcp_u16 version;           /* PVCP_LIVE_VERSION: this form */
    pvcp_u16 layout;            /* PVCP_LIVE_LAYOUT_*, informational */
    pvcp_u16 block[2];          /* clock blocks' offsets in the page */
    pvcp_u16 seq;               /* field offsets within a block */
    pvcp_u16 clock_mode;
    pvcp_u16 cycle_last;
    pvcp_u16 max_cycles;
    pvcp_u16 mask;
    pvcp_u16 mult;
    pvcp_u16 shift;
    pvcp_u16 base[PVCP_HRES_CLOCKS + 1];
    pvcp_s32 clock_mode_tsc;    /* the clock_mode value for the TSC */
    pvcp_u32 reserved[2];
};

#define PVCP_LIVE_VERSION       1
#define PVCP_LIVE_RAW           PVCP_HRES_CLOCKS    /* base[] index */
#define PVCP_LIVE_NONE          0xffff              /* field absent */

#define PVCP_LIVE_F_VALID       (1u << 0)
/* the host kernel predates overflow protection (as PVCP_HOST_F_MUL_WRAPS) */
#define PVCP_LIVE_F_MUL_WRAPS   (1u << 1)
/*
 * The device has a live page mapped at BAR0 0x5000: memory, even while
 * not valid (set alone then, the rest of the descriptor zero).  Without
 * it (and without VALID) 0x5000 is an MMIO hole like 0x6000-0x7fff,
 * where every access exits to the VMM; the guest driver maps and reads
 * page 5 only while one of the two is set.  Devices before this flag
 * set VALID alone.
 */
#define PVCP_LIVE_F_MAPPED      (1u << 2)

/* layout: which host kernel family, for humans and tools */
#define PVCP_LIVE_LAYOUT_NONE       0
#define PVCP_LIVE_LAYOUT_DATASTORE  1   /* 6.15+, struct vdso_time_data */
#define PVCP_LIVE_LAYOUT_VDSO_DATA_MAX 2 /* 6.10-6.14, vdso_data@128 */
#define PVCP_LIVE_LAYOUT_VDSO_DATA  3   /* 5.4-6.9, without max_cycles */

/* Like struct timens_offset: added to a monotonic clock's value. */
struct pvcp_timens_offset {
    pvcp_s64 sec;
    pvcp_u64 nsec;              /* 0..999999999 */
};

/* Indexes into pvcp_offset_page.ref_xform[]. */
#define PVCP_DOMAIN_UNSCALED    0   /* to host pages 0 and 1 */
#define PVCP_DOMAIN_SCALED      1   /* to host pages 2 and 3 */
#define PVCP_DOMAINS            2

/* Indexes into pvcp_offset_page.mono_offset[]. */
#define PVCP_MONO_MONOTONIC     0
#define PVCP_MONO_RAW           1
#define PVCP_MONO_BOOTTIME      2
#define PVCP_MONO_CLOCKS        3

/*
 * The per-guest offset page, written by the device, read-only to the
 * guest.  Everything from seq to the end of the live descriptor is
 * protected by seq.  The device changes generation before (in the same
 * seq write as) any change that is a disruption for the guest: a new
 * counter relation, new monotonic offsets, another host.  A guest's
 * disruption count is generation plus the host page's disruptions; the
 * device keeps that sum growing across migrations too.
 */
struct pvcp_offset_page {
    /* 0x000 */
    pvcp_u32 magic;             /* PVCP_OFFSET_MAGIC */
    pvcp_u16 abi_major;
    pvcp_u16 abi_minor;
    pvcp_u32 seq;
    pvcp_u32 status;            /* PVCP_STATUS_* */
    pvcp_u64 generation;        /* disruption counter, starts at 1 */

    /* 0x018 */
    pvcp_u32 recommended_page;  /* host page index the guest should use */
    pvcp_u32 counter_backend;   /* PVCP_BACKEND_*, informational */
    pvcp_u64 guest_counter_hz;  /* guest TSC frequency, 0 unknown */

    /*
     * 0x028: reserved, zero since ABI 1.6.  Writers of 1.0-1.5 put the
     * guest-to-host transform of readers before 1.3 here (a struct
     * pvcp_xform per domain, 1.3-1.5 only where it was exact); a reader
     * of such a version finds its valid flag clear and refuses the page,
     * as it always did where that form was not exact.  Readers refuse
     * offset pages before 1.3 (PVCP_OFFSET_MINOR_MIN) and use ref_xform.
     */
    pvcp_u8 reserved_xform[48];

    /* 0x058 */
    struct pvcp_timens_offset mono_offset[PVCP_MONO_CLOCKS];

    /* 0x088: the guest-to-host transforms (ABI 1.3), per counter domain */
    struct pvcp_ref_xform ref_xform[PVCP_DOMAINS];

    /* 0x0d8 (ABI 1.3) */
    pvcp_u32 relation_flags;    /* PVCP_RELATION_F_* */
    pvcp_u32 reserved0;

    /* 0x0e0 (ABI 1.4): the live page at BAR0 0x5000 */
    struct pvcp_live live;

    /* 0x110 */
    pvcp_u8 reserved[PVCP_PAGE_SIZE - 0x110];
};

#define PVCP_OFFSET_MAGIC       0x4f435650u     /* "PVCO" */
/*
 * The oldest offset page a reader reads: ref_xform came with 1.3 (the
 * writers before it have no other transform a reader may compute with),
 * and maps to the page counter, a simulated host's included, since 1.7
 * (writers of 1.3-1.6 left a simulated host's sim to the reader).
 */
#define PVCP_OFFSET_MINOR_MIN   7

/* status: may the guest trust the pages right now? */
#define PVCP_STATUS_INVALID     0   /* not set up (or being torn down) */
#define PVCP_STATUS_VALID       1
#define PVCP_STATUS_NO_HELPER   2   /* no usable host pages */
/* the counter relation is not known exactly (e.g. vCPUs disagree) */
#define PVCP_STATUS_UNRELIABLE  3
/* the helper stopped updating: the last mapping, usable but ageing (1.1) */
#define PVCP_STATUS_STALE       4

/*
 * relation_flags: what the transforms do not cover.
 *
 * TSC_WRITES_UNSEEN: the accelerator does not tell the device when the
 * guest writes IA32_TSC or IA32_TSC_ADJUST (KVM).  After such a write
 * the transforms are wrong until the next generation (the device reads
 * the relation again at every VM start, reset and migration).  Operating
 * systems write the TSC at boot, if at all.
 */
#define PVCP_RELATION_F_TSC_WRITES_UNSEEN   (1u << 0)

/* counter_backend */
#define PVCP_BACKEND_NONE       0
#define PVCP_BACKEND_KVM        1
#define PVCP_BACKEND_TCG        2
#define PVCP_BACKEND_QTEST      3

#define PVCP_STATIC_ASSERT(e, m) _Static_assert(e, m)
PVCP_STATIC_ASSERT(sizeof(struct pvcp_line) == 24, "pvcp_line size");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_kvmclock) == 24, "pvcp_kvmclock size");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_smear) == 40, "pvcp_smear size");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_xform) == 24, "pvcp_xform size");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_host_page) == PVCP_PAGE_SIZE,
                   "host page size");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page, smear) == 0xe0,
                   "smear offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page, sim) == 0x108,
                   "sim offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page, disruptions) ==
                   0x120, "disruptions offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page,
                                      known_tai_offset) == 0x128,
                   "known TAI offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page, check) ==
                   0x140, "check words");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page, reserved2) ==
                   0x170, "end of the seq-protected part");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_host_page,
                                      heartbeat_counter) == 0x180,
                   "liveness cache line");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_ref_xform) == 40, "pvcp_ref_xform size");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_offset_page,
                                      reserved_xform) == 0x28,
                   "reserved_xform offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_offset_page, mono_offset) ==
                   0x58, "mono_offset offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_offset_page, ref_xform) ==
                   0x88, "ref_xform offset");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_offset_page,
                                      relation_flags) == 0xd8,
                   "relation_flags offset");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_live) == 48, "pvcp_live size");
PVCP_STATIC_ASSERT(__builtin_offsetof(struct pvcp_offset_page, live) == 0xe0,
                   "live descriptor offset");
PVCP_STATIC_ASSERT(sizeof(struct pvcp_offset_page) == PVCP_PAGE_SIZE,
                   "offset page size");

/*
 * Handing the pages over.  `pvclock-helper --socket PATH` keeps its pages
 * in a memfd sealed against shrinking and growing (F_SEAL_SHRINK,
 * F_SEAL_GROW and F_SEAL_SEAL), so no process can ever make a mapping of
 * them short.  Each client that connects to PATH (a stream unix socket)
 * gets one message, this header with a read-only file descriptor of the
 * memfd in an SCM_RIGHTS control message, and the helper closes the
 * connection.  Clients check the header and the seals, then map the
 * descriptor read-only and shared.  Every client gets the same memfd, for
 * as long as it exists; under systemd the helper keeps it across its own
 * restarts in the service's file descriptor store.
 */
#define PVCP_HANDOFF_MAGIC      0x44465650u     /* "PVFD" */

struct pvcp_handoff {
    uint32_t magic;             /* PVCP_HANDOFF_MAGIC */
    uint16_t abi_major;         /* of the pages: PVCP_ABI_MAJOR */
    uint16_t abi_minor;
    uint32_t size;              /* bytes of the memfd: PVCP_FILE_SIZE */
    uint32_t flags;             /* 0 */
};

PVCP_STATIC_ASSERT(sizeof(struct pvcp_handoff) == 16, "pvcp_handoff size");

#endif /* PVCLOCK_PAGES_ABI_H */
