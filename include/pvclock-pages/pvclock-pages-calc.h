/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-pages arithmetic: the one place where a counter value becomes
 * nanoseconds, and the one place that says which words may become them
 * (the validators at the end).  The reader library, the helper's
 * validation, the device's migration code and the tests all call these;
 * nothing else may redo this arithmetic or these checks.
 *
 * Pure functions over copies of ABI structs: no I/O, no barriers, no
 * seqcounts (those belong to the callers that read shared memory).
 * Every step mirrors the Linux x86 vDSO so results are bit-exact with it.
 */
#ifndef PVCLOCK_PAGES_CALC_H
#define PVCLOCK_PAGES_CALC_H

#include "pvclock-pages-abi.h"

#define PVCP_NSEC_PER_SEC       1000000000ull
#define PVCP_S64_MAX            0x7fffffffffffffffull

/* GCC and clang, the compilers of every reader of this header */
#define PVCP_LIKELY(x)          __builtin_expect(!!(x), 1)
#define PVCP_UNLIKELY(x)        __builtin_expect(!!(x), 0)
/*
 * Inlined whatever the compiler's size heuristics say: GCC 12 called
 * pvcp_ref_xform_apply() and pvcp_clock_at() out of line from
 * libpvclock's read path, calls in a read of about 25 ns
 * (docs/benchmarks.md).
 */
#define PVCP_HOT                inline __attribute__((always_inline))

/*
 * The 128-bit products the arithmetic needs, in two helpers.  With
 * PVCP_HAVE_INT128 (the default: every 64-bit GCC or clang target has
 * unsigned __int128) they are one multiply; without it (a 32-bit host;
 * QEMU sets it from CONFIG_INT128) the same results from 32-bit halves.
 * tests/unit/test-calc128.c checks that the two agree.
 */
#ifndef PVCP_HAVE_INT128
#define PVCP_HAVE_INT128 1
#endif

#if PVCP_HAVE_INT128
typedef unsigned __int128 pvcp_u128;
#endif

/* (a * b + c) as 128 bits: *hi, and the low half returned */
static inline pvcp_u64 pvcp_mul_add_128(pvcp_u64 a, pvcp_u64 b, pvcp_u64 c,
                                        pvcp_u64 *hi)
{
#if PVCP_HAVE_INT128
    pvcp_u128 p = (pvcp_u128)a * b + c;

    *hi = (pvcp_u64)(p >> 64);
    return (pvcp_u64)p;
#else
    pvcp_u64 al = (pvcp_u32)a, ah = a >> 32, bl = (pvcp_u32)b, bh = b >> 32;
    pvcp_u64 ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    pvcp_u64 mid = (ll >> 32) + (pvcp_u32)lh + (pvcp_u32)hl;
    pvcp_u64 lo = (mid << 32) | (pvcp_u32)ll;

    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    lo += c;
    *hi += lo < c;
    return lo;
#endif
}

/* The low 64 bits of a 128-bit value hi:lo shifted right by 0..64. */
static inline pvcp_u64 pvcp_shr_128(pvcp_u64 lo, pvcp_u64 hi,
                                    unsigned int shift)
{
    if (shift == 0) {
        return lo;
    }
    if (shift >= 64) {
        return hi;
    }
    return (lo >> shift) | (hi << (64 - shift));
}

/* floor((a * b + c) / 2^shift) mod 2^64, all unsigned, shift 0..64 */
static inline pvcp_u64 pvcp_mul_add_shr(pvcp_u64 a, pvcp_u64 b, pvcp_u64 c,
                                        unsigned int shift)
{
    pvcp_u64 hi, lo = pvcp_mul_add_128(a, b, c, &hi);

    return pvcp_shr_128(lo, hi, shift);
}

/*
 * floor((d * b + c) / 2^shift) mod 2^64 with d signed (two's complement:
 * a negative d's unsigned product is 2^64 * b too large), shift 0..64.
 */
static inline pvcp_u64 pvcp_smul_add_shr(pvcp_s64 d, pvcp_u64 b, pvcp_u64 c,
                                         unsigned int shift)
{
    pvcp_u64 hi, lo = pvcp_mul_add_128((pvcp_u64)d, b, c, &hi);

    if (d < 0) {
        hi -= b;
    }
    return pvcp_shr_128(lo, hi, shift);
}

/* A clock value as the vDSO returns it: tv_sec, tv_nsec < 10^9. */
struct pvcp_time {
    pvcp_u64 sec;
    pvcp_u64 nsec;
};

/* Real host TSC -> a simulated host's counter (struct pvcp_xform). */
static inline pvcp_u64 pvcp_xform_apply(const struct pvcp_xform *x,
                                        pvcp_u64 real)
{
    if (x->frac_bits == 0 && x->mult == 1) {
        return real + x->offset;
    }
    return pvcp_mul_add_shr(real, x->mult, 0, x->frac_bits) + x->offset;
}

/*
 * Guest counter -> host page counter through the offset page's
 * reference-point transform (struct pvcp_ref_xform): d signed, the
 * product exact in 128 bits, floor division by 2^frac_bits (an
 * arithmetic shift).  frac_bits must be 0..64 (pvcp_offset_words_check()).
 */
static PVCP_HOT pvcp_u64 pvcp_ref_xform_apply(const struct pvcp_ref_xform *x,
                                              pvcp_u64 guest)
{
    pvcp_u64 d = guest - x->guest_ref;

    if (PVCP_LIKELY(x->frac_bits == 0 && x->mult == 1)) {
        return x->host_ref + d + x->frac_ref;
    }
    return x->host_ref + pvcp_smul_add_shr((pvcp_s64)d, x->mult, x->frac_ref,
                                           x->frac_bits);
}

/*
 * kvmclock stage (vread_pvclock() and __pvclock_read_cycles()): the host
 * kernel's clocksource cycles for a host TSC value.  The shift happens
 * before the 32.32 multiply and the sum wraps, as in the kernel.
 */
static inline pvcp_u64 pvcp_kvmclock_cycles(const struct pvcp_kvmclock *k,
                                            pvcp_u64 tsc)
{
    pvcp_u64 delta = tsc - k->tsc_timestamp;

    if (k->tsc_shift < 0) {
        delta >>= -k->tsc_shift;
    } else {
        delta <<= k->tsc_shift;
    }
    return (k->system_time +
            pvcp_mul_add_shr(delta, k->tsc_to_system_mul, 0, 32)) &
           PVCP_S64_MAX;
}

/* Host counter value (the page's counter domain) -> clocksource cycles. */
static inline pvcp_u64 pvcp_host_cycles(pvcp_u32 counter_mode,
                                        const struct pvcp_kvmclock *k,
                                        pvcp_u64 counter)
{
    if (counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        return pvcp_kvmclock_cycles(k, counter);
    }
    /* x86 vDSO: rdtsc_ordered() & S64_MAX */
    return counter & PVCP_S64_MAX;
}

/*
 * vdso_calc_ns() of the x86 vDSO.  Negative motion (a counter a little
 * behind cycle_last) clamps to the base; large deltas use a 128-bit
 * product unless the host kernel had no overflow protection, in which
 * case the 64-bit product wraps as it did there.
 */
static PVCP_HOT pvcp_u64 pvcp_line_ns(const struct pvcp_line *l,
                                      pvcp_u64 flags, pvcp_u64 cycles,
                                      pvcp_u64 base)
{
    pvcp_u64 delta = cycles - l->cycle_last;

    if (PVCP_UNLIKELY(delta > l->max_cycles)) {
        if (delta & (1ull << 62)) {
            return base >> l->shift;
        }
        if (flags & PVCP_HOST_F_MUL_WRAPS) {
            return (delta * l->mult + base) >> l->shift;
        }
        return pvcp_mul_add_shr(delta & PVCP_S64_MAX, l->mult, base,
                                l->shift);
    }
    return (delta * l->mult + base) >> l->shift;
}

/*
 * sec + ns as a normalised time.  The kernel's vDSO divides with a 32-bit
 * quotient (__iter_div_u64_rem), so past 2^32 s (136 years) of ns the
 * seconds it adds wrap; the same truncation here keeps even such absurd
 * inputs bit-exact with it.
 */
static PVCP_HOT struct pvcp_time pvcp_time_make(pvcp_u64 sec, pvcp_u64 ns)
{
    struct pvcp_time t;

    /* the usual case, less than two seconds past the base: no division */
    if (PVCP_LIKELY(ns < 2 * PVCP_NSEC_PER_SEC)) {
        if (ns >= PVCP_NSEC_PER_SEC) {
            t.sec = sec + 1;
            t.nsec = ns - PVCP_NSEC_PER_SEC;
        } else {
            t.sec = sec;
            t.nsec = ns;
        }
        return t;
    }
    t.sec = sec + (pvcp_u32)(ns / PVCP_NSEC_PER_SEC);
    t.nsec = ns % PVCP_NSEC_PER_SEC;
    return t;
}

/* One clock from a line and its base at the given clocksource cycles. */
static PVCP_HOT struct pvcp_time pvcp_clock_at(const struct pvcp_line *l,
                                               const struct pvcp_base *b,
                                               pvcp_u64 flags, pvcp_u64 cycles)
{
    return pvcp_time_make(b->sec,
                          pvcp_line_ns(l, flags, cycles, b->nsec_shifted));
}

#if PVCP_HAVE_INT128
/*
 * One clock at a counter given by the caller (a read "at", libpvclock's
 * pvclock_gettime_at()), by the ABI document's rule for it: the vDSO's
 * arithmetic (pvcp_clock_at()), except for a counter before cycle_last
 * (delta negative as a signed 64-bit value, and above max_cycles).
 * There the vDSO gives the base, the time at cycle_last, which is its
 * rule for "now" (a CPU whose TSC is a little behind must not see time
 * go back) and the wrong answer for "at": a timestamp taken before the
 * kernel's last tick, or before the helper published a newer line,
 * would read as the time of that tick.  A read at a counter gets the
 * line extrapolated back with the signed delta, exactly:
 *
 *   ns = floor((base + (s64)delta * mult) / 2^shift)   (may be negative)
 *   tv_sec = sec + floor(ns / 10^9) (mod 2^64), tv_nsec = ns mod 10^9
 *
 * Signed 128-bit arithmetic (|delta * mult| < 2^95), so only where the
 * compiler has it: the readers that take a counter (libpvclock) are
 * 64-bit.
 */
static PVCP_HOT struct pvcp_time pvcp_clock_at_given(
    const struct pvcp_line *l, const struct pvcp_base *b, pvcp_u64 flags,
    pvcp_u64 cycles)
{
    pvcp_u64 delta = cycles - l->cycle_last;
    struct pvcp_time t;
    __int128 ns, q, r;

    if (PVCP_LIKELY(delta <= l->max_cycles || (pvcp_s64)delta >= 0)) {
        return pvcp_clock_at(l, b, flags, cycles);
    }
    /* >> of a negative __int128 is arithmetic in GCC and clang: floor */
    ns = ((__int128)b->nsec_shifted +
          (__int128)(pvcp_s64)delta * l->mult) >> l->shift;
    q = ns / (__int128)PVCP_NSEC_PER_SEC;
    r = ns % (__int128)PVCP_NSEC_PER_SEC;
    if (r < 0) {
        q -= 1;
        r += PVCP_NSEC_PER_SEC;
    }
    t.sec = b->sec + (pvcp_u64)q;
    t.nsec = (pvcp_u64)r;
    return t;
}

/*
 * The same reading at a given counter (the signed delta, no clamp), not
 * floored to whole ns: seconds in the high 64 bits and the fraction of
 * the second in 2^-64 s in the low 64, the VMClock page's format.  The
 * result floored to ns is pvcp_clock_at_given()'s (for a counter within
 * max_cycles of cycle_last, or before it).  shift 0..63: unit below
 * 2^93, and the loop ends.
 */
static inline pvcp_u128 pvcp_clock_at_frac(const struct pvcp_line *l,
                                           const struct pvcp_base *b,
                                           pvcp_u64 cycles)
{
    __int128 unit = (__int128)PVCP_NSEC_PER_SEC << l->shift;
    __int128 ns_sh = (__int128)(pvcp_s64)(cycles - l->cycle_last) * l->mult +
                     (__int128)b->nsec_shifted;
    __int128 sec = ns_sh / unit, rem = ns_sh % unit;

    if (rem < 0) {
        rem += unit;
        sec--;
    }
    while (unit >> 63) {        /* shift > 33: keep rem << 64 in range */
        unit >>= 1;
        rem >>= 1;
    }
    return ((pvcp_u128)(b->sec + (pvcp_u64)sec) << 64) +
           ((pvcp_u128)rem << 64) / (pvcp_u128)unit;
}

/*
 * A VMClock line (Linux's vmclock-abi.h): at counter value count the
 * time is time (seconds in the high 64 bits, 2^-64 s in the low), and
 * each count adds period / 2^(64 + shift) s.
 */
struct pvcp_vmc_line {
    pvcp_u64 count;
    pvcp_u128 time;
    pvcp_u64 period;
    unsigned shift;
};

/* The line's time at counter value c (before count too), in 2^-64 s. */
static inline pvcp_u128 pvcp_vmc_line_at(const struct pvcp_vmc_line *l,
                                         pvcp_u64 c)
{
    pvcp_s64 d = (pvcp_s64)(c - l->count);
    pvcp_u64 m = d < 0 ? -(pvcp_u64)d : (pvcp_u64)d;
    pvcp_u128 step = ((pvcp_u128)m * l->period) >> l->shift;

    return d < 0 ? l->time - step : l->time + step;
}

/*
 * The VMClock line to publish at counter value host->count, the host's
 * own line through it (its time and period there), while readers may
 * hold the published line old (NULL: none they could compare with, as
 * after a disruption).  VMClock's TIME_MONOTONIC promise: a reading of
 * the old line at a counter taken once the rewrite has begun (host->count
 * is sampled after the odd seq is visible, so no reading of the old
 * line used a later count) is never later than a reading of the new one
 * at any later count.  Both lines rise, so it holds if the new line at
 * host->count is not before the old one there.  Where the host's line
 * is (it slowed while the old line still ran at the old rate, for as
 * long as the rewrite lagged), the new line starts where the old one
 * has reached and runs slower than the host's by one part in
 * 2^slew_bits, so it meets the host's line again after about
 * ahead * 2^slew_bits of time; *ahead says how far it starts ahead (0:
 * the host's line as it is).  The caller publishes ahead in its error
 * bound and rewrites again once the lines have met.
 */
static inline void pvcp_vmc_next_line(const struct pvcp_vmc_line *old,
                                      const struct pvcp_vmc_line *host,
                                      unsigned slew_bits,
                                      struct pvcp_vmc_line *next,
                                      pvcp_u128 *ahead)
{
    pvcp_u128 reached = old ? pvcp_vmc_line_at(old, host->count) : 0;

    *next = *host;
    *ahead = 0;
    if (old && reached > host->time) {
        *ahead = reached - host->time;
        next->time = reached;
        next->period = host->period - (host->period >> slew_bits);
    }
}
#endif

/*
 * Add a timens-like offset (do_hres_timens()): seconds and nanoseconds
 * added separately, then normalised.
 */
static PVCP_HOT struct pvcp_time pvcp_time_add_offset(
    struct pvcp_time t, const struct pvcp_timens_offset *o)
{
    return pvcp_time_make(t.sec + (pvcp_u64)o->sec, t.nsec + o->nsec);
}

/*
 * Smeared CLOCK_REALTIME (struct pvcp_smear in the ABI header) from the
 * page's TAI and unsmeared REALTIME at the same counter value.  The
 * correction grows by one nanosecond every duration_s nanoseconds, so
 * the smeared clock never goes backwards and ends exactly one leap
 * second away from where it started.
 */
static inline struct pvcp_time pvcp_smear_realtime(
    const struct pvcp_smear *sm, struct pvcp_time tai,
    struct pvcp_time realtime)
{
    pvcp_u64 e_ns, corr;
    struct pvcp_time t;

    if (sm->leap == 0 || sm->duration_s == 0 || tai.sec < sm->start_tai_sec) {
        return realtime;
    }
    if (tai.sec - sm->start_tai_sec >= sm->duration_s) {
        e_ns = (pvcp_u64)sm->duration_s * PVCP_NSEC_PER_SEC;
    } else {
        e_ns = (tai.sec - sm->start_tai_sec) * PVCP_NSEC_PER_SEC + tai.nsec;
    }
    corr = e_ns / sm->duration_s;               /* 0 .. 10^9 ns */
    t.sec = tai.sec - (pvcp_u64)(pvcp_s64)sm->tai_offset_before;
    t.nsec = tai.nsec;
    if (sm->leap > 0) {
        if (t.nsec >= corr) {
            t.nsec -= corr;
        } else {
            t.sec -= 1;
            t.nsec += PVCP_NSEC_PER_SEC - corr;
        }
    } else {
        t.nsec += corr;
        if (t.nsec >= PVCP_NSEC_PER_SEC) {
            t.sec += 1;
            t.nsec -= PVCP_NSEC_PER_SEC;
        }
    }
    return t;
}

/* a - b in nanoseconds (for tests and tools; |a - b| < 292 years). */
static inline pvcp_s64 pvcp_time_diff_ns(struct pvcp_time a,
                                         struct pvcp_time b)
{
    return (pvcp_s64)(a.sec - b.sec) * (pvcp_s64)PVCP_NSEC_PER_SEC +
           ((pvcp_s64)a.nsec - (pvcp_s64)b.nsec);
}

static inline int pvcp_time_cmp(struct pvcp_time a, struct pvcp_time b)
{
    if (a.sec != b.sec) {
        return (pvcp_s64)(a.sec - b.sec) < 0 ? -1 : 1;
    }
    return a.nsec < b.nsec ? -1 : a.nsec > b.nsec;
}

/*
 * Check words (ABI 1.2, struct pvcp_host_page.check).  Each 64-bit word
 * a check covers is rotated by its own amount and XORed into a seed that
 * names the clock: any change of one covered word, a word moved to
 * another place, or random bytes over the page (2^-64) fail the check.
 * Cheap enough for every read: the words are the ones a read loads
 * anyway, and the rotations are independent of one another.
 */
#define PVCP_CHECK_SEED         0x314b434843504350ull   /* "PVCPCHK1" */
#define PVCP_CHECK_RAW          PVCP_HRES_CLOCKS        /* check[] index */

static PVCP_HOT pvcp_u64 pvcp_rotl(pvcp_u64 w, unsigned r)
{
    return r ? (w << r) | (w >> (64 - r)) : w;
}

static PVCP_HOT pvcp_u64 pvcp_check_clock(unsigned index, pvcp_u32 counter_mode,
                                          pvcp_u64 flags,
                                          const struct pvcp_line *l,
                                          const struct pvcp_base *b,
                                          pvcp_s32 leap)
{
    return (PVCP_CHECK_SEED + index) ^
           pvcp_rotl(counter_mode | (pvcp_u64)(pvcp_u32)leap << 32, 9) ^
           pvcp_rotl(flags, 18) ^
           pvcp_rotl(l->cycle_last, 27) ^
           pvcp_rotl(l->max_cycles, 36) ^
           pvcp_rotl(l->mult | (pvcp_u64)l->shift << 32, 45) ^
           pvcp_rotl(b->sec, 54) ^
           pvcp_rotl(b->nsec_shifted, 63);
}

/* Clock index (PVCP_HRES_* or PVCP_CHECK_RAW) of page p, by its words. */
static inline pvcp_u64 pvcp_check_page_clock(const struct pvcp_host_page *p,
                                             unsigned index)
{
    return pvcp_check_clock(index, p->counter_mode, p->flags,
                            index == PVCP_CHECK_RAW ? &p->raw : &p->hres,
                            index == PVCP_CHECK_RAW ? &p->raw_base
                                                    : &p->hres_base[index],
                            p->smear.leap);
}

/* Everything else under seq: the 64-bit words from 0x020 to 0x140. */
#define PVCP_CHECK_AUX_START    0x20
#define PVCP_CHECK_AUX_WORDS    ((0x140 - PVCP_CHECK_AUX_START) / 8)

static inline pvcp_u64 pvcp_check_aux_words(const pvcp_u64 *w)
{
    pvcp_u64 acc = PVCP_CHECK_SEED ^ 0xa0a0a0a0a0a0a0a0ull;

    for (unsigned i = 0; i < PVCP_CHECK_AUX_WORDS; i++) {
        acc = pvcp_rotl(acc ^ pvcp_rotl(w[i], (i * 7) & 63), 1);
    }
    return acc;
}

static inline pvcp_u64 pvcp_check_aux(const struct pvcp_host_page *p)
{
    pvcp_u64 w[PVCP_CHECK_AUX_WORDS];

    __builtin_memcpy(w, (const unsigned char *)p + PVCP_CHECK_AUX_START,
                     sizeof(w));
    return pvcp_check_aux_words(w);
}

/* Does page p carry check words (written by ABI 1.2 or later)? */
static inline int pvcp_page_has_checks(pvcp_u16 abi_minor)
{
    return abi_minor >= 2;
}

/* Fill in all check words of page p (the writer, tests). */
static inline void pvcp_page_seal(struct pvcp_host_page *p)
{
    for (unsigned i = 0; i <= PVCP_CHECK_RAW; i++) {
        p->check[i] = pvcp_check_page_clock(p, i);
    }
    p->check_aux = pvcp_check_aux(p);
}

/* Do page p's check words match (true for pages without checks)? */
static inline int pvcp_page_checks_ok(const struct pvcp_host_page *p)
{
    if (!pvcp_page_has_checks(p->abi_minor)) {
        return 1;
    }
    for (unsigned i = 0; i <= PVCP_CHECK_RAW; i++) {
        if (p->check[i] != pvcp_check_page_clock(p, i)) {
            return 0;
        }
    }
    return p->check_aux == pvcp_check_aux(p);
}

/*
 * Validation: the one statement of which words of the pages may be
 * computed with.  QEMU (the device's own reads of host page 0, its live
 * descriptor, the helper's view of the kernel's data), libpvclock and
 * the guest driver all call these on their copies, before any of the
 * arithmetic above; none keeps a range check of its own.  Callers may
 * add policy of their own (staleness, a simulated host not acceptable
 * there), never a field's range.
 *
 * Each returns 0 or the set of PVCP_BAD_* that apply, all of them: a
 * reader ranks them as its errors rank, and the device can ask whether
 * an unpublished page is at least in range.  Every rule is an unlikely
 * branch that sets its flag: a usable page costs a compare and a branch
 * per rule, which libpvclock runs on every read (it is built so that
 * GCC keeps them branches, see meson.build; docs/benchmarks.md).
 */
#define PVCP_BAD_MAGIC          (1u << 0)   /* magic or page index */
/* an ABI major not known here, or an offset page before 1.7 */
#define PVCP_BAD_VERSION        (1u << 1)
#define PVCP_BAD_STATUS         (1u << 2)   /* offset page: not valid/stale */
#define PVCP_BAD_UNPUBLISHED    (1u << 3)   /* host page: not published */
#define PVCP_BAD_CHECK          (1u << 4)   /* host page: check words */
#define PVCP_BAD_RANGE          (1u << 5)   /* a word arithmetic takes */
/* host page: its counter is not the host TSC, read through an offset page */
#define PVCP_BAD_INDIRECT       (1u << 6)
/* damaged: words that must not be computed with */
#define PVCP_BAD_DAMAGED        (PVCP_BAD_CHECK | PVCP_BAD_RANGE)

/* For messages: the first reason in bad, as the readers rank them. */
static inline const char *pvcp_bad_why(unsigned bad)
{
    return bad & PVCP_BAD_MAGIC ? "bad magic or page index" :
           bad & PVCP_BAD_VERSION ? "an ABI version not read here (another "
                                    "major, or an offset page before 1.7)" :
           bad & PVCP_BAD_STATUS ? "device status neither valid nor stale" :
           bad & PVCP_BAD_UNPUBLISHED ? "not published" :
           bad & PVCP_BAD_CHECK ? "check words do not match (damaged)" :
           bad & PVCP_BAD_INDIRECT ? "a simulated host's page, whose "
                                     "counter only a guest reads (through "
                                     "the offset page's transform)" :
           bad & PVCP_BAD_RANGE ? "a word out of range (counter mode, "
                                  "shift, kvmclock stage, simulated host, "
                                  "smear, counter relation or live page)" :
           "usable";
}

/* A line's shift (a host page's or the live page's): 0..63. */
static PVCP_HOT int pvcp_shift_ok(pvcp_u32 shift)
{
    return shift <= 63;
}

/* Host page identity (written once, outside seq): page `page`, ABI 1. */
static PVCP_HOT unsigned pvcp_host_ident_check(pvcp_u32 magic,
                                               pvcp_u16 abi_major,
                                               pvcp_u32 page_index,
                                               unsigned page)
{
    unsigned bad = 0;

    if (PVCP_UNLIKELY(magic != PVCP_HOST_MAGIC || page_index != page)) {
        bad |= PVCP_BAD_MAGIC;
    }
    if (PVCP_UNLIKELY(abi_major != PVCP_ABI_MAJOR)) {
        bad |= PVCP_BAD_VERSION;
    }
    return bad;
}

/*
 * THE host page validator: every word of host page `page` (0..3) that
 * feeds arithmetic, as the caller copied it under seq.
 *   counter_mode, flags  published (PVCP_HOST_F_VALID, a counter), the
 *                        counter domain the page index says (pages 2
 *                        and 3 count raw ns, 0 and 1 never do)
 *   hres_shift,          the lines' shifts, 0..63 (a reader of one
 *   raw_shift            clock passes its line's shift for both)
 *   kc                   the kvmclock stage, required with counter_mode
 *                        TSC_KVMCLOCK: tsc_shift -63..63
 *   sim                  a simulated host's transform where the caller
 *                        applies it (the device, the helper, a host-side
 *                        test tool), NULL where it does not (a guest
 *                        reader: the offset page's transform includes
 *                        it): frac_bits 0..63, valid
 *   smear                the smear the caller applies (smeared
 *                        REALTIME), NULL if none: leap 0, or +1 or -1
 *                        over 86400 + leap s
 *   checks_ok            the check words the caller verified match
 *                        (pvcp_page_checks_ok(), or a reader's own from
 *                        pvcp_check_clock() over the words it copied)
 */
static PVCP_HOT unsigned pvcp_host_words_check(unsigned page,
                                               pvcp_u32 counter_mode,
                                               pvcp_u64 flags,
                                               pvcp_u32 hres_shift,
                                               pvcp_u32 raw_shift,
                                               const struct pvcp_kvmclock *kc,
                                               const struct pvcp_xform *sim,
                                               const struct pvcp_smear *smear,
                                               int checks_ok)
{
    unsigned bad = 0;

    if (PVCP_UNLIKELY(counter_mode == PVCP_COUNTER_NONE ||
                      !(flags & PVCP_HOST_F_VALID))) {
        bad |= PVCP_BAD_UNPUBLISHED;
    }
    if (PVCP_UNLIKELY(!checks_ok)) {
        bad |= PVCP_BAD_CHECK;
    }
    if (PVCP_UNLIKELY(counter_mode > PVCP_COUNTER_RAW_NS ||
                      (counter_mode == PVCP_COUNTER_RAW_NS) !=
                      !!(page & PVCP_PAGE_SCALED) ||
                      !pvcp_shift_ok(hres_shift) ||
                      !pvcp_shift_ok(raw_shift))) {
        bad |= PVCP_BAD_RANGE;
    }
    if (PVCP_UNLIKELY(counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) &&
        (!kc || kc->tsc_shift > 63 || kc->tsc_shift < -63)) {
        bad |= PVCP_BAD_RANGE;
    }
    if (PVCP_UNLIKELY(flags & PVCP_HOST_F_SIMULATED) && sim &&
        (sim->frac_bits > 63 || !(sim->flags & PVCP_XFORM_F_VALID))) {
        bad |= PVCP_BAD_RANGE;
    }
    if (PVCP_UNLIKELY(smear && smear->leap != 0) &&
        ((smear->leap != 1 && smear->leap != -1) ||
         smear->duration_s != (pvcp_u32)(86400 + smear->leap))) {
        bad |= PVCP_BAD_RANGE;
    }
    return bad;
}

/*
 * A whole copy of host page `page`: identity, then every word above
 * (the smear on the smeared pages 1 and 3, where a read of REALTIME
 * applies it).
 */
static inline unsigned pvcp_host_page_check(const struct pvcp_host_page *h,
                                            unsigned page)
{
    return pvcp_host_ident_check(h->magic, h->abi_major, h->page_index,
                                 page) |
           pvcp_host_words_check(page, h->counter_mode, h->flags,
                                 h->hres.shift, h->raw.shift, &h->kvmclock,
                                 &h->sim,
                                 (page & PVCP_PAGE_SMEARED)
                                 ? &h->smear : (const struct pvcp_smear *)0,
                                 pvcp_page_checks_ok(h));
}

/*
 * May host page words be read without an offset page, the host TSC as
 * their counter (a reader on the host)?  Not a simulated host's: its
 * counter is a transform of the TSC that the helper and the device
 * apply (the device composes it into the offset page's transform).
 */
static inline unsigned pvcp_host_direct_check(pvcp_u64 flags)
{
    return (flags & PVCP_HOST_F_SIMULATED) ? PVCP_BAD_INDIRECT : 0;
}

/*
 * Offset page identity (written once): ABI 1, and a writer of 1.7 or
 * later (PVCP_OFFSET_MINOR_MIN): the first whose transform maps to the
 * page counter in every case, a simulated host's included.
 */
static PVCP_HOT unsigned pvcp_offset_ident_check(pvcp_u32 magic,
                                                 pvcp_u16 abi_major,
                                                 pvcp_u16 abi_minor)
{
    unsigned bad = 0;

    if (PVCP_UNLIKELY(magic != PVCP_OFFSET_MAGIC)) {
        bad |= PVCP_BAD_MAGIC;
    }
    if (PVCP_UNLIKELY(abi_major != PVCP_ABI_MAJOR ||
                      abi_minor < PVCP_OFFSET_MINOR_MIN)) {
        bad |= PVCP_BAD_VERSION;
    }
    return bad;
}

/*
 * THE offset page validator: the status, and the transform x the
 * caller applies (ref_xform[domain]): to the page counter
 * (PVCP_XFORM_F_PAGE_COUNTER; PVCP_XFORM_F_VALID is for readers of
 * 1.3-1.6 and says nothing here), frac_bits 0..64.  The
 * monotonic offsets need no range: pvcp_time_add_offset() normalises
 * any value as the kernel does.
 */
static PVCP_HOT unsigned pvcp_offset_words_check(pvcp_u32 status,
                                                 const struct pvcp_ref_xform *x)
{
    unsigned bad = 0;

    if (PVCP_UNLIKELY(status != PVCP_STATUS_VALID &&
                      status != PVCP_STATUS_STALE)) {
        bad |= PVCP_BAD_STATUS;
    }
    if (PVCP_UNLIKELY(!(x->flags & PVCP_XFORM_F_PAGE_COUNTER) ||
                      x->frac_bits > 64)) {
        bad |= PVCP_BAD_RANGE;
    }
    return bad;
}

/*
 * A whole copy of an offset page, for counter domain `domain`
 * (PVCP_DOMAIN_*) through its ref_xform.
 */
static inline unsigned pvcp_offset_page_check(
    const struct pvcp_offset_page *op, unsigned domain)
{
    return pvcp_offset_ident_check(op->magic, op->abi_major,
                                   op->abi_minor) |
           pvcp_offset_words_check(op->status, &op->ref_xform[domain]);
}

/*
 * One clock's view of the live descriptor (struct pvcp_live): its
 * block, the field offsets, its base and, with a smear, TAI's.
 */
struct pvcp_live_clock {
    pvcp_u32 flags;
    pvcp_u16 version, block, seq, clock_mode, cycle_last, max_cycles;
    pvcp_u16 mult, shift, base, tai;
    pvcp_s32 clock_mode_tsc;
};

/* Clock `index` (PVCP_HRES_* or PVCP_LIVE_RAW) of descriptor d. */
static inline void pvcp_live_clock_of(const struct pvcp_live *d,
                                      unsigned index,
                                      struct pvcp_live_clock *c)
{
    c->flags = d->flags;
    c->version = d->version;
    c->block = d->block[index == PVCP_LIVE_RAW];
    c->seq = d->seq;
    c->clock_mode = d->clock_mode;
    c->cycle_last = d->cycle_last;
    c->max_cycles = d->max_cycles;
    c->mult = d->mult;
    c->shift = d->shift;
    c->base = d->base[index];
    c->tai = d->base[PVCP_HRES_TAI];
    c->clock_mode_tsc = d->clock_mode_tsc;
}

/*
 * THE live descriptor validator, for one clock: valid, this version,
 * and every offset the read uses inside the page (its block's fields,
 * its base and, with_tai, TAI's base in the same block, which smeared
 * REALTIME reads).
 */
static PVCP_HOT unsigned pvcp_live_clock_check(const struct pvcp_live_clock *c,
                                               int with_tai)
{
    unsigned blk = c->block;
    unsigned last = c->max_cycles == PVCP_LIVE_NONE ? 0 : c->max_cycles;

    last = last > c->cycle_last ? last : c->cycle_last;
    return (c->flags & PVCP_LIVE_F_VALID) &&
           c->version == PVCP_LIVE_VERSION &&
           blk + c->seq + 4 <= PVCP_PAGE_SIZE &&
           blk + c->clock_mode + 4 <= PVCP_PAGE_SIZE &&
           blk + last + 8 <= PVCP_PAGE_SIZE &&
           blk + c->mult + 4 <= PVCP_PAGE_SIZE &&
           blk + c->shift + 4 <= PVCP_PAGE_SIZE &&
           blk + c->base + 16 <= PVCP_PAGE_SIZE &&
           (!with_tai || blk + c->tai + 16 <= PVCP_PAGE_SIZE)
           ? 0 : PVCP_BAD_RANGE;
}

/* A whole descriptor: every clock's view of it. */
static inline unsigned pvcp_live_desc_check(const struct pvcp_live *d)
{
    struct pvcp_live_clock c;
    unsigned bad = 0;

    for (unsigned i = 0; i <= PVCP_LIVE_RAW; i++) {
        pvcp_live_clock_of(d, i, &c);
        bad |= pvcp_live_clock_check(&c, i != PVCP_LIVE_RAW);
    }
    return bad;
}

/*
 * The live page's words a read copied at the descriptor's offsets: the
 * host kernel still counts the TSC, and the line's shift is in range.
 */
static PVCP_HOT unsigned pvcp_live_words_check(const struct pvcp_live_clock *c,
                                               pvcp_s32 clock_mode,
                                               pvcp_u32 shift)
{
    return clock_mode != c->clock_mode_tsc || !pvcp_shift_ok(shift)
           ? PVCP_BAD_RANGE : 0;
}

#endif /* PVCLOCK_PAGES_CALC_H */
