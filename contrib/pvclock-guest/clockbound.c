/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest clockbound: write AWS ClockBound's shared-memory segment
 * (protocol 2, clockbound.h) from the device, for ClockBound clients
 * (YugabyteDB's time_source=clockbound, ...) with no chronyd and no
 * clockbound daemon in the guest.
 *
 * ClockBound clients widen the guest's own CLOCK_REALTIME by the bound,
 * so the bound is made of (docs/clockbound.md):
 *   - the host's own error, as libpvclock states it for REALTIME (the
 *     host's NTP maxerror, grown since the helper sampled it, plus the
 *     pages' drift allowance and rounding: pvclock_gettime_bounds());
 *   - how far the guest's CLOCK_REALTIME is from the host's at the
 *     rewrite, measured through the device: the guest's clock read
 *     between two counter reads, each turned into host time
 *     (guest_clock_sample()), |offset| + half that bracket;
 * and max_drift_ppb, how fast that may grow afterwards, of the host's
 * maxerror growth (the kernel's 500 ppm) plus the rate at which the
 * guest's clock was measured to leave the host's (two samples one
 * rewrite apart, their brackets' uncertainty included) plus a margin for
 * that rate to change before the next rewrite.
 *
 * The status: Synchronized while the device is valid and the host's
 * clock synchronised; FreeRunning with the bound still growing while
 * the host's helper is stale; Unknown when the host says unsynchronised,
 * the device is not valid or unreliable, or no guest rate has been
 * measured yet; Disrupted, at once, when the device's disruption count
 * moves.  disruption_marker is that count (or VMClock's marker, with
 * --vmclock, for clients that check /dev/vmclock0).
 *
 * It rewrites every --interval-ms and on events: the driver's poll()
 * wakeup on a disruption, a generation or status change seen at a
 * --check-ms tick (without the driver's node there is no interrupt to
 * wait on), and a step of the guest's clock (a timerfd cancelled on
 * clock_settime()).
 */
#define _GNU_SOURCE     /* clock_adjtime() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <unistd.h>

#include "clockbound.h"
#include "guest.h"

/* The host kernel's maxerror grows by MAXFREQ, 500 us per second. */
#define CB_HOST_GROWTH_PPB      500000u
/* How much the guest clock's rate may change between two rewrites. */
#define CB_RATE_MARGIN_PPB      15000u
/* No rate yet, or one the guest cannot be trusted with: Unknown. */
#define CB_RATE_MAX_PPB         10000000u
/* The first rate after a start or a disruption: two samples this apart. */
#define CB_SETTLE_NS            100000000ll
/* --set-clock steps the guest's clock when it is further off than this. */
#define CB_SET_CLOCK_NS         1000000ll
/* After the writer stops, clients fall to Unknown this long after as_of. */
#define CB_VOID_AFTER_S         60
/* The bound written with Unknown and Disrupted, in case a client ignores
 * the status: 10^6 s, far beyond any clock, far from overflow. */
#define CB_NO_BOUND_NS          1000000000000000ll

/* cb_sample(): the device was disrupted while it measured */
#define CB_RETRY                (-1000)

struct cb_sample {
    int64_t host_ns;            /* host REALTIME at the guest clock's read */
    int64_t offset;             /* guest CLOCK_REALTIME - host, ns */
    int64_t bracket;
    uint64_t generation;
};

struct cb_writer {
    volatile struct cb_segment *seg;
    struct pvclock *pc;
    const struct guest_opts *o;
    int node_fd;                /* the driver's /dev/pvclock-pagesN, or -1 */
    int set_fd;                 /* timerfd cancelled by clock_settime() */
    const volatile uint8_t *vmclock;    /* --vmclock page, or NULL */
    int support;                /* clock_disruption_support to write */
    uint64_t generation;        /* the device's count at the last write */
    uint32_t status;            /* the device's status then */
    int sync;                   /* libpvclock's sync state then */
    struct cb_sample prev;      /* the last sample, for the rate */
    int have_prev;
    unsigned long long writes, disruptions, steps;
    const char *breakage;       /* test knob: see clockbound_run() */
};

static int64_t mono_coarse_ns(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC_COARSE, ts);
    return guest_ts_ns(ts);
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/*
 * The segment's file: created with the header if missing or not a
 * version 2 segment, else kept as it is (clients have it mapped).
 */
static volatile struct cb_segment *cb_map(const char *path)
{
    struct cb_segment hdr;
    volatile struct cb_segment *seg;
    char dir[256];
    char *slash;
    int fd, fresh;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        for (char *p = dir + 1; *p; p++) {
            if (*p == '/') {
                *p = 0;
                mkdir(dir, 0755);
                *p = '/';
            }
        }
        mkdir(dir, 0755);
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "pvclock-guest: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    fresh = pread(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) ||
            hdr.magic[0] != CB_MAGIC0 || hdr.magic[1] != CB_MAGIC1 ||
            hdr.segsize != sizeof(hdr) || hdr.version != CB_VERSION;
    if (fresh) {
        memset(&hdr, 0, sizeof(hdr));
        hdr.magic[0] = CB_MAGIC0;
        hdr.magic[1] = CB_MAGIC1;
        hdr.segsize = sizeof(hdr);
        /* version 0 until mapped: a client takes it as not initialised */
        if (ftruncate(fd, 0) < 0 ||
            pwrite(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr)) {
            fprintf(stderr, "pvclock-guest: cannot write %s: %s\n", path,
                    strerror(errno));
            close(fd);
            return NULL;
        }
    }
    seg = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (seg == MAP_FAILED) {
        fprintf(stderr, "pvclock-guest: cannot map %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    __atomic_store_n(&seg->version, CB_VERSION, __ATOMIC_RELEASE);
    return seg;
}

/* One update under the generation, as the protocol's readers expect. */
static void cb_publish(struct cb_writer *w, const struct cb_segment *body)
{
    volatile struct cb_segment *s = w->seg;
    uint16_t gen = __atomic_load_n(&s->generation, __ATOMIC_RELAXED);

    gen |= 1;
    __atomic_store_n(&s->generation, gen, __ATOMIC_RELAXED);
    /* the odd generation is seen before any field changes (pairs with
     * the reader's load of the body before its second generation read) */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->as_of[0] = body->as_of[0];
    s->as_of[1] = body->as_of[1];
    s->void_after[0] = body->void_after[0];
    s->void_after[1] = body->void_after[1];
    s->bound_nsec = body->bound_nsec;
    s->disruption_marker = body->disruption_marker;
    s->max_drift_ppb = body->max_drift_ppb;
    s->clock_status = body->clock_status;
    s->clock_disruption_support = body->clock_disruption_support;
    gen += 1;
    /* the body is complete before the even generation (release) */
    __atomic_store_n(&s->generation, gen ? gen : 2, __ATOMIC_RELEASE);
    w->writes++;
}

/* VMClock's disruption_marker (u64 at 0x10, under the u32 seq at 0x0c). */
static uint64_t vmclock_marker(const volatile uint8_t *p)
{
    for (;;) {
        uint32_t seq = __atomic_load_n((const volatile uint32_t *)(p + 0x0c),
                                       __ATOMIC_ACQUIRE);
        uint64_t m = *(const volatile uint64_t *)(p + 0x10);

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(seq & 1) &&
            *(const volatile uint32_t *)(p + 0x0c) == seq) {
            return m;
        }
    }
}

static uint64_t cb_marker(const struct cb_writer *w, uint64_t generation)
{
    return w->vmclock ? vmclock_marker(w->vmclock) : generation;
}

/*
 * What every write says besides the bound: as_of (CLOCK_MONOTONIC_COARSE),
 * void_after CB_VOID_AFTER_S later, the marker for generation, and
 * whether the marker is supported.
 */
static void cb_stamp(const struct cb_writer *w, struct cb_segment *b,
                     const struct timespec *as_of, uint64_t generation)
{
    int64_t ns = guest_ts_ns(as_of) + (int64_t)CB_VOID_AFTER_S * 1000000000;

    b->as_of[0] = as_of->tv_sec;
    b->as_of[1] = as_of->tv_nsec;
    b->void_after[0] = ns / 1000000000;
    b->void_after[1] = ns % 1000000000;
    b->disruption_marker = cb_marker(w, generation);
    b->clock_disruption_support = w->support;
}

static void cb_write_status(struct cb_writer *w, enum cb_status st,
                            uint64_t generation)
{
    struct cb_segment b = { 0 };
    struct timespec now;

    mono_coarse_ns(&now);
    cb_stamp(w, &b, &now, generation);
    b.bound_nsec = CB_NO_BOUND_NS;
    b.max_drift_ppb = 0;
    b.clock_status = st;
    cb_publish(w, &b);
}

/* The guest's clock against the host's, under one generation. */
static int cb_sample(struct cb_writer *w, struct cb_sample *s,
                     struct pvclock_info *info)
{
    const struct guest_clock sys = {
        .name = "system", .id = CLOCK_REALTIME, .fd = -1,
    };
    struct guest_clock_sample cs;
    struct pvclock_info after;
    int err = pvclock_get_info(w->pc, info);

    if (!err) {
        err = guest_clock_sample(w->pc, &sys, &cs);
    }
    if (!err) {
        err = pvclock_get_info(w->pc, &after);
    }
    if (err) {
        return err;
    }
    if (after.generation != info->generation) {
        return CB_RETRY;
    }
    s->host_ns = guest_ts_ns(&cs.clock) - cs.offset;
    s->offset = cs.offset;
    s->bracket = cs.bracket;
    s->generation = info->generation;
    return PVCLOCK_OK;
}

/*
 * Step the guest's clock to the host's (--set-clock): by the measured
 * offset, relative, so the time the step takes does not enter.
 */
static void cb_set_clock(struct cb_writer *w, const struct cb_sample *s)
{
    struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
    int64_t d = -s->offset;

    tx.time.tv_sec = d / 1000000000;
    tx.time.tv_usec = d % 1000000000;
    if (tx.time.tv_usec < 0) {
        tx.time.tv_sec -= 1;
        tx.time.tv_usec += 1000000000;
    }
    if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) {
        fprintf(stderr, "pvclock-guest: clockbound: cannot step the clock "
                "by %lld ns: %s\n", (long long)d, strerror(errno));
        return;
    }
    printf("pvclock-guest: clockbound: stepped the guest's clock by %lld ns\n",
           (long long)d);
    fflush(stdout);
    w->have_prev = 0;
}

/*
 * One rewrite: measure, and publish the bound, or Unknown if there is
 * none.  Returns the status written.
 */
static int cb_rewrite(struct cb_writer *w)
{
    struct cb_segment b = { 0 };
    struct pvclock_bounds bd;
    struct pvclock_info info;
    struct cb_sample s;
    struct timespec as_of;
    int64_t bound, slack, dt;
    uint64_t drift = 0;
    int err, st;

    /* as_of before the measurement: a client's elapsed time only grows */
    mono_coarse_ns(&as_of);
    err = cb_sample(w, &s, &info);
    if (err == CB_RETRY) {
        return -1;              /* a disruption during it: the caller sees */
    }
    if (!err || err == PVCLOCK_ESTALE) {
        err = pvclock_gettime_bounds(w->pc, CLOCK_REALTIME, 0, &bd);
    }
    w->status = err ? PVCP_STATUS_INVALID : info.status;
    w->sync = err && err != PVCLOCK_ESTALE ? -1 : (int)bd.sync;
    if ((err && err != PVCLOCK_ESTALE) || bd.error_ns == UINT64_MAX) {
        w->have_prev = 0;
        cb_write_status(w, CB_STATUS_UNKNOWN, info.generation);
        return CB_STATUS_UNKNOWN;
    }
    if (w->o->set_clock && abs64(s.offset) > CB_SET_CLOCK_NS) {
        cb_set_clock(w, &s);
        if (cb_sample(w, &s, &info)) {
            return -1;
        }
    }
    st = bd.sync == PVCLOCK_SYNC_STALE ? CB_STATUS_FREE_RUNNING
                                       : CB_STATUS_SYNCHRONIZED;
    /* the rate the guest's clock leaves the host's, and its uncertainty */
    dt = s.host_ns - w->prev.host_ns;
    if (w->have_prev && dt > 0) {
        int64_t d = abs64(s.offset - w->prev.offset) +
                    (s.bracket + w->prev.bracket) / 2 + 1;

        drift = (uint64_t)((__int128)d * 1000000000 / dt) + 1;
    }
    if (!w->have_prev || dt <= 0 || drift > CB_RATE_MAX_PPB) {
        /* no rate yet: say Unknown, measure again shortly */
        w->prev = s;
        w->have_prev = 1;
        cb_write_status(w, CB_STATUS_UNKNOWN, info.generation);
        return CB_STATUS_UNKNOWN;
    }
    w->prev = s;
    drift += CB_HOST_GROWTH_PPB + CB_RATE_MARGIN_PPB;
    slack = abs64(s.offset) + s.bracket / 2 + 1;
    if (w->breakage && !strcmp(w->breakage, "offset")) {
        slack = 0;              /* test knob: the bound without the offset */
    }
    bound = (int64_t)bd.error_ns + slack;
    cb_stamp(w, &b, &as_of, info.generation);
    b.bound_nsec = bound;
    b.max_drift_ppb = (uint32_t)drift;
    b.clock_status = st;
    cb_publish(w, &b);
    return st;
}

/* A timerfd that reads ECANCELED once someone sets CLOCK_REALTIME. */
static int cb_arm_set_timer(int fd)
{
    struct itimerspec its = { .it_value = { .tv_sec = (time_t)1 << 40 } };

    return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
                           &its, NULL);
}

static int cb_open_node(struct pvclock *pc, const char *resource)
{
    char path[256];

    if (pvclock_mapping(pc) != PVCLOCK_MAP_DEVICE) {
        return -1;
    }
    if (resource) {
        snprintf(path, sizeof(path), "%s", resource);
    } else if (pvclock_find_device(path, sizeof(path))) {
        return -1;
    }
    return open(path, O_RDONLY | O_CLOEXEC);
}

static const volatile uint8_t *cb_map_vmclock(const char *path)
{
    void *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "pvclock-guest: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED || *(volatile uint32_t *)m != 0x4b4c4356u) {
        fprintf(stderr, "pvclock-guest: %s is not a VMClock page\n", path);
        return NULL;
    }
    return m;
}

/*
 * The options checked, the segment mapped, the driver's node and the
 * clock-set timer opened, the device's disruption count taken: 0, or
 * the command's exit status after a message.
 */
static int cb_setup(struct cb_writer *w, const char *path)
{
    const struct guest_opts *o = w->o;
    struct pvclock_info info;

    if (o->interval_ms < 10 || o->interval_ms > 4000) {
        fprintf(stderr, "pvclock-guest: clockbound needs --interval-ms from "
                "10 to 4000 (clients treat a segment older than 5 s as "
                "free-running)\n");
        return 2;
    }
#ifdef PVCLOCK_GUEST_TEST
    /*
     * The test build's broken variants (pvclock-guest-test clockbound,
     * tests/migration/guest_clockbound.py): "offset" leaves the guest's
     * offset out of the bound, "rewrite" ignores disruptions.  Not in
     * pvclock-guest.
     */
    w->breakage = getenv("PVCLOCK_CLOCKBOUND_BREAK");
#endif
    /* --vmclock device: the marker is the device's count, for clients
     * that check it against the device rather than /dev/vmclockN */
    w->support = o->vmclock != NULL;
    if (o->vmclock && strcmp(o->vmclock, "device") &&
        !(w->vmclock = cb_map_vmclock(o->vmclock))) {
        return 1;
    }
    w->seg = cb_map(path);
    if (!w->seg) {
        return 1;
    }
    w->node_fd = cb_open_node(w->pc, o->resource);
    w->set_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    if (w->set_fd >= 0 && cb_arm_set_timer(w->set_fd) < 0) {
        close(w->set_fd);
        w->set_fd = -1;
    }
    if (pvclock_get_info(w->pc, &info) == PVCLOCK_OK) {
        w->generation = info.generation;
    }
    printf("pvclock-guest: clockbound: writing %s every %ld ms; disruptions "
           "%s; marker %s\n", path, o->interval_ms,
           w->node_fd >= 0 ? "from the driver's interrupt" :
           "checked every --check-ms (no driver node)",
           w->vmclock ? o->vmclock : "the device's disruption count");
    fflush(stdout);
    return 0;
}

/* A new disruption count: Disrupted at once, then measure anew. */
static void cb_disrupted(struct cb_writer *w, uint64_t generation)
{
    w->generation = generation;
    w->have_prev = 0;
    w->disruptions++;
    cb_write_status(w, CB_STATUS_DISRUPTED, generation);
    printf("pvclock-guest: clockbound: disruption (count %llu): "
           "disrupted until measured again\n",
           (unsigned long long)generation);
    fflush(stdout);
}

/*
 * Sleep up to wait_ms, or until the driver's interrupt or a step of the
 * guest's clock; 1 if the clock was stepped (the offset is new).
 */
static int cb_wait(struct cb_writer *w, int64_t wait_ms)
{
    struct pollfd pfd[2];
    int n = 0, stepped = 0;

    if (w->node_fd >= 0) {
        pfd[n++] = (struct pollfd){ .fd = w->node_fd, .events = POLLIN };
    }
    if (w->set_fd >= 0) {
        pfd[n++] = (struct pollfd){ .fd = w->set_fd, .events = POLLIN };
    }
    if (poll(pfd, n, wait_ms < 1 ? 1 : (int)wait_ms) <= 0) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (!pfd[i].revents) {
            continue;
        }
        if (pfd[i].fd == w->node_fd) {
            char c;

            /* acknowledge the event; the loop reads the count */
            if (pread(w->node_fd, &c, 1, 0) < 0 &&
                (pfd[i].revents & (POLLERR | POLLHUP))) {
                close(w->node_fd);
                w->node_fd = -1;
            }
        } else {
            uint64_t x;

            if (read(w->set_fd, &x, sizeof(x)) < 0 && errno == ECANCELED) {
                stepped = 1;
            }
            cb_arm_set_timer(w->set_fd);
        }
    }
    return stepped;
}

static int clockbound_run(struct pvclock *pc, const struct guest_opts *o)
{
    struct cb_writer w = { .pc = pc, .o = o, .node_fd = -1, .set_fd = -1 };
    const char *path = o->shm ? o->shm : CB_DEFAULT_PATH;
    long check_ms = o->check_ms > 0 ? o->check_ms : 100;
    int64_t last_write = 0;
    struct timespec ts;
    int last_st = -1, ret = cb_setup(&w, path);

    if (ret) {
        return ret;
    }
    for (;;) {
        struct pvclock_info info;
        int due, st;
        int64_t now = mono_coarse_ns(&ts), wait_ms;

        if (pvclock_get_info(pc, &info) != PVCLOCK_OK) {
            info.generation = w.generation;
            info.status = PVCP_STATUS_INVALID;
        }
        if (info.generation != w.generation &&
            !(w.breakage && !strcmp(w.breakage, "rewrite"))) {
            cb_disrupted(&w, info.generation);
            last_write = 0;
        }
        due = now - last_write >= o->interval_ms * 1000000ll ||
              (last_st == CB_STATUS_UNKNOWN && w.have_prev &&
               now - last_write >= CB_SETTLE_NS) ||
              info.status != w.status;
        if (due) {
            st = cb_rewrite(&w);
            if (st < 0) {
                continue;       /* disrupted while measuring: go round */
            }
            if (st != last_st) {
                printf("pvclock-guest: clockbound: status %d, bound %lld ns, "
                       "max drift %u ppb\n", st,
                       (long long)w.seg->bound_nsec, w.seg->max_drift_ppb);
                fflush(stdout);
            }
            last_st = st;
            last_write = mono_coarse_ns(&ts);
            now = last_write;
        }
        wait_ms = (last_write + o->interval_ms * 1000000ll - now) / 1000000;
        if (last_st == CB_STATUS_UNKNOWN && w.have_prev) {
            wait_ms = CB_SETTLE_NS / 1000000;
        }
        if (w.node_fd < 0 && wait_ms > check_ms) {
            wait_ms = check_ms;
        }
        if (cb_wait(&w, wait_ms)) {
            /* someone stepped the guest's clock: the offset is new */
            w.steps++;
            w.have_prev = 0;
            last_write = 0;
        }
    }
    return 0;
}

const struct guest_command clockbound_command = {
    .name = "clockbound",
    .usage = "[--shm PATH] [--interval-ms N] [--check-ms N] "
             "[--vmclock /dev/vmclockN] [--set-clock]",
    .help =
"clockbound: write AWS ClockBound's segment (protocol 2) from the device\n"
"  --shm PATH       the segment (default " CB_DEFAULT_PATH ")\n"
"  --interval-ms N  rewrite every N ms (default 1000, at most 4000)\n"
"  --check-ms N     without the driver's node, look for disruptions every\n"
"                   N ms (default 100)\n"
"  --vmclock PATH   take disruption_marker from this VMClock page and set\n"
"                   clock_disruption_support, for clients that check it\n"
"                   (\"device\": the device's count, for clients that\n"
"                   check the device)\n"
"  --set-clock      step the guest's CLOCK_REALTIME to the host's when it\n"
"                   is more than 1 ms off (start, disruptions), for\n"
"                   guests with neither the driver's step nor chronyd\n",
    .run = clockbound_run,
};
