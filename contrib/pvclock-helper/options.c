/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper's command line.  See options.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "leap.h"
#include "log.h"
#include "options.h"

static const struct option longopts[] = {
    { "pages", required_argument, NULL, 'p' },
    { "socket", required_argument, NULL, 'U' },
    { "interval-us", required_argument, NULL, 'i' },
    { "track-ticks", no_argument, NULL, 'T' },
    { "heartbeat-ms", required_argument, NULL, 'H' },
    { "stale-ms", required_argument, NULL, 'S' },
    { "leap-file", required_argument, NULL, 'L' },
    { "simulate", required_argument, NULL, 's' },
    { "once", no_argument, NULL, 'o' },
    { "check", no_argument, NULL, 'c' },
    { "inspect", no_argument, NULL, 'I' },
    { "verify", optional_argument, NULL, 'V' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

void options_usage(FILE *out)
{
    fprintf(out,
"Usage: pvclock-helper [OPTION]...\n"
"Publish the host's clocks (its vDSO timekeeping data) as pvclock-pages\n"
"host pages, for QEMU's -device pvclock-pages and host readers.\n"
"\n"
"      --socket=PATH       keep the pages in a sealed memfd and hand it to\n"
"                          whoever connects to PATH, QEMU's pages=PATH\n"
"                          included (the default, at " OPTIONS_DEFAULT_SOCKET ")\n"
"  -p, --pages=PATH        publish into the file PATH instead\n"
"  -i, --interval-us=N     look at the kernel's data every N us (default %d)\n"
"      --track-ticks       while the host's clock slope changes, also wake\n"
"                          at each kernel update (CPU for less lag; for\n"
"                          readers without the device's live page)\n"
"      --heartbeat-ms=N    refresh the liveness stamp every N ms (default %d)\n"
"      --stale-ms=N        readers call the pages stale N ms after the last\n"
"                          liveness stamp (default %d)\n"
"      --leap-file=PATH    leap-seconds.list for the smeared pages (default\n"
"                          " LEAP_DEFAULT_LIST ", 'none' for none)\n"
"      --simulate=SPEC     publish a synthetic host instead of this one:\n"
"                          key=value[,key=value] or @FILE (re-read when it\n"
"                          changes); keys tsc_hz, realtime_offset_ns,\n"
"                          freq_ppb, tai_offset, leap=+1@UTC, counter_start\n"
"      --once              publish once and exit\n"
"      --check             detect and validate this kernel's vDSO data, exit\n"
"      --inspect           print the pages file in human form and exit\n"
"      --verify[=ROUNDS]   read the pages file back as readers do and check\n"
"                          every clock against clock_gettime() (default\n"
"                          20000 rounds per clock and page), exit\n"
"  -v, --verbose           log every publication\n"
"  -h, --help              show this help and exit\n"
"\n"
"Runs in the foreground; under systemd (Type=notify) it reports READY=1\n"
"once the pages are published and STOPPING=1 on SIGTERM, and keeps the\n"
"--socket memfd in the service's file descriptor store, so that a restart\n"
"publishes into the same pages.\n"
"\n"
"Exit status: 0 on success or clean shutdown (SIGTERM, SIGINT), 1 on a\n"
"usage error, 2 if the host's clocks cannot be shared, 3 if the pages file\n"
"cannot be written (or, with --inspect and --verify, read), 4 if --verify\n"
"found a reading outside clock_gettime().\n",
            OPTIONS_DEFAULT_INTERVAL_US, OPTIONS_DEFAULT_HEARTBEAT_MS,
            OPTIONS_DEFAULT_STALE_MS);
}

static int parse_uint(const char *opt, const char *arg, unsigned long min,
                      unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || v < min || v > max) {
        helper_log("invalid %s '%s': expected an integer from %lu to %lu",
                   opt, arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* One option from getopt_long: 0, or -1 once the error is on stderr. */
static int parse_one(struct helper_options *o, int opt, const char *arg)
{
    switch (opt) {
    case 'p':
        o->pages_path = arg;
        return 0;
    case 'U':
        o->socket_path = arg;
        return 0;
    case 'i':
        return parse_uint("--interval-us", arg, 10, 1000000, &o->interval_us);
    case 'T':
        o->track_ticks = true;
        return 0;
    case 'H':
        return parse_uint("--heartbeat-ms", arg, 1, 3600000,
                          &o->heartbeat_ms);
    case 'S':
        return parse_uint("--stale-ms", arg, 0, 86400000, &o->stale_ms);
    case 'L':
        o->leap_path = strcmp(arg, "none") ? arg : NULL;
        return 0;
    case 's':
        o->simulate = arg;
        return 0;
    case 'o':
        o->once = true;
        return 0;
    case 'c':
        o->check = true;
        return 0;
    case 'I':
        o->inspect = true;
        return 0;
    case 'V':
        o->verify_rounds = OPTIONS_DEFAULT_VERIFY_ROUNDS;
        return arg ? parse_uint("--verify", arg, 1, 100000000,
                                &o->verify_rounds) : 0;
    case 'v':
        o->verbose = true;
        return 0;
    case 'h':
        o->help = true;
        return 0;
    default:
        /* getopt has said what is wrong in one line */
        fprintf(stderr, "Try 'pvclock-helper --help' for the options.\n");
        return -1;
    }
}

int options_parse(struct helper_options *o, int argc, char **argv)
{
    int opt;

    *o = (struct helper_options) {
        .leap_path = LEAP_DEFAULT_LIST,
        .interval_us = OPTIONS_DEFAULT_INTERVAL_US,
        .heartbeat_ms = OPTIONS_DEFAULT_HEARTBEAT_MS,
        .stale_ms = OPTIONS_DEFAULT_STALE_MS,
    };
    optind = 0;                 /* from argv[1], whatever was parsed before */
    while ((opt = getopt_long(argc, argv, "p:i:vh", longopts, NULL)) != -1) {
        if (parse_one(o, opt, optarg) < 0) {
            return -1;
        }
        if (o->help) {
            return 0;           /* the rest of the line does not matter */
        }
    }
    if (optind < argc) {
        helper_log("unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (o->stale_ms && o->stale_ms < 2 * o->heartbeat_ms) {
        helper_log("--stale-ms (%lu) must be 0 or at least twice "
                   "--heartbeat-ms (%lu), or live pages would be reported "
                   "stale", o->stale_ms, o->heartbeat_ms);
        return -1;
    }
    if (o->pages_path && o->socket_path) {
        helper_log("--pages and --socket are two places for the pages: "
                   "give one");
        return -1;
    }
    if (!o->pages_path && !o->socket_path) {
        o->socket_path = OPTIONS_DEFAULT_SOCKET;
    }
    o->where = o->socket_path ? o->socket_path : o->pages_path;
    return 0;
}
