/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest-test clockbound-check: a ClockBound client, written from
 * the public protocol document (aws/clock-bound docs/PROTOCOL.md,
 * version 2) and the reference client's reading rules, not from the
 * writer's header: byte offsets of its own.  It answers the host over
 * the serial line:
 *   host -> guest   "B <n>"    read [earliest, latest] now
 *   guest -> host   "B <n> <earliest> <latest> <status> <dev> <slack>"
 *                   times as <sec>.<nsec9>; status 0..3 as the protocol,
 *                   or -1 (the segment unreadable); dev 1 if the host's
 *                   REALTIME read through the device around the read
 *                   lies inside, slack its least distance to an edge, ns
 *   host -> guest   "C"        the writer's CPU (pid in /run/clockbound.pid)
 *   guest -> host   "C <utime+stime ticks> <ticks per s> <its age, s>
 *                   <CPU ns from /proc/PID/schedstat, -1 without>"
 *   host -> guest   "T"        step the guest's CLOCK_REALTIME to the host's,
 *                              as the driver or chronyd would
 *   guest -> host   "T <the step, ns> <errno name>"
 *   host -> guest   "X"        exit
 * --vmclock device: with clock_disruption_support set, compare the
 * marker with the device's disruption count where ClockBound's client
 * compares it with /dev/vmclock0's (the default, a VMClock page).
 */
#define _GNU_SOURCE     /* clock_adjtime() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timex.h>
#include <unistd.h>

#include "guest.h"
#include "line.h"

/* The protocol's layout: offsets in bytes, native byte order. */
#define SEG_SIZE        80
#define OFF_MAGIC       0x00    /* u32 0x414d5a4e, u32 0x43420200 */
#define OFF_SEGSIZE     0x08    /* u32 */
#define OFF_VERSION     0x0c    /* u16, 2 */
#define OFF_GEN         0x0e    /* u16, odd while written, 0 unset */
#define OFF_AS_OF       0x10    /* i64 sec, i64 nsec, MONOTONIC_COARSE */
#define OFF_VOID_AFTER  0x20    /* the same */
#define OFF_BOUND       0x30    /* i64 ns */
#define OFF_MARKER      0x38    /* u64 */
#define OFF_DRIFT       0x40    /* u32 ppb */
#define OFF_STATUS      0x44    /* i32 */
#define OFF_SUPPORT     0x48    /* u8 */
#define GRACE_NS        5000000000ll    /* the reference client's restart grace */
#define CAUSALITY_NS    1000ll          /* and its as_of blur */

#define LD(p, off, type) (*(const volatile type *)((const volatile char *)(p) + (off)))

struct cb_view {
    int64_t as_of, void_after, bound;
    uint64_t marker;
    uint32_t drift;
    int32_t status;
    uint8_t support;
};

static const volatile void *seg_open(const char *path)
{
    void *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return NULL;
    }
    m = mmap(NULL, SEG_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        return NULL;
    }
    if (LD(m, OFF_MAGIC, uint32_t) != 0x414d5a4e ||
        LD(m, OFF_MAGIC + 4, uint32_t) != 0x43420200 ||
        LD(m, OFF_SEGSIZE, uint32_t) < SEG_SIZE) {
        munmap(m, SEG_SIZE);
        return NULL;
    }
    return m;
}

/* A consistent copy: two equal even generations around it; -1 if none. */
static int seg_snapshot(const volatile void *p, struct cb_view *v)
{
    for (int tries = 0; tries < 1000000; tries++) {
        uint16_t g1 = __atomic_load_n((const volatile uint16_t *)
                                      ((const volatile char *)p + OFF_GEN),
                                      __ATOMIC_ACQUIRE), g2;

        if (LD(p, OFF_VERSION, uint16_t) != 2 || g1 == 0) {
            return -1;
        }
        if (g1 & 1) {
            continue;
        }
        v->as_of = LD(p, OFF_AS_OF, int64_t) * 1000000000 +
                   LD(p, OFF_AS_OF + 8, int64_t);
        v->void_after = LD(p, OFF_VOID_AFTER, int64_t) * 1000000000 +
                        LD(p, OFF_VOID_AFTER + 8, int64_t);
        v->bound = LD(p, OFF_BOUND, int64_t);
        v->marker = LD(p, OFF_MARKER, uint64_t);
        v->drift = LD(p, OFF_DRIFT, uint32_t);
        v->status = LD(p, OFF_STATUS, int32_t);
        v->support = LD(p, OFF_SUPPORT, uint8_t);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        g2 = LD(p, OFF_GEN, uint16_t);
        if (g1 == g2) {
            return 0;
        }
    }
    return -1;
}

struct cb_now {
    int64_t earliest, latest, dev_lo, dev_hi;
    int status;
};

/*
 * The client's rule: real +- (bound + drift * (mono - as_of)); the
 * status as written within the grace, FreeRunning to void_after,
 * Unknown after; with support, Unknown while the marker differs from
 * the disruption source's.  -1 if the segment is unreadable or breaks
 * causality.
 */
static int cb_now(struct pvclock *pc, const volatile void *p, int marker_check,
                  struct cb_now *r)
{
    struct pvclock_info info;
    struct timespec real, mono, a, b;
    struct cb_view v;
    int64_t elapsed, e;
    uint64_t c1, c2;

    if (seg_snapshot(p, &v) < 0 || v.drift >= 1000000000u) {
        return -1;
    }
    c1 = pvclock_read_counter();
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    c2 = pvclock_read_counter();
    elapsed = guest_ts_ns(&mono) - v.as_of;
    if (elapsed < -CAUSALITY_NS) {
        return -1;
    }
    elapsed = elapsed < 0 ? 0 : elapsed;
    r->status = v.status;
    if (v.status == 1 || v.status == 2) {
        r->status = elapsed < GRACE_NS ? v.status :
                    guest_ts_ns(&mono) < v.void_after ? 2 : 0;
    }
    if (marker_check && v.support &&
        (pvclock_get_info(pc, &info) || info.generation != v.marker)) {
        r->status = 0;
    }
    e = v.bound + (int64_t)((__int128)elapsed * v.drift / 1000000000);
    r->earliest = guest_ts_ns(&real) - e;
    r->latest = guest_ts_ns(&real) + e;
    if (pvclock_gettime_at(pc, CLOCK_REALTIME, c1, &a) > PVCLOCK_ESTALE ||
        pvclock_gettime_at(pc, CLOCK_REALTIME, c2, &b) > PVCLOCK_ESTALE) {
        r->dev_lo = r->dev_hi = 0;
    } else {
        r->dev_lo = guest_ts_ns(&a);
        r->dev_hi = guest_ts_ns(&b);
    }
    return 0;
}

static void fmt_ns(char *buf, size_t len, int64_t ns)
{
    snprintf(buf, len, "%lld.%09lld", (long long)(ns / 1000000000),
             (long long)(ns % 1000000000));
}

/* "C ...": the writer's utime + stime from /proc, and how long it ran. */
static void reply_cpu(int fd)
{
    char path[64], buf[1024], reply[128];
    unsigned long long ut = 0, stt = 0, start = 0;
    long long run_ns;
    double up = 0;
    FILE *f = fopen("/run/clockbound.pid", "r");
    int pid = 0;

    if (f) {
        if (fscanf(f, "%d", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f && fgets(buf, sizeof(buf), f)) {
        char *q = strrchr(buf, ')');

        /* after "pid (comm)": state is field 3, utime 14, stime 15,
         * starttime 22 */
        if (q) {
            sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                   "%llu %llu %*d %*d %*d %*d %*d %*d %llu", &ut, &stt,
                   &start);
        }
    }
    if (f) {
        fclose(f);
    }
    f = fopen("/proc/uptime", "r");
    if (f) {
        if (fscanf(f, "%lf", &up) != 1) {
            up = 0;
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%lld", &run_ns) != 1) {
        run_ns = -1;
    }
    if (f) {
        fclose(f);
    }
    snprintf(reply, sizeof(reply), "C %llu %ld %.2f %lld\n", ut + stt,
             sysconf(_SC_CLK_TCK),
             up - (double)start / sysconf(_SC_CLK_TCK), run_ns);
    line_write(fd, reply, strlen(reply));
}

/* "T": step the guest's clock by the offset the device measures. */
static void reply_step(struct pvclock *pc, int fd)
{
    const struct guest_clock sys = {
        .name = "system", .id = CLOCK_REALTIME, .fd = -1,
    };
    struct guest_clock_sample cs;
    struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
    char reply[96];
    int64_t d = 0;
    int err = guest_clock_sample(pc, &sys, &cs);

    if (!err) {
        d = -cs.offset;
        tx.time.tv_sec = d / 1000000000;
        tx.time.tv_usec = d % 1000000000;
        if (tx.time.tv_usec < 0) {
            tx.time.tv_sec -= 1;
            tx.time.tv_usec += 1000000000;
        }
        err = clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? PVCLOCK_ECLOCK : 0;
    }
    snprintf(reply, sizeof(reply), "T %lld %s\n", (long long)d,
             guest_err_name(err));
    line_write(fd, reply, strlen(reply));
}

static int clockbound_check_run(struct pvclock *pc, const struct guest_opts *o)
{
    const char *path = o->shm ? o->shm : "/var/run/clockbound/shm0";
    const volatile void *p = NULL;
    int marker_check = o->vmclock && !strcmp(o->vmclock, "device") &&
                       !getenv("PVCLOCK_CLOCKBOUND_BREAK_CLIENT");
    char line[128], reply[256], e[32], l[32];
    int fd;

    if (!o->tty) {
        fprintf(stderr, "clockbound-check: needs --tty DEVICE\n");
        return 2;
    }
    fd = serve_open_tty(o->tty);
    if (fd < 0) {
        return 1;
    }
    printf("pvclock-guest: ready (clockbound-check on %s, marker %s)\n", path,
           marker_check ? "checked against the device" : "not checked");
    fflush(stdout);
    for (;;) {
        struct cb_now r = { 0 };
        unsigned long long n;
        int64_t slack;

        if (line_read(fd, line, sizeof(line), -1) <= 0) {
            return 1;
        }
        if (!strcmp(line, "X")) {
            return 0;
        }
        if (!strcmp(line, "T")) {
            reply_step(pc, fd);
            continue;
        }
        if (!strcmp(line, "C")) {
            reply_cpu(fd);
            continue;
        }
        if (sscanf(line, "B %llu", &n) != 1) {
            continue;
        }
        if (!p) {
            p = seg_open(path);
        }
        if (!p || cb_now(pc, p, marker_check, &r) < 0) {
            snprintf(reply, sizeof(reply), "B %llu 0.0 0.0 -1 0 0\n", n);
        } else {
            slack = r.dev_lo - r.earliest < r.latest - r.dev_hi ?
                    r.dev_lo - r.earliest : r.latest - r.dev_hi;
            fmt_ns(e, sizeof(e), r.earliest);
            fmt_ns(l, sizeof(l), r.latest);
            snprintf(reply, sizeof(reply), "B %llu %s %s %d %d %lld\n", n, e,
                     l, r.status, r.dev_lo && slack >= 0, (long long)slack);
        }
        if (line_write(fd, reply, strlen(reply)) < 0) {
            return 1;
        }
    }
}

const struct guest_command clockbound_check_command = {
    .name = "clockbound-check",
    .usage = "--tty DEVICE [--shm PATH] [--vmclock device]",
    .help =
"clockbound-check: a ClockBound client from the protocol, answering the\n"
"                  host's \"B n\" with [earliest, latest] and the status\n",
    .needs_tty = 1,
    .run = clockbound_check_run,
};
