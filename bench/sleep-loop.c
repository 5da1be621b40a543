/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sleep-loop SECONDS: the CPU a process costs that only wakes every 1 ms
 * (the helper's default poll interval), for comparison with the helper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv)
{
    long secs = argc > 1 ? atol(argv[1]) : 5;
    struct timespec t = { 0, 1000000 }, a, b;
    struct rusage ru;
    double cpu, wall;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < secs * 1000; i++) {
        nanosleep(&t, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    getrusage(RUSAGE_SELF, &ru);
    cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
          ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    wall = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("sleep_loop_1ms_cpu_pct %.3f %%\n", 100 * cpu / wall);
    return 0;
}
