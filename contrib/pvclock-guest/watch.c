/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The clock watcher (serve --watch): a thread reads all five clocks in a
 * loop and counts every reading smaller than the one before, for as long
 * as the program serves (across stops and migrations of the VM).
 */
#include <pthread.h>
#include <stdio.h>

#include "guest.h"

static struct {
    const struct pvclock *pc;
    pthread_t thread;
    volatile int stop;
    unsigned long long reads, backward[PVCLOCK_CLOCKS], errors;
    long long worst[PVCLOCK_CLOCKS];
    unsigned long long gen_first, gen_last;
    int last_error;
} watch;

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* One round over the five clocks against the previous readings. */
static void watch_round(struct timespec prev[PVCLOCK_CLOCKS],
                        int have[PVCLOCK_CLOCKS])
{
    for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
        struct timespec ts;
        int err = pvclock_gettime(watch.pc, pvclock_clock(i), &ts);

        if (err && err != PVCLOCK_ESTALE) {
            watch.errors++;
            watch.last_error = err;
            continue;
        }
        if (have[i] && ts_before(&ts, &prev[i])) {
            long long d = guest_ts_ns(&prev[i]) - guest_ts_ns(&ts);

            watch.backward[i]++;
            if (d > watch.worst[i]) {
                watch.worst[i] = d;
            }
        }
        prev[i] = ts;
        have[i] = 1;
    }
}

static void *watch_thread(void *arg)
{
    struct timespec prev[PVCLOCK_CLOCKS] = { { 0, 0 } };
    int have[PVCLOCK_CLOCKS] = { 0 };

    (void)arg;
    while (!watch.stop) {
        struct pvclock_info info;

        watch_round(prev, have);
        watch.reads++;
        if (pvclock_get_info(watch.pc, &info) == PVCLOCK_OK) {
            if (!watch.gen_first) {
                watch.gen_first = info.generation;
            }
            watch.gen_last = info.generation;
        }
    }
    return NULL;
}

int watch_start(const struct pvclock *pc)
{
    watch.pc = pc;
    if (pthread_create(&watch.thread, NULL, watch_thread, NULL)) {
        fprintf(stderr, "pvclock-guest: cannot start the watcher\n");
        return -1;
    }
    return 0;
}

void watch_summary(char *buf, size_t len)
{
    snprintf(buf, len, "%llu reads, backward steps REALTIME %llu TAI %llu "
             "MONOTONIC %llu MONOTONIC_RAW %llu BOOTTIME %llu (worst %lld "
             "%lld %lld %lld %lld ns), %llu errors%s%s%s, generation %llu -> "
             "%llu",
             watch.reads, watch.backward[0], watch.backward[1],
             watch.backward[2], watch.backward[3], watch.backward[4],
             watch.worst[0], watch.worst[1], watch.worst[2], watch.worst[3],
             watch.worst[4], watch.errors, watch.errors ? " (last: " : "",
             watch.errors ? pvclock_strerror(watch.last_error) : "",
             watch.errors ? ")" : "", watch.gen_first, watch.gen_last);
}

int watch_stop(void)
{
    char sum[400];

    watch.stop = 1;
    pthread_join(watch.thread, NULL);
    watch_summary(sum, sizeof(sum));
    printf("pvclock-guest: watch %s\n", sum);
    for (int i = 0; i < PVCLOCK_CLOCKS; i++) {
        if (watch.backward[i]) {
            return 1;
        }
    }
    return 0;
}
