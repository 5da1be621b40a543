/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-shm-exchange: the host side of the shared-memory stamp exchange
 * (shm-exchange.h; the guest side is pvclock-guest-test shm-exchange).
 * Prepares the file QEMU's ivshmem-plain maps, waits for the guest
 * program, then for --seconds loads the guest's last stamp, reads
 * clock_gettime(CLOCK_REALTIME) and publishes it; finally tells the guest
 * to stop and prints both sides' counts.
 *
 *   pvclock-shm-exchange --shm FILE --init          create/clear the file
 *   pvclock-shm-exchange --shm FILE [--seconds N]   run (default 60 s)
 *       [--freq-steps PPM[,S]]  meanwhile step this host's frequency by
 *                               +PPM and -PPM (at most 100) every 4 ms for
 *                               the first S s (default and limit 10),
 *                               restored on every exit path (root)
 *
 * Exit 0 only with zero violations and errors on both sides and at least
 * --min-guest exchanges by the guest (default 1000).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/timex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shm-exchange.h"
#include "freq-adjust.h"

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- frequency steps, always undone (freq-adjust.h) ----------------- */

static long step_ppm;
static double step_seconds = 10;
static volatile sig_atomic_t stop_steps;

static void *stepper(void *arg)
{
    struct timespec every = { 0, 4000000 };
    double start = mono_s();
    long sign = 1;

    (void)arg;
    while (!stop_steps && mono_s() - start < step_seconds) {
        char why[128];

        freq_offset(sign * step_ppm, why, sizeof(why));
        (*(unsigned long *)arg)++;
        sign = -sign;
        nanosleep(&every, NULL);
    }
    freq_restore();
    return NULL;
}

static int steps_start(pthread_t *t, unsigned long *count)
{
    char why[128];

    if (freq_prepare(why, sizeof(why)) < 0) {
        fprintf(stderr, "pvclock-shm-exchange: %s (stepping the frequency "
                "needs root)\n", why);
        return -1;
    }
    return pthread_create(t, NULL, stepper, count) ? -1 : 0;
}

struct shm_opts {
    const char *path;
    double seconds;
    unsigned long long min_guest;
    int init;
};

static int parse_freq_steps(const char *arg)
{
    char *end;

    step_ppm = strtol(arg, &end, 10);
    if (*end == ',') {
        step_seconds = strtod(end + 1, &end);
    }
    if (*end || step_ppm < 1 || step_ppm > 100 || step_seconds <= 0 ||
        step_seconds > 10) {
        fprintf(stderr, "pvclock-shm-exchange: --freq-steps takes "
                "PPM (1..100) and optionally ,SECONDS (at most 10), "
                "not '%s'\n", arg);
        return -1;
    }
    return 0;
}

/* 0 to go on, or 1 + the exit status (--help: 0, bad options: 2). */
static int parse_args(int argc, char **argv, struct shm_opts *o)
{
    static const struct option opts[] = {
        { "shm", required_argument, NULL, 's' },
        { "init", no_argument, NULL, 'i' },
        { "seconds", required_argument, NULL, 'n' },
        { "min-guest", required_argument, NULL, 'm' },
        { "freq-steps", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "s:in:m:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (parse_freq_steps(optarg) < 0) {
                return 1 + 2;
            }
            break;
        case 's':
            o->path = optarg;
            break;
        case 'i':
            o->init = 1;
            break;
        case 'n':
            o->seconds = atof(optarg);
            break;
        case 'm':
            o->min_guest = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            printf("Usage: pvclock-shm-exchange --shm FILE [--init] "
                   "[--seconds N] [--min-guest N] [--freq-steps PPM[,S]]\n");
            return 1 + 0;
        default:
            return 1 + 2;
        }
    }
    return 0;
}

/* The file QEMU's ivshmem-plain maps, XCHG_SIZE long; NULL after a message. */
static volatile struct xchg_area *map_area(const char *path)
{
    volatile struct xchg_area *x;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0 || ftruncate(fd, XCHG_SIZE) < 0) {
        fprintf(stderr, "pvclock-shm-exchange: %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    x = mmap(NULL, XCHG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (x == MAP_FAILED) {
        fprintf(stderr, "pvclock-shm-exchange: mmap %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    return x;
}

/* Wait up to limit_s for the guest to reach state; 0, or -1 on timeout. */
static int wait_guest(volatile struct xchg_area *x, uint32_t state,
                      double limit_s)
{
    double start = mono_s();

    while (__atomic_load_n(&x->state, __ATOMIC_ACQUIRE) != state) {
        if (mono_s() - start > limit_s) {
            return -1;
        }
        usleep(10000);
    }
    return 0;
}

/* The host's side for `seconds`, with the frequency steps if asked. */
static int exchange(volatile struct xchg_area *x, double seconds,
                    struct xchg_side *me)
{
    pthread_t steps_thread;
    unsigned long steps = 0;
    double start;

    if (step_ppm && steps_start(&steps_thread, &steps) < 0) {
        return -1;
    }
    start = mono_s();
    while (mono_s() - start < seconds) {
        for (int i = 0; i < 100000; i++) {
            int64_t seen = __atomic_load_n(&x->guest.stamp, __ATOMIC_ACQUIRE);
            struct timespec ts;
            int64_t now;

            clock_gettime(CLOCK_REALTIME, &ts);
            now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            xchg_record(me, &x->host.stamp, seen, now);
        }
    }
    if (step_ppm) {
        stop_steps = 1;
        pthread_join(steps_thread, NULL);
        printf("shm-exchange: %lu frequency steps of %+ld/-%ld ppm, "
               "frequency restored\n", steps, step_ppm, step_ppm);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct shm_opts o = { .seconds = 60, .min_guest = 1000 };
    volatile struct xchg_area *x;
    struct xchg_side me = { 0 };
    int r = parse_args(argc, argv, &o);

    if (r) {
        return r - 1;
    }
    if (!o.path || o.seconds <= 0) {
        fprintf(stderr, "pvclock-shm-exchange: need --shm FILE (and "
                "--seconds > 0)\n");
        return 2;
    }
    x = map_area(o.path);
    if (!x) {
        return 2;
    }
    if (o.init) {
        memset((void *)x, 0, sizeof(*x));
        __atomic_store_n(&x->magic, XCHG_MAGIC, __ATOMIC_RELEASE);
        return 0;
    }
    if (x->magic != XCHG_MAGIC) {
        fprintf(stderr, "pvclock-shm-exchange: %s was not prepared with "
                "--init\n", o.path);
        return 2;
    }
    if (wait_guest(x, XCHG_GUEST_READY, 120) < 0) {
        fprintf(stderr, "pvclock-shm-exchange: the guest program did "
                "not start within 120 s\n");
        return 1;
    }
    if (exchange(x, o.seconds, &me) < 0) {
        return 2;
    }
    __atomic_store_n(&x->state, XCHG_STOP, __ATOMIC_RELEASE);
    if (wait_guest(x, XCHG_GUEST_DONE, 30) < 0) {
        fprintf(stderr, "pvclock-shm-exchange: the guest program did "
                "not report\n");
        return 1;
    }
    printf("shm-exchange: %.0f s; host: %llu exchanges, %llu violations "
           "(worst %lld ns); guest: %llu exchanges, %llu violations (worst "
           "%lld ns), %llu errors\n", o.seconds,
           (unsigned long long)me.exchanges,
           (unsigned long long)me.violations, (long long)me.worst_ns,
           (unsigned long long)x->guest.exchanges,
           (unsigned long long)x->guest.violations,
           (long long)x->guest.worst_ns,
           (unsigned long long)x->guest.errors);
    return me.violations || x->guest.violations || x->guest.errors ||
           x->guest.exchanges < o.min_guest ? 1 : 0;
}
