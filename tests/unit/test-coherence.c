/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Invariant 2, coherence: two threads exchange CLOCK_REALTIME stamps, one
 * reading the host's clock_gettime() (vDSO), the other the library over a
 * pages file that a third thread keeps published exactly as pvclock-helper
 * does.  Before reading its own clock each thread loads the other's last
 * stamp; its reading must never be smaller.  Zero violations either way.
 *
 * Then the host clock is slewed by +100 ppm with adjtimex(ADJ_FREQUENCY)
 * for at most 5 s (root only; the original frequency is restored on every
 * exit path): across the frequency step the disagreement must stay below
 * the step times the poll interval, and while the kernel then slews
 * steadily there must be zero violations again.  The publisher measures
 * how far the published page ever is from the live vvar data for the
 * same TSC when it looks (the helper's update lag).
 *
 *   PVCLOCK_COHERENCE_EXCHANGES  per phase and direction (default 2*10^6)
 *   PVCLOCK_COHERENCE_SLEW=0     skip the slewed phase
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

#define SLEW_PPM        100
#define SLEW_MAX_S      5

static struct pvclock *pc;
static struct pages_file pf;
static struct vvar_source src;
static long exchanges;

static _Atomic int64_t stamp_vdso, stamp_lib;
static _Atomic int stop_publisher;
static _Atomic long publications, lag_samples, lag_over_1ns, lag_outside;
static _Atomic long lag_late;
static _Atomic int64_t lag_max_ns, lag_max_step_ns, lag_outside_ns;
static _Atomic long step_samples;
static volatile sig_atomic_t publisher_stop_sig;
static _Atomic int publisher_rt;
static _Atomic uint64_t pacer_spins, pacer_period;

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ---- the host clock slew, always undone (freq-adjust.h) ------------ */

static int slew_start(long ppm, char *why, size_t len)
{
    return freq_prepare(why, len) < 0 ? -1 : freq_offset(ppm, why, len);
}

/* ---- publisher: what pvclock-helper's loop does ---------------------- */

static void *publisher(void *arg)
{
    struct pvcp_host_page page;
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN];
    struct pacer pacer;
    bool was_behind = false;

    (void)arg;
    /* pvclock-helper --interval-us 1000 --track-ticks */
    pacer_init(&pacer, 1000000, true);
    {
        /* as pvclock-helper does where allowed: a real-time thread */
        struct sched_param sp = { .sched_priority = 1 };

        atomic_store(&publisher_rt,
                     pthread_setschedparam(pthread_self(), SCHED_FIFO,
                                           &sp) == 0);
    }
    while (!atomic_load(&stop_publisher)) {
        if (vvar_snapshot(&src, &snap, err) == 0) {
            uint64_t tsc = vvar_read_tsc();
            struct timespec pub;
            bool behind;

            memset(&page, 0, sizeof(page));
            pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
            behind = !pages_is_current(&pf, 0, &page);
            /* the page still published vs the live data, same TSC */
            if (pvclock_gettime_at(pc, CLOCK_REALTIME, tsc, &pub) ==
                PVCLOCK_OK) {
                uint64_t cycles = pvcp_host_cycles(page.counter_mode,
                                                   &page.kvmclock, tsc);
                struct pvcp_time live = pvcp_clock_at(
                    &page.hres, &page.hres_base[PVCP_HRES_REALTIME],
                    page.flags, cycles);
                int64_t d = (int64_t)(live.sec - pub.tv_sec) * 1000000000 +
                            ((int64_t)live.nsec - pub.tv_nsec);
                const volatile struct pvcp_host_page *old =
                    pvclock_host_page(pc, 0);
                uint32_t old_mult = old->hres.mult;
                uint32_t dm = page.hres.mult > old_mult ?
                              page.hres.mult - old_mult :
                              old_mult - page.hres.mult;

                d = d < 0 ? -d : d;
                /*
                 * While slewing the kernel dithers mult by one unit at
                 * its ticks; a larger change is a frequency step (the
                 * adjtimex call itself), whose error is the step times
                 * the helper's lag.
                 */
                if (dm <= 1) {
                    /*
                     * The kernel keeps its line continuous at each tick,
                     * so the published line is off by at most one mult
                     * unit per counter tick since its cycle_last, plus
                     * 1 ns for the two truncations: a bound that holds
                     * however late this look is.
                     */
                    uint64_t since = cycles - old->hres.cycle_last;
                    int64_t bound = 1 + (int64_t)(since >> page.hres.shift);

                    if (d > atomic_load(&lag_max_ns)) {
                        atomic_store(&lag_max_ns, d);
                    }
                    if (d > 1) {
                        atomic_fetch_add(&lag_over_1ns, 1);
                    }
                    /* the page still lacks a change the last look saw */
                    if (behind && was_behind) {
                        atomic_fetch_add(&lag_late, 1);
                    }
                    if (d > bound || (int64_t)since < 0) {
                        atomic_fetch_add(&lag_outside, 1);
                        atomic_store(&lag_outside_ns, d);
                    }
                    atomic_fetch_add(&lag_samples, 1);
                } else {
                    if (d > atomic_load(&lag_max_step_ns)) {
                        atomic_store(&lag_max_step_ns, d);
                    }
                    atomic_fetch_add(&step_samples, 1);
                }
            }
            was_behind = behind;
            if (pages_publish(&pf, 0, &page)) {
                atomic_fetch_add(&publications, 1);
            }
            pacer_observe(&pacer, &snap, pacer_mono_ns());
        }
        /* exactly as pvclock-helper waits */
        pacer_wait(&pacer, &src, &publisher_stop_sig);
    }
    atomic_store(&pacer_spins, pacer.spins);
    atomic_store(&pacer_period, pacer.period_ns);
    return NULL;
}

/* ---- the two sides of the exchange ----------------------------------- */

struct side {
    long violations;
    int64_t worst;          /* largest (other's stamp - own reading) */
    long errors;
};

static void *vdso_side(void *arg)
{
    struct side *r = arg;

    for (long i = 0; i < exchanges; i++) {
        int64_t seen = atomic_load_explicit(&stamp_lib, memory_order_acquire);
        struct timespec ts;
        int64_t now;

        clock_gettime(CLOCK_REALTIME, &ts);
        now = ts_ns(&ts);
        if (now < seen) {
            r->violations++;
            if (seen - now > r->worst) {
                r->worst = seen - now;
            }
        }
        atomic_store_explicit(&stamp_vdso, now, memory_order_release);
    }
    return NULL;
}

static void *lib_side(void *arg)
{
    struct side *r = arg;

    for (long i = 0; i < exchanges; i++) {
        int64_t seen = atomic_load_explicit(&stamp_vdso,
                                            memory_order_acquire);
        struct timespec ts;
        int64_t now;
        int e = pvclock_gettime(pc, CLOCK_REALTIME, &ts);

        if (e != PVCLOCK_OK) {
            r->errors++;
            continue;
        }
        now = ts_ns(&ts);
        if (now < seen) {
            r->violations++;
            if (seen - now > r->worst) {
                r->worst = seen - now;
            }
        }
        atomic_store_explicit(&stamp_lib, now, memory_order_release);
    }
    return NULL;
}

struct phase_result {
    struct side lib, vdso;
    long exchanges;
};

static void run_exchange(struct phase_result *r)
{
    pthread_t a, b;
    struct side va = { 0 }, lb = { 0 };

    atomic_store(&stamp_vdso, 0);
    atomic_store(&stamp_lib, 0);
    pthread_create(&a, NULL, vdso_side, &va);
    pthread_create(&b, NULL, lib_side, &lb);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    r->lib.violations += lb.violations;
    r->lib.errors += lb.errors;
    r->lib.worst = lb.worst > r->lib.worst ? lb.worst : r->lib.worst;
    r->vdso.violations += va.violations;
    r->vdso.worst = va.worst > r->vdso.worst ? va.worst : r->vdso.worst;
    r->exchanges += exchanges;
}

static void report(const char *name, const struct phase_result *r)
{
    tap_ok(r->lib.violations == 0 && r->lib.errors == 0,
           "%s: library never behind a vDSO stamp it saw (%ld exchanges, "
           "%ld violations, worst %lld ns, %ld errors)", name, r->exchanges,
           r->lib.violations, (long long)r->lib.worst, r->lib.errors);
    tap_ok(r->vdso.violations == 0,
           "%s: vDSO never behind a library stamp it saw (%ld exchanges, "
           "%ld violations, worst %lld ns)", name, r->exchanges,
           r->vdso.violations, (long long)r->vdso.worst);
}

static void phase(const char *name)
{
    struct phase_result r = { 0 };

    run_exchange(&r);
    report(name, &r);
}

static double since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(void)
{
    const char *env_n = getenv("PVCLOCK_COHERENCE_EXCHANGES");
    const char *env_slew = getenv("PVCLOCK_COHERENCE_SLEW");
    char dir[] = "/tmp/pvclock-test-coherence-XXXXXX", path[128];
    char err[VVAR_ERR_LEN];
    pthread_t pub;
    long pubs_before;

    exchanges = env_n ? atol(env_n) : 2000000;
    if (vvar_open(&src, err) < 0) {
        return tap_skip_all("this host's clocks cannot be shared: %s", err);
    }
    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    if (pages_open(&pf, path, err, sizeof(err)) < 0) {
        tap_ok(0, "pages file: %s", err);
        return tap_done();
    }
    {
        struct host_snapshot snap;
        struct pvcp_host_page page;

        if (vvar_read_validated(&src, &snap, err) < 0) {
            tap_ok(0, "live vvar data: %s", err);
            return tap_done();
        }
        memset(&page, 0, sizeof(page));
        pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
        pages_publish(&pf, 0, &page);
    }
    tap_ok(pvclock_open_host(&pc, path) == PVCLOCK_OK, "library opens %s",
           path);
    pthread_create(&pub, NULL, publisher, NULL);

    phase("steady host clock");

    if (env_slew && !strcmp(env_slew, "0")) {
        tap_skip("slewed host clock", "PVCLOCK_COHERENCE_SLEW=0");
    } else if (slew_start(SLEW_PPM, err, sizeof(err)) < 0) {
        tap_skip("slewed host clock", err);
    } else {
        struct timespec t0;
        struct phase_result step = { 0 }, steady = { 0 };

        pubs_before = atomic_load(&publications);
        atomic_store(&lag_max_ns, 0);
        atomic_store(&lag_max_step_ns, 0);
        atomic_store(&lag_samples, 0);
        atomic_store(&lag_over_1ns, 0);
        atomic_store(&lag_late, 0);
        atomic_store(&lag_outside, 0);
        atomic_store(&step_samples, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /*
         * The kernel applies a new NTP frequency at the next second: the
         * first 1.2 s of exchanges span that step, the rest run while
         * the kernel slews steadily.
         */
        while (since(&t0) < 1.2) {
            run_exchange(&step);
        }
        /*
         * adjtimex() publishes the new slope at the call, between two
         * polls: until the helper's next look, the page is behind by the
         * step times the time since the call (docs/helper.md).  Bounded
         * by 100 ppm x 2 poll intervals, or the page never followed.
         */
        tap_ok(step.lib.worst <= 200 && step.vdso.worst <= 200 &&
               step.lib.errors == 0,
               "frequency step of 100 ppm: disagreement bounded by the step "
               "x the poll interval (%ld+%ld of %ld exchanges behind, worst "
               "%lld ns, limit 200 ns)", step.lib.violations,
               step.vdso.violations, step.exchanges,
               (long long)(step.lib.worst > step.vdso.worst ?
                           step.lib.worst : step.vdso.worst));
        while (since(&t0) < 3.2) {
            run_exchange(&steady);
        }
        report("host slewed at +100 ppm", &steady);
        freq_restore();
        tap_ok(since(&t0) <= SLEW_MAX_S + 1,
               "slew lasted %.1f s (limit %d s) and was undone", since(&t0),
               SLEW_MAX_S);
        tap_diag("under slew: %ld publications; published page vs live "
                 "vvar data for the same TSC: at most %lld ns over %ld "
                 "samples of steady slewing, %lld ns over %ld samples at "
                 "frequency steps", atomic_load(&publications) - pubs_before,
                 (long long)atomic_load(&lag_max_ns),
                 atomic_load(&lag_samples),
                 (long long)atomic_load(&lag_max_step_ns),
                 atomic_load(&step_samples));
        /*
         * How far the page is off depends on how soon after a kernel
         * tick the publisher looks, which load moves: on a loaded
         * 2-core machine the worst of 3272 looks was 2 ns off.  So every
         * look is held to the kernel's own bound for its lateness, and
         * the publisher's keeping up to how many looks found the page
         * still without a change the look before had seen: at most 1 %
         * (0-1 of 3200 with two CPU hogs; a publisher that writes at
         * every second look only: 12 %, every tenth: 40 %).  The largest
         * error is bench/run's coherence_slew_lag_ns_max.
         */
        tap_ok(atomic_load(&lag_outside) == 0,
               "steady slewing: the page is within the kernel's dither of "
               "the live host data at every look (1 ns plus 1 ns per 2^shift "
               "counter ticks since its line; %ld of %ld outside, the last "
               "%lld ns off)", atomic_load(&lag_outside),
               atomic_load(&lag_samples),
               (long long)atomic_load(&lag_outside_ns));
        tap_ok(atomic_load(&lag_samples) >= 1000 &&
               atomic_load(&lag_late) * 100 <= atomic_load(&lag_samples),
               "steady slewing: the page follows the kernel's ticks: at most "
               "1 %% of at least 1000 looks find it without a change the "
               "look before saw (%ld of %ld; %ld more than 1 ns off, max "
               "%lld ns)",
               atomic_load(&lag_late), atomic_load(&lag_samples),
               atomic_load(&lag_over_1ns),
               (long long)atomic_load(&lag_max_ns));
        tap_ok(atomic_load(&publications) - pubs_before > 0,
               "the slew changed the host mapping and the page followed "
               "(%ld publications)",
               atomic_load(&publications) - pubs_before);
    }

    atomic_store(&stop_publisher, 1);
    publisher_stop_sig = 1;
    pthread_join(pub, NULL);
    tap_diag("publisher: kernel update period %llu ns, %llu spins",
             (unsigned long long)atomic_load(&pacer_period),
             (unsigned long long)atomic_load(&pacer_spins));
    pvclock_close(pc);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
