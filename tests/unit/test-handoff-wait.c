/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The wait for a helper's answer on its socket (pvcp_handoff_receive(),
 * shared by libpvclock, the device and the helper's tools) lasts as
 * long as it was asked to, signals or not: a process that takes signals
 * (QEMU does) must not see a live but busy helper as silent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvclock.h"
#include "tap.h"

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A socket that accepts connections (the backlog does) and never answers. */
static int silent_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(fd, 8)) {
        perror("silent socket");
        exit(2);
    }
    return fd;
}

/* pvclock_pages_fd() on it for wait_ms, with SIGALRM every 10 ms or not. */
static int64_t waited(const char *path, int wait_ms, int signals, int *err)
{
    struct itimerval it = { { 0, 10000 }, { 0, 10000 } }, off = { 0 };
    int64_t t0;
    int fd;

    if (signals) {
        setitimer(ITIMER_REAL, &it, NULL);
    }
    t0 = mono_ms();
    fd = pvclock_pages_fd(path, wait_ms);
    *err = errno;
    setitimer(ITIMER_REAL, &off, NULL);
    if (fd >= 0) {
        close(fd);
    }
    return fd >= 0 ? -1 : mono_ms() - t0;
}

int main(void)
{
    char path[] = "/tmp/pvclock-test-handoff-wait.sock";
    struct sigaction sa;
    int lfd = silent_socket(path), err;
    int64_t ms;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;   /* no SA_RESTART: poll() sees EINTR */
    sigaction(SIGALRM, &sa, NULL);

    ms = waited(path, 300, 0, &err);
    tap_ok(ms >= 295 && err == ETIMEDOUT,
           "a silent helper: ETIMEDOUT after the 300 ms asked (%lld ms)",
           (long long)ms);
    ticks = 0;
    ms = waited(path, 300, 1, &err);
    tap_ok(ms >= 295 && err == ETIMEDOUT && ticks >= 5,
           "with SIGALRM every 10 ms: still the whole 300 ms (%lld ms, %d "
           "signals)", (long long)ms, (int)ticks);
    tap_ok(ms < 1000, "and no more than about that (%lld ms)", (long long)ms);
    close(lfd);
    unlink(path);
    return tap_done();
}
