/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulate mode.  See sim.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "sim.h"
#include "pvclock-pages/pvclock-pages-calc.h"

#define NS          PVCP_NSEC_PER_SEC
#define SIM_SHIFT   24

void sim_defaults(struct sim_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tsc_hz = 2500000000ull;
    p->tai_offset = 37;
    p->counter_start = 1000000000000ull;
}

static int parse_one(struct sim_params *p, char *kv, char *err, size_t len)
{
    char *eq = strchr(kv, '='), *end;
    const char *key = kv, *val;

    if (!eq) {
        snprintf(err, len, "'%s' is not key=value", kv);
        return -1;
    }
    *eq = 0;
    val = eq + 1;
    errno = 0;
    if (!strcmp(key, "tsc_hz")) {
        p->tsc_hz = strtoull(val, &end, 10);
        if (p->tsc_hz < 1000000 || p->tsc_hz > 100000000000ull) {
            snprintf(err, len, "tsc_hz=%s: give 1 MHz to 100 GHz in Hz", val);
            return -1;
        }
    } else if (!strcmp(key, "realtime_offset_ns")) {
        p->realtime_offset_ns = strtoll(val, &end, 10);
    } else if (!strcmp(key, "freq_ppb")) {
        p->freq_ppb = strtoll(val, &end, 10);
        if (p->freq_ppb < -500000 || p->freq_ppb > 500000) {
            snprintf(err, len, "freq_ppb=%s: the kernel allows -500000.."
                     "500000 (500 ppm)", val);
            return -1;
        }
    } else if (!strcmp(key, "tai_offset")) {
        p->tai_offset = (int32_t)strtol(val, &end, 10);
    } else if (!strcmp(key, "counter_start")) {
        p->counter_start = strtoull(val, &end, 10);
    } else if (!strcmp(key, "leap")) {
        char *at = strchr(val, '@');

        if (!at || (strncmp(val, "+1@", 3) && strncmp(val, "-1@", 3) &&
                    strncmp(val, "0@", 2))) {
            snprintf(err, len, "leap=%s: use +1@UTC-SECONDS, -1@... or "
                     "0@0", val);
            return -1;
        }
        p->leap = val[0] == '0' ? 0 : val[0] == '+' ? 1 : -1;
        p->leap_utc = strtoull(at + 1, &end, 10);
        if (p->leap && p->leap_utc % 86400) {
            snprintf(err, len, "leap=%s: a leap second happens at a UTC "
                     "midnight (a multiple of 86400)", val);
            return -1;
        }
    } else {
        snprintf(err, len, "unknown simulate parameter '%s' (tsc_hz, "
                 "realtime_offset_ns, freq_ppb, tai_offset, leap, "
                 "counter_start)", key);
        return -1;
    }
    if (errno || *end) {
        snprintf(err, len, "%s=%s: not a number", key, val);
        return -1;
    }
    return 0;
}

int sim_parse(struct sim_params *p, const char *spec, char *err,
              size_t errlen)
{
    char *copy = strdup(spec), *save = NULL, *tok;
    int ret = 0;

    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (tok = strtok_r(copy, ",\n", &save); tok;
         tok = strtok_r(NULL, ",\n", &save)) {
        while (*tok == ' ' || *tok == '\t') {
            tok++;
        }
        if (!*tok || *tok == '#') {
            continue;
        }
        if (parse_one(p, tok, err, errlen) < 0) {
            ret = -1;
            break;
        }
    }
    free(copy);
    return ret;
}

uint64_t sim_counter(const struct sim_host *h, uint64_t tsc)
{
    return pvcp_xform_apply(&h->sim, tsc);
}

static void put(struct pvcp_base *b, uint64_t ns)
{
    b->sec = ns / NS;
    b->nsec_shifted = (ns % NS) << SIM_SHIFT;
}

static uint64_t ts_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Lines for the current parameters, anchored at counter c with values. */
static void set_lines(struct sim_host *h, uint64_t c, uint64_t raw,
                      const uint64_t hres[PVCP_HRES_CLOCKS])
{
    uint64_t hz = h->p.tsc_hz;

    h->snap.counter_mode = PVCP_COUNTER_TSC;
    h->snap.clock_mode = VVAR_CLOCKMODE_TSC;
    h->snap.flags = PVCP_HOST_F_SIMULATED;
    h->snap.raw.cycle_last = c;
    h->snap.raw.shift = SIM_SHIFT;
    h->snap.raw.mult = (uint32_t)(((pvcp_u128)NS << SIM_SHIFT) / hz);
    h->snap.raw.max_cycles = PVCP_S64_MAX / h->snap.raw.mult;
    h->snap.hres.cycle_last = c;
    h->snap.hres.shift = SIM_SHIFT;
    h->snap.hres.mult = (uint32_t)(((pvcp_u128)(NS + h->p.freq_ppb) <<
                                    SIM_SHIFT) / hz);
    h->snap.hres.max_cycles = PVCP_S64_MAX / h->snap.hres.mult;
    put(&h->snap.raw_base, raw);
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        put(&h->snap.hres_base[i], hres[i]);
    }
}

static void update_ntp(struct sim_host *h)
{
    h->ntp.tai = h->p.tai_offset + h->tai_leaps;
    h->ntp.status = STA_PLL;
    if (h->p.leap && !h->leap_done) {
        h->ntp.status |= h->p.leap > 0 ? STA_INS : STA_DEL;
    }
    h->ntp.esterror_ns = 0;
    h->ntp.maxerror_ns = 0;
}

/* The lines anew through h->sim, the synthetic counter at tsc now. */
static void sim_anchor(struct sim_host *h, uint64_t tsc)
{
    const struct sim_params *p = &h->p;
    uint64_t c0 = sim_counter(h, tsc), hres[PVCP_HRES_CLOCKS], raw;

    raw = ts_ns(CLOCK_MONOTONIC_RAW);
    hres[PVCP_HRES_MONOTONIC] = ts_ns(CLOCK_MONOTONIC);
    hres[PVCP_HRES_BOOTTIME] = ts_ns(CLOCK_BOOTTIME);
    hres[PVCP_HRES_REALTIME] = ts_ns(CLOCK_REALTIME) +
                               (uint64_t)p->realtime_offset_ns;
    hres[PVCP_HRES_TAI] = hres[PVCP_HRES_REALTIME] +
                          (uint64_t)(int64_t)p->tai_offset * NS;
    /* a leap already in the past at start is history, not an event */
    h->leap_done = p->leap && hres[PVCP_HRES_REALTIME] / NS >= p->leap_utc;
    set_lines(h, c0, raw, hres);
    update_ntp(h);
}

int sim_start(struct sim_host *h, const struct sim_params *p,
              uint64_t real_hz, char *err, size_t errlen)
{
    uint64_t tsc;

    memset(h, 0, sizeof(*h));
    h->p = *p;
    if (!real_hz) {
        snprintf(err, errlen, "the real TSC frequency is unknown");
        return -1;
    }
    /* synthetic counter = real TSC * tsc_hz / real_hz + offset */
    h->sim.frac_bits = 32;
    h->sim.mult = (uint64_t)(((pvcp_u128)p->tsc_hz << 32) / real_hz);
    h->sim.flags = PVCP_XFORM_F_VALID;
    tsc = vvar_read_tsc();
    h->sim.offset = 0;
    h->sim.offset = p->counter_start - pvcp_xform_apply(&h->sim, tsc);
    sim_anchor(h, tsc);
    return 0;
}

void sim_continue(struct sim_host *h, const struct pvcp_xform *prev)
{
    h->sim = *prev;
    sim_anchor(h, vvar_read_tsc());
}

static uint64_t value_at(const struct pvcp_line *l, const struct pvcp_base *b,
                         uint64_t c)
{
    struct pvcp_time t = pvcp_clock_at(l, b, 0, c);

    return t.sec * NS + t.nsec;
}

int sim_update(struct sim_host *h, const struct sim_params *np, uint64_t tsc,
               char *err, size_t errlen)
{
    uint64_t c = sim_counter(h, tsc), hres[PVCP_HRES_CLOCKS], raw;
    bool changed = false;

    if (np->tsc_hz != h->p.tsc_hz) {
        snprintf(err, errlen, "tsc_hz cannot change while running (a host "
                 "does not change its TSC frequency); restart the helper");
        return -1;
    }
    if (np->counter_start != h->p.counter_start) {
        snprintf(err, errlen, "counter_start cannot change while running");
        return -1;
    }

    /* the leap second, exactly at its counter value */
    if (h->p.leap && !h->leap_done) {
        uint64_t rt = value_at(&h->snap.hres,
                               &h->snap.hres_base[PVCP_HRES_REALTIME], c);

        if (rt / NS >= h->p.leap_utc) {
            /* counter where REALTIME reached the leap: re-anchor there */
            const struct pvcp_base *b = &h->snap.hres_base[PVCP_HRES_REALTIME];
            pvcp_u128 at = ((pvcp_u128)h->p.leap_utc * NS) << SIM_SHIFT;
            pvcp_u128 now = (((pvcp_u128)b->sec * NS) << SIM_SHIFT) +
                            b->nsec_shifted;
            uint64_t cl = h->snap.hres.cycle_last +
                          (uint64_t)((at - now + h->snap.hres.mult - 1) /
                                     h->snap.hres.mult);

            raw = value_at(&h->snap.raw, &h->snap.raw_base, cl);
            for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
                hres[i] = value_at(&h->snap.hres, &h->snap.hres_base[i], cl);
            }
            /* like the kernel: REALTIME steps back (insert), TAI runs on */
            hres[PVCP_HRES_REALTIME] -= (uint64_t)(int64_t)h->p.leap * NS;
            h->tai_leaps += h->p.leap;
            h->leap_done = true;
            set_lines(h, cl, raw, hres);
            changed = true;
        }
    }

    if (np->freq_ppb != h->p.freq_ppb ||
        np->realtime_offset_ns != h->p.realtime_offset_ns ||
        np->tai_offset != h->p.tai_offset || np->leap != h->p.leap ||
        np->leap_utc != h->p.leap_utc) {
        int64_t step = np->realtime_offset_ns - h->p.realtime_offset_ns;
        int32_t tai_step = np->tai_offset - h->p.tai_offset;

        raw = value_at(&h->snap.raw, &h->snap.raw_base, c);
        for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
            hres[i] = value_at(&h->snap.hres, &h->snap.hres_base[i], c);
        }
        hres[PVCP_HRES_REALTIME] += (uint64_t)step;
        hres[PVCP_HRES_TAI] += (uint64_t)step +
                               (uint64_t)((int64_t)tai_step * (int64_t)NS);
        if (np->leap != h->p.leap || np->leap_utc != h->p.leap_utc) {
            h->leap_done = np->leap &&
                           hres[PVCP_HRES_REALTIME] / NS >= np->leap_utc;
        }
        h->p = *np;
        set_lines(h, c, raw, hres);
        changed = true;
    }
    if (changed) {
        h->changes++;
    }
    update_ntp(h);
    return changed;
}
