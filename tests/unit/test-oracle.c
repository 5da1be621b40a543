/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libpvclock against an independent oracle (tests/unit/abi-oracle.c,
 * the ABI document's reading rules written a second time) over random
 * valid states of a BAR image: every host page kind (unscaled/scaled,
 * smeared/unsmeared), smears with a leap ahead, starting, inside,
 * ending and over, the live page in each kernel layout the library
 * knows and in random ones, refused live pages, simulated hosts and the
 * kvmclock stage, stale pages, every status, counters before, at and
 * after each line's base, its max_cycles and the heartbeat's limit,
 * wrapped offsets and scaled transforms, old offset pages, damaged
 * pages.  A state is (image, reader, page, clock, counter); the library
 * reads it through pvclock_gettime_at() over a file mapping of the
 * image (pvclock_open_guest() and pvclock_open_host() on the file, which
 * the test rewrites in place), and the return code and the timespec
 * must be the oracle's, bit for bit.
 *
 * PVCLOCK_ORACLE_STATES (default 10^7) and PVCLOCK_SEED override the
 * count and the seed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"   /* the writer's seal only */
#include "pvclock-pages/pvclock-vvar.h"
#include "abi-oracle.h"
#include "bar-image.h"
#include "tap.h"
#include "xorshift.h"

#define STATES_DEFAULT  10000000L
#define PER_IMAGE       128
#define NSEC            1000000000ull

static uint64_t rng_state;

static uint64_t rnd(void)
{
    return xorshift64s(&rng_state);
}

/* true with probability pct % */
static int chance(unsigned pct)
{
    return rnd() % 100 < pct;
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* A signed distance of random magnitude (2^0 .. 2^62). */
static uint64_t spread(void)
{
    uint64_t m = rnd() >> (1 + below(63));

    return chance(50) ? m : -m;
}

static uint64_t jitter(void)
{
    return (uint64_t)(int64_t)((int)below(7) - 3);
}

/* The readers, and what the oracle is told about each. */
enum reader { R_LIVE, R_PAGES, R_HOST, READERS };
static const char *const reader_name[READERS] = {
    "guest, live page on", "guest, helper's pages only", "host",
};

static struct bar_image *img;
static struct pvclock *pc[READERS];

static struct abi_oracle_view view_of(enum reader r, int page)
{
    struct abi_oracle_view v = {
        .host = (const uint8_t *)img->host,
        .offset = r == R_HOST ? NULL : (const uint8_t *)&img->offset,
        .live = r == R_LIVE ? img->zero : NULL,
        .use_live = r == R_LIVE,
        .page = page,
    };
    return v;
}

/* One image's choices that the counters are picked around. */
struct image {
    uint64_t focus;         /* a guest counter the lines are placed near */
    uint64_t host_focus;    /* the host TSC there (a host reader's) */
    int live_kind;          /* LIVE_*, below */
};

enum {
    LIVE_ZERO, LIVE_LAYOUT0, LIVE_LAYOUT1, LIVE_LAYOUT2, LIVE_RANDOM,
    LIVE_NOT_VALID, LIVE_VERSION, LIVE_OUTSIDE, LIVE_NOT_TSC, LIVE_SHIFT,
    LIVE_KINDS,
};

/*
 * A guest-to-host transform: the unscaled one (any offset, wrapped or
 * not), a KVM-like scaled one (ratio 0.2 .. 5 in 32 or 48 fractional
 * bits, or 64), or any mult and frac_bits at all; mostly valid.
 */
static void make_ref_xform(struct pvcp_ref_xform *x, uint64_t focus)
{
    unsigned kind = below(10);

    memset(x, 0, sizeof(*x));
    x->guest_ref = chance(70) ? focus + spread() : rnd();
    x->host_ref = rnd();
    x->mult = 1;
    if (kind >= 4 && kind < 8) {
        static const unsigned fb[] = { 32, 48, 64, 16 };
        double ratio = 0.2 + (double)below(48000) / 10000.0;

        x->frac_bits = fb[below(4)];
        x->mult = x->frac_bits == 64
                  ? (uint64_t)(ratio / 5.0 * 18446744073709551615.0)
                  : (uint64_t)(ratio * (double)(1ull << x->frac_bits));
        x->frac_ref = x->frac_bits == 64 ? rnd()
                                          : below(1ull << x->frac_bits);
    } else if (kind >= 8) {
        x->frac_bits = below(65);
        x->mult = rnd() >> below(64);
        x->frac_ref = rnd();
    }
    /*
     * 1.7 writers: both flags, or PVCP_XFORM_F_PAGE_COUNTER alone (a
     * simulated host's, which readers before 1.7 refuse); VALID alone is
     * a transform for those readers only
     */
    x->flags = chance(80) ? PVCP_XFORM_F_VALID | PVCP_XFORM_F_PAGE_COUNTER
               : chance(80) ? PVCP_XFORM_F_PAGE_COUNTER : PVCP_XFORM_F_VALID;
    if (chance(2)) {
        x->flags = 0;
    } else if (chance(2)) {
        x->frac_bits = 65 + below(200);
    }
}

/*
 * The transform a writer before 1.3 put at 0x028 for domain d (mostly
 * the unscaled one readers of such pages used to compute with), in the
 * bytes that are reserved since ABI 1.6.
 */
static void make_legacy_xform(struct pvcp_offset_page *o, int d,
                              uint64_t focus)
{
    struct pvcp_xform x = { 0 };

    x.frac_bits = chance(70) ? 0 : below(64);
    x.mult = chance(80) ? 1ull << x.frac_bits : rnd();
    x.offset = chance(50) ? rnd() : focus;
    x.flags = chance(95) ? PVCP_XFORM_F_VALID : 0;
    memcpy(o->reserved_xform + d * sizeof(x), &x, sizeof(x));
}

static void make_offset_page(uint64_t focus)
{
    static const uint32_t statuses[] = {
        PVCP_STATUS_VALID, PVCP_STATUS_VALID, PVCP_STATUS_VALID,
        PVCP_STATUS_VALID, PVCP_STATUS_VALID, PVCP_STATUS_VALID,
        PVCP_STATUS_STALE, PVCP_STATUS_STALE, PVCP_STATUS_INVALID,
        PVCP_STATUS_NO_HELPER, PVCP_STATUS_UNRELIABLE, 5, 0x80000001u,
    };
    struct pvcp_offset_page *o = &img->offset;

    o->magic = PVCP_OFFSET_MAGIC;
    o->abi_major = PVCP_ABI_MAJOR;
    o->abi_minor = chance(85) ? 7 + below(2) : chance(60) ? 3 + below(4)
                                                         : below(3);
    o->seq = (uint32_t)rnd() & ~1u;
    o->status = chance(50) ? PVCP_STATUS_VALID
                : statuses[below(sizeof(statuses) / sizeof(statuses[0]))];
    o->generation = rnd();
    o->recommended_page = below(PVCP_HOST_PAGES);
    o->counter_backend = below(4);
    o->guest_counter_hz = rnd();
    for (int d = 0; d < PVCP_DOMAINS; d++) {
        /* writers before 1.3 left ref_xform zero: refused either way */
        if (o->abi_minor >= 3 || chance(30)) {
            make_ref_xform(&o->ref_xform[d], focus);
        }
        if (o->abi_minor < 3) {
            make_legacy_xform(o, d, focus);
        }
    }
    for (int m = 0; m < PVCP_MONO_CLOCKS; m++) {
        o->mono_offset[m].sec = chance(50) ? (int64_t)spread()
                                           : (int64_t)below(1000000);
        o->mono_offset[m].nsec = below(NSEC);
    }
    o->relation_flags = below(2);
    if (chance(1)) {
        o->magic ^= 1u << below(32);
    } else if (chance(1)) {
        o->abi_major = 2;
    }
}

/* A line whose base lies near `cycles` (or anywhere). */
static void make_line(struct pvcp_line *l, uint64_t cycles)
{
    static const uint64_t maxes[] = {
        0, 1, 1000, (1ull << 32) - 1, (1ull << 40) - 1, (1ull << 62) - 1,
        (1ull << 63) - 1, UINT64_MAX,
    };

    l->cycle_last = chance(90) ? cycles + (chance(60) ? jitter() : spread())
                               : rnd();
    l->max_cycles = chance(60) ? maxes[below(8)] : rnd() >> below(64);
    l->shift = chance(80) ? 16 + below(17) : below(64);
    if (chance(70) && l->shift < 36) {
        /* 0.2 .. 5 ns per cycle, as a kernel's mult */
        uint64_t m = ((1ull << l->shift) * (2 + below(48))) / 10;

        l->mult = m > UINT32_MAX || !m ? (uint32_t)rnd() : (uint32_t)m;
    } else {
        l->mult = (uint32_t)rnd();
    }
    if (chance(1)) {
        l->shift = 64 + below(64);
    }
}

static void make_base(struct pvcp_base *b, const struct pvcp_line *l)
{
    b->sec = chance(70) ? 1700000000 + below(400000000)
                        : chance(50) ? rnd() : below(1u << 20);
    b->nsec_shifted = chance(70) && l->shift < 34 ? below(NSEC << l->shift)
                                                  : rnd();
}

/* The simulated host's transform and the kvmclock stage, if any. */
static void make_counter_stages(struct pvcp_host_page *h, int page,
                                uint64_t host_tsc)
{
    if (page < 2 && chance(15)) {
        h->flags |= PVCP_HOST_F_SIMULATED;
        h->sim.frac_bits = chance(70) ? 32 : below(64);
        h->sim.mult = chance(90) && h->sim.frac_bits < 62
                      ? ((1ull << h->sim.frac_bits) * (5 + below(16))) / 10
                      : rnd();
        h->sim.offset = rnd();
        h->sim.flags = chance(95) ? PVCP_XFORM_F_VALID : 0;
        /* no reader applies sim: host_tsc is the page's counter already */
    }
    if (page < 2 && chance(15)) {
        h->counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        h->kvmclock.tsc_timestamp = host_tsc - (chance(80) ? below(1u << 30)
                                                           : rnd());
        h->kvmclock.system_time = rnd() >> below(64);
        h->kvmclock.tsc_to_system_mul = (uint32_t)rnd();
        h->kvmclock.tsc_shift = chance(90) ? (int8_t)(below(9) - 4)
                                           : (int8_t)(below(127) - 63);
    }
}

/*
 * The smear of a smeared page, its start placed by `place` around tai,
 * the page's TAI at the image's focus: a leap far ahead, the start
 * within a second, inside, the end within a second, over.
 */
static void make_smear(struct pvcp_host_page *h, uint64_t tai)
{
    struct pvcp_smear *s = &h->smear;
    int32_t leap = chance(30) ? 0 : chance(50) ? 1 : -1;

    memset(s, 0, sizeof(*s));
    if (!leap || h->abi_minor < 1) {
        return;
    }
    s->leap = leap;
    s->duration_s = (uint32_t)(86400 + leap);
    s->tai_offset_before = chance(70) ? 37 : (int32_t)below(200) - 100;
    switch (below(5)) {
    case 0:
        s->start_tai_sec = tai + 1 + below(3 * 86400);
        break;
    case 1:
        s->start_tai_sec = tai + jitter();
        break;
    case 2:
        s->start_tai_sec = tai - below(s->duration_s);
        break;
    case 3:
        s->start_tai_sec = tai - s->duration_s + jitter();
        break;
    default:
        s->start_tai_sec = tai - s->duration_s - below(3 * 86400);
    }
    s->start_counter = rnd();
    s->end_counter = rnd();
}

/* Damage the way the check words exist for: one bit, anywhere in seq. */
static void damage(struct pvcp_host_page *h, int page)
{
    uint64_t *w = (uint64_t *)((uint8_t *)h + 0x20);

    if (chance(4)) {
        w[below((0x170 - 0x20) / 8)] ^= 1ull << below(64);
    } else if (chance(1)) {
        switch (below(3)) {
        case 0:
            h->magic ^= 1u << below(32);
            break;
        case 1:
            h->page_index = (uint32_t)(page + 1 + below(7));
            break;
        default:
            h->abi_major = 2;
        }
    }
}

static void make_clocks(struct pvcp_host_page *h, int page, uint64_t cycles)
{
    const struct pvcp_host_page *twin = &img->host[page & ~1];

    make_line(&h->hres, cycles);
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        make_base(&h->hres_base[i], &h->hres);
    }
    if ((page & 1) && chance(50)) {
        /* the helper's smeared page: the unsmeared one's line */
        h->hres = twin->hres;
        memcpy(h->hres_base, twin->hres_base, sizeof(h->hres_base));
    }
    if (chance(70)) {
        /* TAI 37 s ahead of REALTIME, as on a real host */
        h->hres_base[PVCP_HRES_TAI].sec =
            h->hres_base[PVCP_HRES_REALTIME].sec + 37;
        h->hres_base[PVCP_HRES_TAI].nsec_shifted =
            h->hres_base[PVCP_HRES_REALTIME].nsec_shifted;
    }
    make_line(&h->raw, cycles);
    make_base(&h->raw_base, &h->raw);
}

static void make_liveness(struct pvcp_host_page *h, uint64_t page_counter)
{
    h->tai_offset = 37;
    h->ntp_status = (uint32_t)rnd();
    h->esterror_ns = rnd();
    h->maxerror_ns = rnd();
    h->disruptions = rnd();
    h->stale_after = chance(30) ? 0 : rnd() >> below(64);
    h->heartbeat_counter = chance(60)
        ? page_counter - h->stale_after + jitter() : rnd();
    h->heartbeat_ns = rnd();
    h->helper_epoch = rnd();
    h->heartbeat_interval_ms = 100;
}

static void make_host_page(int page, const struct image *im)
{
    static const uint16_t minors[] = { 4, 4, 4, 4, 4, 4, 4, 3, 2, 1, 0, 9 };
    struct pvcp_host_page *h = &img->host[page];
    struct abi_oracle_view v = view_of(R_PAGES, page);
    uint64_t pc_focus = im->focus, cycles = im->focus;

    h->magic = PVCP_HOST_MAGIC;
    h->abi_major = PVCP_ABI_MAJOR;
    h->abi_minor = minors[below(sizeof(minors) / sizeof(minors[0]))];
    h->page_index = (uint32_t)page;
    h->seq = (uint32_t)rnd() & ~1u;
    h->counter_mode = page < 2 ? PVCP_COUNTER_TSC : PVCP_COUNTER_RAW_NS;
    h->flags = PVCP_HOST_F_VALID | (chance(20) ? PVCP_HOST_F_MUL_WRAPS : 0) |
               (rnd() & (PVCP_HOST_F_LEAP_INS | PVCP_HOST_F_LEAP_DEL |
                         PVCP_HOST_F_UNSYNC | (1ull << 40)));
    h->counter_hz = rnd();
    if (h->abi_minor >= 1) {
        make_counter_stages(h, page, im->host_focus);
    }
    abi_oracle_page_counter(&v, page, 0, im->focus, &pc_focus, &cycles);
    make_clocks(h, page, cycles);
    if (page & 1) {
        make_smear(h, (uint64_t)(abi_oracle_clock_ns(&v, page, 0,
                                                     PVCP_HRES_TAI, cycles) /
                                 NSEC));
    }
    make_liveness(h, pc_focus);
    if (chance(4)) {
        if (chance(50)) {
            h->counter_mode = PVCP_COUNTER_NONE;
        } else {
            h->flags &= ~PVCP_HOST_F_VALID;
        }
    } else if (chance(2)) {
        h->counter_mode = chance(50) ? (page < 2 ? PVCP_COUNTER_RAW_NS
                                                 : PVCP_COUNTER_TSC)
                                     : 4 + below(10);
    }
    pvcp_page_seal(h);
    damage(h, page);
}

static void put32(uint8_t *blk, uint16_t off, uint32_t v)
{
    memcpy(blk + off, &v, 4);
}

static void put64(uint8_t *blk, uint16_t off, uint64_t v)
{
    memcpy(blk + off, &v, 8);
}

/* A kernel layout's descriptor, moved and its bases shuffled. */
static void random_desc(struct pvcp_live *d)
{
    int used[12] = { 0 };
    uint16_t bases = d->base[PVCP_HRES_REALTIME];
    uint16_t stride = d->block[1] - d->block[0];

    d->block[0] = (uint16_t)(8 * below((PVCP_PAGE_SIZE - 0x400) / 8));
    d->block[1] = d->block[0] + stride;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        int slot;

        do {
            slot = (int)below(12);
        } while (used[slot]);
        used[slot] = 1;
        d->base[i] = bases + 16 * slot;
    }
    d->base[PVCP_LIVE_RAW] = bases + 16 * below(12);
    d->clock_mode_tsc = chance(50) ? 1 : (int32_t)rnd();
}

/* One block's words: the line, and its bases (n of them from first). */
static void put_block(const struct pvcp_live *d, uint8_t *blk,
                      const struct pvcp_line *l, const struct pvcp_base *b,
                      int first, int n, int32_t mode)
{
    put32(blk, d->seq, (uint32_t)rnd() & ~1u);
    put32(blk, d->clock_mode, (uint32_t)mode);
    put64(blk, d->cycle_last, l->cycle_last);
    if (d->max_cycles != PVCP_LIVE_NONE) {
        put64(blk, d->max_cycles, l->max_cycles);
    }
    put64(blk, d->mask, UINT64_MAX);
    put32(blk, d->mult, l->mult);
    put32(blk, d->shift, l->shift);
    for (int i = 0; i < n; i++) {
        put64(blk, d->base[first + i], b[i].sec);
        put64(blk, d->base[first + i] + 8, b[i].nsec_shifted);
    }
}

/* Spoil a working descriptor the way the kind says. */
static void refuse_live(struct pvcp_live *d, int kind)
{
    switch (kind) {
    case LIVE_NOT_VALID:
        d->flags &= ~PVCP_LIVE_F_VALID;
        break;
    case LIVE_VERSION:
        d->version = chance(50) ? 0 : 2 + below(100);
        break;
    case LIVE_OUTSIDE: {
        uint16_t *f = &d->block[0] + below(14);  /* block[] .. base[] */

        *f = (uint16_t)(PVCP_PAGE_SIZE - below(16) + below(0xe000));
        break;
    }
    }
}

static void make_live(struct image *im)
{
    struct pvcp_live *d = &img->offset.live;
    struct pvcp_line hres, raw;
    struct pvcp_base hb[PVCP_HRES_CLOCKS], rb;
    uint64_t cycles = im->host_focus & PVCP_S64_MAX;
    int32_t mode;

    im->live_kind = img->offset.abi_minor < 4 ? LIVE_ZERO
                                              : (int)below(LIVE_KINDS);
    if (im->live_kind == LIVE_ZERO) {
        return;
    }
    vvar_live_desc(&vvar_layouts[im->live_kind <= LIVE_LAYOUT2
                                 ? (size_t)(im->live_kind - LIVE_LAYOUT0)
                                 : below(vvar_layout_count)], d);
    if (im->live_kind != LIVE_LAYOUT0 && im->live_kind != LIVE_LAYOUT1 &&
        im->live_kind != LIVE_LAYOUT2 && chance(50)) {
        random_desc(d);
    }
    hres = img->host[0].hres;
    raw = img->host[0].raw;
    memcpy(hb, img->host[0].hres_base, sizeof(hb));
    rb = img->host[0].raw_base;
    if (chance(60)) {
        /* not the helper's copy: the kernel's own line, and bases */
        make_line(&hres, cycles);
        make_line(&raw, cycles);
        for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
            make_base(&hb[i], &hres);
        }
        make_base(&rb, &raw);
    }
    hres.shift &= im->live_kind == LIVE_SHIFT ? 127 : 63;
    raw.shift &= im->live_kind == LIVE_SHIFT ? 127 : 63;
    if (im->live_kind == LIVE_SHIFT) {
        hres.shift |= 64;
        raw.shift |= 64;
    }
    mode = im->live_kind == LIVE_NOT_TSC
           ? (int32_t)((uint32_t)d->clock_mode_tsc + 1 + below(3))
           : d->clock_mode_tsc;
    put_block(d, img->zero + d->block[0], &hres, hb, 0, PVCP_HRES_CLOCKS,
              mode);
    put_block(d, img->zero + d->block[1], &raw, &rb, PVCP_LIVE_RAW, 1, mode);
    refuse_live(d, im->live_kind);
}

static void make_image(struct image *im)
{
    uint64_t c;

    memset(img, 0, sizeof(*img));
    im->focus = chance(90) ? rnd() : chance(50) ? below(1000)
                                                : (1ull << 63) + jitter();
    make_offset_page(im->focus);
    im->host_focus = im->focus;
    if (img->offset.abi_minor >= 7 &&
        (img->offset.ref_xform[0].flags & PVCP_XFORM_F_PAGE_COUNTER)) {
        struct abi_oracle_view v = view_of(R_PAGES, 0);

        abi_oracle_page_counter(&v, 0, 1, im->focus, &im->host_focus, &c);
    }
    for (int p = 0; p < PVCP_HOST_PAGES; p++) {
        make_host_page(p, im);
    }
    make_live(im);
}

/*
 * Boundaries: the first counter at which something a read depends on
 * changes (a line's base, its max_cycles, the heartbeat's limit, the
 * smear's start and end), found by search over the oracle's own view of
 * the counter, so that states land before, at and after it.
 */
enum { B_BASE, B_MAX, B_BACK, B_STALE, B_SMEAR_START, B_SMEAR_END, BOUNDS };

struct seek {
    struct abi_oracle_view v;
    int page, live, index, kind;
    uint64_t target;
    unsigned __int128 target_ns;
};

/* <0 before the boundary, >=0 at or after it */
static int64_t seek_side(const struct seek *s, uint64_t counter)
{
    uint64_t pcount, cycles;
    unsigned __int128 t;

    if (!abi_oracle_page_counter(&s->v, s->page, s->live, counter, &pcount,
                                 &cycles)) {
        return 0;
    }
    if (s->kind == B_STALE) {
        return (int64_t)(pcount - s->target);
    }
    if (s->kind < B_STALE) {
        return (int64_t)(cycles - s->target);
    }
    t = abi_oracle_clock_ns(&s->v, s->page, s->live, PVCP_HRES_TAI, cycles);
    return t < s->target_ns ? -1 : 0;
}

/* Exponential search away from `from`, then bisection. */
static uint64_t seek_from(const struct seek *s, uint64_t from)
{
    int up = seek_side(s, from) < 0;
    int64_t lo, hi;
    uint64_t step;

    for (step = 1; step < (1ull << 62); step <<= 1) {
        uint64_t c = up ? from + step : from - step;

        if ((seek_side(s, c) >= 0) == up) {
            break;
        }
    }
    if (step >= (1ull << 62)) {
        return from;
    }
    lo = up ? (int64_t)(step >> 1) : -(int64_t)step;
    hi = up ? (int64_t)step : -(int64_t)(step >> 1);
    if (up && step == 1) {
        lo = 0;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;

        if (seek_side(s, from + (uint64_t)mid) >= 0) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return from + (uint64_t)hi;
}

/* Seek results of one image, found when first asked for. */
#define SEEK_SLOTS (READERS * PVCP_HOST_PAGES * 5 * 2 * BOUNDS)
static uint64_t seek_value[SEEK_SLOTS];
static unsigned seek_image[SEEK_SLOTS], image_number;
static long seeks;

/* The line (host page's or live page's) a boundary of `s` is on. */
static int seek_target(struct seek *s)
{
    const struct pvcp_host_page *h = &img->host[s->page];
    const struct pvcp_live *d = &img->offset.live;
    uint64_t cl, max;

    if (s->live) {
        const uint8_t *b = img->zero + d->block[s->index == 4];

        memcpy(&cl, b + d->cycle_last, 8);
        max = (1ull << 62) - 1;
        if (d->max_cycles != PVCP_LIVE_NONE) {
            memcpy(&max, b + d->max_cycles, 8);
        }
    } else {
        cl = s->index == 4 ? h->raw.cycle_last : h->hres.cycle_last;
        max = s->index == 4 ? h->raw.max_cycles : h->hres.max_cycles;
    }
    switch (s->kind) {
    case B_BASE:
        s->target = cl;
        return 1;
    case B_MAX:
        s->target = cl + max + 1;
        return 1;
    case B_BACK:
        s->target = cl + (1ull << 62);
        return 1;
    case B_STALE:
        s->target = h->heartbeat_counter + h->stale_after + 1;
        return !s->live;
    default:
        s->target_ns = (unsigned __int128)(h->smear.start_tai_sec +
                                           (s->kind == B_SMEAR_END
                                            ? h->smear.duration_s : 0)) *
                       NSEC;
        return (s->page & 1) && s->index == 0 && h->smear.leap;
    }
}

static uint64_t boundary(const struct image *im, enum reader r, int page,
                         int index, int live, int kind, uint64_t from)
{
    unsigned slot = (((r * PVCP_HOST_PAGES + page) * 5 + index) * 2 + live) *
                    BOUNDS + kind;
    struct seek s = {
        .v = view_of(r, page), .page = page, .live = live, .index = index,
        .kind = kind,
    };

    (void)im;
    if (seek_image[slot] == image_number) {
        return seek_value[slot];
    }
    seek_image[slot] = image_number;
    seek_value[slot] = from;
    if (seek_target(&s)) {
        seek_value[slot] = seek_from(&s, from);
        seeks++;
    }
    return seek_value[slot];
}

static const clockid_t clocks[] = {
    CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI,
    CLOCK_MONOTONIC_RAW,    /* in the order of their check word index */
};

/* What the states reached, for the coverage check. */
enum {
    C_RC = 0,                                   /* + PVCLOCK_* */
    C_LIVE_FROM = C_RC + PVCLOCK_ERRORS,        /* + LIVE_* kind */
    C_LIVE_REFUSED = C_LIVE_FROM + LIVE_KINDS,  /* + ORACLE_LIVE_* */
    C_PATH = C_LIVE_REFUSED + ORACLE_LIVE_USED, /* + ORACLE_PATH_* */
    C_SMEAR = C_PATH + 5,           /* + live * 8 + (leap < 0) * 4 + phase */
    C_DELTA = C_SMEAR + 16,         /* + delta + 1: before, at, after */
    C_STALE_HEARTBEAT = C_DELTA + 3,
    C_STATUS,                       /* + status (5: any other) */
    C_WRAPPED = C_STATUS + 6,       /* + scaled: negative offsets */
    C_KVMCLOCK = C_WRAPPED + 2,
    C_SIMULATED,
    C_LEGACY,
    C_SEEK,                         /* + B_* */
    COVERAGE = C_SEEK + BOUNDS,
};
static long coverage[COVERAGE];

static const char *const coverage_name[COVERAGE] = {
    [C_RC + PVCLOCK_OK] = "OK", [C_RC + PVCLOCK_ESTALE] = "ESTALE",
    [C_RC + PVCLOCK_EMAGIC] = "EMAGIC", [C_RC + PVCLOCK_EVERSION] = "EVERSION",
    [C_RC + PVCLOCK_EUNPUBLISHED] = "EUNPUBLISHED",
    [C_RC + PVCLOCK_EBADPAGE] = "EBADPAGE",
    [C_RC + PVCLOCK_ENOTVALID] = "ENOTVALID",
    [C_RC + PVCLOCK_EUNRELIABLE] = "EUNRELIABLE",
    [C_RC + PVCLOCK_ECLOCK] = "ECLOCK",
    [C_LIVE_FROM + LIVE_LAYOUT0] = "live answers, 6.15+ layout",
    [C_LIVE_FROM + LIVE_LAYOUT1] = "live answers, 6.10 layout",
    [C_LIVE_FROM + LIVE_LAYOUT2] = "live answers, 5.4 layout",
    [C_LIVE_FROM + LIVE_RANDOM] = "live answers, moved layout",
    [C_LIVE_REFUSED + ORACLE_LIVE_DESC] = "live refused: descriptor",
    [C_LIVE_REFUSED + ORACLE_LIVE_SCALED] = "live refused: scaled page",
    [C_LIVE_REFUSED + ORACLE_LIVE_MODE] = "live refused: not the TSC",
    [C_LIVE_REFUSED + ORACLE_LIVE_SHIFT] = "live refused: shift",
    [C_LIVE_REFUSED + ORACLE_LIVE_OFFSET] = "live refused: offset page",
    [C_LIVE_REFUSED + ORACLE_LIVE_SMEAR_PAGE] = "live refused: smeared page",
    [C_PATH + ORACLE_PATH_FAST] = "delta <= max_cycles",
    [C_PATH + ORACLE_PATH_BACK] = "2^62+ ahead (bit 62): the base",
    [C_PATH + ORACLE_PATH_BEFORE] = "before cycle_last: signed delta",
    [C_PATH + ORACLE_PATH_SLOW] = "128-bit product",
    [C_PATH + ORACLE_PATH_SLOW_WRAPS] = "MUL_WRAPS product",
    [C_SMEAR + ORACLE_SMEAR_BEFORE] = "pages, leap +1: smear ahead",
    [C_SMEAR + ORACLE_SMEAR_INSIDE] = "pages, leap +1: inside",
    [C_SMEAR + ORACLE_SMEAR_AFTER] = "pages, leap +1: over",
    [C_SMEAR + 4 + ORACLE_SMEAR_BEFORE] = "pages, leap -1: smear ahead",
    [C_SMEAR + 4 + ORACLE_SMEAR_INSIDE] = "pages, leap -1: inside",
    [C_SMEAR + 4 + ORACLE_SMEAR_AFTER] = "pages, leap -1: over",
    [C_SMEAR + 8 + ORACLE_SMEAR_BEFORE] = "live, leap +1: smear ahead",
    [C_SMEAR + 8 + ORACLE_SMEAR_INSIDE] = "live, leap +1: inside",
    [C_SMEAR + 8 + ORACLE_SMEAR_AFTER] = "live, leap +1: over",
    [C_SMEAR + 12 + ORACLE_SMEAR_BEFORE] = "live, leap -1: smear ahead",
    [C_SMEAR + 12 + ORACLE_SMEAR_INSIDE] = "live, leap -1: inside",
    [C_SMEAR + 12 + ORACLE_SMEAR_AFTER] = "live, leap -1: over",
    [C_DELTA] = "counter 1 before a base", [C_DELTA + 1] = "counter at a base",
    [C_DELTA + 2] = "counter 1 after a base",
    [C_STALE_HEARTBEAT] = "stale by the heartbeat",
    [C_STATUS] = "status invalid", [C_STATUS + 1] = "status valid",
    [C_STATUS + 2] = "status no helper",
    [C_STATUS + 3] = "status unreliable", [C_STATUS + 4] = "status stale",
    [C_STATUS + 5] = "status unknown",
    [C_WRAPPED] = "negative offset, unscaled",
    [C_WRAPPED + 1] = "negative offset, scaled",
    [C_KVMCLOCK] = "kvmclock stage", [C_SIMULATED] = "simulated host",
    [C_LEGACY] = "offset page before 1.3 refused",
    [C_SEEK + B_BASE] = "seek: base", [C_SEEK + B_MAX] = "seek: max_cycles",
    [C_SEEK + B_BACK] = "seek: bit 62", [C_SEEK + B_STALE] = "seek: stale",
    [C_SEEK + B_SMEAR_START] = "seek: smear start",
    [C_SEEK + B_SMEAR_END] = "seek: smear end",
};

static void count(const struct image *im, enum reader r, int rc,
                  const struct abi_oracle_trace *t)
{
    const struct pvcp_host_page *h = &img->host[t->page];
    const struct pvcp_ref_xform *x = &img->offset.ref_xform[t->page >> 1];
    int time = rc == PVCLOCK_OK || rc == PVCLOCK_ESTALE;

    coverage[C_RC + rc]++;
    if (t->from_live) {
        coverage[C_LIVE_FROM + im->live_kind]++;
    } else if (r == R_LIVE && rc != PVCLOCK_ECLOCK) {
        coverage[C_LIVE_REFUSED + t->live_refused]++;
    }
    if (time) {
        coverage[C_PATH + t->path]++;
        if (t->smear) {
            coverage[C_SMEAR + t->from_live * 8 +
                     (h->smear.leap < 0) * 4 + t->smear]++;
        }
        if (t->delta >= -1 && t->delta <= 1) {
            coverage[C_DELTA + t->delta + 1]++;
        }
        coverage[C_STALE_HEARTBEAT] +=
            t->stale && img->offset.status != PVCP_STATUS_STALE;
        coverage[C_KVMCLOCK] += !t->from_live &&
                                h->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK;
        coverage[C_SIMULATED] += !t->from_live &&
                                 (h->flags & PVCP_HOST_F_SIMULATED);
    }
    if (r != R_HOST) {
        coverage[C_STATUS + (img->offset.status < 5 ? img->offset.status
                                                    : 5)]++;
        if (time && img->offset.abi_minor >= 3 &&
            (int64_t)(x->host_ref - x->guest_ref) < 0) {
            coverage[C_WRAPPED + (x->mult != 1 || x->frac_bits)]++;
        }
        coverage[C_LEGACY] += rc == PVCLOCK_EVERSION &&
                              img->offset.abi_minor < 3 &&
                              img->offset.abi_major == PVCP_ABI_MAJOR;
    }
}

static long states[READERS][PVCP_HOST_PAGES], wrong[READERS][PVCP_HOST_PAGES];

static int live_lines_usable(const struct image *im)
{
    return im->live_kind >= LIVE_LAYOUT0 && im->live_kind <= LIVE_RANDOM;
}

/* The counter of one state: near the focus, anywhere, or at a boundary. */
static uint64_t pick_counter(const struct image *im, enum reader r,
                             int page, int index)
{
    uint64_t from = r == R_HOST ? im->host_focus : im->focus;
    unsigned k = below(100);
    int kind, live;

    if (k < 20) {
        return from + jitter();
    } else if (k < 45) {
        return from + spread();
    } else if (k < 50) {
        return rnd();
    }
    kind = (int)below(BOUNDS);
    live = r == R_LIVE && live_lines_usable(im) && !(page & 2) && chance(70);
    coverage[C_SEEK + kind]++;
    return boundary(im, r, page, index, live, kind, from) + jitter();
}

static void report(enum reader r, int sel, int page, clockid_t clk,
                   uint64_t counter, int le, const struct timespec *lt,
                   int oe, const struct timespec *ot,
                   const struct abi_oracle_trace *t, const struct image *im)
{
    const struct pvcp_host_page *h = &img->host[page];

    tap_diag("%s, page %d (selected %d), clock %d, counter %#llx:",
             reader_name[r], page, sel, (int)clk,
             (unsigned long long)counter);
    tap_diag("  library %s %lld.%09ld, oracle %s %lld.%09ld",
             pvclock_strerror(le), (long long)lt->tv_sec, lt->tv_nsec,
             pvclock_strerror(oe), (long long)ot->tv_sec, ot->tv_nsec);
    tap_diag("  oracle: live %d (refused %d, live kind %d), path %d, "
             "smear %d, stale %d, delta %lld", t->from_live, t->live_refused,
             im->live_kind, t->path, t->smear, t->stale, (long long)t->delta);
    tap_diag("  host page: minor %u mode %u flags %#llx leap %d; offset "
             "page: minor %u status %u", h->abi_minor, h->counter_mode,
             (unsigned long long)h->flags, h->smear.leap,
             img->offset.abi_minor, img->offset.status);
}

static void run_state(const struct image *im)
{
    static const enum reader readers[] = { R_LIVE, R_LIVE, R_PAGES, R_HOST };
    enum reader r = readers[below(4)];
    int sel = chance(50) ? -1 : (int)below(PVCP_HOST_PAGES);
    int index = (int)below(5), page, le, oe;
    clockid_t clk = chance(1) ? CLOCK_PROCESS_CPUTIME_ID : clocks[index];
    struct abi_oracle_view v = view_of(r, sel);
    struct timespec lt = { -1, -1 }, ot = { -2, -2 };
    struct abi_oracle_trace t;
    uint64_t counter;

    page = sel >= 0 ? sel : r == R_HOST ? 0
           : img->offset.recommended_page < PVCP_HOST_PAGES
           ? (int)img->offset.recommended_page : 0;
    counter = pick_counter(im, r, page, index);
    pvclock_select_page(pc[r], sel);
    le = pvclock_gettime_at(pc[r], clk, counter, &lt);
    oe = abi_oracle_read(&v, clk, counter, &ot, &t);
    states[r][page]++;
    count(im, r, oe, &t);
    if (le != oe || ((oe == PVCLOCK_OK || oe == PVCLOCK_ESTALE) &&
                     (lt.tv_sec != ot.tv_sec || lt.tv_nsec != ot.tv_nsec))) {
        if (wrong[r][page]++ < 3) {
            report(r, sel, page, clk, counter, le, &lt, oe, &ot, &t, im);
        }
    }
}

/* The BAR image as a file, mapped for writing here and opened by path. */
static int open_image(void)
{
    char path[] = "/tmp/pvclock-test-oracle-XXXXXX";
    int fd = mkstemp(path), err;

    if (fd < 0 || ftruncate(fd, sizeof(*img)) < 0) {
        return -1;
    }
    img = mmap(NULL, sizeof(*img), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (img == MAP_FAILED) {
        unlink(path);
        return -1;
    }
    bar_image_init(img);
    err = pvclock_open_guest(&pc[R_LIVE], path) ||
          pvclock_open_guest(&pc[R_PAGES], path) ||
          pvclock_open_host(&pc[R_HOST], path);
    unlink(path);
    if (err) {
        return -1;
    }
    pvclock_use_live(pc[R_PAGES], 0);
    return 0;
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);

    return s && *s ? strtol(s, NULL, 0) : dflt;
}

static void check_coverage(void)
{
    int missing = 0;

    for (int i = 0; i < COVERAGE; i++) {
        if (!coverage_name[i]) {
            continue;
        }
        tap_diag("  %-34s %ld", coverage_name[i], coverage[i]);
        missing += coverage[i] == 0;
    }
    tap_ok(missing == 0, "every kind of state was reached (%d not)", missing);
}

int main(void)
{
    long want = env_long("PVCLOCK_ORACLE_STATES", STATES_DEFAULT), done = 0;
    uint64_t seed = (uint64_t)env_long("PVCLOCK_SEED", (long)time(NULL));
    struct timespec t0, t1;
    double secs;

    rng_state = seed ? seed : 1;
    tap_diag("seed %llu (PVCLOCK_SEED), %ld states (PVCLOCK_ORACLE_STATES)",
             (unsigned long long)seed, want);
    if (open_image() < 0) {
        tap_ok(0, "a BAR image file, opened by the library");
        return tap_done();
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (done < want) {
        struct image im;

        image_number++;
        make_image(&im);
        for (int i = 0; i < PER_IMAGE && done < want; i++, done++) {
            run_state(&im);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (int r = 0; r < READERS; r++) {
        for (int p = 0; p < PVCP_HOST_PAGES; p++) {
            tap_ok(wrong[r][p] == 0, "%s, page %d: %ld states, %ld where the "
                   "library and the oracle differ", reader_name[r], p,
                   states[r][p], wrong[r][p]);
        }
    }
    check_coverage();
    tap_ok(done >= want, "%ld states over %u images in %.1f s (%ld "
           "boundary searches)", done, image_number, secs, seeks);
    for (int r = 0; r < READERS; r++) {
        pvclock_close(pc[r]);
    }
    munmap(img, sizeof(*img));
    return tap_done();
}
