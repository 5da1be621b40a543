/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock_gettime_bounds(): earliest and latest around a reading, from
 * the host's maximum error, the reading's age since the helper's last
 * heartbeat at a maximum drift, and the states that give no bound.
 * Exact figures over synthesised pages at given counter values.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "bar-image.h"
#include "tap.h"

#define HEARTBEAT       5000000ull      /* host counter of the heartbeat */
#define MAXERROR_NS     1000ull
/* the kernel's growth of maxerror over the helper's 1 s sample: 500 us */
#define NTP_GROWTH_1S   500000ull

static struct bar_image img;

/* 1 ns per counter tick (1 GHz), published as the helper would. */
static void init_image(void)
{
    struct pvcp_host_page *h = &img.host[0];

    bar_image_init(&img);
    h->counter_mode = PVCP_COUNTER_TSC;
    h->flags = PVCP_HOST_F_VALID;
    h->counter_hz = 1000000000;
    h->hres.cycle_last = 1000000;
    h->hres.max_cycles = 1ull << 40;
    h->hres.mult = 1u << 23;
    h->hres.shift = 23;
    h->hres_base[PVCP_HRES_REALTIME].sec = 1700000000;
    h->hres_base[PVCP_HRES_MONOTONIC].sec = 100;
    h->hres_base[PVCP_HRES_BOOTTIME].sec = 150;
    h->hres_base[PVCP_HRES_TAI].sec = 1700000037;
    h->raw = h->hres;
    h->raw_base.sec = 99;
    h->maxerror_ns = MAXERROR_NS;
    h->heartbeat_counter = HEARTBEAT;
    h->stale_after = 1000000000;        /* 1 s */
    img.offset.status = PVCP_STATUS_VALID;
    img.offset.generation = 1;
    bar_image_offset(&img, 0);
}

static struct pvclock *open_image(int guest)
{
    static struct bar_image sealed;
    struct pvclock_memory m = { sealed.host, NULL, NULL };
    struct pvclock *pc;

    sealed = img;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pvcp_page_seal(&sealed.host[i]);
    }
    if (guest) {
        m.offset = &sealed.offset;
    }
    if (pvclock_open_memory(&pc, &m)) {
        fprintf(stderr, "cannot open the image\n");
        exit(2);
    }
    return pc;
}

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* error_ns, with earliest and latest exactly that far from now. */
static int64_t bound_at(struct pvclock *pc, clockid_t clk, uint64_t counter,
                        uint32_t drift, int *err, struct pvclock_bounds *b)
{
    struct timespec ts;

    *err = pvclock_gettime_bounds_at(pc, clk, counter, drift, b);
    if (*err && *err != PVCLOCK_ESTALE) {
        return -1;
    }
    pvclock_gettime_at(pc, clk, counter, &ts);
    if (ns_of(&b->now) != ns_of(&ts) ||
        (b->error_ns != UINT64_MAX &&
         (ns_of(&b->now) - ns_of(&b->earliest) != (int64_t)b->error_ns ||
          ns_of(&b->latest) - ns_of(&b->now) != (int64_t)b->error_ns))) {
        return -2;              /* not the reading, or not symmetric */
    }
    return (int64_t)b->error_ns;
}

static void test_fresh(int guest)
{
    const char *who = guest ? "guest" : "host";
    struct pvclock *pc;
    struct pvclock_bounds b;
    int64_t e;
    int err;

    init_image();
    pc = open_image(guest);
    /* 1 ms after the heartbeat: 500 ppm of it is 500 ns, + 1 rounding */
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 1000000, 0, &err, &b);
    tap_ok(e == 501 && err == PVCLOCK_OK && b.sync == PVCLOCK_SYNC_OK,
           "%s MONOTONIC 1 ms after a heartbeat: 501 ns (%lld)", who,
           (long long)e);
    e = bound_at(pc, CLOCK_REALTIME, HEARTBEAT + 1000000, 0, &err, &b);
    tap_ok(e == (int64_t)(501 + MAXERROR_NS + NTP_GROWTH_1S + 500),
           "%s REALTIME adds maxerror and its growth over 1 s + 1 ms "
           "(%lld)", who, (long long)e);
    e = bound_at(pc, CLOCK_TAI, HEARTBEAT + 1000000, 0, &err, &b);
    tap_ok(e == (int64_t)(501 + MAXERROR_NS + NTP_GROWTH_1S + 500),
           "%s TAI as REALTIME (%lld)", who, (long long)e);
    e = bound_at(pc, CLOCK_BOOTTIME, HEARTBEAT + 1000000, 100000, &err, &b);
    tap_ok(e == 101, "%s a stated drift of 100 ppm: 101 ns (%lld)", who,
           (long long)e);
    e = bound_at(pc, CLOCK_MONOTONIC_RAW, HEARTBEAT - 10, 0, &err, &b);
    tap_ok(e == 1, "%s a counter before the heartbeat: no age, 1 ns (%lld)",
           who, (long long)e);
    pvclock_close(pc);
}

static void test_states(void)
{
    struct pvclock *pc;
    struct pvclock_bounds b;
    int64_t e;
    int err;

    init_image();
    img.host[0].flags |= PVCP_HOST_F_UNSYNC;
    pc = open_image(1);
    e = bound_at(pc, CLOCK_REALTIME, HEARTBEAT + 1000, 0, &err, &b);
    tap_ok(err == PVCLOCK_OK && b.error_ns == UINT64_MAX &&
           b.sync == PVCLOCK_SYNC_UNSYNCED && b.earliest.tv_sec == 0,
           "host unsynchronised: REALTIME has no bound (%lld)",
           (long long)e);
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 1000, 0, &err, &b);
    tap_ok(e == 2 && b.sync == PVCLOCK_SYNC_OK,
           "host unsynchronised: MONOTONIC still bounded (%lld)",
           (long long)e);
    pvclock_close(pc);

    init_image();
    pc = open_image(1);
    /* 3 s after the heartbeat, past stale_after: ESTALE, still bounded */
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 3000000000ull, 0, &err, &b);
    tap_ok(err == PVCLOCK_ESTALE && b.sync == PVCLOCK_SYNC_STALE &&
           e == 1500001, "helper stale for 3 s: PVCLOCK_ESTALE, 1.5 ms "
           "(%lld)", (long long)e);
    pvclock_close(pc);

    init_image();
    img.offset.status = PVCP_STATUS_STALE;
    pc = open_image(1);
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 1000, 0, &err, &b);
    tap_ok(err == PVCLOCK_ESTALE && b.sync == PVCLOCK_SYNC_STALE,
           "device says stale: PVCLOCK_ESTALE, sync stale");
    pvclock_close(pc);

    init_image();
    img.offset.status = PVCP_STATUS_UNRELIABLE;
    pc = open_image(1);
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 1000, 0, &err, &b);
    tap_ok(err == PVCLOCK_EUNRELIABLE && e == -1,
           "device unreliable: no bound, PVCLOCK_EUNRELIABLE");
    tap_ok(pvclock_gettime_bounds(pc, CLOCK_MONOTONIC, 0, NULL) ==
           PVCLOCK_EINVAL, "NULL bounds: PVCLOCK_EINVAL");
    tap_ok(pvclock_gettime_bounds(NULL, CLOCK_MONOTONIC, 0, &b) ==
           PVCLOCK_ENOTMAPPED, "NULL handle: PVCLOCK_ENOTMAPPED");
    tap_ok(pvclock_gettime_bounds(pc, CLOCK_PROCESS_CPUTIME_ID, 0, &b) ==
           PVCLOCK_ECLOCK, "CPU-time clock: PVCLOCK_ECLOCK");
    pvclock_close(pc);

    init_image();
    img.host[0].counter_hz = 0;
    pc = open_image(0);
    e = bound_at(pc, CLOCK_MONOTONIC, HEARTBEAT + 1000, 0, &err, &b);
    tap_ok(err == PVCLOCK_OK && b.error_ns == UINT64_MAX,
           "a host that does not say its rate: no bound");
    pvclock_close(pc);
}

/* The drift term saturates instead of wrapping. */
static void test_saturation(void)
{
    struct pvclock *pc;
    struct pvclock_bounds b;
    int err;

    init_image();
    img.host[0].stale_after = 0;        /* never stale */
    img.host[0].maxerror_ns = UINT64_MAX - 5;
    pc = open_image(0);
    err = pvclock_gettime_bounds_at(pc, CLOCK_REALTIME, HEARTBEAT + 1000, 0,
                                    &b);
    tap_ok(err == PVCLOCK_OK && b.error_ns == UINT64_MAX,
           "a huge maxerror saturates at UINT64_MAX");
    err = pvclock_gettime_bounds_at(pc, CLOCK_MONOTONIC, UINT64_MAX / 2, 0,
                                    &b);
    tap_ok(err == PVCLOCK_OK && b.error_ns > 1000000000ull * 1000 &&
           b.error_ns != UINT64_MAX, "a very old heartbeat: a large, "
           "finite bound (%llu ns)", (unsigned long long)b.error_ns);
    pvclock_close(pc);
}

int main(void)
{
    test_fresh(0);
    test_fresh(1);
    test_states();
    test_saturation();
    return tap_done();
}
