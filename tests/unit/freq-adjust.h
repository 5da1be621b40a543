/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * This host's clock frequency changed for a test with
 * adjtimex(ADJ_FREQUENCY), and undone on every exit path: at exit and on
 * the fatal signals.  Tests keep within 100 ppm of the original and
 * 10 s (docs/testing.md).  Used by the unit tests, by
 * pvclock-shm-exchange --freq-steps and by bench/slew.
 *
 * One process at a time: each holds an exclusive lock on
 * FREQ_LOCK_PATH from freq_prepare() to its exit.  Two at once would
 * each remember the other's change as "the original" and one of them
 * would leave the host slewed (seen: -100 ppm left behind by two tests
 * run side by side).
 */
#ifndef PVCLOCK_TEST_FREQ_ADJUST_H
#define PVCLOCK_TEST_FREQ_ADJUST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/timex.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define FREQ_LOCK_PATH  "/run/lock/pvclock-pages-adjtimex.lock"
#define FREQ_LOCK_WAIT_S 180    /* longer than any one holder runs */

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
/* Wait for the lock that keeps frequency changers one at a time. */
static int freq_lock(char *why, size_t len)
{
    int fd = open(FREQ_LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        fd = open("/tmp/pvclock-pages-adjtimex.lock",
                  O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        snprintf(why, len, "cannot open the adjtimex lock: %s",
                 strerror(errno));
        return -1;
    }
    for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
        struct timespec pause = { 0, 100000000 };

        if (errno != EWOULDBLOCK || i >= FREQ_LOCK_WAIT_S * 10) {
            snprintf(why, len, "another test held the adjtimex lock for "
                     "%d s", FREQ_LOCK_WAIT_S);
            close(fd);
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return 0;       /* the descriptor stays open: the lock ends with us */
}

static int freq_prepare(char *why, size_t len)
{
    struct timex tx = { .modes = 0 };

    if (freq_lock(why, len) < 0) {
        return -1;
    }
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
