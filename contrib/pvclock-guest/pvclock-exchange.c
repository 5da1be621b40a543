/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvclock-exchange: the host side of a time exchange with a guest
 * running `pvclock-guest serve` (protocol in pvclock-guest.c).
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* The host's REALTIME: clock_gettime(), or a (simulated) host's pages. */
static struct pvclock host_pages;
static int use_host_pages;

static int64_t now_ns(void)
{
    struct timespec ts;

    if (use_host_pages) {
        int err = pvclock_gettime(&host_pages, CLOCK_REALTIME, &ts);

        if (err && err != PVCLOCK_ESTALE) {
            fprintf(stderr, "pvclock-exchange: host pages: %s\n",
                    pvclock_strerror(err));
            exit(2);
        }
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    return ts_ns(&ts);
}

static void print_ns(int64_t ns)
{
    printf("%lld.%09lld", (long long)(ns / 1000000000),
           (long long)(ns % 1000000000));
}

/* Read a line with a deadline; 1 ok, 0 timeout/EOF, -1 error. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;

    while (n + 1 < len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;
        int r = poll(&p, 1, timeout_ms);

        if (r <= 0) {
            return r;
        }
        if (read(fd, &c, 1) != 1) {
            return 0;
        }
        if (c == '\r') {
            continue;
        }
        if (c == '\n') {
            break;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "rounds", required_argument, NULL, 'n' },
        { "show", required_argument, NULL, 'w' },
        { "quit", no_argument, NULL, 'q' },
        { "host-pages", required_argument, NULL, 'p' },
        { "watch", no_argument, NULL, 'W' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = getenv("GUEST_SOCKET");
    long rounds = 20, show = 5;
    int quit = 0, watch = 0, opt, fd, violations = 0, errors = 0;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int64_t *rtt, max_ahead = INT64_MIN, max_behind = INT64_MIN;

    while ((opt = getopt_long(argc, argv, "s:n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'n':
            rounds = strtol(optarg, NULL, 10);
            break;
        case 'w':
            show = strtol(optarg, NULL, 10);
            break;
        case 'q':
            quit = 1;
            break;
        case 'p':
            if (pvclock_open_host(&host_pages, optarg)) {
                fprintf(stderr, "pvclock-exchange: cannot read host pages "
                        "%s\n", optarg);
                return 2;
            }
            use_host_pages = 1;
            break;
        case 'W':
            watch = 1;
            break;
        case 'h':
            printf("Usage: pvclock-exchange [--socket PATH] [--rounds N] "
                   "[--show N] [--quit]\n"
                   "Exchange CLOCK_REALTIME stamps with `pvclock-guest "
                   "serve` over a QEMU serial socket\n"
                   "(default $GUEST_SOCKET) and check host before <= guest "
                   "<= host after in every round.\n"
                   "--quit tells the guest program to exit afterwards.\n"
                   "--host-pages FILE: the host's time from a pages file "
                   "(a simulated host) instead of clock_gettime().\n"
                   "--watch: then ask the guest's clock watcher for its "
                   "counts (serve --watch) and print them.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (!path || rounds < 1 || rounds > 100000000) {
        fprintf(stderr, "pvclock-exchange: need --socket PATH (or "
                "GUEST_SOCKET) and 1 <= --rounds <= 1e8\n");
        return 2;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "pvclock-exchange: socket path too long: %s\n", path);
        return 2;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "pvclock-exchange: cannot connect to %s: %s\n", path,
                strerror(errno));
        return 1;
    }
    rtt = calloc((size_t)rounds, sizeof(*rtt));
    if (!rtt) {
        return 1;
    }

    printf("%6s  %-21s %-21s %-21s %12s %12s\n", "round", "host before",
           "guest pvclock", "host after", "guest-before", "after-guest");
    for (long i = 0; i < rounds; i++) {
        char req[64], line[160], status[32];
        unsigned long long n;
        long long gsec, gnsec;
        int64_t before, after, guest;
        int r;

        snprintf(req, sizeof(req), "Q %ld\n", i);
        before = now_ns();
        if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
            fprintf(stderr, "pvclock-exchange: write: %s\n", strerror(errno));
            return 1;
        }
        do {
            r = read_line(fd, line, sizeof(line), 20000);
            if (r <= 0) {
                fprintf(stderr, "pvclock-exchange: no answer from the guest "
                        "for round %ld within 20 s\n", i);
                return 1;
            }
        } while (sscanf(line, "R %llu %lld.%lld %31s", &n, &gsec, &gnsec,
                        status) != 4 || n != (unsigned long long)i);
        after = now_ns();
        guest = gsec * 1000000000 + gnsec;
        rtt[i] = after - before;
        if (strcmp(status, "ok") != 0) {
            errors++;
            printf("%6ld  guest error %s\n", i, status);
            continue;
        }
        if (guest < before || guest > after) {
            violations++;
        }
        if (guest - before > max_ahead) {
            max_ahead = guest - before;
        }
        if (after - guest > max_behind) {
            max_behind = after - guest;
        }
        if (i < show || guest < before || guest > after) {
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
    }
    if (watch) {
        char line[256];

        (void)!write(fd, "W\n", 2);
        while (read_line(fd, line, sizeof(line), 5000) > 0) {
            if (!strncmp(line, "S ", 2)) {
                printf("watch: %s\n", line + 2);
                break;
            }
        }
    }
    if (quit) {
        (void)!write(fd, "X\n", 2);
    }
    close(fd);

    qsort(rtt, (size_t)rounds, sizeof(*rtt), cmp_i64);
    printf("exchange: %ld rounds, %d violations of host before <= guest <= "
           "host after, %d guest errors\n", rounds, violations, errors);
    printf("exchange: round trip min %.6f ms, median %.6f ms, max %.6f ms\n",
           rtt[0] / 1e6, rtt[rounds / 2] / 1e6, rtt[rounds - 1] / 1e6);
    printf("exchange: largest guest-before %.6f ms, largest after-guest "
           "%.6f ms\n", max_ahead / 1e6, max_behind / 1e6);
    free(rtt);
    return violations || errors ? 1 : 0;
}
