/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Invariant 1, exactness: for any counter value the library returns the
 * nanoseconds the host kernel's own vDSO code computes from the same
 * data, bit for bit, for REALTIME, TAI, MONOTONIC, MONOTONIC_RAW and
 * BOOTTIME.  The kernel's vDSO runs as an oracle (vdso-oracle.c) over
 * random and edge-case data: cycle_last itself, deltas at and beyond
 * max_cycles, negative motion, 64-bit wraparound of the product, counter
 * values near 2^62 and 2^63.
 *
 * PVCLOCK_EXACT_VALUES (default 10^7) and PVCLOCK_SEED override the
 * number of counter values and the random seed.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pages.h"
#include "pvclock.h"
#include "vdso-oracle.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"
#include "xorshift.h"

static const clockid_t clocks[] = {
    CLOCK_REALTIME, CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
    CLOCK_BOOTTIME,
};
static const char *const clock_names[] = {
    "REALTIME", "TAI", "MONOTONIC", "MONOTONIC_RAW", "BOOTTIME",
};
#define NCLOCKS (sizeof(clocks) / sizeof(clocks[0]))

static uint64_t rng_state;

static uint64_t rnd(void)
{
    return xorshift64s(&rng_state);
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static void random_line(struct pvcp_line *l)
{
    l->mult = (uint32_t)rnd() | 1;
    l->shift = (uint32_t)rnd_below(33);
    l->cycle_last = rnd() >> 2;
    switch (rnd_below(4)) {
    case 0: /* what the kernel does: no fast-path product overflow */
        l->max_cycles = (UINT64_MAX >> 1) / l->mult;
        break;
    case 1:
        l->max_cycles = rnd_below(1ull << 40);
        break;
    case 2:
        l->max_cycles = rnd();
        break;
    default:
        l->max_cycles = 0;
        break;
    }
}

static void random_base(struct pvcp_base *b)
{
    b->sec = rnd_below(1ull << 40);
    b->nsec_shifted = rnd_below(4) ? rnd_below(4000000000ull) << (rnd() & 31)
                                   : rnd();
}

static void random_snapshot(struct host_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
    s->clock_mode = VVAR_CLOCKMODE_PVCLOCK;
    random_line(&s->hres);
    if (rnd_below(2)) {
        s->raw = s->hres;
    } else {
        random_line(&s->raw);
    }
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        random_base(&s->hres_base[i]);
    }
    random_base(&s->raw_base);
}

/* A clocksource counter value for this line, biased to the edges. */
static uint64_t pick_cycles(const struct pvcp_line *l)
{
    uint64_t c = l->cycle_last;

    switch (rnd_below(10)) {
    case 0: case 1: case 2: case 3:
        return c + rnd_below(1ull << 24);
    case 4: case 5:
        return c + rnd_below(l->max_cycles ? 2 * l->max_cycles : 1000);
    case 6:
        return c - rnd_below(1ull << 20);           /* negative motion */
    case 7: {
        static const int64_t d[] = { 0, 1, -1 };
        uint64_t edge[] = { c, c + l->max_cycles, c + l->max_cycles + 1 };

        return edge[rnd_below(3)] + (uint64_t)d[rnd_below(3)];
    }
    case 8:
        return rnd();
    default: {
        uint64_t edge[] = { 1ull << 62, PVCP_S64_MAX, 1ull << 63, 0 };

        return edge[rnd_below(4)] - rnd_below(3);
    }
    }
}

/*
 * Upper bound of the nanoseconds past the base seconds that the kernel
 * computes for this counter value.  The kernel's vDSO turns them into
 * seconds by repeated subtraction (__iter_div_u64_rem), which is fast
 * only for the small values a real host has; enormous values would take
 * the oracle minutes, so they are drawn rarely (see below).
 */
static unsigned __int128 ns_bound(const struct pvcp_line *l,
                                  const struct pvcp_base *b, int nb,
                                  uint64_t cycles)
{
    unsigned __int128 top = 0;
    uint64_t delta = (cycles - l->cycle_last) & PVCP_S64_MAX;

    for (int i = 0; i < nb; i++) {
        unsigned __int128 v = b[i].nsec_shifted +
                              (unsigned __int128)delta * l->mult;

        if ((v >> l->shift) > top) {
            top = v >> l->shift;
        }
    }
    return top;
}

static int too_slow_for_oracle(const struct host_snapshot *s, uint64_t cyc)
{
    const unsigned __int128 limit = 1ull << 42;  /* ~73 min, 4400 loops */

    if (ns_bound(&s->hres, s->hres_base, PVCP_HRES_CLOCKS, cyc) < limit &&
        ns_bound(&s->raw, &s->raw_base, 1, cyc) < limit) {
        return 0;
    }
    /*
     * One in 2000 keeps a far-future value up to 2^52 ns (52 days, a few
     * ms of oracle time); beyond that the seconds wrap test below.
     */
    if (ns_bound(&s->hres, s->hres_base, PVCP_HRES_CLOCKS, cyc) < (1ull << 52) &&
        ns_bound(&s->raw, &s->raw_base, 1, cyc) < (1ull << 52)) {
        return rnd_below(2000) != 0;
    }
    return 1;
}

/*
 * A counter value for s (re-drawing s when its bases make every value
 * too slow for the oracle); slack is what the kvm-clock stage may add.
 */
static uint64_t pick_oracle_cycles(struct host_snapshot *s, uint64_t slack)
{
    for (;;) {
        for (int tries = 0; tries < 64; tries++) {
            uint64_t c = pick_cycles(rnd_below(2) ? &s->hres : &s->raw);

            if (!too_slow_for_oracle(s, c + slack)) {
                return c;
            }
        }
        random_snapshot(s);
    }
}

/* s as page 0 of the mapped file (the seq-protected part, as written). */
static void put_page(struct pvcp_host_page *file, const struct host_snapshot *s)
{
    struct pvcp_host_page page;
    const size_t from = offsetof(struct pvcp_host_page, counter_mode);
    const size_t to = offsetof(struct pvcp_host_page, reserved2);

    memset(&page, 0, sizeof(page));
    pages_fill_from_snapshot(&page, s, 1);
    pvcp_page_seal(&page);      /* as the helper publishes: checks on */
    memcpy((char *)&file[0] + from, (char *)&page + from, to - from);
}

int main(void)
{
    const char *env_n = getenv("PVCLOCK_EXACT_VALUES");
    const char *env_seed = getenv("PVCLOCK_SEED");
    long values = env_n ? atol(env_n) : 10000000;
    char err[VVAR_ERR_LEN], path[] = "/tmp/pvclock-test-exact-XXXXXX";
    struct vvar_source live;
    struct vdso_oracle o;
    struct pvclock *pc;
    struct host_snapshot s;
    struct pvcp_host_page *file;
    long mismatches[NCLOCKS] = { 0 }, total = 0, live_checked = 0,
         live_mismatch = 0, live_before = 0;
    int fd;

    rng_state = env_seed ? strtoull(env_seed, NULL, 0) : 0x9e3779b97f4a7c15ull;
    tap_diag("seed 0x%" PRIx64 ", %ld counter values", rng_state, values);

    if (vvar_open(&live, err) < 0) {
        return tap_skip_all("host vDSO data not usable here: %s", err);
    }
    if (vdso_oracle_init(&o, &live, err, sizeof(err)) < 0) {
        return tap_skip_all("cannot run the kernel's vDSO as an oracle: %s",
                            err);
    }

    fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, PVCP_FILE_SIZE) < 0) {
        return 2;
    }
    file = mmap(NULL, PVCP_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                fd, 0);
    close(fd);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        file[i].magic = PVCP_HOST_MAGIC;
        file[i].abi_major = PVCP_ABI_MAJOR;
        file[i].abi_minor = PVCP_ABI_MINOR;
        file[i].page_index = (uint32_t)i;
    }
    tap_ok(pvclock_open_host(&pc, path) == PVCLOCK_OK, "library opened");

    /*
     * Sanity of the oracle itself: with a 1 ns/cycle line and counter
     * value 1500 past cycle_last it must give base + 1500 ns, not the
     * live time (which would mean it never read our data).
     */
    memset(&s, 0, sizeof(s));
    s.counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
    s.hres.mult = s.raw.mult = 1;
    s.hres.max_cycles = s.raw.max_cycles = 1ull << 40;
    s.hres.cycle_last = s.raw.cycle_last = 1000;
    s.kvmclock.system_time = 2500;
    s.hres_base[PVCP_HRES_REALTIME].sec = 12345;
    {
        struct timespec ts;

        vdso_oracle_gettime(&o, &s, CLOCK_REALTIME, &ts);
        if (ts.tv_sec != 12345 || ts.tv_nsec != 1500) {
            return tap_skip_all("this kernel's vDSO ignores the kvm-clock "
                                "page (CONFIG_PARAVIRT_CLOCK off?): got "
                                "%lld.%09ld", (long long)ts.tv_sec,
                                ts.tv_nsec);
        }
        tap_ok(1, "the kernel's vDSO runs on test data");
    }

    for (long v = 0; v < values; v++) {
        if (v % 64 == 0) {
            random_snapshot(&s);
        }
        s.kvmclock.system_time = pick_oracle_cycles(&s, 0);
        s.kvmclock.tsc_to_system_mul = 0;
        put_page(file, &s);
        for (size_t c = 0; c < NCLOCKS; c++) {
            struct timespec k, lib;
            int err_lib;

            if (c == 0) {
                vdso_oracle_gettime(&o, &s, clocks[c], &k);
            } else {
                o.gettime(clocks[c], &k);
            }
            err_lib = pvclock_gettime_at(pc, clocks[c], 0, &lib);
            if (err_lib || k.tv_sec != lib.tv_sec ||
                k.tv_nsec != lib.tv_nsec) {
                if (mismatches[c]++ < 3) {
                    tap_diag("%s at cycles %" PRIu64 ": vDSO %lld.%09ld, "
                             "library %lld.%09ld (%s)", clock_names[c],
                             s.kvmclock.system_time, (long long)k.tv_sec,
                             k.tv_nsec, (long long)lib.tv_sec, lib.tv_nsec,
                             pvclock_strerror(err_lib));
                }
            }
        }
        total++;
    }
    for (size_t c = 0; c < NCLOCKS; c++) {
        tap_ok(mismatches[c] == 0, "%s: library == kernel vDSO for %ld "
               "counter values (%ld mismatches)", clock_names[c], total,
               mismatches[c]);
    }

    /*
     * One value whose nanoseconds past the base exceed 2^32 s: the
     * kernel's 32-bit quotient wraps, and so must ours.  (About 4.3e9
     * loop iterations in the kernel's division: a few seconds.)
     */
    {
        struct timespec k, lib;
        int rc;

        memset(&lib, 0, sizeof(lib));
        memset(&s, 0, sizeof(s));
        s.counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        s.hres.mult = s.raw.mult = 1;
        s.hres.max_cycles = s.raw.max_cycles = PVCP_S64_MAX;
        s.hres_base[PVCP_HRES_REALTIME].sec = 1700000000;
        s.kvmclock.system_time = (1ull << 32) * 1000000000ull + 123456789;
        put_page(file, &s);

        vdso_oracle_gettime(&o, &s, CLOCK_REALTIME, &k);
        rc = pvclock_gettime_at(pc, CLOCK_REALTIME, 0, &lib);
        tap_ok(rc == PVCLOCK_OK && k.tv_sec == lib.tv_sec && k.tv_nsec == lib.tv_nsec &&
               k.tv_sec == 1700000000 && k.tv_nsec == 123456789,
               "past 2^32 s the seconds wrap as the kernel's do: vDSO "
               "%lld.%09ld, library %lld.%09ld", (long long)k.tv_sec,
               k.tv_nsec, (long long)lib.tv_sec, lib.tv_nsec);
    }

    /*
     * The kvm-clock stage with the live TSC: a shift of -24..-31 makes
     * the vDSO's own TSC reading predictable (its delta only changes every
     * 2^24+ cycles), so the library can be given the same TSC.
     */
    for (long v = 0; v < 100000; v++) {
        struct timespec k, lib;
        uint64_t before, after;
        int shift = -24 - (int)rnd_below(8);

        random_snapshot(&s);
        s.kvmclock.system_time = pick_oracle_cycles(&s, 1u << 16);
        /* at most 2^40 cycles ago: the stage adds < 2^16 to system_time */
        s.kvmclock.tsc_timestamp = pvclock_read_counter() -
                                   rnd_below(1ull << 40);
        s.kvmclock.tsc_to_system_mul = (uint32_t)rnd();
        s.kvmclock.tsc_shift = (int8_t)shift;
        put_page(file, &s);
        before = pvclock_read_counter();
        vdso_oracle_gettime(&o, &s, CLOCK_REALTIME, &k);
        after = pvclock_read_counter();
        if ((before - s.kvmclock.tsc_timestamp) >> -shift !=
            (after - s.kvmclock.tsc_timestamp) >> -shift) {
            continue;
        }
        /*
         * Cycles before cycle_last: the vDSO's "now" clamps them to the
         * base, a read at a counter takes the line back (the ABI
         * document's rule for one; unit/at-before, unit/oracle).  Not
         * the same question: left out, counted.
         */
        {
            uint64_t d = pvcp_host_cycles(s.counter_mode, &s.kvmclock,
                                          before) - s.hres.cycle_last;

            if (d > s.hres.max_cycles && (int64_t)d < 0) {
                live_before++;
                continue;
            }
        }
        live_checked++;
        if (pvclock_gettime_at(pc, CLOCK_REALTIME, before, &lib) ||
            lib.tv_sec != k.tv_sec || lib.tv_nsec != k.tv_nsec) {
            live_mismatch++;
        }
    }
    tap_ok(live_checked > 90000 && live_mismatch == 0,
           "kvm-clock stage over the live TSC: %ld of %ld matched the "
           "kernel vDSO (%ld before cycle_last left out)",
           live_checked - live_mismatch, live_checked, live_before);

    pvclock_close(pc);
    munmap(file, PVCP_FILE_SIZE);
    unlink(path);
    vdso_oracle_fini(&o);
    return tap_done();
}
