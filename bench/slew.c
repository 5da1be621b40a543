/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slew PPM SECONDS: slew the host clock by PPM (|PPM| <= 100) for SECONDS
 * (<= 10) with adjtimex(ADJ_FREQUENCY), then restore the original
 * frequency, also on SIGINT/SIGTERM.  For benchmarks only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

static long saved;
static volatile sig_atomic_t done;

static void on_signal(int sig)
{
    (void)sig;
    done = 1;
}

int main(int argc, char **argv)
{
    struct timex tx = { .modes = 0 };
    long ppm, secs;

    if (argc != 3) {
        fprintf(stderr, "usage: slew PPM SECONDS\n");
        return 1;
    }
    ppm = atol(argv[1]);
    secs = atol(argv[2]);
    if (ppm < -100 || ppm > 100 || secs < 1 || secs > 10) {
        fprintf(stderr, "slew: at most 100 ppm for at most 10 s\n");
        return 1;
    }
    if (adjtimex(&tx) < 0) {
        perror("slew: adjtimex");
        return 2;
    }
    saved = tx.freq;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    tx.modes = ADJ_FREQUENCY;
    tx.freq = saved + ppm * 65536;
    if (adjtimex(&tx) < 0) {
        perror("slew: adjtimex(ADJ_FREQUENCY)");
        return 2;
    }
    for (long i = 0; i < secs * 10 && !done; i++) {
        usleep(100000);
    }
    tx.modes = ADJ_FREQUENCY;
    tx.freq = saved;
    adjtimex(&tx);
    return 0;
}
