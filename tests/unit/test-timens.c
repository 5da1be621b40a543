/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A reader in a time namespace: libpvclock's MONOTONIC, MONOTONIC_RAW
 * and BOOTTIME over the host pages must carry the namespace's offsets,
 * as the process's own clock_gettime() does (issue 32).  The parent, in
 * the initial time namespace, publishes this host's pages as the helper
 * does; a child started under `unshare --time --monotonic 1000
 * --boottime 2000` reads them and checks each reading lies between two
 * clock_gettime() of its own.  Needs root (or unprivileged user
 * namespaces) and util-linux's unshare with --time; skips otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pages.h"
#include "pvclock.h"
#include "vvar.h"
#include "tap.h"

#define ROUNDS 20000

static int64_t ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* In the namespace: the library against clock_gettime(), per clock. */
static int child(const char *path)
{
    static const clockid_t clocks[] = {
        CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME, CLOCK_REALTIME,
    };
    struct pvclock *pc;
    char line[64];
    FILE *f = fopen("/proc/self/timens_offsets", "r");

    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        tap_diag("child's timens_offsets: %s", line);
    }
    if (f) {
        fclose(f);
    }
    tap_ok(pvclock_open_host(&pc, path) == PVCLOCK_OK,
           "in the time namespace: the library opens the pages");
    for (size_t c = 0; c < sizeof(clocks) / sizeof(clocks[0]); c++) {
        long outside = 0, errors = 0;

        for (long i = 0; i < ROUNDS; i++) {
            struct timespec before, after, lib;

            clock_gettime(clocks[c], &before);
            if (pvclock_gettime(pc, clocks[c], &lib)) {
                errors++;
                continue;
            }
            clock_gettime(clocks[c], &after);
            if (ns(&lib) < ns(&before) || ns(&lib) > ns(&after)) {
                if (outside++ < 3) {
                    tap_diag("%s: %lld not in [%lld, %lld] (%+.3f s)",
                             pvclock_clock_name(clocks[c]), (long long)ns(&lib),
                             (long long)ns(&before), (long long)ns(&after),
                             (ns(&lib) - ns(&before)) / 1e9);
                }
            }
        }
        tap_ok(outside == 0 && errors == 0,
               "in the time namespace: %s between two clock_gettime() of the "
               "process's own, %d rounds (%ld outside, %ld errors)",
               pvclock_clock_name(clocks[c]), ROUNDS, outside, errors);
    }
    pvclock_close(pc);
    return tap_done();
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/pvclock-test-timens-XXXXXX", path[128];
    char err[VVAR_ERR_LEN], self[4096];
    ssize_t n;
    struct vvar_source src;
    struct host_snapshot snap;
    struct pvcp_host_page page;
    struct pages_file pf;
    pid_t publisher, reader;
    int status;

    if (argc == 3 && !strcmp(argv[1], "--child")) {
        return child(argv[2]);
    }
    if (vvar_open(&src, err) < 0) {
        return tap_skip_all("no host pages to publish here: %s", err);
    }
    if (system("unshare --time --monotonic 1 true 2>/dev/null") != 0) {
        return tap_skip_all("unshare --time --monotonic 1 failed here (needs "
                            "root and util-linux 2.36+)");
    }
    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    /* the TAP lines are the child's: the parent only bails out */
    if (pages_open(&pf, path, err, sizeof(err)) != 0) {
        printf("Bail out! pages file: %s\n", err);
        return 1;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        printf("Bail out! readlink /proc/self/exe failed\n");
        return 1;
    }
    self[n] = 0;
    /* what the helper does: publish on change, here every 100 us */
    publisher = fork();
    if (publisher == 0) {
        for (;;) {
            struct timespec ts = { 0, 100 * 1000 };

            if (vvar_snapshot(&src, &snap, err) == 0) {
                memset(&page, 0, sizeof(page));
                pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
                pages_publish(&pf, 0, &page);
            }
            nanosleep(&ts, NULL);
        }
    }
    fflush(stdout);
    reader = fork();
    if (reader == 0) {
        execlp("unshare", "unshare", "--time", "--monotonic", "1000",
               "--boottime", "2000", self, "--child", path,
               (char *)NULL);
        _exit(127);
    }
    waitpid(reader, &status, 0);
    kill(publisher, SIGKILL);
    waitpid(publisher, NULL, 0);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
