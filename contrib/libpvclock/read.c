/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock's read path, written once as the ABI header's protocol:
 * snapshot (seqs, words, counter, recheck), then validate, then
 * compute (pvclock-pages-calc.h).  The entry points call read_clock()
 * with constant arguments, and the compiler makes the lean versions of
 * the common cases from it: a host reader, a guest reader, the live
 * page.  Rarely used words (kvm-clock stage, simulated host, smear) are
 * copied only when the page says it needs them.
 */
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "pvclock-internal.h"
#include "pvclock-pages/pvclock-pages-calc.h"

/*
 * With the read inlined into one function per clock, GCC 12 warns that
 * snapshot fields "may be used uninitialized" on paths where snapshot()
 * returned an error and nothing reads them.  Initialising the snapshot
 * would cost every read a store per field; the warning is switched off
 * here instead (clang, which the fuzz build uses, does not give it).
 * It is no guard for the fields that matter anyway: with it on, GCC
 * 12.2 at -O1 to -O3, clang and -fanalyzer all stayed silent on the live
 * TAI base a smeared read once used unwritten (issue 32); the unit test
 * unit/smear-live and a MemorySanitizer build of it caught it.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define ALWAYS_INLINE   inline __attribute__((always_inline))
#define NOINLINE        __attribute__((noinline))

/* How long a reader waits for a writer before giving up (iterations). */
#ifndef SEQ_SPIN_LIMIT          /* fuzz builds make it small */
#define SEQ_SPIN_LIMIT  (1u << 24)
#endif

/*
 * A writer holds seq odd for well under a microsecond, unless it is
 * preempted in the middle of a write; one that died there holds it odd
 * for good.  Spin a little, then yield and watch the clock:
 * PVCLOCK_EBUSY after SEQ_WAIT_NS of an odd seq (or SEQ_SPIN_LIMIT
 * spins, which fuzz builds make small).  Why 100 ms: with a writer and
 * two readers on this project's 2-core machine, a 1 ms bound refused 1
 * to 78 reads in 24 M and a 10 ms one 1 to 5 (a preempted writer, not a
 * dead one); 50 ms refused none, also with two more CPU hogs.
 */
#define SEQ_FAST_SPINS  1024
#define SEQ_WAIT_NS     100000000   /* 100 ms */

/* Which words each clock id reads, and its name: the library's one table. */
struct clock_desc {
    int8_t known;
    int8_t index;       /* PVCP_HRES_*, or PVCP_CHECK_RAW (= PVCP_LIVE_RAW) */
    int8_t mono;        /* PVCP_MONO_*, or -1: no offset page offset */
    const char *name;
};

static const struct clock_desc clock_table[] = {
    [CLOCK_REALTIME] = { 1, PVCP_HRES_REALTIME, -1, "REALTIME" },
    [CLOCK_MONOTONIC] = { 1, PVCP_HRES_MONOTONIC, PVCP_MONO_MONOTONIC,
                          "MONOTONIC" },
    [CLOCK_MONOTONIC_RAW] = { 1, PVCP_CHECK_RAW, PVCP_MONO_RAW,
                              "MONOTONIC_RAW" },
    [CLOCK_BOOTTIME] = { 1, PVCP_HRES_BOOTTIME, PVCP_MONO_BOOTTIME,
                         "BOOTTIME" },
    [CLOCK_TAI] = { 1, PVCP_HRES_TAI, -1, "TAI" },
};

/* The order tools list them in (pvclock_clock()). */
static const clockid_t clock_order[PVCLOCK_CLOCKS] = {
    CLOCK_REALTIME, CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
    CLOCK_BOOTTIME,
};

static inline const struct clock_desc *clock_of(clockid_t clk)
{
    if ((unsigned)clk >= sizeof(clock_table) / sizeof(clock_table[0]) ||
        !clock_table[clk].known) {
        return NULL;
    }
    return &clock_table[clk];
}

clockid_t pvclock_clock(int i)
{
    return i >= 0 && i < PVCLOCK_CLOCKS ? clock_order[i] : (clockid_t)-1;
}

const char *pvclock_clock_name(clockid_t clk)
{
    const struct clock_desc *c = clock_of(clk);

    return c ? c->name : NULL;
}

static inline bool is_raw(const struct clock_desc *c)
{
    return c->index == PVCP_CHECK_RAW;
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The writer is in the middle of an update: wait for it, within bounds.
 * An odd value back means it never finished (PVCLOCK_EBUSY).
 */
static NOINLINE uint32_t seq_wait(const volatile uint32_t *seqp)
{
    uint32_t n = 0, seq;
    int64_t since = 0;

    while ((seq = __atomic_load_n(seqp, __ATOMIC_ACQUIRE)) & 1) {
        if (++n == SEQ_SPIN_LIMIT) {
            break;
        }
        if (n < SEQ_FAST_SPINS) {
            __builtin_ia32_pause();
            continue;
        }
        /*
         * Past the fast spins the writer is likely off its CPU, perhaps
         * because readers like this one keep the CPUs busy: let it run.
         */
        if (!since) {
            since = mono_ns();
        } else if (mono_ns() - since > SEQ_WAIT_NS) {
            break;
        }
        sched_yield();
    }
    return seq;
}

static ALWAYS_INLINE uint32_t seq_begin(const volatile uint32_t *seqp)
{
    uint32_t seq = __atomic_load_n(seqp, __ATOMIC_ACQUIRE);

    return __builtin_expect(seq & 1, 0) ? seq_wait(seqp) : seq;
}

/*
 * The words few reads need: the kvm-clock stage, the smear, the rest of
 * the page for check_aux.  Kept apart
 * so that the common snapshot stays in registers.
 */
struct rare_words {
    struct pvcp_kvmclock kc;
    struct pvcp_smear smear;
    struct pvcp_base tai;           /* smeared REALTIME: TAI's base */
    uint64_t check_aux;
    uint64_t aux[PVCP_CHECK_AUX_WORDS];
};

/* What one read copied, under every seq it took. */
struct snapshot {
    /* the offset page (guest readers) */
    uint32_t oseq, status;
    uint64_t ogen;
    uint16_t ominor;
    struct pvcp_ref_xform xf;
    struct pvcp_timens_offset mono;
    /*
     * the live descriptor as this clock's read needs it (its block, its
     * base, TAI's for a smear), in scalars: no array to index, so the
     * compiler keeps it in registers
     */
    struct pvcp_live_clock live_desc;
    /* the host page */
    const volatile struct pvcp_host_page *h;
    int page;
    uint32_t hseq, counter_mode;
    uint64_t flags;
    int32_t leap;

    uint64_t check;
    struct pvcp_line line;          /* the clock's line and base */
    struct pvcp_base base;
    /* words few reads need: extra says which were copied to *rare */
    uint64_t extra;                 /* 64 bits: see line_mult_shift() */
    struct rare_words *rare;
    /* the live page, when it answers */
    bool live;
    const volatile unsigned char *blk;
    uint32_t lseq;
    int32_t live_mode;
    struct pvcp_line live_line;
    struct pvcp_base live_base, live_tai;
    /* pvclock_get_info()'s words, and the bound's */
    uint64_t disruptions, counter_hz, guest_counter_hz, maxerror_ns;
    uint32_t backend;
    uint64_t counter;
};

#define EXTRA_KVMCLOCK  (1u << 0)
#define EXTRA_SMEAR     (1u << 2)
#define EXTRA_AUX       (1u << 3)

/* What read_clock() was asked for; constants at every call site. */
enum read_mode {
    READ_CHECK_ALL = 1 << 0,    /* verify check_aux too (pvclock_gettime_at) */
    READ_AT = 1 << 1,           /* the counter is given: a counter before */
                                /* a line's cycle_last is the time at it */
                                /* (pvcp_clock_at_given()), not the base */
    READ_LIVE = 1 << 2,         /* the live page may answer */
    READ_INFO = 1 << 3,         /* pvclock_get_info()'s words too */
    READ_BOUND = 1 << 4,        /* the error bound's words (bound.c) */
};

/* Returned by snapshot() when the live page cannot answer this read. */
#define LIVE_CANNOT     (-1)

/*
 * The offset page's transform for host page `page` and a clock's offset.
 * Only ABI 1.3 writers' pages have one; offset_verdict() refuses older
 * ones by their abi_minor.
 */
static ALWAYS_INLINE void copy_offset(const volatile struct pvcp_offset_page *op,
                                      const struct clock_desc *c,
                                      unsigned mode, struct snapshot *s)
{
    int d = s->page >> 1;

    s->ogen = op->generation;
    s->status = op->status;
    s->ominor = op->abi_minor;
    if (mode & READ_INFO) {
        s->backend = op->counter_backend;
        s->guest_counter_hz = op->guest_counter_hz;
    }
    s->xf.guest_ref = op->ref_xform[d].guest_ref;
    s->xf.host_ref = op->ref_xform[d].host_ref;
    s->xf.mult = op->ref_xform[d].mult;
    s->xf.frac_ref = op->ref_xform[d].frac_ref;
    s->xf.frac_bits = op->ref_xform[d].frac_bits;
    s->xf.flags = op->ref_xform[d].flags;
    if (c->mono >= 0) {
        s->mono.sec = op->mono_offset[c->mono].sec;
        s->mono.nsec = op->mono_offset[c->mono].nsec;
    }
}

/* The live page's descriptor: can it answer this read? */
static ALWAYS_INLINE bool copy_live_desc(const volatile struct pvcp_offset_page *op,
                                         const struct clock_desc *c,
                                         struct snapshot *s)
{
    struct pvcp_live_clock *d = &s->live_desc;

    d->flags = op->live.flags;
    if (s->ominor < 4 || !(d->flags & PVCP_LIVE_F_VALID) ||
        (s->page & PVCP_PAGE_SCALED)) {
        return false;
    }
    d->version = op->live.version;
    d->block = op->live.block[is_raw(c)];
    d->seq = op->live.seq;
    d->clock_mode = op->live.clock_mode;
    d->cycle_last = op->live.cycle_last;
    d->max_cycles = op->live.max_cycles;
    d->mult = op->live.mult;
    d->shift = op->live.shift;
    d->base = op->live.base[c->index];
    d->tai = op->live.base[PVCP_HRES_TAI];
    d->clock_mode_tsc = op->live.clock_mode_tsc;
    return true;
}

static inline uint32_t live32(const volatile unsigned char *p, unsigned off)
{
    return *(const volatile uint32_t *)(p + off);
}

static inline uint64_t live64(const volatile unsigned char *p, unsigned off)
{
    return *(const volatile uint64_t *)(p + off);
}

/* The host kernel's words for clock c, at the descriptor's offsets. */
static ALWAYS_INLINE void copy_live(const volatile unsigned char *blk,
                                    const struct pvcp_live_clock *d,
                                    struct snapshot *s)
{
    s->live_mode = (int32_t)live32(blk, d->clock_mode);
    s->live_line.cycle_last = live64(blk, d->cycle_last);
    s->live_line.max_cycles = d->max_cycles == PVCP_LIVE_NONE
                              ? (1ull << 62) - 1 : live64(blk, d->max_cycles);
    s->live_line.mult = live32(blk, d->mult);
    s->live_line.shift = live32(blk, d->shift);
    s->live_base.sec = live64(blk, d->base);
    s->live_base.nsec_shifted = live64(blk, d->base + 8);
    if (s->extra & EXTRA_SMEAR) {
        s->live_tai.sec = live64(blk, d->tai);
        s->live_tai.nsec_shifted = live64(blk, d->tai + 8);
    }
}

/* The words few reads need, which the page's own words ask for. */
static NOINLINE void copy_extra(const volatile struct pvcp_host_page *h,
                                unsigned extra, struct rare_words *r)
{
    if (extra & EXTRA_KVMCLOCK) {
        r->kc.tsc_timestamp = h->kvmclock.tsc_timestamp;
        r->kc.system_time = h->kvmclock.system_time;
        r->kc.tsc_to_system_mul = h->kvmclock.tsc_to_system_mul;
        r->kc.tsc_shift = h->kvmclock.tsc_shift;
    }
    if (extra & EXTRA_SMEAR) {
        r->tai.sec = h->hres_base[PVCP_HRES_TAI].sec;
        r->tai.nsec_shifted = h->hres_base[PVCP_HRES_TAI].nsec_shifted;
        r->smear.start_tai_sec = h->smear.start_tai_sec;
        r->smear.duration_s = h->smear.duration_s;
        r->smear.leap = h->smear.leap;
        r->smear.tai_offset_before = h->smear.tai_offset_before;
    }
    if (extra & EXTRA_AUX) {
        const volatile uint64_t *w = (const volatile uint64_t *)
            ((const volatile char *)h + PVCP_CHECK_AUX_START);

        r->check_aux = h->check_aux;
        for (int i = 0; i < PVCP_CHECK_AUX_WORDS; i++) {
            r->aux[i] = w[i];
        }
    }
}

/*
 * mult and shift in one 64-bit load (x86 is little-endian: mult is the
 * low half).  The check word takes them as one word; copied as two
 * 32-bit words, GCC spilled them as such and reloaded the pair as one
 * 64-bit word, which store-to-load forwarding cannot serve (a stall of
 * about 12 cycles).  The same reason makes extra and the counter's
 * halves 64-bit (pvcp_counter_read()).
 */
static ALWAYS_INLINE void line_mult_shift(struct snapshot *s,
                                          const volatile struct pvcp_line *vl)
{
    typedef uint64_t __attribute__((may_alias)) word;
    uint64_t w = *(const volatile word *)&vl->mult;

    s->line.mult = (uint32_t)w;
    s->line.shift = (uint32_t)(w >> 32);
}

/*
 * The host page's words for clock c, one load each (volatile: a copy
 * the compiler made with vector loads would cost the arithmetic after
 * the counter a transfer out of the vector registers).
 */
static ALWAYS_INLINE void copy_host(const volatile struct pvcp_host_page *h,
                                    const struct clock_desc *c,
                                    struct snapshot *s)
{
    const volatile struct pvcp_line *vl = is_raw(c) ? &h->raw : &h->hres;
    const volatile struct pvcp_base *vb = is_raw(c) ? &h->raw_base
                                                    : &h->hres_base[c->index];

    s->counter_mode = h->counter_mode;
    s->flags = h->flags;
    s->leap = h->smear.leap;
    s->check = h->check[c->index];
    s->line.cycle_last = vl->cycle_last;
    s->line.max_cycles = vl->max_cycles;
    line_mult_shift(s, vl);
    s->base.sec = vb->sec;
    s->base.nsec_shifted = vb->nsec_shifted;
}

/*
 * Does this read smear?  Only smeared REALTIME on a smeared page with a
 * leap published, which the host page's words just copied say (page and
 * clock first: without them no host page was copied).  Decided once,
 * right after copy_host() and before copy_live(), which copies the live
 * TAI base a smear needs: decided later, the live read would smear from
 * a TAI base nobody wrote.
 */
static ALWAYS_INLINE uint64_t smear_extra(const struct snapshot *s,
                                          const struct clock_desc *c)
{
    return c->index == PVCP_HRES_REALTIME && (s->page & PVCP_PAGE_SMEARED) &&
           __builtin_expect(s->leap != 0, 0) ? EXTRA_SMEAR : 0;
}

/*
 * The words few reads need, which the words just copied ask for: after
 * the counter (nothing computed from them waits for it) and still
 * under the seq.
 */
static ALWAYS_INLINE void copy_host_rest(const volatile struct pvcp_host_page *h,
                                         unsigned mode, struct snapshot *s)
{
    /* EXTRA_SMEAR is in s->extra already (smear_extra()) */
    if (__builtin_expect(s->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK, 0)) {
        s->extra |= EXTRA_KVMCLOCK;
    }
    if ((mode & READ_CHECK_ALL) || s->extra) {
        s->extra |= EXTRA_AUX;
    }
    if (__builtin_expect(s->extra != 0, 0)) {
        copy_extra(h, s->extra, s->rare);
    }
    if (mode & (READ_INFO | READ_BOUND)) {
        s->disruptions = h->disruptions;
        s->counter_hz = h->counter_hz;
    }
    if (mode & READ_BOUND) {
        s->maxerror_ns = h->maxerror_ns;
    }
}

/* Does this read need the host page (not only the live page)? */
static inline bool needs_host(bool live, int page, const struct clock_desc *c)
{
    return !live || ((page & PVCP_PAGE_SMEARED) &&
                     c->index == PVCP_HRES_REALTIME);
}

/*
 * The snapshot: offset page seq, host page seq (the live page's instead
 * when it answers, with the host page's too for a smear), the words,
 * the counter, then every seq and the generation again.  The generation
 * too: a read that straddles a migration copies half from the source
 * host's pages and half from the destination's, and the two sides'
 * seqs can be equal by chance; the generation always grows across one.
 */
static ALWAYS_INLINE int snapshot(const struct pvclock *pc,
                                  const struct clock_desc *c, bool guest,
                                  unsigned mode, int force_page,
                                  struct snapshot *s)
{
    const volatile struct pvcp_offset_page *op = pc->offset;
    unsigned tries = 0;
    bool live, host;

    do {
        if (__builtin_expect(++tries > SEQ_SPIN_LIMIT, 0)) {
            return PVCLOCK_EBUSY;
        }
        s->page = force_page >= 0 ? force_page : pc->page >= 0 ? pc->page : 0;
        live = false;
        if (guest) {
            s->oseq = seq_begin(&op->seq);
            if (force_page < 0 && pc->page < 0) {
                uint32_t rec = op->recommended_page;

                s->page = rec < PVCP_HOST_PAGES ? (int)rec : 0;
            }
            copy_offset(op, c, mode, s);
            /* its offsets inside the page before any is read */
            live = (mode & READ_LIVE) && copy_live_desc(op, c, s) &&
                   !pvcp_live_clock_check(&s->live_desc, !is_raw(c));
        }
        s->h = pc->host[s->page];
        host = needs_host(live, s->page, c);
        s->extra = 0;
        if (host) {
            s->hseq = seq_begin(&s->h->seq);
            copy_host(s->h, c, s);
            s->extra = smear_extra(s, c);
        }
        if (live) {
            s->blk = pc->live + s->live_desc.block;
            s->lseq = seq_begin((const volatile uint32_t *)
                                (s->blk + s->live_desc.seq));
            copy_live(s->blk, &s->live_desc, s);
        }
        if (__builtin_expect(((guest ? s->oseq : 0) | (host ? s->hseq : 0) |
                              (live ? s->lseq : 0)) & 1, 0)) {
            return live ? LIVE_CANNOT : PVCLOCK_EBUSY;
        }
        /*
         * Everything is loaded and nothing judged yet: only the loads
         * are before the counter (which waits for all that precedes
         * it), the checks and the arithmetic after it.
         */
        if (!(mode & READ_AT)) {
            s->counter = pvcp_counter_read(pvclock_counter_order);
        }
        if (host) {
            copy_host_rest(s->h, mode, s);
        }
        pvcp_rmb();
    } while ((guest && (op->seq != s->oseq || op->generation != s->ogen)) ||
             (host && s->h->seq != s->hseq) ||
             (live && live32(s->blk, s->live_desc.seq) != s->lseq));
    s->live = live;
    return PVCLOCK_OK;
}

/*
 * The host page's words as copied, through the one validator
 * (pvcp_host_words_check()): the check words first computed over what
 * this read copied, the kvm-clock stage, simulated host and smear
 * checked where this read copied them, which is where it uses them.
 */
static ALWAYS_INLINE unsigned check_host(const struct snapshot *s,
                                         const struct clock_desc *c)
{
    /* damaged by someone other than the helper: refuse, don't compute */
    int checks_ok = !pvcp_page_has_checks(s->h->abi_minor) ||
        (s->check == pvcp_check_clock(c->index, s->counter_mode, s->flags,
                                      &s->line, &s->base, s->leap) &&
         (!(s->extra & EXTRA_AUX) ||
          s->rare->check_aux == pvcp_check_aux_words(s->rare->aux)));

    /*
     * kc as it is: the validator reads it only where the page's words
     * ask for it, which is where copy_extra() copied it; no simulated
     * stage (NULL): a guest's transform includes it, and the host path
     * refuses such a page (host_verdict())
     */
    return pvcp_host_words_check(
        (unsigned)s->page, s->counter_mode, s->flags, s->line.shift,
        s->line.shift, &s->rare->kc, NULL,
        (s->extra & EXTRA_SMEAR) ? &s->rare->smear : NULL, checks_ok);
}

/*
 * Each page's verdict, from its validator: 0 or its PVCP_BAD_*.  The
 * identities are written once, outside the seqs: they are read here.
 */
static ALWAYS_INLINE unsigned host_verdict(const struct snapshot *s,
                                           const struct clock_desc *c,
                                           bool guest)
{
    return pvcp_host_ident_check(s->h->magic, s->h->abi_major,
                                 s->h->page_index, (unsigned)s->page) |
           check_host(s, c) |
           (guest ? 0 : pvcp_host_direct_check(s->flags));
}

static ALWAYS_INLINE unsigned offset_verdict(const struct pvclock *pc,
                                             const struct snapshot *s)
{
    return pvcp_offset_ident_check(pc->offset->magic, pc->offset->abi_major,
                                   s->ominor) |
           pvcp_offset_words_check(s->status, &s->xf);
}

static ALWAYS_INLINE unsigned live_verdict(const struct snapshot *s)
{
    return pvcp_live_words_check(&s->live_desc, s->live_mode,
                                 s->live_line.shift);
}

/*
 * Why a snapshot a validator refused cannot be read, in the order the
 * errors rank: identity, the device's status, the host page (not
 * published before damaged), the offset page's transform.  LIVE_CANNOT:
 * the live page cannot answer after all (the host left the TSC, or the
 * smear's host page is not usable); the host pages answer then, and
 * say why if they cannot.  Out of line, with the snapshot by value (its
 * address taken, the read's copy would live in memory): a usable page
 * never gets here.
 */
static NOINLINE int refusal(const struct pvclock *pc, struct snapshot s,
                            const struct clock_desc *c, bool guest,
                            bool live)
{
    unsigned hbad = needs_host(live, s.page, c) ? host_verdict(&s, c, guest)
                                                : 0;
    unsigned obad = guest ? offset_verdict(pc, &s) : 0;
    unsigned ident = (hbad | obad) & (PVCP_BAD_MAGIC | PVCP_BAD_VERSION);

    if (live) {
        return LIVE_CANNOT;
    }
    if (ident) {
        return ident & PVCP_BAD_MAGIC ? PVCLOCK_EMAGIC : PVCLOCK_EVERSION;
    }
    if (obad & PVCP_BAD_STATUS) {
        return s.status == PVCP_STATUS_UNRELIABLE ? PVCLOCK_EUNRELIABLE
                                                  : PVCLOCK_ENOTVALID;
    }
    /* (or an identity that changed since validate() asked: damaged) */
    /* a simulated host's page is not published for a host-side reader */
    return hbad & (PVCP_BAD_UNPUBLISHED | PVCP_BAD_INDIRECT)
           ? PVCLOCK_EUNPUBLISHED : PVCLOCK_EBADPAGE;
}

/*
 * Everything the snapshot says, through the validators, before a value
 * is computed from it.  A usable snapshot costs each rule's compare and
 * branch; refusal() says why not.
 */
static ALWAYS_INLINE int validate(const struct pvclock *pc,
                                  const struct snapshot *s,
                                  const struct clock_desc *c, bool guest,
                                  bool live)
{
    if (__builtin_expect((needs_host(live, s->page, c) &&
                          host_verdict(s, c, guest) != 0) ||
                         (guest && offset_verdict(pc, s) != 0) ||
                         (live && live_verdict(s) != 0), 0)) {
        return refusal(pc, *s, c, guest, live);
    }
    return PVCLOCK_OK;
}

static NOINLINE int read_host_raw(const struct pvclock *pc, uint64_t tsc,
                                  struct pvcp_time *out);

/*
 * On the host a scaled page's counter is host MONOTONIC_RAW in ns, which
 * only the unscaled page can tell from the TSC: the raw ns at that TSC,
 * a read at a given counter (READ_AT) of page 0 also when the scaled
 * page is read for "now" (a TSC before page 0's cycle_last is the time
 * at it, as the ABI's rule for a read at a counter says).
 */
static NOINLINE int host_raw_ns(const struct pvclock *pc, uint64_t tsc,
                                uint64_t *raw)
{
    struct pvcp_time t;
    int err = read_host_raw(pc, tsc, &t);

    *raw = t.sec * PVCP_NSEC_PER_SEC + t.nsec;
    return err == PVCLOCK_ESTALE ? PVCLOCK_OK : err;
}

/* The host page's counter for the snapshot's counter value. */
static ALWAYS_INLINE int host_counter(const struct pvclock *pc,
                                      const struct snapshot *s, bool guest,
                                      uint64_t *host)
{
    if (guest) {
        *host = pvcp_ref_xform_apply(&s->xf, s->counter);
    } else if (__builtin_expect(s->counter_mode == PVCP_COUNTER_RAW_NS, 0)) {
        int err = host_raw_ns(pc, s->counter, host);

        if (err) {
            return err;
        }
    } else {
        *host = s->counter;
    }
    return PVCLOCK_OK;
}

/*
 * One line at the read's cycles: a read at a given counter (at) by the
 * ABI's rule for one, which takes a counter before cycle_last back along
 * the line; a read of "now" by the vDSO's, which clamps it to the base.
 */
static ALWAYS_INLINE struct pvcp_time line_at(const struct pvcp_line *line,
                                              const struct pvcp_base *base,
                                              uint64_t flags, uint64_t cycles,
                                              bool at)
{
    return at ? pvcp_clock_at_given(line, base, flags, cycles)
              : pvcp_clock_at(line, base, flags, cycles);
}

/*
 * Smeared REALTIME from TAI on the same line.  Out of line, and given
 * the line by value, so that the common snapshot never has its address
 * taken and stays in registers.
 */
static NOINLINE struct pvcp_time smeared(struct pvcp_line line,
                                         struct pvcp_base tai,
                                         const struct pvcp_smear *smear,
                                         uint64_t flags, uint64_t cycles,
                                         bool at, struct pvcp_time realtime)
{
    return pvcp_smear_realtime(smear, line_at(&line, &tai, flags, cycles, at),
                               realtime);
}

/* The clock's value from a validated snapshot. */
static ALWAYS_INLINE int compute(const struct pvclock *pc,
                                 const struct snapshot *s,
                                 const struct clock_desc *c, bool guest,
                                 int live, bool at, struct pvcp_time *out,
                                 struct pvclock_bound_words *bw)
{
    const struct pvcp_line *line = live ? &s->live_line : &s->line;
    const struct pvcp_base *tai = live ? &s->live_tai : &s->rare->tai;
    uint64_t host, cycles, flags, heartbeat, stale_after;
    int err = host_counter(pc, s, guest, &host);

    if (err) {
        return err;
    }

    flags = live ? ((s->live_desc.flags & PVCP_LIVE_F_MUL_WRAPS)
                    ? PVCP_HOST_F_MUL_WRAPS : 0) : s->flags;
    cycles = !live && (s->extra & EXTRA_KVMCLOCK)
             ? pvcp_host_cycles(s->counter_mode, &s->rare->kc, host)
             : host & PVCP_S64_MAX;
    *out = line_at(line, live ? &s->live_base : &s->base, flags, cycles, at);
    if (__builtin_expect(s->extra & EXTRA_SMEAR, 0)) {
        *out = smeared(*line, *tai, &s->rare->smear, flags, cycles, at, *out);
    }
    if (c->mono >= 0) {
        if (guest) {
            *out = pvcp_time_add_offset(*out, &s->mono);
        }
        /* as the kernel's clock_gettime() in a time namespace */
        *out = pvcp_time_add_offset(*out, &pc->timens[c->mono]);
    }
    if (live) {
        return PVCLOCK_OK;      /* the kernel's own data is never stale */
    }
    /* liveness sits outside the seqcount (see the ABI header) */
    heartbeat = s->h->heartbeat_counter;
    stale_after = s->h->stale_after;
    if (bw) {
        bw->age = (int64_t)(host - heartbeat) > 0 ? host - heartbeat : 0;
        bw->counter_hz = s->counter_hz;
        bw->counter_mode = s->counter_mode;
        bw->host_flags = s->flags;
        bw->maxerror_ns = s->maxerror_ns;
    }
    if ((guest && s->status == PVCP_STATUS_STALE) ||
        (stale_after && host - heartbeat > stale_after &&
         (int64_t)(host - heartbeat) > 0)) {
        return PVCLOCK_ESTALE;  /* the last mapping, still filled in */
    }
    return PVCLOCK_OK;
}

/*
 * One read of clock c: the live page if it can answer (mode READ_LIVE),
 * the host pages otherwise.  *from_live says which answered.
 */
static ALWAYS_INLINE int read_clock(const struct pvclock *pc,
                                    const struct clock_desc *c, bool guest,
                                    unsigned mode, uint64_t counter,
                                    int force_page, struct pvcp_time *out,
                                    int *from_live,
                                    struct pvclock_bound_words *bw)
{
    struct rare_words rare;
    struct snapshot s;
    int err;

    s.counter = counter;        /* READ_AT's; a fresh read overwrites it */
    s.rare = &rare;
    s.mono.sec = 0;
    s.mono.nsec = 0;
    err = snapshot(pc, c, guest, mode, force_page, &s);
    if (err == PVCLOCK_OK && s.live) {
        err = validate(pc, &s, c, guest, true);
        if (err == PVCLOCK_OK) {
            *from_live = 1;
            return compute(pc, &s, c, guest, true, mode & READ_AT, out,
                           NULL);
        }
    }
    *from_live = 0;
    if (err == LIVE_CANNOT) {
        err = snapshot(pc, c, guest, mode & ~READ_LIVE, force_page, &s);
    }
    if (err == PVCLOCK_OK) {
        err = validate(pc, &s, c, guest, false);
    }
    return err ? err : compute(pc, &s, c, guest, false, mode & READ_AT, out,
                               bw);
}

/* The host's MONOTONIC_RAW at a TSC value, from the unscaled page. */
static NOINLINE int read_host_raw(const struct pvclock *pc, uint64_t tsc,
                                  struct pvcp_time *out)
{
    int from_live;

    return read_clock(pc, &clock_table[CLOCK_MONOTONIC_RAW], false,
                      READ_AT | READ_CHECK_ALL, tsc,
                      PVCP_PAGE_UNSCALED_UNSMEARED, out, &from_live, NULL);
}

static inline int finish(int err, const struct pvcp_time *t,
                         struct timespec *ts)
{
    if (err == PVCLOCK_OK || err == PVCLOCK_ESTALE) {
        ts->tv_sec = (time_t)t->sec;
        ts->tv_nsec = (long)t->nsec;
    }
    return err;
}

static ALWAYS_INLINE int read_now(const struct pvclock *pc,
                                  const struct clock_desc *c,
                                  struct timespec *ts)
{
    struct pvcp_time t;
    int err, from_live;

    if (!pc->offset) {
        err = read_clock(pc, c, false, 0, 0, -1, &t, &from_live, NULL);
    } else if (pc->live && pc->use_live) {
        err = read_clock(pc, c, true, READ_LIVE, 0, -1, &t, &from_live, NULL);
    } else {
        err = read_clock(pc, c, true, 0, 0, -1, &t, &from_live, NULL);
    }
    return finish(err, &t, ts);
}

/*
 * One function per clock, each read_now() with its clock constant: the
 * compiler drops the clock table's lookups and indexes from the read
 * (about 30 instructions of a host read's 220, bench/read-insns.py).
 */
#define READ_NOW(name, id)                                              \
    static NOINLINE int read_now_##name(const struct pvclock *pc,       \
                                        struct timespec *ts)            \
    {                                                                   \
        return read_now(pc, &clock_table[id], ts);                      \
    }
READ_NOW(realtime, CLOCK_REALTIME)
READ_NOW(monotonic, CLOCK_MONOTONIC)
READ_NOW(raw, CLOCK_MONOTONIC_RAW)
READ_NOW(boottime, CLOCK_BOOTTIME)
READ_NOW(tai, CLOCK_TAI)

int pvclock_gettime(const struct pvclock *pc, clockid_t clk,
                    struct timespec *ts)
{
    if (__builtin_expect(!ts || !pc, 0)) {
        return !ts ? PVCLOCK_EINVAL : PVCLOCK_ENOTMAPPED;
    }
    switch (clk) {
    case CLOCK_REALTIME:
        return read_now_realtime(pc, ts);
    case CLOCK_MONOTONIC:
        return read_now_monotonic(pc, ts);
    case CLOCK_MONOTONIC_RAW:
        return read_now_raw(pc, ts);
    case CLOCK_BOOTTIME:
        return read_now_boottime(pc, ts);
    case CLOCK_TAI:
        return read_now_tai(pc, ts);
    default:
        return PVCLOCK_ECLOCK;
    }
}

/* The careful read: a given counter, every check word, the live page. */
static int read_at(const struct pvclock *pc, clockid_t clk, uint64_t counter,
                   struct pvcp_time *t, int *from_live)
{
    const struct clock_desc *c = clock_of(clk);
    unsigned mode = READ_AT | READ_CHECK_ALL;

    if (!pc) {
        return PVCLOCK_ENOTMAPPED;
    }
    if (!c) {
        return PVCLOCK_ECLOCK;
    }
    if (!pc->offset) {
        return read_clock(pc, c, false, mode, counter, -1, t, from_live,
                          NULL);
    }
    if (pc->live && pc->use_live) {
        mode |= READ_LIVE;
    }
    return read_clock(pc, c, true, mode, counter, -1, t, from_live, NULL);
}

int pvclock_gettime_at(const struct pvclock *pc, clockid_t clk,
                       uint64_t counter, struct timespec *ts)
{
    struct pvcp_time t;
    int from_live;

    if (!ts) {
        return PVCLOCK_EINVAL;
    }
    return finish(read_at(pc, clk, counter, &t, &from_live), &t, ts);
}

int pvclock_live_in_use(const struct pvclock *pc, clockid_t clk)
{
    struct pvcp_time t;
    int from_live, err;

    if (!pc) {
        return -PVCLOCK_ENOTMAPPED;
    }
    if (!pc->live || !pc->use_live) {
        return 0;
    }
    err = read_at(pc, clk, pvcp_counter_read(pvclock_counter_order), &t,
                  &from_live);
    return err == PVCLOCK_OK && from_live;
}

int pvclock_get_info(const struct pvclock *pc, struct pvclock_info *info)
{
    const struct clock_desc *raw = &clock_table[CLOCK_MONOTONIC_RAW];
    struct rare_words rare;
    struct snapshot s;
    int err;

    if (!pc) {
        return PVCLOCK_ENOTMAPPED;
    }
    if (!info) {
        return PVCLOCK_EINVAL;
    }
    memset(&s, 0, sizeof(s));
    s.rare = &rare;
    /* the page state is what any clock's snapshot sees */
    err = pc->offset ? snapshot(pc, raw, true, READ_AT | READ_INFO, -1, &s)
                     : snapshot(pc, raw, false, READ_AT | READ_INFO, -1, &s);
    if (err) {
        return err;
    }
    memset(info, 0, sizeof(*info));
    info->status = pc->offset ? s.status : PVCP_STATUS_VALID;
    info->page = (uint32_t)s.page;
    info->counter_mode = s.counter_mode;
    info->host_flags = s.flags;
    info->generation = (pc->offset ? s.ogen : 0) + s.disruptions;
    info->host_counter_hz = s.counter_hz;
    info->backend = pc->offset ? s.backend : 0;
    info->guest_counter_hz = pc->offset ? s.guest_counter_hz : 0;
    info->helper_epoch = s.h->helper_epoch;
    return PVCLOCK_OK;
}

/*
 * A read of clk from the helper's pages (the live page carries no error
 * words) with what bound.c needs beside it; at `counter`, or a fresh one
 * if at is 0.
 */
int pvclock_read_bounded(const struct pvclock *pc, clockid_t clk, int at,
                         uint64_t counter, struct pvcp_time *t,
                         struct pvclock_bound_words *bw)
{
    const struct clock_desc *c = clock_of(clk);
    unsigned mode = READ_BOUND | (at ? READ_AT | READ_CHECK_ALL : 0);
    int from_live;

    if (!c) {
        return PVCLOCK_ECLOCK;
    }
    memset(bw, 0, sizeof(*bw));
    if (!pc->offset) {
        return read_clock(pc, c, false, mode, counter, -1, t, &from_live, bw);
    }
    return read_clock(pc, c, true, mode, counter, -1, t, &from_live, bw);
}
