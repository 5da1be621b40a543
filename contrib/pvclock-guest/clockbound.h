/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * AWS ClockBound's shared-memory segment, protocol version 2, as its
 * public protocol document (aws/clock-bound, docs/PROTOCOL.md) lays it
 * out: 80 bytes, native byte order, by default /var/run/clockbound/shm0.
 * ClockBound clients (YugabyteDB's time_source=clockbound, the Rust, C,
 * Go and Python libraries) map it read-only and compute, at their own
 * CLOCK_REALTIME reading `real` and CLOCK_MONOTONIC reading `mono`:
 *
 *     e       = bound_nsec + max_drift_ppb * (mono - as_of) / 1e9
 *     [earliest, latest] = [real - e, real + e]
 *
 * so the segment bounds the guest's own CLOCK_REALTIME, whatever keeps
 * it; status Synchronized or FreeRunning is trusted until
 * as_of + 5 s, FreeRunning until void_after, Unknown after.  With
 * clock_disruption_support 1 a client also compares disruption_marker
 * with VMClock's (/dev/vmclock0) and says Unknown while they differ.
 *
 * Written by `pvclock-guest clockbound` (clockbound.c).  The test
 * reader (tests/guest/tools/clockbound-check.c) is written from the
 * protocol document with its own offsets, not from this header.
 */
#ifndef PVCLOCK_GUEST_CLOCKBOUND_H
#define PVCLOCK_GUEST_CLOCKBOUND_H

#include <stdint.h>

/*
 * The magic as the reference writer stores it: two native-endian u32s
 * (the document lists the same eight bytes most significant first).
 */
#define CB_MAGIC0           0x414d5a4eu
#define CB_MAGIC1           0x43420200u
#define CB_VERSION          2
#define CB_DEFAULT_PATH     "/var/run/clockbound/shm0"

enum cb_status {
    CB_STATUS_UNKNOWN = 0,      /* no bound: do not trust the clock */
    CB_STATUS_SYNCHRONIZED = 1, /* bounded, the writer current */
    CB_STATUS_FREE_RUNNING = 2, /* bounded, the source gone quiet */
    CB_STATUS_DISRUPTED = 3,    /* disrupted: no bound until rewritten */
};

struct cb_segment {
    uint32_t magic[2];          /* 0x00 CB_MAGIC0, CB_MAGIC1 */
    uint32_t segsize;           /* 0x08 sizeof(struct cb_segment) */
    uint16_t version;           /* 0x0c CB_VERSION; 0 while initialising */
    /*
     * 0x0e odd while the writer updates what follows, even after; 0 only
     * before the first write (a wrap goes to 2).  Readers copy the body
     * between two equal even reads of it.
     */
    uint16_t generation;
    /* 0x10 CLOCK_MONOTONIC_COARSE when the bound held: tv_sec, tv_nsec */
    int64_t as_of[2];
    /* 0x20 CLOCK_MONOTONIC_COARSE after which no status is trusted */
    int64_t void_after[2];
    /* 0x30 |CLOCK_REALTIME - true UTC| at as_of, at most this, ns */
    int64_t bound_nsec;
    /* 0x38 the disruption count this bound was computed under */
    uint64_t disruption_marker;
    /* 0x40 how fast the bound grows after as_of, parts per 10^9 */
    uint32_t max_drift_ppb;
    int32_t clock_status;       /* 0x44 enum cb_status */
    /* 0x48 1: clients check disruption_marker against VMClock's */
    uint8_t clock_disruption_support;
    uint8_t padding[7];
};

_Static_assert(sizeof(struct cb_segment) == 80, "ClockBound shm v2 is 80 bytes");
_Static_assert(__builtin_offsetof(struct cb_segment, as_of) == 0x10, "as_of");
_Static_assert(__builtin_offsetof(struct cb_segment, bound_nsec) == 0x30, "bound");
_Static_assert(__builtin_offsetof(struct cb_segment, max_drift_ppb) == 0x40, "drift");
_Static_assert(__builtin_offsetof(struct cb_segment, clock_disruption_support)
               == 0x48, "support");

#endif /* PVCLOCK_GUEST_CLOCKBOUND_H */
