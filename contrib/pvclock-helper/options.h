/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper's command line: what each option sets, its default and
 * the values it refuses.  Every refusal is one line on stderr that names
 * the option and what it accepts; the caller exits with status 1.
 */
#ifndef PVCLOCK_HELPER_OPTIONS_H
#define PVCLOCK_HELPER_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "pacer.h"

#define OPTIONS_DEFAULT_SOCKET          "/run/pvclock/pages.sock"
#define OPTIONS_DEFAULT_INTERVAL_US     ((int)(PACER_DEFAULT_INTERVAL_NS / 1000))
#define OPTIONS_DEFAULT_HEARTBEAT_MS    1000
#define OPTIONS_DEFAULT_STALE_MS        5000
#define OPTIONS_DEFAULT_VERIFY_ROUNDS   20000

struct helper_options {
    const char *pages_path;     /* --pages, or NULL */
    const char *socket_path;    /* --socket; the default without --pages */
    const char *where;          /* whichever of the two the pages are at */
    const char *leap_path;      /* --leap-file; NULL for 'none' */
    const char *simulate;       /* --simulate SPEC, or NULL */
    unsigned long interval_us;
    unsigned long heartbeat_ms;
    unsigned long stale_ms;     /* 0: readers never call the pages stale */
    unsigned long verify_rounds;    /* 0: no --verify */
    bool track_ticks;
    bool once;
    bool check;
    bool inspect;
    bool verbose;
    bool help;                  /* print options_usage() and exit 0 */
};

/*
 * Fill o from argv (getopt_long, so argv may be permuted).  Returns 0,
 * with o->help set if -h came before any error, or -1 once the error is
 * on stderr.
 */
int options_parse(struct helper_options *o, int argc, char **argv);

/* The --help text. */
void options_usage(FILE *out);

#endif /* PVCLOCK_HELPER_OPTIONS_H */
