/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * When the helper looks at the kernel's data.  See pacer.h.
 */
#include <string.h>
#include <time.h>

#include "pacer.h"
#include "hw/pvclock/pvclock-pages-calc.h"

#define NS PVCP_NSEC_PER_SEC

uint64_t pacer_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

void pacer_init(struct pacer *p, uint64_t interval_ns)
{
    memset(p, 0, sizeof(*p));
    p->interval_ns = interval_ns;
}

static uint64_t base_ns(const struct pvcp_base *b, uint32_t shift)
{
    return b->sec * NS + (b->nsec_shifted >> shift);
}

void pacer_observe(struct pacer *p, const struct host_snapshot *snap,
                   uint64_t now)
{
    uint64_t upd = base_ns(&snap->hres_base[PVCP_HRES_MONOTONIC],
                           snap->hres.shift);

    if (upd > p->last_update && p->last_update) {
        uint64_t d = upd - p->last_update;

        /* the smallest gap seen is the tick (HZ 100..1000) */
        if (d >= 900000 && d <= 11000000 &&
            (!p->period_ns || d < p->period_ns - p->period_ns / 8)) {
            p->period_ns = d;
        }
    }
    if (upd > p->last_update) {
        p->last_update = upd;
    }
    if (p->last_mult && snap->hres.mult != p->last_mult) {
        p->active_until = now + PACER_ACTIVE_NS;
    }
    p->last_mult = snap->hres.mult;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = { (time_t)(t / NS), (long)(t % NS) };

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* The first kernel update expected after MONOTONIC t. */
static uint64_t tick_after(const struct pacer *p, uint64_t t)
{
    uint64_t k;

    if (t < p->last_update) {
        return p->last_update;
    }
    k = (t - p->last_update) / p->period_ns + 1;
    return p->last_update + k * p->period_ns;
}

void pacer_wait(struct pacer *p, const struct vvar_source *src,
                volatile sig_atomic_t *stop)
{
    uint64_t now = pacer_mono_ns(), wake = now + p->interval_ns, due = 0;
    uint32_t seq;

    if (p->period_ns && p->last_update && now < p->active_until) {
        due = tick_after(p, now + PACER_EARLY_NS);
    }
    if (!due || due > wake + PACER_EARLY_NS) {
        sleep_until(wake);
        return;
    }
    seq = vvar_peek_seq(src);
    if (due > now + PACER_EARLY_NS) {
        sleep_until(due - PACER_EARLY_NS);
    }
    /* spin on the kernel's seqcount until it moves (or we give up) */
    p->spins++;
    now = pacer_mono_ns();
    {
        uint64_t start = now;

        while (vvar_peek_seq(src) == seq && !*stop) {
            now = pacer_mono_ns();
            if (now > due + PACER_LATE_NS) {
                break;
            }
            __builtin_ia32_pause();
        }
        if (vvar_peek_seq(src) != seq) {
            p->spin_hits++;
        }
        p->spin_ns += pacer_mono_ns() - start;
    }
}
