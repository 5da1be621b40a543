/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection: pvclock-helper killed with SIGKILL while a reader
 * loops.  The reader must keep getting times from the last mapping, must
 * be told PVCLOCK_ESTALE once --stale-ms has passed (not before, not much
 * after), and must see no backward step in any clock when a new helper
 * takes over the same file.
 *
 *   test-fault-helper-kill [HELPER-BINARY]   (default: the one built)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"
#include "tap.h"

static const clockid_t clocks[] = {
    CLOCK_REALTIME, CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
    CLOCK_BOOTTIME,
};

static pid_t start_helper(const char *bin, const char *pages)
{
    pid_t pid = fork();

    if (pid == 0) {
        execl(bin, bin, "--pages", pages, "--stale-ms", "2000",
              "--heartbeat-ms", "200", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/pvclock-fault-XXXXXX", pages[128];
    int64_t last[5] = { 0 };
    long backward = 0, errors = 0, reads = 0;
    double killed_at, stale_seen = 0;
    struct pvclock *pc;
    pid_t helper;
    int err = -1;

    const char *bin = argc > 1 ? argv[1] : HELPER_PATH;

    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(pages, sizeof(pages), "%s/pages", dir);
    helper = start_helper(bin, pages);
    for (int i = 0; i < 100 && err; i++) {
        usleep(50000);
        err = pvclock_open_host(&pc, pages);
        if (!err) {
            struct timespec ts;

            err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
            if (err) {
                pvclock_close(pc);
            }
        }
    }
    tap_ok(err == PVCLOCK_OK, "helper up, reader reads (%s)",
           pvclock_strerror(err));

    /* 1 s live, then SIGKILL, 3 s dead, restart, 1 s live again */
    for (int phase = 0; phase < 3; phase++) {
        double end = mono_s() + (phase == 1 ? 3.0 : 1.0);

        if (phase == 1) {
            kill(helper, SIGKILL);
            waitpid(helper, NULL, 0);
            killed_at = mono_s();
        } else if (phase == 2) {
            helper = start_helper(bin, pages);
            usleep(300000);
        }
        while (mono_s() < end) {
            for (int c = 0; c < 5; c++) {
                struct timespec ts;
                int e = pvclock_gettime(pc, clocks[c], &ts);

                if (e && e != PVCLOCK_ESTALE) {
                    errors++;
                    continue;
                }
                if (e == PVCLOCK_ESTALE && phase == 1 && !stale_seen) {
                    stale_seen = mono_s() - killed_at;
                }
                if (e == PVCLOCK_ESTALE && phase != 1) {
                    errors++;
                }
                if (ns(&ts) < last[c]) {
                    backward++;
                }
                last[c] = ns(&ts);
                reads++;
            }
        }
    }
    tap_ok(errors == 0, "the reader never failed: last mapping while the "
           "helper was dead, fresh after (%ld reads, %ld errors)", reads,
           errors);
    tap_ok(stale_seen >= 1.7 && stale_seen <= 2.6,
           "stale reported %.2f s after the kill (--stale-ms 2000, "
           "heartbeat 200 ms)", stale_seen);
    tap_ok(backward == 0, "no backward step in any clock across kill and "
           "restart (%ld)", backward);
    kill(helper, SIGTERM);
    waitpid(helper, NULL, 0);
    pvclock_close(pc);
    unlink(pages);
    rmdir(dir);
    return tap_done();
}
