/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * When the helper looks at the kernel's data.  See pacer.h.
 */
#include <string.h>
#include <time.h>

#include "pacer.h"
#include "pvclock-pages/pvclock-pages-calc.h"

#define NS PVCP_NSEC_PER_SEC

uint64_t pacer_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

void pacer_init(struct pacer *p, uint64_t interval_ns, bool track_ticks)
{
    memset(p, 0, sizeof(*p));
    p->interval_ns = interval_ns;
    p->track_ticks = track_ticks;
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

/* The first kernel write expected after MONOTONIC t. */
static uint64_t write_after(const struct pacer *p, uint64_t t)
{
    uint64_t k;

    if (t < p->last_write) {
        return p->last_write;
    }
    k = (t - p->last_write) / p->period_ns + 1;
    return p->last_write + k * p->period_ns;
}

/* Spin until the kernel's seqcount moves or MONOTONIC deadline. */
static bool spin_for_write(struct pacer *p, const struct vvar_source *src,
                           uint32_t seq, uint64_t deadline,
                           volatile sig_atomic_t *stop)
{
    uint64_t start = pacer_mono_ns(), now = start;
    bool hit = false;

    p->spins++;
    while (!*stop && now <= deadline) {
        if (vvar_peek_seq(src) != seq) {
            hit = true;
            break;
        }
        __builtin_ia32_pause();
        now = pacer_mono_ns();
    }
    p->spin_ns += now - start;
    if (hit) {
        p->spin_hits++;
        p->last_write = now;
        p->misses = 0;
    } else if (++p->misses > 2) {
        p->last_write = 0;      /* lost the phase: find it again */
    }
    return hit;
}

void pacer_wait(struct pacer *p, const struct vvar_source *src,
                volatile sig_atomic_t *stop)
{
    uint64_t now = pacer_mono_ns(), wake = now + p->interval_ns, due;
    uint32_t seq = vvar_peek_seq(src);

    if (!p->track_ticks || !p->period_ns || now >= p->active_until) {
        sleep_until(wake);
        return;
    }
    if (!p->last_write) {
        /*
         * The kernel writes about one tick after the MONOTONIC time of
         * its cycle_last (it accumulates whole tick intervals), at a
         * phase only observation tells: spin through one period to see
         * a write happen.
         */
        spin_for_write(p, src, seq, now + p->period_ns + PACER_LATE_NS, stop);
        return;
    }
    due = write_after(p, now + PACER_EARLY_NS);
    if (due > wake + PACER_EARLY_NS) {
        sleep_until(wake);
        return;
    }
    if (due > now + PACER_EARLY_NS) {
        sleep_until(due - PACER_EARLY_NS);
    }
    spin_for_write(p, src, seq, due + PACER_LATE_NS, stop);
}
