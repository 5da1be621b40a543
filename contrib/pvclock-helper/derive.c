/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deriving pages 1-3 from page 0.  See derive.h.
 */
#include <string.h>
#include <sys/timex.h>

#include "derive.h"
#include "leap.h"
#include "pvclock-pages/pvclock-pages-calc.h"

#define NS  PVCP_NSEC_PER_SEC
#define S   DERIVE_SCALED_SHIFT

int derive_read_ntp(struct host_ntp *ntp)
{
    struct timex tx = { .modes = 0 };
    int state = adjtimex(&tx);

    if (state < 0) {
        return -1;
    }
    ntp->tai = tx.tai;
    ntp->status = (uint32_t)tx.status;
    ntp->esterror_ns = (uint64_t)tx.esterror * 1000;
    ntp->maxerror_ns = (uint64_t)tx.maxerror * 1000;
    if (state == TIME_ERROR) {
        ntp->status |= STA_UNSYNC;
    }
    return 0;
}

void derive_ntp(struct pvcp_host_page *p, const struct host_ntp *ntp)
{
    p->tai_offset = ntp->tai;
    p->ntp_status = ntp->status;
    p->esterror_ns = ntp->esterror_ns;
    p->maxerror_ns = ntp->maxerror_ns;
    p->flags &= ~(PVCP_HOST_F_LEAP_INS | PVCP_HOST_F_LEAP_DEL |
                  PVCP_HOST_F_UNSYNC | PVCP_HOST_F_TAI_KNOWN |
                  PVCP_HOST_F_TAI_FROM_LIST);
    p->known_tai_offset = 0;
    if (ntp->tai_source != LEAP_TAI_UNKNOWN) {
        p->known_tai_offset = ntp->known_tai;
        p->flags |= PVCP_HOST_F_TAI_KNOWN;
        if (ntp->tai_source == LEAP_TAI_LIST) {
            p->flags |= PVCP_HOST_F_TAI_FROM_LIST;
        }
    }
    if (ntp->status & STA_INS) {
        p->flags |= PVCP_HOST_F_LEAP_INS;
    }
    if (ntp->status & STA_DEL) {
        p->flags |= PVCP_HOST_F_LEAP_DEL;
    }
    if (ntp->status & STA_UNSYNC) {
        p->flags |= PVCP_HOST_F_UNSYNC;
    }
}

uint64_t derive_noon_before_tai(const struct leap_event *ev)
{
    return ev->utc - 43200 + (uint64_t)(int64_t)ev->tai_before;
}

uint64_t derive_noon_after_tai(const struct leap_event *ev)
{
    return ev->utc + 43200 + (uint64_t)(int64_t)(ev->tai_before + ev->leap);
}

/* The page's counter value at which its TAI reaches tai_sec (approx.). */
static uint64_t counter_at_tai(const struct pvcp_host_page *p,
                               uint64_t tai_sec)
{
    const struct pvcp_base *b = &p->hres_base[PVCP_HRES_TAI];
    pvcp_u128 now = (((pvcp_u128)b->sec * NS) << p->hres.shift) +
                    b->nsec_shifted;
    pvcp_u128 then = ((pvcp_u128)tai_sec * NS) << p->hres.shift;

    if (!p->hres.mult) {
        return 0;
    }
    if (then >= now) {
        return p->hres.cycle_last + (uint64_t)((then - now) / p->hres.mult);
    }
    return p->hres.cycle_last - (uint64_t)((now - then) / p->hres.mult);
}

void derive_smear(struct pvcp_host_page *p, const struct leap_event *ev)
{
    memset(&p->smear, 0, sizeof(p->smear));
    if (!ev || !ev->leap) {
        return;
    }
    p->smear.leap = ev->leap;
    p->smear.tai_offset_before = ev->tai_before;
    p->smear.start_tai_sec = ev->start_tai;
    p->smear.duration_s = (uint32_t)(derive_noon_after_tai(ev) -
                                     ev->start_tai);
    p->smear.start_counter = counter_at_tai(p, p->smear.start_tai_sec);
    p->smear.end_counter = counter_at_tai(p, p->smear.start_tai_sec +
                                             p->smear.duration_s);
}

uint64_t derive_raw_ns(const struct pvcp_host_page *src, uint64_t tsc)
{
    struct pvcp_time t = pvcp_clock_at(&src->raw, &src->raw_base, src->flags,
                                       pvcp_host_cycles(src->counter_mode,
                                                        &src->kvmclock, tsc));

    return t.sec * NS + t.nsec;
}

/*
 * Exact value of a clock (line l, base b) at raw ns r, in 2^-S ns relative
 * to b->sec, given the raw line and base of the same page.  Works on the
 * clocksource cycle domain: r corresponds to cycles c with
 *   raw(c) = r  <=>  (c - rcl) * rmult = (r << rshift) - rbase
 * and the clock at c is (base + (c - cl) * mult) >> shift.
 */
static pvcp_u128 exact_at_raw(const struct pvcp_line *l,
                              const struct pvcp_base *b,
                              const struct pvcp_line *rl,
                              const struct pvcp_base *rb, uint64_t r)
{
    /* raw ns at the clock line's cycle_last, in 2^-rshift ns */
    pvcp_u128 rbase = (((pvcp_u128)rb->sec * NS) << rl->shift) +
                      rb->nsec_shifted;
    pvcp_u128 r_at_cl = rbase + (pvcp_u128)(l->cycle_last - rl->cycle_last) *
                                rl->mult;
    pvcp_u128 rq = (pvcp_u128)r << rl->shift;
    /* slope in 2^-(S+32) clock-ns per raw ns */
    int e = (int)rl->shift + S + 32 - (int)l->shift;
    pvcp_u128 k = e >= 0 ? ((pvcp_u128)l->mult << e) / rl->mult
                         : ((pvcp_u128)l->mult >> -e) / rl->mult;
    pvcp_u128 base_s = S >= l->shift ? (pvcp_u128)b->nsec_shifted << (S - l->shift)
                                     : (pvcp_u128)b->nsec_shifted >> (l->shift - S);
    pvcp_u128 d, whole, frac;
    pvcp_u128 mask = ((pvcp_u128)1 << rl->shift) - 1;

    if (rq >= r_at_cl) {
        d = rq - r_at_cl;
        whole = (d >> rl->shift) * k >> 32;
        frac = ((d & mask) * k) >> (32 + rl->shift);
        return base_s + whole + frac;
    }
    d = r_at_cl - rq;
    whole = (d >> rl->shift) * k >> 32;
    frac = ((d & mask) * k) >> (32 + rl->shift);
    return base_s - whole - frac;
}

/* prev's value of base index i at raw ns r, in 2^-S ns relative to sec. */
static pvcp_u128 prev_at(const struct pvcp_line *pl, const struct pvcp_base *pb,
                         uint64_t r, uint64_t sec)
{
    pvcp_u128 v = pb->nsec_shifted + (pvcp_u128)(r - pl->cycle_last) * pl->mult;

    /* move from pb->sec to sec (both near each other) */
    if (pb->sec >= sec) {
        v += ((pvcp_u128)(pb->sec - sec) * NS) << S;
    } else {
        v -= ((pvcp_u128)(sec - pb->sec) * NS) << S;
    }
    return v;
}

static void put_base(struct pvcp_base *dst, uint64_t sec, pvcp_u128 v)
{
    const pvcp_u128 one = (pvcp_u128)NS << S;
    uint64_t whole = (uint64_t)(v / one);

    dst->sec = sec + whole;
    dst->nsec_shifted = (uint64_t)(v - (pvcp_u128)whole * one);
}

static pvcp_u128 absdiff(pvcp_u128 a, pvcp_u128 b)
{
    return a > b ? a - b : b - a;
}

void derive_scaled(struct pvcp_host_page *dst,
                   const struct pvcp_host_page *src,
                   const struct pvcp_host_page *prev, uint64_t raw_now)
{
    const pvcp_u128 jump = (pvcp_u128)1000 << S;    /* 1 us */
    const uint64_t ahead = raw_now + DERIVE_SCALED_AHEAD_NS;
    bool have_prev = prev && prev->counter_mode == PVCP_COUNTER_RAW_NS &&
                     (prev->flags & PVCP_HOST_F_VALID) &&
                     prev->hres.shift == S && raw_now >= prev->hres.cycle_last;
    pvcp_u128 start[PVCP_HRES_CLOCKS], mono_target;
    uint64_t mult;

    memcpy(dst, src, sizeof(*dst));
    dst->counter_mode = PVCP_COUNTER_RAW_NS;
    dst->flags = (src->flags & ~PVCP_HOST_F_MUL_WRAPS) | PVCP_HOST_F_VALID;
    dst->counter_hz = NS;
    memset(&dst->kvmclock, 0, sizeof(dst->kvmclock));

    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        pvcp_u128 exact = exact_at_raw(&src->hres, &src->hres_base[i],
                                       &src->raw, &src->raw_base, raw_now);

        start[i] = exact;
        if (have_prev) {
            pvcp_u128 cont = prev_at(&prev->hres, &prev->hres_base[i],
                                     raw_now, src->hres_base[i].sec);

            if (absdiff(cont, exact) <= jump) {
                start[i] = cont;
            }
        }
    }
    /* one slope for all four: aim MONOTONIC at its exact value ahead */
    mono_target = exact_at_raw(&src->hres, &src->hres_base[PVCP_HRES_MONOTONIC],
                               &src->raw, &src->raw_base, ahead);
    mult = (uint64_t)((mono_target - start[PVCP_HRES_MONOTONIC] +
                       DERIVE_SCALED_AHEAD_NS / 2) / DERIVE_SCALED_AHEAD_NS);
    if (mult > UINT32_MAX) {
        mult = UINT32_MAX;      /* a ratio of 2 or more: not a real host */
    }
    dst->hres.cycle_last = raw_now;
    dst->hres.mult = (uint32_t)mult;
    dst->hres.shift = S;
    dst->hres.max_cycles = mult ? PVCP_S64_MAX / mult : 0;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        put_base(&dst->hres_base[i], src->hres_base[i].sec, start[i]);
    }

    /* MONOTONIC_RAW is the counter itself */
    dst->raw.cycle_last = raw_now;
    dst->raw.mult = 1u << S;
    dst->raw.shift = S;
    dst->raw.max_cycles = PVCP_S64_MAX >> S;
    dst->raw_base.sec = raw_now / NS;
    dst->raw_base.nsec_shifted = (raw_now % NS) << S;
}

/* A clock's value minus MONOTONIC's, in the line's shifted units. */
static pvcp_u128 minus_mono(const struct pvcp_host_page *p, int i)
{
    const struct pvcp_base *b = &p->hres_base[i];
    const struct pvcp_base *m = &p->hres_base[PVCP_HRES_MONOTONIC];

    return ((((pvcp_u128)b->sec * NS) << p->hres.shift) + b->nsec_shifted) -
           ((((pvcp_u128)m->sec * NS) << p->hres.shift) + m->nsec_shifted);
}

bool derive_stepped(const struct pvcp_host_page *old,
                    const struct pvcp_host_page *new)
{
    if (!(old->flags & PVCP_HOST_F_VALID) ||
        old->counter_mode == PVCP_COUNTER_NONE ||
        old->hres.shift != new->hres.shift) {
        return false;
    }
    return minus_mono(old, PVCP_HRES_REALTIME) !=
           minus_mono(new, PVCP_HRES_REALTIME) ||
           minus_mono(old, PVCP_HRES_TAI) != minus_mono(new, PVCP_HRES_TAI);
}
