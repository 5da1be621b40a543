/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Coherence under frequency steps: the live page against the helper's.
 *
 * This host's frequency is stepped with adjtimex(ADJ_FREQUENCY),
 * alternating +100 and -100 ppm around its own value every few ms, for
 * at most 10 s (root only; the original frequency is restored on every
 * exit path).  Each step publishes a new slope in the kernel's vDSO data
 * at the syscall.  Meanwhile a thread on the host's clock_gettime()
 * (vDSO) and a thread on the library exchange CLOCK_REALTIME stamps, each
 * checking that its reading is not below the other's last stamp, and the
 * library's value for a TSC is compared with the vDSO data's for the
 * same TSC (the lag).  The library reads a guest's view, the offset page
 * (guest counter = host TSC) plus:
 *
 *   live    the live page: this process's own [vvar] page, as the device
 *           maps QEMU's into the BAR, with the descriptor it publishes;
 *   helper  the helper's pages only, kept published by a thread that
 *           runs pvclock-helper's loop at its default settings.
 *
 * The live half must see 0 backward observations and 0 ns lag.  The
 * helper half runs the same checks and must fail the zero-lag one (its
 * pages follow a step only at the helper's next look): the live half's
 * zero is not the check's blindness.  Its lag and backward observations
 * are reported beside the live half's; a line "freqstep: ..." gives the
 * figures bench/run records.
 *
 *   PVCLOCK_FREQSTEP_SECONDS      per half (default 2, at most 4)
 *   PVCLOCK_FREQSTEP_INTERVAL_US  the helper half's poll interval
 *                                 (default: pvclock-helper's)
 *   PVCLOCK_FREQSTEP_TRACK_TICKS  set: as pvclock-helper --track-ticks
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "pacer.h"
#include "pages.h"
#include "pvclock.h"
#include "vvar.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"
#include "freq-adjust.h"

#define STEP_PPM        100     /* +/- around the original frequency */
#define STEP_EVERY_US   4000
#define MAX_SECONDS     4       /* per half; two halves stay below 10 s */

static struct vvar_source src;
static struct pages_file pf;
static struct pvclock *pc_pages;     /* the helper's pages file */
static struct pvclock *pc;           /* the guest view under test */
static struct pvcp_offset_page offset_page;
static uint64_t interval_ns;
static bool track_ticks;

static _Atomic int stop_all, stop_publisher;
static volatile sig_atomic_t publisher_stop_sig;
static _Atomic int64_t stamp_vdso, stamp_lib;
static _Atomic long steps;

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static double mono_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- the frequency steps, always undone (freq-adjust.h) ------------ */

static void *stepper(void *arg)
{
    struct timespec every = { 0, STEP_EVERY_US * 1000 };
    long sign = 1;

    (void)arg;
    while (!atomic_load(&stop_all)) {
        char why[128];

        freq_offset(sign * STEP_PPM, why, sizeof(why));
        atomic_fetch_add(&steps, 1);
        sign = -sign;
        nanosleep(&every, NULL);
    }
    freq_restore();
    return NULL;
}

/* ---- the helper's loop, as pvclock-helper runs it -------------------- */

static void *publisher(void *arg)
{
    struct pvcp_host_page page;
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN];
    struct pacer pacer;

    (void)arg;
    pacer_init(&pacer, interval_ns, track_ticks);
    while (!atomic_load(&stop_publisher)) {
        if (vvar_snapshot(&src, &snap, err) == 0) {
            memset(&page, 0, sizeof(page));
            pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
            pages_publish(&pf, 0, &page);
            pacer_observe(&pacer, &snap, pacer_mono_ns());
        }
        pacer_wait(&pacer, &src, &publisher_stop_sig);
    }
    return NULL;
}

/* ---- the exchange ---------------------------------------------------- */

struct side {
    long reads, violations, errors, lag_samples;
    int64_t worst;          /* largest (other's stamp - own reading) */
    int64_t lag_max;        /* largest |library - vDSO data| at one TSC */
};

/* One reading: below the other side's last stamp is a violation. */
static void record(struct side *r, int64_t seen, int64_t now,
                   _Atomic int64_t *mine)
{
    r->reads++;
    if (now < seen) {
        r->violations++;
        r->worst = seen - now > r->worst ? seen - now : r->worst;
    }
    atomic_store_explicit(mine, now, memory_order_release);
}

static void *vdso_side(void *arg)
{
    struct side *r = arg;

    while (!atomic_load(&stop_all)) {
        int64_t seen = atomic_load_explicit(&stamp_lib, memory_order_acquire);
        struct timespec ts;
        int64_t now;

        clock_gettime(CLOCK_REALTIME, &ts);
        now = ts_ns(&ts);
        record(r, seen, now, &stamp_vdso);
    }
    return NULL;
}

/*
 * The lag: the library's REALTIME for a TSC against the kernel's data
 * for the same TSC, taken while the kernel's data did not change.
 */
static void sample_lag(struct side *r)
{
    struct host_snapshot snap;
    struct timespec ts;
    char err[VVAR_ERR_LEN];
    uint64_t tsc;
    struct pvcp_time k;
    int64_t d;

    if (vvar_snapshot(&src, &snap, err) < 0) {
        return;
    }
    tsc = vvar_read_tsc();
    if (pvclock_gettime_at(pc, CLOCK_REALTIME, tsc, &ts) != PVCLOCK_OK ||
        vvar_peek_seq(&src) != snap.seq) {
        return;
    }
    k = pvcp_clock_at(&snap.hres, &snap.hres_base[PVCP_HRES_REALTIME],
                      snap.flags, tsc & PVCP_S64_MAX);
    d = (int64_t)(k.sec - (uint64_t)ts.tv_sec) * 1000000000 +
        ((int64_t)k.nsec - ts.tv_nsec);
    d = d < 0 ? -d : d;
    r->lag_max = d > r->lag_max ? d : r->lag_max;
    r->lag_samples++;
}

static void *lib_side(void *arg)
{
    struct side *r = arg;

    while (!atomic_load(&stop_all)) {
        int64_t seen = atomic_load_explicit(&stamp_vdso,
                                            memory_order_acquire);
        struct timespec ts;
        int64_t now;

        if (pvclock_gettime(pc, CLOCK_REALTIME, &ts) != PVCLOCK_OK) {
            r->errors++;
            continue;
        }
        now = ts_ns(&ts);
        record(r, seen, now, &stamp_lib);
        if ((r->reads & 63) == 0) {
            sample_lag(r);
        }
    }
    return NULL;
}

struct half {
    struct side lib, vdso;
    long steps;
    int live_used;
};

static void run_half(double seconds, struct half *h)
{
    pthread_t st, a, b;
    double t0 = mono_s();
    struct timespec tick = { 0, 10 * 1000000 };

    memset(h, 0, sizeof(*h));
    atomic_store(&stop_all, 0);
    atomic_store(&steps, 0);
    atomic_store(&stamp_vdso, 0);
    atomic_store(&stamp_lib, 0);
    pthread_create(&st, NULL, stepper, NULL);
    pthread_create(&a, NULL, vdso_side, &h->vdso);
    pthread_create(&b, NULL, lib_side, &h->lib);
    while (mono_s() - t0 < seconds) {
        nanosleep(&tick, NULL);
    }
    atomic_store(&stop_all, 1);
    pthread_join(st, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    h->steps = atomic_load(&steps);
    h->live_used = pvclock_live_in_use(pc, CLOCK_REALTIME) == 1;
}

/* The offset page a device writes for guest counter = host TSC. */
static void make_offset_page(int live)
{
    struct pvcp_offset_page *op = &offset_page;

    memset(op, 0, sizeof(*op));
    op->magic = PVCP_OFFSET_MAGIC;
    op->abi_major = PVCP_ABI_MAJOR;
    op->abi_minor = PVCP_ABI_MINOR;
    op->status = PVCP_STATUS_VALID;
    op->generation = 1;
    op->recommended_page = PVCP_PAGE_UNSCALED_UNSMEARED;
    for (int d = 0; d < PVCP_DOMAINS; d++) {
        op->ref_xform[d].mult = 1;
        op->ref_xform[d].flags = PVCP_XFORM_F_VALID | PVCP_XFORM_F_PAGE_COUNTER;
    }
    if (live) {
        vvar_live_desc(src.layout, &op->live);
    }
}

/* A guest's handle over the pages file, the offset page and maybe live. */
static void make_handle(int live)
{
    struct pvclock_memory mem = {
        .host = (const void *)pvclock_host_page(pc_pages, 0),
        .offset = &offset_page,
        .live = live ? src.vvar : NULL,
    };

    make_offset_page(live);
    pvclock_close(pc);
    if (pvclock_open_memory(&pc, &mem) != PVCLOCK_OK) {
        abort();
    }
}

static void report(const char *name, const struct half *h)
{
    tap_diag("%s: %ld steps; library %ld reads, %ld behind a vDSO stamp "
             "(worst %lld ns), %ld errors; vDSO %ld reads, %ld behind a "
             "library stamp (worst %lld ns); lag at most %lld ns over %ld "
             "samples", name, h->steps, h->lib.reads, h->lib.violations,
             (long long)h->lib.worst, h->lib.errors, h->vdso.reads,
             h->vdso.violations, (long long)h->vdso.worst,
             (long long)h->lib.lag_max, h->lib.lag_samples);
}

int main(void)
{
    const char *env_s = getenv("PVCLOCK_FREQSTEP_SECONDS");
    const char *env_i = getenv("PVCLOCK_FREQSTEP_INTERVAL_US");
    char dir[] = "/tmp/pvclock-test-freqstep-XXXXXX", path[128];
    char err[VVAR_ERR_LEN];
    double seconds = env_s ? atof(env_s) : 2;
    struct host_snapshot snap;
    struct pvcp_host_page page;
    struct half live, helper;
    pthread_t pub;
    int64_t bound;

    if (seconds <= 0 || seconds > MAX_SECONDS) {
        seconds = MAX_SECONDS;
    }
    interval_ns = env_i ? strtoull(env_i, NULL, 10) * 1000
                        : PACER_DEFAULT_INTERVAL_NS;
    track_ticks = getenv("PVCLOCK_FREQSTEP_TRACK_TICKS") != NULL;
    if (vvar_open(&src, err) < 0) {
        return tap_skip_all("this host's clocks cannot be shared: %s", err);
    }
    if (vvar_read_validated(&src, &snap, err) < 0 ||
        snap.counter_mode != PVCP_COUNTER_TSC) {
        return tap_skip_all("the live page needs the TSC clocksource: %s",
                            snap.counter_mode != PVCP_COUNTER_TSC
                            ? "kvm-clock" : err);
    }
    if (freq_prepare(err, sizeof(err)) < 0) {
        return tap_skip_all("cannot step this host's frequency (%s)", err);
    }
    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    if (pages_open(&pf, path, err, sizeof(err)) < 0) {
        tap_ok(0, "pages file: %s", err);
        return tap_done();
    }
    memset(&page, 0, sizeof(page));
    pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
    pages_publish(&pf, 0, &page);
    tap_ok(pvclock_open_host(&pc_pages, path) == PVCLOCK_OK,
           "library opens the pages %s", path);
    pthread_create(&pub, NULL, publisher, NULL);

    make_handle(1);
    tap_ok(pvclock_live_in_use(pc, CLOCK_REALTIME) == 1,
           "the guest view reads the live page (layout %s)",
           src.layout->name);
    run_half(seconds, &live);
    report("live page", &live);
    tap_ok(live.live_used && live.lib.errors == 0 && live.lib.reads > 0,
           "live page: every read came from the live page (%ld reads)",
           live.lib.reads);
    tap_ok(live.steps >= 10, "the host frequency was stepped %ld times",
           live.steps);
    tap_ok(live.lib.violations == 0 && live.vdso.violations == 0,
           "live page: 0 backward observations either way (%ld + %ld of "
           "%ld + %ld reads)", live.lib.violations, live.vdso.violations,
           live.lib.reads, live.vdso.reads);
    tap_ok(live.lib.lag_samples > 100 && live.lib.lag_max == 0,
           "live page: 0 ns lag behind the kernel's data (max %lld ns over "
           "%ld samples)", (long long)live.lib.lag_max,
           live.lib.lag_samples);

    make_handle(0);
    run_half(seconds, &helper);
    report("helper's pages", &helper);
    /*
     * The same zero-lag check over the helper's pages must fail: they
     * follow a step only at the helper's next look, so the live half's
     * 0 is not the check's blindness.  How late they follow depends on
     * scheduling (bench/run records it; docs/helper.md states the bound
     * for an unloaded host, the step times one poll interval).
     */
    bound = (int64_t)(2 * STEP_PPM * interval_ns / 1000000);
    tap_ok(!helper.live_used && helper.lib.errors == 0 &&
           helper.lib.lag_samples > 100 && helper.lib.lag_max > 0,
           "helper's pages: the same check fails, as it must: lag up to "
           "%lld ns (unloaded bound %lld ns at a %llu us poll), %ld + %ld "
           "backward observations", (long long)helper.lib.lag_max,
           (long long)bound, (unsigned long long)(interval_ns / 1000),
           helper.lib.violations, helper.vdso.violations);
    printf("freqstep: lag_ns_live %lld lag_ns_helper %lld violations_live "
           "%ld violations_helper %ld interval_us %llu\n",
           (long long)live.lib.lag_max, (long long)helper.lib.lag_max,
           live.lib.violations + live.vdso.violations,
           helper.lib.violations + helper.vdso.violations,
           (unsigned long long)(interval_ns / 1000));

    atomic_store(&stop_publisher, 1);
    publisher_stop_sig = 1;
    pthread_join(pub, NULL);
    {
        struct timex tx = { .modes = 0 };

        adjtimex(&tx);
        tap_ok(!freq_changed && tx.freq == freq_saved,
               "the host frequency is back at %ld", freq_saved);
    }
    pvclock_close(pc_pages);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
