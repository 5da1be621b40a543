/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reading rules of docs/specs/pvclock-pages.rst, a second time.
 *
 * Written from the document: every offset below is one of its tables'
 * (with the field sizes of the ABI header's comments), every formula is
 * its text's, in 128-bit integers so that no step wraps unless the
 * document says it wraps.  Deliberately no code, struct or helper from
 * contrib/libpvclock or pvclock-pages-calc.h: where the two disagree, one
 * of them misreads the document, and the document decides.  Only the
 * error codes come from libpvclock's public header, which names them.
 *
 * The order in which a read refuses follows the read protocol's step 6
 * and 7: identities (magic, major, and an offset page of 1.3 or later),
 * the status, the host page (published, check words, fields in range),
 * then the transform.
 */
#include <string.h>

#include "pvclock.h"
#include "abi-oracle.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

#define NS      1000000000ull
#define S64MAX  0x7fffffffffffffffull
#define BIT62   0x4000000000000000ull

/* Host page (the document's "Host page" table). */
#define H_MAGIC         0x000
#define H_MAJOR         0x004
#define H_MINOR         0x006
#define H_INDEX         0x008
#define H_SEQ           0x018
#define H_MODE          0x01c
#define H_FLAGS         0x020
#define H_KVM_TSC       0x030   /* kvmclock: tsc_timestamp u64 */
#define H_KVM_SYS       0x038   /* system_time u64 */
#define H_KVM_MUL       0x040   /* tsc_to_system_mul u32 */
#define H_KVM_SHIFT     0x044   /* tsc_shift s8 */
#define H_HRES          0x048   /* cycle_last, max_cycles, mult, shift */
#define H_HRES_BASE     0x060   /* [4] of sec, nsec_shifted */
#define H_RAW           0x0a0
#define H_RAW_BASE      0x0b8
#define H_SMEAR         0x0e0   /* start_tai_sec u64, duration_s u32, */
                                /* leap s32, tai_offset_before s32 */
#define H_CHECK         0x140   /* [5] */
#define H_CHECK_AUX     0x168
#define H_HEARTBEAT     0x180
#define H_STALE_AFTER   0x190

/* Offset page. */
#define O_MAGIC         0x000
#define O_MAJOR         0x004
#define O_MINOR         0x006
#define O_SEQ           0x008
#define O_STATUS        0x00c
#define O_RECOMMENDED   0x018
#define O_MONO          0x058   /* [3] of sec s64, nsec u64 */
#define O_REF_XFORM     0x088   /* [2] of 40 bytes: guest_ref, host_ref, */
                                /* mult, frac_ref, frac_bits, flags */
#define O_LIVE          0x0e0   /* the live descriptor, 48 bytes */

#define HOST_MAGIC      0x48435650u
#define OFFSET_MAGIC    0x4f435650u
#define PAGE            4096
#define CHECK_SEED      0x314b434843504350ull

/* counter_mode, flags, status: the document's values */
#define MODE_TSC        1
#define MODE_KVMCLOCK   2
#define MODE_RAW_NS     3
#define F_VALID         1ull
#define F_MUL_WRAPS     2ull
#define F_SIMULATED     4ull
#define ST_VALID        1
#define ST_UNRELIABLE   3
#define ST_STALE        4

static uint64_t rd(const uint8_t *p, unsigned off, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)p[off + i] << (8 * i);
    }
    return v;
}

#define U64(p, o)   rd((p), (o), 8)
#define U32(p, o)   ((uint32_t)rd((p), (o), 4))
#define U16(p, o)   ((uint16_t)rd((p), (o), 2))

static uint64_t rotl(uint64_t x, unsigned r)
{
    r &= 63;
    return r ? (x << r) | (x >> (64 - r)) : x;
}

/* floor(a / b) for b > 0, and the matching non-negative remainder */
static s128 floor_div(s128 a, s128 b)
{
    s128 q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* A clock's line and base wherever they were read from. */
struct line {
    uint64_t cycle_last, max_cycles;
    uint32_t mult, shift;
    uint64_t sec, nsec_shifted;
    int wraps;
};

/*
 * The vDSO's arithmetic, as the "Clock arithmetic" block states it:
 * (sec, nsec) as a u128 of ns, sec + (u32)(ns / 10^9) wrapping in u64.
 * Every read here is one at a given counter, so a counter before
 * cycle_last takes the document's branch for such reads (the signed
 * delta, exact), not the vDSO's clamp, which is for "now".
 */
static void line_time(const struct line *l, uint64_t cycles, uint64_t *sec,
                      uint64_t *nsec, int *path)
{
    uint64_t delta = cycles - l->cycle_last;
    uint64_t ns;

    if (delta > l->max_cycles && (int64_t)delta < 0) {
        /* "the line back with the signed delta": floor, in s128 */
        s128 v = (s128)(u128)l->nsec_shifted +
                 (s128)(int64_t)delta * (s128)(u128)l->mult;
        s128 sns = floor_div(v, (s128)1 << l->shift);
        s128 q = floor_div(sns, NS);

        *sec = l->sec + (uint64_t)q;
        *nsec = (uint64_t)(sns - q * (s128)NS);
        *path = ORACLE_PATH_BEFORE;
        return;
    }
    if (delta <= l->max_cycles) {
        ns = (uint64_t)(delta * (uint64_t)l->mult + l->nsec_shifted) >>
             l->shift;
        *path = ORACLE_PATH_FAST;
    } else if (delta & BIT62) {
        ns = l->nsec_shifted >> l->shift;
        *path = ORACLE_PATH_BACK;
    } else if (l->wraps) {
        /* "the 64-bit formula" (the ABI header): the first line's */
        ns = (uint64_t)(delta * (uint64_t)l->mult + l->nsec_shifted) >>
             l->shift;
        *path = ORACLE_PATH_SLOW_WRAPS;
    } else {
        u128 wide = (u128)(delta & S64MAX) * l->mult + l->nsec_shifted;

        ns = (uint64_t)(wide >> l->shift);
        *path = ORACLE_PATH_SLOW;
    }
    *sec = l->sec + (uint32_t)(ns / NS);
    *nsec = ns % NS;
}

static void host_line(const uint8_t *h, int index, struct line *l)
{
    unsigned lo = index == 4 ? H_RAW : H_HRES;
    unsigned bo = index == 4 ? H_RAW_BASE : H_HRES_BASE + 16 * index;

    l->cycle_last = U64(h, lo);
    l->max_cycles = U64(h, lo + 8);
    l->mult = U32(h, lo + 16);
    l->shift = U32(h, lo + 20);
    l->sec = U64(h, bo);
    l->nsec_shifted = U64(h, bo + 8);
    l->wraps = !!(U64(h, H_FLAGS) & F_MUL_WRAPS);
}

/* The check words of the "Check words" block. */
static uint64_t check_clock(const uint8_t *h, int index)
{
    struct line l;

    host_line(h, index, &l);
    return (CHECK_SEED + (uint64_t)index) ^
           rotl(U32(h, H_MODE) | (uint64_t)U32(h, H_SMEAR + 12) << 32, 9) ^
           rotl(U64(h, H_FLAGS), 18) ^
           rotl(l.cycle_last, 27) ^ rotl(l.max_cycles, 36) ^
           rotl(l.mult | (uint64_t)l.shift << 32, 45) ^
           rotl(l.sec, 54) ^ rotl(l.nsec_shifted, 63);
}

static uint64_t check_aux(const uint8_t *h)
{
    uint64_t acc = CHECK_SEED ^ 0xa0a0a0a0a0a0a0a0ull;

    for (unsigned k = 0; k < 36; k++) {
        acc = rotl(acc ^ rotl(U64(h, 0x020 + 8 * k), 7 * k % 64), 1);
    }
    return acc;
}

/*
 * Host page `page` for clock `index`: may it be read?  Step 6's checks,
 * and the ranges the ABI header gives for what feeds arithmetic (shift
 * 0..63, the kvmclock stage's shift a C shift can do), and the page's
 * counter domain (pages 2, 3 count raw ns, pages 0, 1 never do).  A
 * simulated host's page (flag 4) is read through the offset page's
 * transform, which includes its stage (1.7): a reader never applies
 * sim, so on the host (guest 0) such a page is not published for it.
 */
static int host_page_ok(const uint8_t *h, int page, int index, int guest)
{
    uint32_t mode = U32(h, H_MODE);
    uint64_t flags = U64(h, H_FLAGS);
    int8_t kshift = (int8_t)h[H_KVM_SHIFT];
    int32_t leap = (int32_t)U32(h, H_SMEAR + 12);

    if (U32(h, H_MAGIC) != HOST_MAGIC || U32(h, H_INDEX) != (uint32_t)page) {
        return PVCLOCK_EMAGIC;
    }
    if (U16(h, H_MAJOR) != 1) {
        return PVCLOCK_EVERSION;
    }
    if (mode == 0 || !(flags & F_VALID) ||
        (!guest && (flags & F_SIMULATED))) {
        return PVCLOCK_EUNPUBLISHED;
    }
    if (U16(h, H_MINOR) >= 2 &&
        (U64(h, H_CHECK + 8 * index) != check_clock(h, index) ||
         U64(h, H_CHECK_AUX) != check_aux(h))) {
        return PVCLOCK_EBADPAGE;
    }
    if (mode > MODE_RAW_NS || (mode == MODE_RAW_NS) != (page >= 2) ||
        U32(h, (index == 4 ? H_RAW : H_HRES) + 20) > 63) {
        return PVCLOCK_EBADPAGE;
    }
    if (mode == MODE_KVMCLOCK && (kshift > 63 || kshift < -63)) {
        return PVCLOCK_EBADPAGE;
    }
    /* a smear that is used: leap +1 or -1, over 86400 + leap s */
    if (index == 0 && (page & 1) && leap != 0 &&
        ((leap != 1 && leap != -1) ||
         U32(h, H_SMEAR + 8) != (uint32_t)(86400 + leap))) {
        return PVCLOCK_EBADPAGE;
    }
    return PVCLOCK_OK;
}

/*
 * The offset page's identity: its magic, major 1 and a minor of 7 or
 * more ("Versioning": a reader refuses offset pages before 1.7 as of a
 * version it does not read: their transform leaves a simulated host's
 * stage to the reader).
 */
static int offset_ident(const uint8_t *o)
{
    if (U32(o, O_MAGIC) != OFFSET_MAGIC) {
        return PVCLOCK_EMAGIC;
    }
    return U16(o, O_MAJOR) != 1 || U16(o, O_MINOR) < 7 ? PVCLOCK_EVERSION
                                                        : PVCLOCK_OK;
}

/*
 * The offset page's transform for domain d (ref_xform), as guest_ref,
 * host_ref, mult, frac_ref, frac_bits; 0 if the reader must refuse it.
 */
struct xform {
    uint64_t guest_ref, host_ref, mult, frac_ref;
    uint32_t frac_bits;
};

static int offset_xform(const uint8_t *o, int d, struct xform *x)
{
    unsigned b = O_REF_XFORM + 40 * d;

    x->guest_ref = U64(o, b);
    x->host_ref = U64(o, b + 8);
    x->mult = U64(o, b + 16);
    x->frac_ref = U64(o, b + 24);
    x->frac_bits = U32(o, b + 32);
    /* flag 2 (to the page counter), not 1 (for readers before 1.7) */
    return (U32(o, b + 36) & 2) && x->frac_bits <= 64;
}

/* The "Transform (1.3)" block: exact in signed 128 bits, floor. */
static uint64_t xform_apply(const struct xform *x, uint64_t guest)
{
    s128 d = (int64_t)(guest - x->guest_ref);
    s128 v = d * (s128)(u128)x->mult + (s128)(u128)x->frac_ref;
    s128 q = x->frac_bits == 64 ? floor_div(v, (s128)1 << 64)
                                : floor_div(v, (s128)1 << x->frac_bits);

    return x->host_ref + (uint64_t)q;
}

/* counter_mode 2: the kvmclock stage. */
static uint64_t kvmclock_cycles(const uint8_t *h, uint64_t tsc)
{
    uint64_t d = tsc - U64(h, H_KVM_TSC);
    int8_t s = (int8_t)h[H_KVM_SHIFT];

    d = s < 0 ? d >> -s : d << s;
    return (U64(h, H_KVM_SYS) +
            (uint64_t)(((u128)d * U32(h, H_KVM_MUL)) >> 32)) & S64MAX;
}

/* The live descriptor's words, and whether clock index may use them. */
struct live {
    uint32_t flags;
    uint16_t block, seq, mode, cycle_last, max_cycles, mult, shift, base;
    uint16_t tai;
    int32_t mode_tsc;
};

static int live_desc(const uint8_t *o, int index, struct live *l)
{
    const uint8_t *d = o + O_LIVE;
    unsigned end[8];
    int n = 0;

    l->flags = U32(d, 0);
    l->block = U16(d, 8 + 2 * (index == 4));
    l->seq = U16(d, 0x0c);
    l->mode = U16(d, 0x0e);
    l->cycle_last = U16(d, 0x10);
    l->max_cycles = U16(d, 0x12);
    l->mult = U16(d, 0x16);
    l->shift = U16(d, 0x18);
    l->base = U16(d, 0x1a + 2 * index);
    l->tai = U16(d, 0x1a + 2 * 3);
    l->mode_tsc = (int32_t)U32(d, 0x24);
    if (U16(o, O_MINOR) < 4 || !(l->flags & 1) || U16(d, 4) != 1) {
        return 0;
    }
    /*
     * every offset this read uses stays inside the page: its block's
     * fields, its base, and in block 0 TAI's (a smeared REALTIME's)
     */
    end[n++] = l->seq + 4;
    end[n++] = l->mode + 4;
    end[n++] = l->cycle_last + 8;
    if (l->max_cycles != 0xffff) {
        end[n++] = l->max_cycles + 8;
    }
    end[n++] = l->mult + 4;
    end[n++] = l->shift + 4;
    end[n++] = l->base + 16;
    if (index != 4) {
        end[n++] = l->tai + 16;
    }
    for (int i = 0; i < n; i++) {
        if (l->block + end[i] > PAGE) {
            return 0;
        }
    }
    return 1;
}

static void live_line(const uint8_t *lp, const struct live *d, uint16_t base,
                      struct line *l)
{
    const uint8_t *b = lp + d->block;

    l->cycle_last = U64(b, d->cycle_last);
    l->max_cycles = d->max_cycles == 0xffff ? BIT62 - 1
                                            : U64(b, d->max_cycles);
    l->mult = U32(b, d->mult);
    l->shift = U32(b, d->shift);
    l->sec = U64(b, base);
    l->nsec_shifted = U64(b, base + 8);
    l->wraps = !!(d->flags & 2);
}

static int clock_index(clockid_t clk, int *mono)
{
    switch (clk) {
    case CLOCK_REALTIME:
        *mono = -1;
        return 0;
    case CLOCK_MONOTONIC:
        *mono = 0;
        return 1;
    case CLOCK_BOOTTIME:
        *mono = 2;
        return 2;
    case CLOCK_TAI:
        *mono = -1;
        return 3;
    case CLOCK_MONOTONIC_RAW:
        *mono = 1;
        return 4;
    default:
        return -1;
    }
}

/*
 * Smeared REALTIME: T the TAI (u128 ns), rt the page's REALTIME; the
 * result in u128 ns modulo 2^64 s.  The smear rule of the "Host page"
 * section, e = clamp(T - start, 0, duration s).
 */
static void smear(const uint8_t *h, uint64_t tai_sec, uint64_t tai_nsec,
                  uint64_t *sec, uint64_t *nsec, int *phase)
{
    uint64_t start = U64(h, H_SMEAR);
    uint32_t dur = U32(h, H_SMEAR + 8);
    int32_t leap = (int32_t)U32(h, H_SMEAR + 12);
    int32_t before = (int32_t)U32(h, H_SMEAR + 16);
    s128 t = (s128)((u128)tai_sec * NS + tai_nsec);
    s128 s = (s128)((u128)start * NS);
    s128 e, r;

    if (t < s) {
        *phase = ORACLE_SMEAR_BEFORE;
        return;                 /* *sec, *nsec: the page's REALTIME */
    }
    e = t - s;
    *phase = ORACLE_SMEAR_INSIDE;
    if (e >= (s128)dur * NS) {
        e = (s128)dur * NS;
        *phase = ORACLE_SMEAR_AFTER;
    }
    /* the correction's size grows 1 ns every duration_s ns, either sign */
    r = t - (s128)before * NS - (s128)leap * (e / dur);
    *sec = (uint64_t)floor_div(r, NS);
    *nsec = (uint64_t)(r - floor_div(r, NS) * NS);
}

static void add_mono(const uint8_t *o, int mono, uint64_t *sec,
                     uint64_t *nsec)
{
    uint64_t osec = U64(o, O_MONO + 16 * mono);
    uint64_t onsec = U64(o, O_MONO + 16 * mono + 8);

    *nsec += onsec;
    *sec += osec;
    if (*nsec >= NS) {
        *nsec -= NS;
        *sec += 1;
    }
}

static int chosen_page(const struct abi_oracle_view *v)
{
    uint32_t rec;

    if (v->page >= 0) {
        return v->page;
    }
    if (!v->offset) {
        return 0;
    }
    rec = U32(v->offset, O_RECOMMENDED);
    return rec < 4 ? (int)rec : 0;
}

/* The guest's (or host's) counter in host page `page`'s domain. */
static int domain_counter(const struct abi_oracle_view *v, int page,
                          uint64_t counter, uint64_t *host);

int abi_oracle_page_counter(const struct abi_oracle_view *v, int page,
                            int live, uint64_t counter,
                            uint64_t *page_counter, uint64_t *cycles)
{
    const uint8_t *h = v->host + PAGE * page;
    uint64_t c;

    if (domain_counter(v, live ? 0 : page, counter, &c)) {
        return 0;
    }
    if (live) {
        *page_counter = c;
        *cycles = c & S64MAX;
        return 1;
    }
    if (U32(h, H_MODE) == MODE_KVMCLOCK &&
        ((int8_t)h[H_KVM_SHIFT] > 63 || (int8_t)h[H_KVM_SHIFT] < -63)) {
        return 0;               /* shifts no page may have */
    }
    *page_counter = c;
    *cycles = U32(h, H_MODE) == MODE_KVMCLOCK ? kvmclock_cycles(h, c)
                                               : c & S64MAX;
    return 1;
}

unsigned __int128 abi_oracle_clock_ns(const struct abi_oracle_view *v,
                                      int page, int live, int index,
                                      uint64_t cycles)
{
    struct line l;
    uint64_t sec, nsec;
    int path;

    if (live) {
        struct live d;

        live_desc(v->offset, index, &d);
        live_line(v->live, &d, d.base, &l);
    } else {
        host_line(v->host + PAGE * page, index, &l);
    }
    if (l.shift > 63) {
        return 0;
    }
    line_time(&l, cycles, &sec, &nsec, &path);
    return (u128)sec * NS + nsec;
}

static int read_page(const struct abi_oracle_view *v, int page, int index,
                     uint64_t counter, uint64_t *sec, uint64_t *nsec,
                     struct abi_oracle_trace *t);

/*
 * A host reader of a scaled page: its counter is host MONOTONIC_RAW in
 * ns, which page 0 tells from the TSC (stale or not: page 2's own
 * heartbeat says whether page 2 is).
 */
static int domain_counter(const struct abi_oracle_view *v, int page,
                          uint64_t counter, uint64_t *host)
{
    struct abi_oracle_trace t;
    struct xform x;
    uint64_t sec, nsec;
    int err;

    if (v->offset) {
        if (!offset_xform(v->offset, page >> 1, &x)) {
            return PVCLOCK_EBADPAGE;
        }
        *host = xform_apply(&x, counter);
        return PVCLOCK_OK;
    }
    if (page < 2) {
        *host = counter;
        return PVCLOCK_OK;
    }
    err = read_page(v, 0, 4, counter, &sec, &nsec, &t);
    if (err && err != PVCLOCK_ESTALE) {
        return err;
    }
    *host = sec * NS + nsec;
    return PVCLOCK_OK;
}

/*
 * Clock `index` from host page `page` (the helper's pages): step 6's
 * checks on both pages, the transform, the line, the smear, the
 * staleness.  Monotonic offsets are the caller's.
 */
static int read_page(const struct abi_oracle_view *v, int page, int index,
                     uint64_t counter, uint64_t *sec, uint64_t *nsec,
                     struct abi_oracle_trace *t)
{
    const uint8_t *h = v->host + PAGE * page;
    const uint8_t *o = v->offset;
    uint64_t pc, cycles, hb, stale_after;
    struct line l;
    int err;

    /*
     * step 6: magic (either page), the version (abi_major of either, the
     * offset page's minor), the status
     */
    if ((o && offset_ident(o) == PVCLOCK_EMAGIC) ||
        U32(h, H_MAGIC) != HOST_MAGIC || U32(h, H_INDEX) != (uint32_t)page) {
        return PVCLOCK_EMAGIC;
    }
    if ((o && offset_ident(o)) || U16(h, H_MAJOR) != 1) {
        return PVCLOCK_EVERSION;
    }
    if (o && U32(o, O_STATUS) != ST_VALID && U32(o, O_STATUS) != ST_STALE) {
        return U32(o, O_STATUS) == ST_UNRELIABLE ? PVCLOCK_EUNRELIABLE
                                                  : PVCLOCK_ENOTVALID;
    }
    err = host_page_ok(h, page, index, o != NULL);
    if (err) {
        return err;
    }
    err = domain_counter(v, page, counter, &pc);
    if (err) {
        return err;
    }
    cycles = U32(h, H_MODE) == MODE_KVMCLOCK ? kvmclock_cycles(h, pc)
                                              : pc & S64MAX;
    host_line(h, index, &l);
    line_time(&l, cycles, sec, nsec, &t->path);
    t->delta = (int64_t)(cycles - l.cycle_last);
    if (index == 0 && (page & 1) && (int32_t)U32(h, H_SMEAR + 12) != 0) {
        struct line tai;
        uint64_t ts, tn;
        int path;

        host_line(h, 3, &tai);
        line_time(&tai, cycles, &ts, &tn, &path);
        smear(h, ts, tn, sec, nsec, &t->smear);
    }
    /* staleness: in the page's counter domain, "more than past" */
    hb = U64(h, H_HEARTBEAT);
    stale_after = U64(h, H_STALE_AFTER);
    t->stale = (o && U32(o, O_STATUS) == ST_STALE) ||
               (stale_after && (int64_t)(pc - hb) > 0 &&
                pc - hb > stale_after);
    return t->stale ? PVCLOCK_ESTALE : PVCLOCK_OK;
}

/*
 * The live page's answer, or why it gives none (then the host pages
 * answer).  Smeared REALTIME: the live TAI through the smeared host
 * page's smear, that page checked as for a read of its REALTIME.
 */
static int read_live(const struct abi_oracle_view *v, int page, int index,
                     uint64_t counter, uint64_t *sec, uint64_t *nsec,
                     struct abi_oracle_trace *t)
{
    const uint8_t *o = v->offset;
    int smeared = index == 0 && (page & 1);
    struct live d;
    struct xform x;
    struct line l;
    uint64_t cycles;

    if (!v->live || !v->use_live || !o) {
        return ORACLE_LIVE_NONE;
    }
    if (!live_desc(o, index, &d)) {
        return ORACLE_LIVE_DESC;
    }
    if (page & 2) {
        return ORACLE_LIVE_SCALED;
    }
    if (offset_ident(o) ||
        (U32(o, O_STATUS) != ST_VALID && U32(o, O_STATUS) != ST_STALE) ||
        !offset_xform(o, 0, &x)) {
        return ORACLE_LIVE_OFFSET;
    }
    if ((int32_t)U32(v->live + d.block, d.mode) != d.mode_tsc) {
        return ORACLE_LIVE_MODE;
    }
    live_line(v->live, &d, d.base, &l);
    if (l.shift > 63) {
        return ORACLE_LIVE_SHIFT;
    }
    if (smeared && host_page_ok(v->host + PAGE * page, page, 0, 1)) {
        return ORACLE_LIVE_SMEAR_PAGE;
    }
    cycles = xform_apply(&x, counter) & S64MAX;
    line_time(&l, cycles, sec, nsec, &t->path);
    t->delta = (int64_t)(cycles - l.cycle_last);
    if (smeared && (int32_t)U32(v->host + PAGE * page, H_SMEAR + 12) != 0) {
        struct line tai;
        uint64_t ts, tn;
        int path;

        live_line(v->live, &d, d.tai, &tai);
        line_time(&tai, cycles, &ts, &tn, &path);
        smear(v->host + PAGE * page, ts, tn, sec, nsec, &t->smear);
    }
    return ORACLE_LIVE_USED;
}

int abi_oracle_read(const struct abi_oracle_view *v, clockid_t clk,
                    uint64_t counter, struct timespec *ts,
                    struct abi_oracle_trace *trace)
{
    struct abi_oracle_trace t;
    uint64_t sec = 0, nsec = 0;
    int mono, index = clock_index(clk, &mono), err;

    memset(&t, 0, sizeof(t));
    t.page = chosen_page(v);
    if (index < 0) {
        err = PVCLOCK_ECLOCK;
        goto out;
    }
    t.live_refused = read_live(v, t.page, index, counter, &sec, &nsec, &t);
    if (t.live_refused == ORACLE_LIVE_USED) {
        t.from_live = 1;
        err = PVCLOCK_OK;       /* the kernel's page is never stale */
    } else {
        t.smear = ORACLE_SMEAR_NONE;
        err = read_page(v, t.page, index, counter, &sec, &nsec, &t);
    }
    if ((err == PVCLOCK_OK || err == PVCLOCK_ESTALE) && v->offset &&
        mono >= 0) {
        add_mono(v->offset, mono, &sec, &nsec);
    }
    if (err == PVCLOCK_OK || err == PVCLOCK_ESTALE) {
        ts->tv_sec = (time_t)sec;
        ts->tv_nsec = (long)nsec;
    }
out:
    if (trace) {
        *trace = t;
    }
    return err;
}
