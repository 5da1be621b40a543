/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The synthetic host's controls (contrib/pvclock-helper/control.c):
 * --simulate's SPEC and @FILE at start, with the lines users see when
 * they are wrong, and the control file re-read while running: only when
 * its mtime changed, parsed over the parameters in force, and a file or
 * change that cannot apply leaves the previous parameters.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "stderr-capture.h"
#include "tap.h"

#define REAL_HZ 2000000000ull

static char dir[] = "/tmp/pvclock-test-control-XXXXXX";
static char path[128];

/* Write the control file with mtime sec (file systems' granularity aside). */
static void write_control(const char *text, time_t sec)
{
    struct timespec times[2] = { { sec, 0 }, { sec, 0 } };
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f) ||
        utimensat(AT_FDCWD, path, times, 0) < 0) {
        perror(path);
        exit(1);
    }
}

static void test_reload(void)
{
    struct sim_control c = { .path = path };
    struct sim_params p;
    char err[256] = "", want[256];
    int ret;

    sim_defaults(&p);
    ret = control_reload(&c, &p, err, sizeof(err));
    snprintf(want, sizeof(want), "simulate control file %s: No such file "
             "or directory", path);
    tap_ok(ret == -1 && !strcmp(err, want), "a missing file: %s", err);

    write_control("freq_ppb=100\ntai_offset=40\n", 1000);
    ret = control_reload(&c, &p, err, sizeof(err));
    tap_ok(ret == 1 && p.freq_ppb == 100 && p.tai_offset == 40 &&
           p.tsc_hz == 2500000000ull && c.mtime.tv_sec == 1000,
           "read over the parameters it was given, mtime kept");

    p.freq_ppb = 7;
    ret = control_reload(&c, &p, err, sizeof(err));
    tap_ok(ret == 0 && p.freq_ppb == 7, "unchanged mtime: not read again");

    write_control("freq_ppb=200\n", 2000);
    ret = control_reload(&c, &p, err, sizeof(err));
    tap_ok(ret == 1 && p.freq_ppb == 200 && p.tai_offset == 40,
           "a new mtime: read again");

    write_control("freq_ppb=9999999\n", 3000);
    ret = control_reload(&c, &p, err, sizeof(err));
    tap_ok(ret == -1 && !strcmp(err, "freq_ppb=9999999: the kernel allows "
                                "-500000..500000 (500 ppm)") &&
           c.mtime.tv_sec == 2000, "a bad value: named, mtime not taken");
}

/* control_start(SPEC) with stderr captured into *log. */
static int start(struct sim_control *c, const char *spec, uint64_t real_hz,
                 const char **log)
{
    int ret;

    memset(c, 0, sizeof(*c));
    capture_begin();
    ret = control_start(c, spec, real_hz);
    *log = capture_end();
    return ret;
}

static void test_start(void)
{
    struct sim_control c;
    const char *log;
    char spec[160], want[256];
    int ret;

    ret = start(&c, "tsc_hz=3000000000,freq_ppb=5", REAL_HZ, &log);
    tap_ok(ret == 0 && !log[0] && !c.path && c.params.tsc_hz == 3000000000ull
           && c.params.freq_ppb == 5 && c.host.p.tsc_hz == 3000000000ull,
           "SPEC: the defaults, then its keys; the host started");
    ret = start(&c, "bogus", REAL_HZ, &log);
    tap_ok(ret == -1 && !strcmp(log, "pvclock-helper: --simulate: 'bogus' "
                                "is not key=value\n"),
           "a bad SPEC: one line naming it");
    ret = start(&c, "tsc_hz=3000000000", 0, &log);
    tap_ok(ret == -1 && !strcmp(log, "pvclock-helper: --simulate: the real "
                                "TSC frequency is unknown\n"),
           "a host that cannot start: one line");

    write_control("tsc_hz=3000000000\n", 4000);
    snprintf(spec, sizeof(spec), "@%s", path);
    ret = start(&c, spec, REAL_HZ, &log);
    tap_ok(ret == 0 && !log[0] && c.path && !strcmp(c.path, path) &&
           c.params.tsc_hz == 3000000000ull && c.mtime.tv_sec == 4000,
           "@FILE: read at start, to be watched");
    snprintf(spec, sizeof(spec), "@%s.missing", path);
    snprintf(want, sizeof(want), "pvclock-helper: simulate control file "
             "%s.missing: No such file or directory\n", path);
    ret = start(&c, spec, REAL_HZ, &log);
    tap_ok(ret == -1 && !strcmp(log, want), "@FILE missing: one line");
}

/* control_step() with stderr captured into *log. */
static bool step(struct sim_control *c, bool verbose, const char **log)
{
    bool changed;

    capture_begin();
    changed = control_step(c, verbose);
    *log = capture_end();
    return changed;
}

static void test_step(void)
{
    struct sim_control c;
    const char *log;
    char spec[160], want[256];
    bool changed;

    write_control("tsc_hz=3000000000\n", 5000);
    snprintf(spec, sizeof(spec), "@%s", path);
    start(&c, spec, REAL_HZ, &log);
    changed = step(&c, true, &log);
    tap_ok(!changed && !log[0], "nothing changed: no new lines, silently");

    write_control("tsc_hz=3000000000\nfreq_ppb=1000\n", 5001);
    changed = step(&c, true, &log);
    snprintf(want, sizeof(want), "pvclock-helper: simulated host changed "
             "(%" PRIu64 " changes)\n", c.host.changes);
    tap_ok(changed && c.params.freq_ppb == 1000 && c.host.changes == 1 &&
           !strcmp(log, want), "a new frequency: taken, logged with -v");

    write_control("tsc_hz=3000000000\nfreq_ppb=2000\n", 5002);
    changed = step(&c, false, &log);
    tap_ok(changed && c.params.freq_ppb == 2000 && !log[0],
           "without -v: taken silently");

    write_control("tsc_hz=3000000000\nfreq_ppb=3000\nbogus\n", 5003);
    changed = step(&c, true, &log);
    tap_ok(!changed && c.params.freq_ppb == 2000 && c.mtime.tv_sec == -1 &&
           !strcmp(log, "pvclock-helper: 'bogus' is not key=value (keeping "
                   "the previous parameters)\n"),
           "a broken file: logged, the previous parameters kept");

    write_control("tsc_hz=2000000000\nfreq_ppb=3000\n", 5004);
    changed = step(&c, true, &log);
    tap_ok(!changed && c.params.tsc_hz == 3000000000ull &&
           c.params.freq_ppb == 2000 &&
           !strcmp(log, "pvclock-helper: tsc_hz cannot change while running "
                   "(a host does not change its TSC frequency); restart the "
                   "helper (keeping the previous parameters)\n"),
           "a change the host cannot make: logged, nothing of it taken");
    changed = step(&c, true, &log);
    tap_ok(!changed && !log[0], "and not logged again while the file stays");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/control", dir);
    test_reload();
    test_start();
    test_step();
    unlink(path);
    rmdir(dir);
    return tap_done();
}
