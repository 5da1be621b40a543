/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest-test hammer: serve, while a thread writes all over the
 * BAR, in every size, as fast as it can.  The device must ignore every
 * write: the watcher (--watch) keeps reading good clocks and the host's
 * file is untouched (tests/guest/test-hammer.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"

static struct {
    char path[256];
    pthread_t thread;
    volatile int stop;
    unsigned long long writes;
} hammer;

/* One write of a random size at a random offset, x the xorshift state. */
static void hammer_write(volatile uint8_t *bar, uint64_t *x)
{
    size_t off;

    *x ^= *x << 13;         /* xorshift: offsets and values */
    *x ^= *x >> 7;
    *x ^= *x << 17;
    off = (size_t)(*x % PVCP_BAR_SIZE) & ~(size_t)7;
    switch (*x >> 62) {
    case 0:
        *(volatile uint64_t *)(bar + off) = *x;
        break;
    case 1:
        *(volatile uint32_t *)(bar + off) = (uint32_t)*x;
        break;
    case 2:
        *(volatile uint16_t *)(bar + off) = (uint16_t)*x;
        break;
    default:
        bar[off] = (uint8_t)*x;
        break;
    }
}

static void *hammer_thread(void *arg)
{
    int fd = open(hammer.path, O_RDWR | O_CLOEXEC);
    volatile uint8_t *bar;
    uint64_t x = 88172645463325252ull;

    (void)arg;
    if (fd < 0) {
        fprintf(stderr, "pvclock-guest: hammer: cannot open %s: %s\n",
                hammer.path, strerror(errno));
        return NULL;
    }
    bar = mmap(NULL, PVCP_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (bar == MAP_FAILED) {
        fprintf(stderr, "pvclock-guest: hammer: cannot map %s writable: "
                "%s\n", hammer.path, strerror(errno));
        return NULL;
    }
    while (!hammer.stop) {
        hammer_write(bar, &x);
        hammer.writes++;
    }
    munmap((void *)bar, PVCP_BAR_SIZE);
    return NULL;
}

static int hammer_start(const struct guest_opts *o)
{
    if (o->resource) {
        snprintf(hammer.path, sizeof(hammer.path), "%s", o->resource);
    } else if (pvclock_find_pci(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID, 0, 0,
                                hammer.path, sizeof(hammer.path))) {
        fprintf(stderr, "pvclock-guest: hammer: no device\n");
        return -1;
    }
    if (pthread_create(&hammer.thread, NULL, hammer_thread, NULL)) {
        fprintf(stderr, "pvclock-guest: cannot start the hammer\n");
        return -1;
    }
    return 0;
}

static void hammer_stop(void)
{
    hammer.stop = 1;
    pthread_join(hammer.thread, NULL);
    printf("pvclock-guest: hammer %llu writes to the BAR\n", hammer.writes);
}

static unsigned long long hammer_count(void)
{
    return hammer.writes;
}

static const struct serve_sidekick hammer_sidekick = {
    .start = hammer_start,
    .stop = hammer_stop,
    .count = hammer_count,
};

static int hammer_run(struct pvclock *pc, const struct guest_opts *o)
{
    return serve_with(pc, o, &hammer_sidekick);
}

const struct guest_command hammer_command = {
    .name = "hammer",
    .usage = "--tty DEVICE [--watch]",
    .help =
"hammer: serve (its --tty and --watch) while a thread writes all over\n"
"  the BAR (the device must ignore every write)\n",
    .needs_tty = 1,
    .run = hammer_run,
};
