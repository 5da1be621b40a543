/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pages 1-3 and the synthetic host: the leap second list and schedule,
 * the smear (through the library, as guests read it), the scaled pages'
 * accuracy and continuity, and simulate mode's continuity, frequency
 * changes and leap second.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

#include "derive.h"
#include "leap.h"
#include "pages.h"
#include "pvclock.h"
#include "sim.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"
#include "xorshift.h"

#define NS PVCP_NSEC_PER_SEC

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    return xorshift64s(&rng);
}

static int64_t tdiff(struct pvcp_time a, struct pvcp_time b)
{
    return pvcp_time_diff_ns(a, b);
}

/* ---- leap second list and schedule ------------------------------------- */

static void test_leap_list(void)
{
    struct leap_list l;
    struct leap_event ev;
    struct host_ntp ntp = { 0 };
    char err[128];
    /* NTP seconds: 1 Jan 2017 is 3692217600 */
    const char *text =
        "# comment\n"
        "#@\t3991593600\n"
        "3644697600\t36\t# 1 Jul 2015\n"
        "3692217600\t37\t# 1 Jan 2017\n";

    tap_ok(leap_list_parse(&l, text, err, sizeof(err)) == 0 && l.n == 2 &&
           l.utc[1] == 1483228800 && l.tai[1] == 37 &&
           l.expires == 1782604800, "leap list: entries and expiry parsed");
    tap_ok(leap_list_parse(&l, "3692217600 37\n3644697600 36\n", err,
                           sizeof(err)) < 0 && strstr(err, "line 2"),
           "leap list: out of order entries name the line (%s)", err);
    tap_ok(leap_list_parse(&l, "hello\n", err, sizeof(err)) < 0 &&
           strstr(err, "line 1"), "leap list: garbage names the line (%s)",
           err);
    if (leap_list_load(&l, LEAP_DEFAULT_LIST, err, sizeof(err)) == 0) {
        tap_ok(l.n >= 28 && l.tai[l.n - 1] >= 37,
               "tzdata's leap-seconds.list: %zu entries, TAI-UTC now %d",
               l.n, l.tai[l.n - 1]);
    } else {
        tap_skip("tzdata's leap-seconds.list", err);
    }

    leap_list_parse(&l, text, err, sizeof(err));
    /* 6 h before the window of 1 Jan 2017 opens, host keeps TAI = 36 */
    ntp.tai = 36;
    tap_ok(leap_schedule(&l, &ntp, 1483228800 - 43200 - 6 * 3600, &ev) &&
           ev.leap == 1 && ev.utc == 1483228800 && ev.tai_before == 36 &&
           ev.start_tai == 1483228800 - 43200 + 36,
           "schedule: from the list a day ahead, noon to noon");
    ntp.tai = 37;
    tap_ok(leap_schedule(&l, &ntp, 1483228800 + 3600, &ev) &&
           ev.tai_before == 36,
           "schedule: still in the window after the leap (TAI-UTC 37)");
    ntp.tai = 0;
    tap_ok(!leap_schedule(&l, &ntp, 1483228800 - 3600, &ev),
           "schedule: not from the list when the host keeps no TAI offset");
    ntp.status = STA_INS;
    tap_ok(leap_schedule(&l, &ntp, 1483228800 - 3600, &ev) && ev.leap == 1 &&
           ev.utc == 1483228800 && ev.tai_before == 0,
           "schedule: the kernel's STA_INS means the coming midnight");
    ntp.status = STA_DEL;
    tap_ok(leap_schedule(NULL, &ntp, 1483228800 - 3600, &ev) &&
           ev.leap == -1, "schedule: STA_DEL is a deleted second");
}

/* ---- the smear, through the library ------------------------------------ */

/* A page whose counter is TAI nanoseconds since 0 (1 ns per count). */
static void ns_page(struct pvcp_host_page *p, int32_t tai)
{
    memset(p, 0, sizeof(*p));
    p->counter_mode = PVCP_COUNTER_TSC;
    p->flags = PVCP_HOST_F_VALID;
    p->hres.mult = 1;
    p->hres.shift = 0;
    p->hres.max_cycles = PVCP_S64_MAX;
    p->raw = p->hres;
    p->hres_base[PVCP_HRES_TAI].sec = 0;
    /* REALTIME = TAI - tai: base seconds wrap below 0 on purpose */
    p->hres_base[PVCP_HRES_REALTIME].sec = (uint64_t)-(int64_t)tai;
}

static void test_smear(void)
{
    char dir[] = "/tmp/pvclock-test-derive-XXXXXX", path[128], err[128];
    struct pages_file pf;
    struct pvclock *pc;
    struct pvcp_host_page p;
    const uint64_t utc = 1483228800;
    struct leap_event ev = { 1, 36, utc, 0 };
    uint64_t start, end, c;
    struct timespec prev = { 0, 0 }, ts;
    long backwards = 0, errors = 0;

    if (!mkdtemp(dir)) {
        tap_ok(0, "temp dir");
        return;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    pages_open(&pf, path, err, sizeof(err));
    pvclock_open_host(&pc, path);
    pvclock_select_page(pc, PVCP_PAGE_UNSCALED_SMEARED);

    for (int leap = 1; leap >= -1; leap -= 2) {
        ev.leap = leap;
        ev.start_tai = derive_noon_before_tai(&ev);
        ns_page(&p, 36);
        derive_smear(&p, &ev);
        pages_publish(&pf, PVCP_PAGE_UNSCALED_SMEARED, &p);
        start = ev.start_tai * NS;
        end = derive_noon_after_tai(&ev) * NS;
        tap_ok(p.smear.duration_s == (uint32_t)(86400 + leap) &&
               p.smear.start_counter == start && p.smear.end_counter == end,
               "smear %+d: window noon to noon, %u s, counters at its ends",
               leap, p.smear.duration_s);

        pvclock_gettime_at(pc, CLOCK_REALTIME, start - 1, &ts);
        tap_ok(ts.tv_sec == (time_t)(utc - 43200 - 1) &&
               ts.tv_nsec == 999999999,
               "smear %+d: before the window, REALTIME unsmeared", leap);
        pvclock_gettime_at(pc, CLOCK_REALTIME, end, &ts);
        tap_ok(ts.tv_sec == (time_t)(utc + 43200) && ts.tv_nsec == 0,
               "smear %+d: at noon after, exactly the new UTC (%lld.%09ld)",
               leap, (long long)ts.tv_sec, ts.tv_nsec);
        pvclock_gettime_at(pc, CLOCK_REALTIME,
                           start + (end - start) / 2, &ts);
        tap_ok(llabs((long long)(ts.tv_sec - (time_t)utc) * (long long)NS +
                     ts.tv_nsec - (leap > 0 ? 0 : 0)) <= 500000001,
               "smear %+d: at midpoint half a second is smeared "
               "(%lld.%09ld)", leap, (long long)ts.tv_sec, ts.tv_nsec);

        /* never backwards: coarse steps across the window, fine ones at
         * its start, its middle and its end */
        backwards = errors = 0;
        prev.tv_sec = 0;
        prev.tv_nsec = 0;
        for (c = start - 2 * NS; c < end + 2 * NS; c += 997 * 1000 * 1000) {
            uint64_t probes[] = { c, c + 1, c + 86401, c + 86402 };

            for (int k = 0; k < 4; k++) {
                if (pvclock_gettime_at(pc, CLOCK_REALTIME, probes[k], &ts)) {
                    errors++;
                }
                if (ts.tv_sec < prev.tv_sec ||
                    (ts.tv_sec == prev.tv_sec && ts.tv_nsec < prev.tv_nsec)) {
                    backwards++;
                }
                prev = ts;
            }
        }
        for (uint64_t at = 0; at < 3; at++) {
            uint64_t base = at == 0 ? start : at == 1 ? (start + end) / 2
                                                       : end;

            pvclock_gettime_at(pc, CLOCK_REALTIME, base - 200000, &prev);
            for (c = base - 200000; c < base + 200000; c++) {
                pvclock_gettime_at(pc, CLOCK_REALTIME, c, &ts);
                if (ts.tv_sec < prev.tv_sec ||
                    (ts.tv_sec == prev.tv_sec && ts.tv_nsec < prev.tv_nsec)) {
                    backwards++;
                }
                prev = ts;
            }
        }
        tap_ok(backwards == 0 && errors == 0,
               "smear %+d: smeared REALTIME never goes backwards (%ld "
               "backward steps, %ld errors)", leap, backwards, errors);
    }
    pvclock_close(pc);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
}

/* ---- scaled pages ------------------------------------------------------ */

/* A kernel-like unscaled page: raw and hres at slightly different rates. */
static void kernel_page(struct pvcp_host_page *p, int64_t ppb)
{
    uint64_t hz = 2000000000ull + rnd() % 2000000000ull;

    memset(p, 0, sizeof(*p));
    p->counter_mode = PVCP_COUNTER_TSC;
    p->flags = PVCP_HOST_F_VALID;
    p->raw.shift = p->hres.shift = 24;
    p->raw.mult = (uint32_t)(((pvcp_u128)NS << 24) / hz);
    p->hres.mult = (uint32_t)(((pvcp_u128)(NS + ppb) << 24) / hz);
    p->raw.max_cycles = PVCP_S64_MAX / p->raw.mult;
    p->hres.max_cycles = PVCP_S64_MAX / p->hres.mult;
    p->raw.cycle_last = p->hres.cycle_last = rnd() >> 4;
    p->raw_base.sec = 1000 + rnd() % 100000;
    p->raw_base.nsec_shifted = (rnd() % NS) << 24 | (rnd() & 0xffffff);
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        p->hres_base[i].sec = 1000 + rnd() % 2000000000;
        p->hres_base[i].nsec_shifted = (rnd() % NS) << 24 |
                                       (rnd() & 0xffffff);
    }
}

static struct pvcp_time at_tsc(const struct pvcp_host_page *p, int i,
                               uint64_t c)
{
    return pvcp_clock_at(&p->hres, &p->hres_base[i], p->flags, c);
}

static void test_scaled(void)
{
    int64_t worst = 0, worst_cont = 0;
    long backwards = 0, checked = 0;

    for (int trial = 0; trial < 200; trial++) {
        struct pvcp_host_page k, s, prev;
        int64_t ppb = (int64_t)(rnd() % 1000001) - 500000;
        uint64_t c0, raw0;

        kernel_page(&k, ppb);
        c0 = k.hres.cycle_last + rnd() % 10000000;
        raw0 = derive_raw_ns(&k, c0);
        derive_scaled(&s, &k, NULL, raw0);
        /* refreshed every second for 5 s, continuing from the last */
        for (int refresh = 0; refresh < 6; refresh++) {
            for (int j = 0; j < 200; j++) {
                uint64_t c = c0 + rnd() % (uint64_t)(1.2 * 2e9) ;
                uint64_t raw = derive_raw_ns(&k, c);

                if (raw < s.hres.cycle_last) {
                    continue;
                }
                for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
                    /* the exact value is between the clock at c and at
                     * the next counter value: raw ns are floored */
                    struct pvcp_time e = at_tsc(&k, i, c);
                    struct pvcp_time v = pvcp_clock_at(&s.hres,
                                                       &s.hres_base[i],
                                                       s.flags, raw);
                    int64_t d = llabs(tdiff(v, e));

                    if (d > worst) {
                        worst = d;
                    }
                    checked++;
                }
            }
            prev = s;
            c0 += 2000000000ull + rnd() % 1000000;
            raw0 = derive_raw_ns(&k, c0);
            derive_scaled(&s, &k, &prev, raw0);
            for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
                struct pvcp_time before = pvcp_clock_at(&prev.hres,
                                                        &prev.hres_base[i],
                                                        prev.flags, raw0);
                struct pvcp_time after = pvcp_clock_at(&s.hres,
                                                       &s.hres_base[i],
                                                       s.flags, raw0);
                int64_t d = tdiff(after, before);

                if (d < 0) {
                    backwards++;
                }
                if (llabs(d) > worst_cont) {
                    worst_cont = llabs(d);
                }
            }
        }
    }
    /* raw ns are whole: one raw ns is up to 1 ns (+500 ppm) of a clock */
    tap_ok(worst <= 2, "scaled pages: within %lld ns of the exact host "
           "value (%ld values, 200 hosts from -500 to +500 ppm)",
           (long long)worst, checked);
    tap_ok(backwards == 0 && worst_cont <= 1,
           "scaled pages: re-derivation continues every clock (largest "
           "change at the anchor %lld ns, %ld backwards)",
           (long long)worst_cont, backwards);

    {
        struct pvcp_host_page k, s, prev;
        uint64_t c0;

        kernel_page(&k, 0);
        c0 = k.hres.cycle_last + 1000;
        derive_scaled(&prev, &k, NULL, derive_raw_ns(&k, c0));
        k.hres_base[PVCP_HRES_REALTIME].sec -= 5;      /* a clock step */
        derive_scaled(&s, &k, &prev, derive_raw_ns(&k, c0 + 1000));
        tap_ok(llabs(tdiff(pvcp_clock_at(&s.hres,
                                         &s.hres_base[PVCP_HRES_REALTIME],
                                         s.flags, s.hres.cycle_last),
                           at_tsc(&k, PVCP_HRES_REALTIME, c0 + 1000))) <= 2,
               "scaled pages: a REALTIME step is followed, not smoothed");
    }
}

static void test_stepped(void)
{
    struct pvcp_host_page a, b;

    kernel_page(&a, 0);
    b = a;
    /* the kernel's next tick: every base moved along the same line */
    b.hres.cycle_last += 1000;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        b.hres_base[i].nsec_shifted += 1000ull * b.hres.mult;
    }
    tap_ok(!derive_stepped(&a, &b), "a tick is not a step");
    b.hres.mult += 1;       /* NTP slewing: same offsets between clocks */
    tap_ok(!derive_stepped(&a, &b), "slewing is not a step");
    b.hres_base[PVCP_HRES_REALTIME].sec -= 1;
    tap_ok(derive_stepped(&a, &b), "REALTIME back by 1 s (a leap) is a step");
    b = a;
    b.hres_base[PVCP_HRES_TAI].sec += 1;
    tap_ok(derive_stepped(&a, &b), "a new TAI offset is a step");
}

/* ---- simulate mode ----------------------------------------------------- */

static struct pvcp_time sim_clock(const struct sim_host *h, int i, uint64_t c)
{
    return pvcp_clock_at(&h->snap.hres, &h->snap.hres_base[i], 0, c);
}

static void test_sim(void)
{
    struct sim_params p, np;
    struct sim_host h;
    char err[256];
    uint64_t tsc, c, real_hz = 2600000000ull;
    struct pvcp_time before, after, tai_b, tai_a;
    int r;

    sim_defaults(&p);
    tap_ok(sim_parse(&p, "tsc_hz=3000000000, freq_ppb=-20000,"
                     "realtime_offset_ns=7000000000", err, sizeof(err)) == 0 &&
           p.tsc_hz == 3000000000ull && p.freq_ppb == -20000 &&
           p.realtime_offset_ns == 7000000000ll, "simulate: parameters");
    tap_ok(sim_parse(&np, "freq_ppb=600000", err, sizeof(err)) < 0 &&
           strstr(err, "500 ppm"), "simulate: out of range named (%s)", err);
    tap_ok(sim_start(&h, &p, real_hz, err, sizeof(err)) == 0,
           "simulate: started");
    tsc = vvar_read_tsc();
    c = sim_counter(&h, tsc + real_hz);
    tap_ok(llabs((int64_t)(c - sim_counter(&h, tsc)) - 3000000000ll) < 2,
           "simulate: one real second is tsc_hz synthetic counts");
    {
        struct timespec rt;
        struct pvcp_time s = sim_clock(&h, PVCP_HRES_REALTIME,
                                       sim_counter(&h, vvar_read_tsc()));

        clock_gettime(CLOCK_REALTIME, &rt);
        tap_ok(llabs(tdiff(s, (struct pvcp_time){ rt.tv_sec, rt.tv_nsec }) -
                     7000000000ll) < 50000000,
               "simulate: REALTIME is offset by realtime_offset_ns");
    }

    /* a frequency change keeps every clock continuous */
    np = h.p;
    np.freq_ppb = 40000;
    tsc = vvar_read_tsc();
    c = sim_counter(&h, tsc);
    before = sim_clock(&h, PVCP_HRES_MONOTONIC, c);
    r = sim_update(&h, &np, tsc, err, sizeof(err));
    after = sim_clock(&h, PVCP_HRES_MONOTONIC, c);
    tap_ok(r == 1 && tdiff(after, before) == 0 && h.snap.hres.cycle_last == c,
           "simulate: freq change re-anchors continuously (%lld ns)",
           (long long)tdiff(after, before));
    tap_ok(h.snap.hres.mult > h.snap.raw.mult,
           "simulate: +40 ppm makes MONOTONIC faster than MONOTONIC_RAW");
    np.tsc_hz = 1000000000;
    tap_ok(sim_update(&h, &np, tsc, err, sizeof(err)) < 0 &&
           strstr(err, "tsc_hz cannot change"),
           "simulate: tsc_hz cannot change (%s)", err);

    /* a leap second 2 s from now, inserted exactly at its counter */
    np = h.p;
    {
        struct pvcp_time rt = sim_clock(&h, PVCP_HRES_REALTIME,
                                        sim_counter(&h, vvar_read_tsc()));
        uint64_t midnight = (rt.sec / 86400 + 1) * 86400;

        /* move REALTIME to 1 s before midnight, then arm the leap */
        np.realtime_offset_ns += (int64_t)((midnight - 1 - rt.sec) * NS -
                                           rt.nsec);
        np.leap = 1;
        np.leap_utc = midnight;
        sim_update(&h, &np, vvar_read_tsc(), err, sizeof(err));
        tap_ok(h.ntp.status & STA_INS, "simulate: leap armed (STA_INS)");
        {
            struct sim_host old = h;

            /* 1.5 s later in real time */
            sim_update(&h, &np, vvar_read_tsc() + real_hz * 3 / 2, err,
                       sizeof(err));
            c = h.snap.hres.cycle_last;
            tai_b = sim_clock(&old, PVCP_HRES_TAI, c);
        }
        tap_ok(h.leap_done && h.ntp.tai == 38 && !(h.ntp.status & STA_INS),
               "simulate: leap applied, TAI-UTC 37 -> %d", h.ntp.tai);
        before = sim_clock(&h, PVCP_HRES_REALTIME, h.snap.hres.cycle_last);
        tap_ok(before.sec == midnight - 1 && before.nsec == 0,
               "simulate: at the leap's counter REALTIME is 23:59:59 again "
               "(midnight %+lld ns)",
               (long long)tdiff(before, (struct pvcp_time){ midnight, 0 }));
        tai_a = sim_clock(&h, PVCP_HRES_TAI, c);
        tap_ok(tdiff(tai_a, tai_b) == 0,
               "simulate: TAI runs on through the leap (%lld ns)",
               (long long)tdiff(tai_a, tai_b));
    }
}

int main(void)
{
    test_leap_list();
    test_smear();
    test_scaled();
    test_stepped();
    test_sim();
    return tap_done();
}
