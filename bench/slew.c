/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slew PPM SECONDS: slew the host clock by PPM (|PPM| <= 100) for SECONDS
 * (<= 10) with adjtimex(ADJ_FREQUENCY), then restore the original
 * frequency, also on SIGINT/SIGTERM (tests/unit/freq-adjust.h, which
 * also keeps frequency changers one at a time).  For benchmarks only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "freq-adjust.h"

int main(int argc, char **argv)
{
    char why[256];
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
    if (freq_prepare(why, sizeof(why)) < 0 ||
        freq_offset(ppm, why, sizeof(why)) < 0) {
        fprintf(stderr, "slew: %s\n", why);
        return 2;
    }
    for (long i = 0; i < secs * 10; i++) {
        usleep(100000);
    }
    freq_restore();
    return 0;
}
