/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read cost, measured side by side in one run: ns per call of
 * pvclock_gettime() over the helper's pages (the host path), over a BAR
 * image made of the same pages and an offset page in ordinary
 * write-back memory (the guest path, without a hypervisor), the host
 * vDSO's clock_gettime() and the clock_gettime system call, for each
 * clock.  They are interleaved in short batches, round after round, on
 * one CPU, so that frequency changes and noise hit all of them alike:
 * the ns figure per method is the median over rounds, a ratio the
 * median of the rounds' own ratios (a noisy stretch of this nested
 * machine slows the library more than the vDSO, which is mostly its
 * counter read, so a ratio of two medians taken at different times
 * mixes states).  --guest measures the device's BAR inside a guest
 * instead.
 *
 *   read-cost [--pages PATH | --guest] [--calls N] [--rounds R] [--calls-only]
 *
 * --calls-only: 101 calls per clock on each handle and nothing timed,
 * for bench/read-insns.py to count one call's instructions.
 *
 * Output: one line per figure, "NAME VALUE UNIT".
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"

static const struct {
    clockid_t id;
    const char *name;
} clocks[] = {
    { CLOCK_REALTIME, "realtime" },
    { CLOCK_TAI, "tai" },
    { CLOCK_MONOTONIC, "monotonic" },
    { CLOCK_MONOTONIC_RAW, "monotonic_raw" },
    { CLOCK_BOOTTIME, "boottime" },
};

static struct pvclock *pc, *bar;
static struct pvcp_offset_page *offset_page;
static volatile long sink;

/*
 * A guest's view without a hypervisor: the helper's host pages and an
 * offset page relating a "guest" counter equal to the host TSC, as the
 * device writes it for an unscaled relation with offset 0.
 */
static int open_bar(void)
{
    struct pvclock_memory mem = { 0 };

    offset_page = mmap(NULL, PVCP_PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (offset_page == MAP_FAILED) {
        return PVCLOCK_EOPEN;
    }
    offset_page->magic = PVCP_OFFSET_MAGIC;
    offset_page->abi_major = PVCP_ABI_MAJOR;
    offset_page->abi_minor = PVCP_ABI_MINOR;
    offset_page->status = PVCP_STATUS_VALID;
    offset_page->recommended_page = PVCP_PAGE_UNSCALED_UNSMEARED;
    for (int d = 0; d < PVCP_DOMAINS; d++) {
        offset_page->ref_xform[d].mult = 1;
        offset_page->ref_xform[d].flags = PVCP_XFORM_F_VALID |
                                           PVCP_XFORM_F_PAGE_COUNTER;
    }
    mem.host = (const void *)pvclock_host_page(pc, 0);
    mem.offset = offset_page;
    return pvclock_open_memory(&bar, &mem);
}

/*
 * Stay on one CPU: a move to another core in the middle of a batch
 * would charge one method with cold caches and predictors.
 */
static void pin_to_this_cpu(void)
{
    cpu_set_t set;
    int cpu = sched_getcpu();

    if (cpu < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set)) {
        perror("read-cost: sched_setaffinity (not pinned)");
    }
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double batch_lib(const struct pvclock *h, clockid_t c, long n)
{
    struct timespec ts;
    double t0 = now_ns();

    for (long i = 0; i < n; i++) {
        pvclock_gettime(h, c, &ts);
        sink += ts.tv_nsec;
    }
    return (now_ns() - t0) / n;
}

static double batch_vdso(clockid_t c, long n)
{
    struct timespec ts;
    double t0 = now_ns();

    for (long i = 0; i < n; i++) {
        clock_gettime(c, &ts);
        sink += ts.tv_nsec;
    }
    return (now_ns() - t0) / n;
}

static double batch_sys(clockid_t c, long n)
{
    struct timespec ts;
    double t0 = now_ns();

    for (long i = 0; i < n; i++) {
        syscall(SYS_clock_gettime, c, &ts);
        sink += ts.tv_nsec;
    }
    return (now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b);

/*
 * The floor: what reading the counter alone costs, three ways (the
 * vDSO's RDTSCP, the library's LFENCE; RDTSC, and RDTSC unordered).
 */
static double batch_counter(int how, long n)
{
    double t0 = now_ns();
    uint32_t lo, hi, aux;

    for (long i = 0; i < n; i++) {
        if (how == 0) {
            __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
        } else if (how == 1) {
            __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
        } else {
            __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        }
        sink += lo;
    }
    return (now_ns() - t0) / n;
}

/* The median of n values (sorts them). */
static double median(double *v, long n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return v[n / 2];
}

static void print_floor(const char *prefix, long calls, long rounds)
{
    static const char *const names[] = { "rdtscp", "lfence_rdtsc", "rdtsc" };
    double *v = calloc(rounds, sizeof(double));

    for (int how = 0; how < 3; how++) {
        for (long r = 0; r < rounds; r++) {
            v[r] = batch_counter(how, calls / rounds);
        }
        printf("%scounter_ns_%s %.2f ns\n", prefix, names[how],
               median(v, rounds));
    }
    free(v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "pages", required_argument, NULL, 'p' },
        { "guest", no_argument, NULL, 'g' },
        { "calls", required_argument, NULL, 'n' },
        { "rounds", required_argument, NULL, 'r' },
        { "calls-only", no_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *pages = NULL, *prefix = "";
    long calls = 1000000, rounds = 101;
    int guest = 0, calls_only = 0, opt, err;

    while ((opt = getopt_long(argc, argv, "p:gn:r:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pages = optarg;
            break;
        case 'g':
            guest = 1;
            break;
        case 'n':
            calls = atol(optarg);
            break;
        case 'r':
            rounds = atol(optarg);
            break;
        case 'o':
            calls_only = 1;
            break;
        case 'h':
            printf("Usage: read-cost [--pages PATH | --guest] [--calls N] "
                   "[--rounds R] [--calls-only]\n");
            return 0;
        default:
            return 1;
        }
    }
    if (calls < 1000 || rounds < 1) {
        fprintf(stderr, "read-cost: --calls must be >= 1000, --rounds >= 1\n");
        return 1;
    }
    err = guest ? pvclock_open_guest(&pc, NULL)
                : pvclock_open_host(&pc, pages ? pages : "/run/pvclock/pages");
    if (err) {
        fprintf(stderr, "read-cost: %s\n", pvclock_strerror(err));
        return 2;
    }
    if (guest) {
        prefix = "guest_";
    } else if ((err = open_bar()) != PVCLOCK_OK) {
        fprintf(stderr, "read-cost: BAR image: %s\n", pvclock_strerror(err));
        return 2;
    }

    if (calls_only) {
        for (size_t c = 0; c < sizeof(clocks) / sizeof(clocks[0]); c++) {
            batch_lib(pc, clocks[c].id, 101);
            if (bar) {
                batch_lib(bar, clocks[c].id, 101);
            }
        }
        return 0;
    }
    pin_to_this_cpu();
    for (size_t c = 0; c < sizeof(clocks) / sizeof(clocks[0]); c++) {
        double *l = calloc(rounds, sizeof(double));
        double *b = calloc(rounds, sizeof(double));
        double *v = calloc(rounds, sizeof(double));
        double *s = calloc(rounds, sizeof(double));
        double *rl = calloc(rounds, sizeof(double));
        double *rb = calloc(rounds, sizeof(double));
        long batch = calls / rounds, sys_batch = batch / 10 + 1;
        struct timespec probe;

        if ((err = pvclock_gettime(pc, clocks[c].id, &probe)) != PVCLOCK_OK ||
            (bar && (err = pvclock_gettime(bar, clocks[c].id, &probe)) !=
                    PVCLOCK_OK)) {
            fprintf(stderr, "read-cost: %s: %s\n", clocks[c].name,
                    pvclock_strerror(err));
            return 2;
        }
        batch_lib(pc, clocks[c].id, batch / 10 + 1);   /* warm up */
        batch_vdso(clocks[c].id, batch / 10 + 1);
        for (long r = 0; r < rounds; r++) {
            l[r] = batch_lib(pc, clocks[c].id, batch);
            b[r] = bar ? batch_lib(bar, clocks[c].id, batch) : 0;
            v[r] = batch_vdso(clocks[c].id, batch);
            s[r] = batch_sys(clocks[c].id, sys_batch);
        }
        /* a ratio per round: the batches of one round shared its noise */
        for (long r = 0; r < rounds; r++) {
            rl[r] = l[r] / v[r];
            rb[r] = b[r] / v[r];
        }
        printf("%sread_ns_lib_%s %.2f ns\n", prefix, clocks[c].name,
               median(l, rounds));
        printf("%sread_ns_vdso_%s %.2f ns\n", prefix, clocks[c].name,
               median(v, rounds));
        printf("%sread_ns_syscall_%s %.2f ns\n", prefix, clocks[c].name,
               median(s, rounds));
        printf("%sread_ratio_%s %.3f lib/vdso\n", prefix, clocks[c].name,
               median(rl, rounds));
        if (bar) {
            printf("read_ns_bar_%s %.2f ns\n", clocks[c].name,
                   median(b, rounds));
            printf("read_ratio_bar_%s %.3f lib/vdso\n", clocks[c].name,
                   median(rb, rounds));
        }
        free(l);
        free(b);
        free(v);
        free(s);
        free(rl);
        free(rb);
    }
    print_floor(prefix, calls, rounds);
    pvclock_close(bar);
    pvclock_close(pc);
    return 0;
}
