/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest serve: answer the host's time queries over a serial line
 * (the host side is pvclock-exchange).  One line each way, ASCII:
 *   host -> guest   "Q <n>"    read CLOCK_REALTIME now (the device's, or
 *                              the --clock given: the system's or a PHC)
 *   guest -> host   "R <n> <sec>.<nsec9> <errno-name>"
 *   host -> guest   "W"        the watcher's counts so far
 *   guest -> host   "S <summary>; <n> BAR writes"
 *   host -> guest   "X"        exit
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "guest.h"
#include "line.h"

static int set_raw(int fd)
{
    struct termios t;

    if (tcgetattr(fd, &t) < 0) {
        return -1;
    }
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    return tcsetattr(fd, TCSANOW, &t);
}

/* The serial line, raw; -1 after a message. */
int serve_open_tty(const char *tty)
{
    int fd = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "pvclock-guest: cannot open %s: %s\n", tty,
                strerror(errno));
        return -1;
    }
    if (set_raw(fd) < 0) {
        fprintf(stderr, "pvclock-guest: cannot set %s to raw mode: %s\n",
                tty, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * "S ...": the watcher's counts and the sidekick's BAR writes (0 without
 * one: the reply keeps one format for every reader).
 */
static int reply_watch(int fd, const struct guest_opts *o,
                       const struct serve_sidekick *sk)
{
    char sum[400], reply[512];

    watch_summary(sum, sizeof(sum));
    snprintf(reply, sizeof(reply), "S %s; %llu BAR writes\n",
             o->watch ? sum : "no watcher (serve --watch)",
             sk ? sk->count() : 0ull);
    return line_write(fd, reply, strlen(reply));
}

/* Answer queries until "X" (0) or the line fails (1, after a message). */
static int serve_loop(struct pvclock *pc, int fd, const struct guest_opts *o,
                      const struct guest_clock *gc,
                      const struct serve_sidekick *sk)
{
    char line[128], reply[512];

    for (;;) {
        struct timespec ts = { 0, 0 };
        unsigned long long n;
        int err;

        if (line_read(fd, line, sizeof(line), -1) <= 0) {
            fprintf(stderr, "pvclock-guest: %s closed\n", o->tty);
            return 1;
        }
        if (strcmp(line, "X") == 0) {
            return 0;
        }
        if (strcmp(line, "W") == 0) {
            if (reply_watch(fd, o, sk) < 0) {
                return 0;
            }
            continue;
        }
        if (sscanf(line, "Q %llu", &n) != 1) {
            continue;   /* line noise before the host connected */
        }
        /* Read the clock as late as possible: right before replying. */
        err = guest_clock_read(pc, gc, &ts);
        snprintf(reply, sizeof(reply), "R %llu %lld.%09ld %s\n", n,
                 (long long)ts.tv_sec, ts.tv_nsec, guest_err_name(err));
        if (line_write(fd, reply, strlen(reply)) < 0) {
            fprintf(stderr, "pvclock-guest: write to %s: %s\n", o->tty,
                    strerror(errno));
            return 1;
        }
    }
}

int serve_with(struct pvclock *pc, const struct guest_opts *o,
               const struct serve_sidekick *sk)
{
    struct guest_clock gc;
    int fd, ret;

    if (guest_clock_open(o->clock, &gc) < 0) {
        return 2;
    }
    fd = serve_open_tty(o->tty);
    if (fd < 0) {
        guest_clock_close(&gc);
        return 1;
    }
    show_run(pc, o);
    if ((o->watch && watch_start(pc) < 0) || (sk && sk->start(o) < 0)) {
        close(fd);
        guest_clock_close(&gc);
        return 1;
    }
    if (!gc.device) {
        printf("pvclock-guest: answering with %s\n", gc.name);
    }
    printf("pvclock-guest: ready\n");
    fflush(stdout);

    ret = serve_loop(pc, fd, o, &gc, sk);
    close(fd);
    guest_clock_close(&gc);
    if (ret) {
        return ret;
    }
    if (sk) {
        sk->stop();
    }
    return o->watch ? watch_stop() : 0;
}

static int serve_run(struct pvclock *pc, const struct guest_opts *o)
{
    return serve_with(pc, o, NULL);
}

const struct guest_command serve_command = {
    .name = "serve",
    .usage = "--tty DEVICE [--watch] "
             "[--clock device|system|/dev/ptpN|/dev/vmclockN]",
    .help =
"serve: answer host time queries (pvclock-exchange)\n"
"  --tty DEVICE     the serial line to answer them on\n"
"  --clock C        answer with: device (the host's REALTIME through the\n"
"                   device, default), system (this guest's CLOCK_REALTIME)\n"
"                   or a PTP clock's path, or a VMClock page's\n"
"                   (/dev/vmclockN: its UTC)\n"
"  --watch          a thread reads all five clocks and counts steps back\n",
    .needs_tty = 1,
    .run = serve_run,
};
