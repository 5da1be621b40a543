/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmclock-check: what a program sees through /dev/vmclockN, Linux's
 * ptp_vmclock node for a VMClock device (QEMU's -device vmclock), for
 * the driver tests (tests/guest/test-driver.sh).  Static, no library:
 * the layout below is written from the VMClock ABI as Linux 7.x
 * documents it (include/uapi/linux/vmclock-abi.h, version 1), not
 * copied.
 *
 *   vmclock-check show PATH     map the page read-only, copy it under its
 *                               seq_count, print every field in one line
 *   vmclock-check poll PATH S   poll() the node for S s; say what it gave
 *
 * Exit status: 0 when the page is a VMClock page (magic, size, version),
 * 1 otherwise, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The VMClock page, little-endian, 112 bytes in version 1 (7.0's). */
struct vmclock_page {
    uint32_t magic;                     /* 0x00 "VCLK" */
    uint32_t size;                      /* 0x04 bytes of the region */
    uint16_t version;                   /* 0x08 1 */
    uint8_t counter_id;                 /* 0x0a 1 = x86 TSC, 0xff invalid */
    uint8_t time_type;                  /* 0x0b 0 UTC, 1 TAI, 2 monotonic */
    uint32_t seq_count;                 /* 0x0c odd while written */
    uint64_t disruption_marker;         /* 0x10 */
    uint64_t flags;                     /* 0x18 */
    uint8_t pad[2];                     /* 0x20 */
    uint8_t clock_status;               /* 0x22 */
    uint8_t smearing_hint;              /* 0x23 */
    int16_t tai_offset_sec;             /* 0x24 */
    uint8_t leap_indicator;             /* 0x26 */
    uint8_t counter_period_shift;       /* 0x27 */
    uint64_t counter_value;             /* 0x28 */
    uint64_t counter_period_frac_sec;   /* 0x30 2^-(64 + shift) s */
    uint64_t period_esterror;           /* 0x38 */
    uint64_t period_maxerror;           /* 0x40 */
    uint64_t time_sec;                  /* 0x48 */
    uint64_t time_frac_sec;             /* 0x50 2^-64 s */
    uint64_t time_esterror_ns;          /* 0x58 */
    uint64_t time_maxerror_ns;          /* 0x60 */
    uint64_t vm_generation_counter;     /* 0x68 (7.0) */
};

_Static_assert(sizeof(struct vmclock_page) == 0x70, "VMClock layout");

#define VMCLOCK_MAGIC               0x4b4c4356u
#define VMCLOCK_F_NOTIFICATION      (1ull << 9)

/* A consistent copy under seq_count (even and unchanged around it). */
static int copy_page(const volatile struct vmclock_page *p,
                     struct vmclock_page *c)
{
    for (int tries = 0; tries < 1000000; tries++) {
        uint32_t seq = p->seq_count;

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(c, (const void *)p, sizeof(*c));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(seq & 1) && p->seq_count == seq) {
            return 0;
        }
    }
    return -1;
}

static int show(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct vmclock_page c;
    void *m;

    if (fd < 0) {
        printf("vmclock: open %s: %s\n", path, strerror(errno));
        return 1;
    }
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        printf("vmclock: mmap %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (copy_page(m, &c) < 0) {
        printf("vmclock: seq_count never settled\n");
        return 1;
    }
    printf("vmclock: magic %s size %" PRIu32 " version %u counter_id %u "
           "time_type %u seq %" PRIu32 " disruption_marker %" PRIu64
           " flags %#" PRIx64 " clock_status %u tai_offset %d leap %u "
           "counter_value %" PRIu64 " period %" PRIu64 "/2^(64+%u) "
           "time %" PRIu64 "+%" PRIu64 "/2^64 maxerror %" PRIu64 " ns "
           "generation %" PRIu64 " notifications %s\n",
           c.magic == VMCLOCK_MAGIC ? "ok" : "BAD", c.size, c.version,
           c.counter_id, c.time_type, c.seq_count, c.disruption_marker,
           c.flags, c.clock_status, c.tai_offset_sec, c.leap_indicator,
           c.counter_value, c.counter_period_frac_sec,
           c.counter_period_shift, c.time_sec, c.time_frac_sec,
           c.time_maxerror_ns, c.vm_generation_counter,
           (c.flags & VMCLOCK_F_NOTIFICATION) ? "yes" : "no");
    munmap(m, 4096);
    return !(c.magic == VMCLOCK_MAGIC && c.size >= sizeof(c) - 8 &&
             c.version == 1);
}

/*
 * ptp_vmclock's poll() is readable while the page's seq_count differs
 * from what this file last read(); read once first, so that only a
 * change after the start wakes it.
 */
static int watch(const char *path, int seconds)
{
    struct pollfd p = { .events = POLLIN };
    struct timespec t0, t1;
    char buf[sizeof(struct vmclock_page)];
    ssize_t got;
    int n;

    p.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p.fd < 0) {
        printf("vmclock: open %s: %s\n", path, strerror(errno));
        return 1;
    }
    got = read(p.fd, buf, sizeof(buf));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = poll(&p, 1, seconds * 1000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("vmclock: poll %s: %s%s%s%s after %ld ms (read first: %zd)\n",
           path, n == 0 ? "nothing in time" : n < 0 ? strerror(errno) :
           "revents", n > 0 && (p.revents & POLLIN) ? " POLLIN" : "",
           n > 0 && (p.revents & POLLHUP) ? " POLLHUP" : "",
           n > 0 && (p.revents & POLLERR) ? " POLLERR" : "",
           (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                  (t1.tv_nsec - t0.tv_nsec) / 1000000), got);
    close(p.fd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "show") == 0) {
        return show(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "poll") == 0) {
        return watch(argv[2], atoi(argv[3]));
    }
    fprintf(stderr, "usage: vmclock-check show PATH | poll PATH SECONDS\n");
    return 2;
}
