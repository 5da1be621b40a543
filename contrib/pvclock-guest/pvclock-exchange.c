/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-exchange: the host side of a time exchange with a guest
 * running `pvclock-guest serve` (protocol in serve.c).
 *
 * Each round the host reads CLOCK_REALTIME, asks the guest for its
 * pvclock REALTIME, and reads CLOCK_REALTIME again when the answer
 * arrives.  The guest's reading happened between the two host readings,
 * so with exact clocks  before <= guest <= after  must hold every time;
 * a guest clock that is off by more than the round trip breaks it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "host-page.h"
#include "line.h"

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * The host's REALTIME (or TAI): clock_gettime(), or page 0 of a pages
 * file, a simulated host's (host-page.h: sim applied there).
 */
static const volatile struct pvcp_host_page *host_page;
static clockid_t host_clock = CLOCK_REALTIME;

static int64_t host_page_now(void)
{
    int64_t ns;
    int bad = host_page_ns(host_page, host_clock == CLOCK_TAI, &ns);

    if (bad) {
        fprintf(stderr, "pvclock-exchange: host pages: %s\n",
                bad < 0 ? "the helper kept seq odd"
                        : pvcp_bad_why((unsigned)bad));
        exit(2);
    }
    return ns;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    if (host_page) {
        return host_page_now();
    }
    clock_gettime(host_clock, &ts);
    return ts_ns(&ts);
}

static void print_ns(int64_t ns)
{
    printf("%lld.%09lld", (long long)(ns / 1000000000),
           (long long)(ns % 1000000000));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

struct exchange_opts {
    const char *path;       /* the guest's serial socket */
    long rounds, show;
    int quit, watch;
};

static void usage(void)
{
    printf("Usage: pvclock-exchange [--socket PATH] [--rounds N] "
           "[--show N] [--quit]\n"
           "Exchange CLOCK_REALTIME stamps with `pvclock-guest "
           "serve` over a QEMU serial socket\n"
           "(default $GUEST_SOCKET) and check host before <= guest "
           "<= host after in every round.\n"
           "--quit tells the guest program to exit afterwards.\n"
           "--host-pages PATH: the host's time from a pages file or "
           "a helper's --socket\n(a simulated host) instead of "
           "clock_gettime().\n"
           "--watch: then ask the guest's clock watcher for its "
           "counts (serve --watch) and print them.\n"
           "--tai: compare with the host's CLOCK_TAI (a guest clock "
           "that keeps TAI, ptp_vmclock's PHC).\n");
}

/* 0 to go on, or 1 + the exit status (--help: 0, bad options: 2). */
static int parse_args(int argc, char **argv, struct exchange_opts *o)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "rounds", required_argument, NULL, 'n' },
        { "show", required_argument, NULL, 'w' },
        { "quit", no_argument, NULL, 'q' },
        { "host-pages", required_argument, NULL, 'p' },
        { "watch", no_argument, NULL, 'W' },
        { "tai", no_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct stat st;
    int opt;

    while ((opt = getopt_long(argc, argv, "s:n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            o->path = optarg;
            break;
        case 'n':
            o->rounds = strtol(optarg, NULL, 10);
            break;
        case 'w':
            o->show = strtol(optarg, NULL, 10);
            break;
        case 'q':
            o->quit = 1;
            break;
        case 'p':
            /* a pages file, or a helper's --socket: its memfd */
            host_page = stat(optarg, &st) == 0 && S_ISSOCK(st.st_mode)
                        ? host_page_map_fd(pvclock_pages_fd(optarg, 2000))
                        : host_page_map(optarg);
            if (!host_page) {
                fprintf(stderr, "pvclock-exchange: cannot read host pages "
                        "%s\n", optarg);
                return 1 + 2;
            }
            break;
        case 'W':
            o->watch = 1;
            break;
        case 'T':
            host_clock = CLOCK_TAI;
            break;
        case 'h':
            usage();
            return 1 + 0;
        default:
            return 1 + 2;
        }
    }
    return 0;
}

/* The guest's serial socket, connected; -1 after a message. */
static int connect_guest(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    strcpy(sa.sun_path, path);      /* main() checked its length */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "pvclock-exchange: cannot connect to %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return fd;
}

/* What the rounds found. */
struct exchange_stats {
    int violations, errors;
    int64_t *rtt, max_ahead, max_behind;
};

/* The guest's REALTIME for round i in *guest: 0, or -1 after a message. */
static int ask_guest(int fd, long i, int64_t *guest, char *status, size_t len)
{
    char req[64], line[160], st[32];
    unsigned long long n;
    long long gsec, gnsec;

    snprintf(req, sizeof(req), "Q %ld\n", i);
    if (line_write(fd, req, strlen(req)) < 0) {
        fprintf(stderr, "pvclock-exchange: write: %s\n", strerror(errno));
        return -1;
    }
    do {
        if (line_read(fd, line, sizeof(line), 20000) <= 0) {
            fprintf(stderr, "pvclock-exchange: no answer from the guest "
                    "for round %ld within 20 s\n", i);
            return -1;
        }
    } while (sscanf(line, "R %llu %lld.%lld %31s", &n, &gsec, &gnsec,
                    st) != 4 || n != (unsigned long long)i);
    *guest = gsec * 1000000000 + gnsec;
    snprintf(status, len, "%s", st);
    return 0;
}

static void print_round(long i, int64_t before, int64_t guest, int64_t after)
{
    printf("%6ld  ", i);
    print_ns(before);
    printf("  ");
    print_ns(guest);
    printf("  ");
    print_ns(after);
    printf(" %+12.6f %+12.6f%s\n", (guest - before) / 1e9,
           (after - guest) / 1e9,
           guest < before || guest > after ? "  VIOLATION" : "");
}

/* One round: host before, guest, host after; -1 if the guest is gone. */
static int exchange_round(int fd, long i, const struct exchange_opts *o,
                          struct exchange_stats *st)
{
    int64_t before, after, guest;
    char status[32];

    before = now_ns();
    if (ask_guest(fd, i, &guest, status, sizeof(status)) < 0) {
        return -1;
    }
    after = now_ns();
    st->rtt[i] = after - before;
    if (strcmp(status, "ok") != 0) {
        st->errors++;
        printf("%6ld  guest error %s\n", i, status);
        return 0;
    }
    if (guest < before || guest > after) {
        st->violations++;
    }
    if (guest - before > st->max_ahead) {
        st->max_ahead = guest - before;
    }
    if (after - guest > st->max_behind) {
        st->max_behind = after - guest;
    }
    if (i < o->show || guest < before || guest > after) {
        print_round(i, before, guest, after);
    }
    return 0;
}

/* The guest's watcher counts (serve --watch), printed as "watch: ...". */
static void ask_watch(int fd)
{
    char line[256];

    (void)!write(fd, "W\n", 2);
    while (line_read(fd, line, sizeof(line), 5000) > 0) {
        if (!strncmp(line, "S ", 2)) {
            printf("watch: %s\n", line + 2);
            break;
        }
    }
}

static void print_summary(long rounds, struct exchange_stats *st)
{
    qsort(st->rtt, (size_t)rounds, sizeof(*st->rtt), cmp_i64);
    printf("exchange: %ld rounds, %d violations of host before <= guest <= "
           "host after, %d guest errors\n", rounds, st->violations,
           st->errors);
    printf("exchange: round trip min %.6f ms, median %.6f ms, max %.6f ms\n",
           st->rtt[0] / 1e6, st->rtt[rounds / 2] / 1e6,
           st->rtt[rounds - 1] / 1e6);
    printf("exchange: largest guest-before %.6f ms, largest after-guest "
           "%.6f ms\n", st->max_ahead / 1e6, st->max_behind / 1e6);
}

int main(int argc, char **argv)
{
    struct exchange_opts o = {
        .path = getenv("GUEST_SOCKET"), .rounds = 20, .show = 5,
    };
    struct exchange_stats st = {
        .max_ahead = INT64_MIN, .max_behind = INT64_MIN,
    };
    int r, fd;

    /* Line by line: the rounds shown survive a caller's timeout(1). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    r = parse_args(argc, argv, &o);
    if (r) {
        return r - 1;
    }
    if (!o.path || o.rounds < 1 || o.rounds > 100000000) {
        fprintf(stderr, "pvclock-exchange: need --socket PATH (or "
                "GUEST_SOCKET) and 1 <= --rounds <= 1e8\n");
        return 2;
    }
    if (strlen(o.path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "pvclock-exchange: socket path too long: %s\n",
                o.path);
        return 2;
    }
    fd = connect_guest(o.path);
    st.rtt = fd < 0 ? NULL : calloc((size_t)o.rounds, sizeof(*st.rtt));
    if (!st.rtt) {
        return 1;
    }

    printf("%6s  %-21s %-21s %-21s %12s %12s\n", "round", "host before",
           "guest pvclock", "host after", "guest-before", "after-guest");
    for (long i = 0; i < o.rounds; i++) {
        if (exchange_round(fd, i, &o, &st) < 0) {
            return 1;
        }
    }
    if (o.watch) {
        ask_watch(fd);
    }
    if (o.quit) {
        (void)!write(fd, "X\n", 2);
    }
    close(fd);
    print_summary(o.rounds, &st);
    free(st.rtt);
    return st.violations || st.errors ? 1 : 0;
}
