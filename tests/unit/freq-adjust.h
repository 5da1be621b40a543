/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * This host's clock frequency changed for a test with
 * adjtimex(ADJ_FREQUENCY), and undone on every exit path: at exit and on
 * the fatal signals.  Tests keep within 100 ppm of the original and
 * 10 s (docs/testing.md).  Used by the unit tests and by
 * pvclock-shm-exchange --freq-steps.
 */
#ifndef PVCLOCK_TEST_FREQ_ADJUST_H
#define PVCLOCK_TEST_FREQ_ADJUST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

static long freq_saved;                     /* the frequency to go back to */
static volatile sig_atomic_t freq_changed;  /* it may differ now */

static void freq_restore(void)
{
    if (freq_changed) {
        struct timex tx = { .modes = ADJ_FREQUENCY, .freq = freq_saved };

        adjtimex(&tx);
        freq_changed = 0;
    }
}

static void freq_signal(int sig)
{
    freq_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Remember the frequency, arrange for it to come back, and check that it
 * may be set (root).  0, or -1 with why filled in.
 */
static int freq_prepare(char *why, size_t len)
{
    struct timex tx = { .modes = 0 };

    if (adjtimex(&tx) < 0) {
        snprintf(why, len, "adjtimex: %s", strerror(errno));
        return -1;
    }
    freq_saved = tx.freq;
    atexit(freq_restore);
    signal(SIGINT, freq_signal);
    signal(SIGTERM, freq_signal);
    signal(SIGABRT, freq_signal);
    signal(SIGSEGV, freq_signal);
    tx.modes = ADJ_FREQUENCY;
    if (adjtimex(&tx) < 0) {
        snprintf(why, len, "adjtimex(ADJ_FREQUENCY): %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The frequency set to the remembered one plus ppm (freq_prepare() first). */
static int freq_offset(long ppm, char *why, size_t len)
{
    struct timex tx = {
        .modes = ADJ_FREQUENCY, .freq = freq_saved + ppm * 65536,
    };

    freq_changed = 1;
    if (adjtimex(&tx) < 0) {
        snprintf(why, len, "adjtimex(ADJ_FREQUENCY): %s", strerror(errno));
        return -1;
    }
    return 0;
}

#endif /* PVCLOCK_TEST_FREQ_ADJUST_H */
