/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper: publishes the host kernel's timekeeping data as
 * pvclock-pages host pages.  One per host; QEMU's -device pvclock-pages
 * maps its pages file into guests.
 *
 * main() only parses options, handles signals and runs the loop; the
 * vvar reader (vvar.c) and the page writer (pages.c) do the work.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/pvclock/pvclock-pages-calc.h"
#include "inspect.h"
#include "pages.h"
#include "vvar.h"

#define DEFAULT_PAGES       "/run/pvclock/pages"
#define DEFAULT_INTERVAL_US 1000
#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_STALE_MS    5000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int verbose;

static void logmsg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("pvclock-helper: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pvclock-helper [OPTION]...\n"
"Publish the host's clocks (its vDSO timekeeping data) as pvclock-pages\n"
"host pages, for QEMU's -device pvclock-pages and host readers.\n"
"\n"
"  -p, --pages=PATH        pages file to publish (default " DEFAULT_PAGES ")\n"
"  -i, --interval-us=N     look at the kernel's data every N us (default %d)\n"
"      --heartbeat-ms=N    refresh the liveness stamp every N ms (default %d)\n"
"      --stale-ms=N        readers call the pages stale N ms after the last\n"
"                          liveness stamp (default %d)\n"
"      --once              publish once and exit\n"
"      --check             detect and validate this kernel's vDSO data, exit\n"
"      --inspect           print the pages file in human form and exit\n"
"  -v, --verbose           log every publication\n"
"  -h, --help              show this help and exit\n"
"\n"
"Exit status: 0 on success or clean shutdown (SIGTERM, SIGINT), 1 on a\n"
"usage error, 2 if the host's clocks cannot be shared, 3 if the pages file\n"
"cannot be written.\n",
            DEFAULT_INTERVAL_US, DEFAULT_HEARTBEAT_MS, DEFAULT_STALE_MS);
}

static int parse_uint(const char *opt, const char *arg, unsigned long min,
                      unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max) {
        logmsg("invalid %s '%s': expected an integer from %lu to %lu", opt,
               arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned long us)
{
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

static void describe(const struct vvar_source *src,
                     const struct host_snapshot *snap)
{
    printf("vvar layout: %s\n", src->layout->name);
    printf("clock mode: %s\n",
           snap->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK
           ? "kvm-clock over TSC (host is a KVM guest)" : "TSC");
    printf("counter: %" PRIu64 " Hz nominal\n", vvar_counter_hz(snap));
    printf("validated against clock_gettime: REALTIME MONOTONIC "
           "MONOTONIC_RAW BOOTTIME TAI\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pages", required_argument, NULL, 'p' },
        { "interval-us", required_argument, NULL, 'i' },
        { "heartbeat-ms", required_argument, NULL, 'H' },
        { "stale-ms", required_argument, NULL, 'S' },
        { "once", no_argument, NULL, 'o' },
        { "check", no_argument, NULL, 'c' },
        { "inspect", no_argument, NULL, 'I' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *pages_path = DEFAULT_PAGES;
    unsigned long interval_us = DEFAULT_INTERVAL_US;
    unsigned long heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    unsigned long stale_ms = DEFAULT_STALE_MS;
    bool once = false, check = false, inspect = false;
    struct host_snapshot snap;
    struct pvcp_host_page page;
    struct vvar_source src;
    struct pages_file pf;
    char err[VVAR_ERR_LEN];
    uint64_t last_heartbeat = 0, epoch, publications = 0;
    struct sigaction sa;
    int opt;

    while ((opt = getopt_long(argc, argv, "p:i:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pages_path = optarg;
            break;
        case 'i':
            if (parse_uint("--interval-us", optarg, 10, 1000000,
                           &interval_us) < 0) {
                return 1;
            }
            break;
        case 'H':
            if (parse_uint("--heartbeat-ms", optarg, 1, 3600000,
                           &heartbeat_ms) < 0) {
                return 1;
            }
            break;
        case 'S':
            if (parse_uint("--stale-ms", optarg, 0, 86400000,
                           &stale_ms) < 0) {
                return 1;
            }
            break;
        case 'o':
            once = true;
            break;
        case 'c':
            check = true;
            break;
        case 'I':
            inspect = true;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            /* getopt has said what is wrong in one line */
            fprintf(stderr, "Try 'pvclock-helper --help' for the options.\n");
            return 1;
        }
    }
    if (optind < argc) {
        logmsg("unexpected argument '%s' (see --help)", argv[optind]);
        return 1;
    }
    if (stale_ms && stale_ms < 2 * heartbeat_ms) {
        logmsg("--stale-ms (%lu) must be 0 or at least twice --heartbeat-ms "
               "(%lu), or live pages would be reported stale", stale_ms,
               heartbeat_ms);
        return 1;
    }

    if (inspect) {
        return inspect_pages(pages_path, stdout) == 0 ? 0 : 3;
    }

    if (vvar_open(&src, err) < 0) {
        logmsg("cannot share this host's clocks: %s", err);
        return 2;
    }
    if (vvar_read_validated(&src, &snap, err) < 0) {
        logmsg("host clock data did not validate: %s", err);
        return 2;
    }
    if (check) {
        describe(&src, &snap);
        return 0;
    }

    if (pages_open(&pf, pages_path, err, sizeof(err)) < 0) {
        logmsg("%s", err);
        return 3;
    }
    epoch = pf.page[0]->helper_epoch + 1;
    pages_set_epoch(&pf, epoch, (uint32_t)getpid());
    for (int i = 1; i < PVCP_HOST_PAGES; i++) {
        /* Not produced yet: readers get "not published". */
        pages_unpublish(&pf, i);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    logmsg("publishing %s (layout %s, %s, epoch %" PRIu64 ")", pages_path,
           src.layout->name,
           snap.counter_mode == PVCP_COUNTER_TSC_KVMCLOCK
           ? "kvm-clock over TSC" : "TSC", epoch);

    for (;;) {
        uint64_t now = mono_ns();

        memset(&page, 0, sizeof(page));
        pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
        if (pages_publish(&pf, PVCP_PAGE_UNSCALED_UNSMEARED, &page)) {
            publications++;
            if (verbose) {
                logmsg("published mapping %" PRIu64 " (kernel seq %u)",
                       publications, snap.seq);
            }
        }
        if (now - last_heartbeat >= heartbeat_ms * 1000000ull) {
            uint64_t hz = vvar_counter_hz(&snap);

            pages_heartbeat(&pf, vvar_read_tsc(), now,
                            (uint64_t)((pvcp_u128)hz * stale_ms / 1000),
                            (uint32_t)heartbeat_ms);
            last_heartbeat = now;
        }
        if (once) {
            break;
        }
        sleep_us(interval_us);
        if (stop_signal) {
            break;
        }

        /*
         * A cheap snapshot every round; only a changed mapping is
         * validated against clock_gettime() before it is published.
         */
        if (vvar_snapshot(&src, &snap, err) < 0) {
            logmsg("host clock data became unusable: %s", err);
            pages_close(&pf);
            return 2;
        }
        memset(&page, 0, sizeof(page));
        pages_fill_from_snapshot(&page, &snap, vvar_counter_hz(&snap));
        if (!pages_is_current(&pf, PVCP_PAGE_UNSCALED_UNSMEARED, &page) &&
            vvar_read_validated(&src, &snap, err) < 0) {
            logmsg("new host clock data did not validate: %s", err);
            pages_close(&pf);
            return 2;
        }
    }
    if (stop_signal) {
        logmsg("stopping on signal %d after %" PRIu64 " publications; the "
               "pages stay in place and turn stale after %lu ms",
               (int)stop_signal, publications, stale_ms);
    }
    pages_close(&pf);
    return 0;
}
