/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest-test timens: libpvclock in a guest process inside a time
 * namespace (issue 32).  The library's MONOTONIC, MONOTONIC_RAW and
 * BOOTTIME are the device's, not the guest kernel's, so the two differ
 * by some constant; what a namespace changes must change both alike.
 * For each clock: d = libpvclock's reading - the process's own
 * clock_gettime() (the midpoint of two around it, the narrowest of
 * ROUNDS tries), measured in the initial namespace before and after, and
 * in a child in a new time namespace with MONOTONIC +1000 s and
 * BOOTTIME +2000 s that opens its own handle.  The child's d must lie
 * within TOL_NS of the parent's: a library without the namespace's
 * offsets is 1000 or 2000 s off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define ROUNDS 200
#define TOL_NS 10000000         /* 10 ms: TCG's scheduling, not a bug */

static const struct {
    clockid_t id;
    const char *name;
} clocks[] = {
    { CLOCK_MONOTONIC, "MONOTONIC" },
    { CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
    { CLOCK_BOOTTIME, "BOOTTIME" },
};
#define N_CLOCKS (sizeof(clocks) / sizeof(clocks[0]))

/* lib - own for each clock; 0, or -1 if the library did not read. */
static int measure(struct pvclock *pc, int64_t d[N_CLOCKS])
{
    for (size_t c = 0; c < N_CLOCKS; c++) {
        int64_t best = INT64_MAX;

        for (int r = 0; r < ROUNDS; r++) {
            struct timespec a, l, b;
            int64_t w;

            clock_gettime(clocks[c].id, &a);
            if (pvclock_gettime(pc, clocks[c].id, &l) != PVCLOCK_OK) {
                return -1;
            }
            clock_gettime(clocks[c].id, &b);
            w = guest_ts_ns(&b) - guest_ts_ns(&a);
            if (w < best) {
                best = w;
                d[c] = guest_ts_ns(&l) - (guest_ts_ns(&a) + w / 2);
            }
        }
    }
    return 0;
}

/* The child, in the new namespace: its own handle, d over a pipe. */
static int child(int fd, const char *resource)
{
    struct pvclock *pc;
    int64_t d[N_CLOCKS];
    char line[80];
    FILE *f = fopen("/proc/self/timens_offsets", "re");

    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        printf("timens: inside, timens_offsets: %s\n", line);
    }
    if (f) {
        fclose(f);
    }
    fflush(stdout);
    if (pvclock_open_guest(&pc, resource) != PVCLOCK_OK ||
        measure(pc, d) < 0) {
        return 1;
    }
    pvclock_close(pc);
    return write(fd, d, sizeof(d)) == sizeof(d) ? 0 : 1;
}

static int timens_run(struct pvclock *pc, const struct guest_opts *o)
{
    static const char offsets[] = "monotonic 1000 0\nboottime 2000 0\n";
    int64_t before[N_CLOCKS], after[N_CLOCKS], inside[N_CLOCKS];
    int p[2], fd, st, bad = 0;
    pid_t pid;

    if (measure(pc, before) < 0) {
        fprintf(stderr, "pvclock-guest: timens: the device did not read\n");
        return 1;
    }
    /* the children of this process go into a new time namespace */
    if (unshare(CLONE_NEWTIME) < 0) {
        fprintf(stderr, "pvclock-guest: timens: unshare(CLONE_NEWTIME): "
                "%s\n", strerror(errno));
        return 1;
    }
    fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, offsets, sizeof(offsets) - 1) < 0) {
        fprintf(stderr, "pvclock-guest: timens: cannot set the offsets: "
                "%s\n", strerror(errno));
        return 1;
    }
    close(fd);
    if (pipe(p) < 0) {
        return 1;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(child(p[1], o->resource));
    }
    close(p[1]);
    if (pid < 0 || read(p[0], inside, sizeof(inside)) != sizeof(inside)) {
        fprintf(stderr, "pvclock-guest: timens: no answer from the child\n");
        return 1;
    }
    waitpid(pid, &st, 0);
    if (measure(pc, after) < 0) {
        return 1;
    }
    for (size_t c = 0; c < N_CLOCKS; c++) {
        int64_t out = before[c] / 2 + after[c] / 2;
        int64_t diff = inside[c] - out;
        int ok = diff > -TOL_NS && diff < TOL_NS &&
                 (before[c] - after[c] < TOL_NS &&
                  after[c] - before[c] < TOL_NS);

        printf("timens: %s: library - own clock_gettime() outside %lld ns "
               "(before) %lld ns (after), inside %lld ns: %s\n",
               clocks[c].name, (long long)before[c], (long long)after[c],
               (long long)inside[c], ok ? "same" : "DIFFERENT");
        bad |= !ok;
    }
    return bad;
}

const struct guest_command timens_command = {
    .name = "timens",
    .usage = "",
    .help =
"timens: libpvclock's MONOTONIC, MONOTONIC_RAW and BOOTTIME against the\n"
"  process's own clock_gettime(), outside and inside a new time namespace\n"
"  (MONOTONIC +1000 s, BOOTTIME +2000 s): the same difference in both\n",
    .run = timens_run,
};
