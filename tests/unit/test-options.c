/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-helper's command line (contrib/pvclock-helper/options.c): the
 * defaults, every value each option accepts at its bounds, and every
 * refusal with the exact line users see.  Each refusal is exit status 1
 * in main(), which options_parse() signals with -1.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "leap.h"
#include "options.h"
#include "stderr-capture.h"
#include "tap.h"

#define MAX_ARGS 16

static struct helper_options opt;
static const char *err;         /* what the last parse() wrote on stderr */

/* options_parse() over "pvclock-helper ARG..." (NULL-terminated). */
static int parse(const char *arg, ...)
{
    char *argv[MAX_ARGS + 1] = { (char *)"pvclock-helper" };
    int argc = 1, ret;
    va_list ap;

    va_start(ap, arg);
    for (; arg && argc < MAX_ARGS; arg = va_arg(ap, const char *)) {
        argv[argc++] = (char *)arg;
    }
    va_end(ap);
    argv[argc] = NULL;
    capture_begin();
    ret = options_parse(&opt, argc, argv);
    err = capture_end();
    return ret;
}

/* The first line of what stderr got, for a test's description. */
static const char *first_line(const char *s)
{
    static char line[256];

    snprintf(line, sizeof(line), "%.*s", (int)strcspn(s, "\n"), s);
    return line;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void test_defaults(void)
{
    int ret = parse(NULL);

    tap_ok(ret == 0 && !err[0], "no options: accepted, silently");
    tap_ok(same(opt.socket_path, OPTIONS_DEFAULT_SOCKET) &&
           same(opt.where, OPTIONS_DEFAULT_SOCKET) && !opt.pages_path,
           "default: the pages are served on %s", OPTIONS_DEFAULT_SOCKET);
    tap_ok(opt.interval_us == 50000 && opt.heartbeat_ms == 1000 &&
           opt.stale_ms == 5000,
           "default: poll every 50000 us, heartbeat 1000 ms, stale after "
           "5000 ms (%lu, %lu, %lu)", opt.interval_us, opt.heartbeat_ms,
           opt.stale_ms);
    tap_ok(same(opt.leap_path, LEAP_DEFAULT_LIST) && !opt.simulate &&
           !opt.verify_rounds,
           "default: tzdata's leap second list, this host, no --verify");
    tap_ok(!opt.track_ticks && !opt.once && !opt.check && !opt.inspect &&
           !opt.verbose && !opt.help, "default: every flag off");
}

static void test_places(void)
{
    int ret;

    tap_ok(parse("--pages", "/x/pages", NULL) == 0 &&
           same(opt.pages_path, "/x/pages") && !opt.socket_path &&
           same(opt.where, "/x/pages"),
           "--pages PATH: the pages file instead of the socket");
    tap_ok(parse("-p", "/y", NULL) == 0 && same(opt.where, "/y") &&
           parse("--pages=/z", NULL) == 0 && same(opt.where, "/z"),
           "-p PATH and --pages=PATH");
    tap_ok(parse("--socket=/s", NULL) == 0 && same(opt.socket_path, "/s") &&
           !opt.pages_path && same(opt.where, "/s"),
           "--socket=PATH: served there");
    ret = parse("--pages", "/p", "--socket", "/s", NULL);
    tap_ok(ret == -1 &&
           !strcmp(err, "pvclock-helper: --pages and --socket are two "
                   "places for the pages: give one\n"),
           "--pages and --socket: refused in one line (%s)", first_line(err));
}

static void test_numbers(void)
{
    tap_ok(parse("-i", "10", NULL) == 0 && opt.interval_us == 10 &&
           parse("--interval-us=1000000", NULL) == 0 &&
           opt.interval_us == 1000000,
           "--interval-us: 10 and 1000000 accepted");
    tap_ok(parse("--heartbeat-ms", "1", "--stale-ms", "0", NULL) == 0 &&
           opt.heartbeat_ms == 1 && opt.stale_ms == 0,
           "--heartbeat-ms 1 and --stale-ms 0 (never stale) accepted");
    tap_ok(parse("--heartbeat-ms=3600000", "--stale-ms=86400000", NULL) == 0
           && opt.heartbeat_ms == 3600000 && opt.stale_ms == 86400000,
           "--heartbeat-ms 3600000 and --stale-ms 86400000 accepted");
    tap_ok(parse("--stale-ms", "2000", "--heartbeat-ms", "1000", NULL) == 0,
           "--stale-ms exactly twice --heartbeat-ms accepted");
    tap_ok(parse("--verify", NULL) == 0 && opt.verify_rounds == 20000 &&
           parse("--verify=1", NULL) == 0 && opt.verify_rounds == 1 &&
           parse("--verify=100000000", NULL) == 0 &&
           opt.verify_rounds == 100000000,
           "--verify: 20000 rounds by default, 1 to 100000000 given");
}

/* Each refused number, with the line that names the option's range. */
static void test_refused_numbers(void)
{
    static const struct {
        const char *arg, *val, *range;
    } bad[] = {
        { "--interval-us", "9", "10 to 1000000" },
        { "--interval-us", "1000001", "10 to 1000000" },
        { "--interval-us", "abc", "10 to 1000000" },
        { "--interval-us", "", "10 to 1000000" },
        { "--interval-us", "10x", "10 to 1000000" },
        { "--interval-us", "-5", "10 to 1000000" },
        { "--interval-us", "99999999999999999999999", "10 to 1000000" },
        { "--heartbeat-ms", "0", "1 to 3600000" },
        { "--heartbeat-ms", "3600001", "1 to 3600000" },
        { "--stale-ms", "86400001", "0 to 86400000" },
        { "--verify", "0", "1 to 100000000" },
        { "--verify", "100000001", "1 to 100000000" },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char arg[128], want[256];
        int ret;

        snprintf(arg, sizeof(arg), "%s=%s", bad[i].arg, bad[i].val);
        snprintf(want, sizeof(want), "pvclock-helper: invalid %s '%s': "
                 "expected an integer from %s\n", bad[i].arg, bad[i].val,
                 bad[i].range);
        ret = parse(arg, NULL);
        tap_ok(ret == -1 && !strcmp(err, want), "%s refused: %s", arg,
               first_line(err));
    }
    tap_ok(parse("-i", "9", NULL) == -1 &&
           !strcmp(err, "pvclock-helper: invalid --interval-us '9': "
                   "expected an integer from 10 to 1000000\n"),
           "-i 9 refused under the long option's name");
}

static void test_refused_combinations(void)
{
    tap_ok(parse("--stale-ms", "1999", "--heartbeat-ms", "1000", NULL) == -1
           && !strcmp(err, "pvclock-helper: --stale-ms (1999) must be 0 or "
                      "at least twice --heartbeat-ms (1000), or live pages "
                      "would be reported stale\n"),
           "--stale-ms under twice --heartbeat-ms: refused, both named");
    tap_ok(parse("--stale-ms", "1000", NULL) == -1 &&
           strstr(err, "--stale-ms (1000) must be 0 or at least twice "
                  "--heartbeat-ms (1000)"),
           "--stale-ms 1000 against the default heartbeat: refused");
    tap_ok(parse("--once", "extra", NULL) == -1 &&
           !strcmp(err, "pvclock-helper: unexpected argument 'extra' "
                   "(see --help)\n"),
           "a stray argument: refused, named");
}

/* getopt's own line, then the pointer to --help. */
static void test_refused_by_getopt(void)
{
    static const struct {
        const char *arg, *line;
    } bad[] = {
        { "--bogus", "unrecognized option '--bogus'" },
        { "-x", "invalid option -- 'x'" },
        { "--pages", "option '--pages' requires an argument" },
        { "-i", "option requires an argument -- 'i'" },
        { "--once=1", "option '--once' doesn't allow an argument" },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[256];
        int ret;

        snprintf(want, sizeof(want), "pvclock-helper: %s\nTry "
                 "'pvclock-helper --help' for the options.\n", bad[i].line);
        ret = parse(bad[i].arg, NULL);
        tap_ok(ret == -1 && !strcmp(err, want), "%s refused: %s",
               bad[i].arg, first_line(err));
    }
}

static void test_flags(void)
{
    tap_ok(parse("--leap-file=none", NULL) == 0 && !opt.leap_path &&
           parse("--leap-file", "/l", NULL) == 0 && same(opt.leap_path, "/l"),
           "--leap-file: none for no list, else the list's path");
    tap_ok(parse("--simulate", "tsc_hz=3000000000", NULL) == 0 &&
           same(opt.simulate, "tsc_hz=3000000000"),
           "--simulate: the spec, for control.c to parse");
    tap_ok(parse("--once", "--check", "--inspect", "--track-ticks",
                 "-v", NULL) == 0 && opt.once && opt.check && opt.inspect &&
           opt.track_ticks && opt.verbose && parse("--verbose", NULL) == 0 &&
           opt.verbose, "--once, --check, --inspect, --track-ticks, -v");
    tap_ok(parse("--once", NULL) == 0 && parse(NULL) == 0 && !opt.once,
           "a second parse starts from the defaults");
}

static void test_help(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    tap_ok(parse("-h", NULL) == 0 && opt.help && !err[0] &&
           parse("--help", NULL) == 0 && opt.help,
           "-h and --help: help, silently");
    tap_ok(parse("--help", "--bogus", "extra", NULL) == 0 && opt.help &&
           !err[0], "--help first: the rest of the line does not matter");
    tap_ok(parse("--bogus", "--help", NULL) == -1 && !opt.help,
           "an error before --help is still an error");

    f = open_memstream(&text, &len);
    options_usage(f);
    fclose(f);
    tap_ok(!strncmp(text, "Usage: pvclock-helper [OPTION]...\n", 34) &&
           strstr(text, "(the default, at /run/pvclock/pages.sock)") &&
           strstr(text, "every N us (default 50000)") &&
           strstr(text, "every N ms (default 1000)") &&
           strstr(text, "liveness stamp (default 5000)") &&
           strstr(text, LEAP_DEFAULT_LIST ", 'none' for none"),
           "--help gives the defaults");
    free(text);
}

int main(void)
{
    test_defaults();
    test_places();
    test_numbers();
    test_refused_numbers();
    test_refused_combinations();
    test_refused_by_getopt();
    test_flags();
    test_help();
    return tap_done();
}
