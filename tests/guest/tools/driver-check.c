/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * driver-check: what a program sees through /dev/pvclock-pagesN (the
 * guest driver, contrib/pvclock-driver/) or a sysfs resource0, for the
 * driver tests (tests/guest/test-driver.sh).  Static, no library: it
 * checks the ABI words itself and says in one line per check what it saw.
 *
 *   driver-check [--uid N] map PATH     map the BAR, check every page
 *   driver-check [--uid N] write PATH   every way of getting write access
 *   driver-check [--uid N] hold PATH S  keep reading a mapping for S s;
 *                                       report SIGBUS or a changed page
 *   driver-check [--uid N] run PROG ARG...   exec PROG (as that user)
 *   driver-check [--uid N] watch PATH S poll() the node for S s; one
 *                                       line per wakeup, with its time,
 *                                       then a pread() to acknowledge it
 *   driver-check phc PATH               the PTP clock /dev/ptpN: its caps,
 *                                       every way of reading it, every
 *                                       way of steering it (refused)
 *   driver-check [--uid N] holes PATH   mmap and pread() the BAR's MMIO
 *                                       holes (0x6000-0x7fff, 0x5000
 *                                       without a live page): refused
 *   driver-check [--uid N] uffd PATH    pread() the node into a buffer
 *                                       registered with userfaultfd and
 *                                       leave the fault unresolved until
 *                                       /tmp/uffd-resolve exists
 *
 * --uid N drops to uid and gid N (no supplementary groups) first.
 * Exit status: 0 when every check passed, 1 otherwise, 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/ptp_clock.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "pvclock-pages/pvclock-pages-abi.h"

/* the host pages and the offset page: memory in every device's BAR */
#define MAP_LEN     (PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE)

static const char *err_name(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EBUSY: return "EBUSY";
    case ENOENT: return "ENOENT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EIO: return "EIO";
    case ERANGE: return "ERANGE";
    default: return strerror(e);
    }
}

/* FNV-1a over the offset page's defined part: the same device, the same sum */
static unsigned long long offset_sum(const volatile unsigned char *p)
{
    unsigned long long h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < 0x110; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

static int check_map(const char *path)
{
    const volatile struct pvcp_offset_page *op;
    const volatile unsigned char *bar;
    int fd, bad = 0;
    void *m;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("map %s: open refused (%s)\n", path, err_name(errno));
        return 1;
    }
    m = mmap(NULL, MAP_LEN, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("map %s: mmap refused (%s)\n", path, err_name(errno));
        close(fd);
        return 1;
    }
    bar = m;
    op = (const volatile void *)(bar + PVCP_BAR_OFFSET_PAGE);
    printf("map %s: offset page magic %s abi %u.%u status %u generation %llu "
           "recommended page %u live %s sum %016llx\n", path,
           op->magic == PVCP_OFFSET_MAGIC ? "ok" : "BAD",
           op->abi_major, op->abi_minor, op->status,
           (unsigned long long)op->generation, op->recommended_page,
           op->live.flags & PVCP_LIVE_F_VALID ? "valid" : "off",
           offset_sum((const volatile unsigned char *)op));
    bad |= op->magic != PVCP_OFFSET_MAGIC || op->abi_major != PVCP_ABI_MAJOR ||
           op->abi_minor < PVCP_OFFSET_MINOR_MIN;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        const volatile struct pvcp_host_page *hp =
            (const volatile void *)(bar + PVCP_BAR_HOST_PAGE(i));
        unsigned s1 = hp->seq, s2;
        struct timespec ts = { 0, 20 * 1000 * 1000 };

        nanosleep(&ts, NULL);
        s2 = hp->seq;
        printf("map %s: host page %d magic %s abi %u.%u seq %u then %u\n",
               path, i, hp->magic == PVCP_HOST_MAGIC ? "ok" : "BAD",
               hp->abi_major, hp->abi_minor, s1, s2);
        /* the helper writes under seq: it only grows (mod 2^32) */
        bad |= hp->magic != PVCP_HOST_MAGIC || (int)(s2 - s1) < 0;
    }
    munmap(m, MAP_LEN);

    /* read() gives the same bytes as the mapping */
    {
        static unsigned char buf[PVCP_BAR_SIZE];
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        const struct pvcp_offset_page *rp =
            (const void *)(buf + PVCP_BAR_OFFSET_PAGE);

        if (n < 0) {
            printf("map %s: read refused (%s)\n", path, err_name(errno));
        } else {
            printf("map %s: read %zd bytes, offset page magic %s\n", path, n,
                   n >= PVCP_BAR_LIVE_PAGE && rp->magic == PVCP_OFFSET_MAGIC
                   ? "ok" : "BAD");
        }
    }
    close(fd);
    printf("map %s: %s\n", path, bad ? "FAILED" : "all pages ok");
    return bad;
}

/* one mmap attempt; prints its line and returns 1 if it was granted */
static int try_map(int fd, const char *what, int prot, int flags, off_t off,
                   size_t len)
{
    void *m = mmap(NULL, len, prot, flags, fd, off);

    if (m == MAP_FAILED) {
        printf("write: %s: refused (%s)\n", what, err_name(errno));
        return 0;
    }
    if (!(prot & PROT_WRITE) && len >= PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE) {
        /* fault it in: a private PFN mapping must not become copy-on-write */
        const volatile struct pvcp_offset_page *op =
            (const volatile void *)((char *)m + PVCP_BAR_OFFSET_PAGE);

        printf("write: %s: GRANTED, offset page magic %s\n", what,
               op->magic == PVCP_OFFSET_MAGIC ? "ok" : "BAD");
    } else {
        printf("write: %s: GRANTED\n", what);
    }
    munmap(m, len);
    return 1;
}

static int try_mprotect(int fd, const char *what, int flags)
{
    void *m = mmap(NULL, PVCP_PAGE_SIZE, PROT_READ, flags, fd, 0);
    int granted;

    if (m == MAP_FAILED) {
        printf("write: %s: mmap failed (%s)\n", what, err_name(errno));
        return 1;
    }
    granted = mprotect(m, PVCP_PAGE_SIZE, PROT_READ | PROT_WRITE) == 0;
    printf("write: %s: %s%s%s\n", what, granted ? "GRANTED" : "refused (",
           granted ? "" : err_name(errno), granted ? "" : ")");
    munmap(m, PVCP_PAGE_SIZE);
    return granted;
}

static int check_write(const char *path)
{
    int fd, bad = 0;
    const char *mode = "O_RDWR";

    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("write: open O_RDWR refused (%s)\n", err_name(errno));
        mode = "O_RDONLY";
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            printf("write: open O_RDONLY refused (%s)\n", err_name(errno));
            return 1;
        }
    }
    printf("write: opened %s %s\n", path, mode);
    bad |= try_map(fd, "MAP_SHARED PROT_WRITE", PROT_READ | PROT_WRITE,
                   MAP_SHARED, 0, PVCP_PAGE_SIZE);
    bad |= try_map(fd, "MAP_PRIVATE PROT_WRITE", PROT_READ | PROT_WRITE,
                   MAP_PRIVATE, 0, PVCP_PAGE_SIZE);
    bad |= try_mprotect(fd, "mprotect PROT_WRITE of MAP_SHARED", MAP_SHARED);
    bad |= try_mprotect(fd, "mprotect PROT_WRITE of MAP_PRIVATE", MAP_PRIVATE);
    bad |= try_map(fd, "mmap past the BAR (offset 32 KiB)", PROT_READ,
                   MAP_SHARED, PVCP_BAR_SIZE, PVCP_PAGE_SIZE);
    bad |= try_map(fd, "mmap longer than the BAR (36 KiB)", PROT_READ,
                   MAP_SHARED, 0, PVCP_BAR_SIZE + PVCP_PAGE_SIZE);
    bad |= !try_map(fd, "MAP_PRIVATE PROT_READ (allowed)", PROT_READ,
                    MAP_PRIVATE, 0, MAP_LEN);
    close(fd);
    printf("write: %s\n", bad ? "FAILED" : "every write refused");
    return bad;
}

static sigjmp_buf bus_jump;

static void on_sigbus(int sig)
{
    (void)sig;
    siglongjmp(bus_jump, 1);
}

static int hold(const char *path, int seconds)
{
    const volatile struct pvcp_offset_page *op;
    volatile unsigned long reads = 0;
    struct sigaction sa = { .sa_handler = on_sigbus };
    char buf[16];
    time_t end;
    void *m;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("hold: open %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    m = mmap(NULL, MAP_LEN, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("hold: mmap %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    op = (const volatile void *)((char *)m + PVCP_BAR_OFFSET_PAGE);
    sigaction(SIGBUS, &sa, NULL);
    if (sigsetjmp(bus_jump, 1)) {
        printf("hold: SIGBUS reading the mapping after %lu reads: "
               "the device is gone\n", reads);
        if (mmap(NULL, PVCP_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0) ==
            MAP_FAILED) {
            printf("hold: a new mmap of the open file: refused (%s)\n",
                   err_name(errno));
        } else {
            printf("hold: a new mmap of the open file: GRANTED\n");
        }
        if (pread(fd, buf, sizeof(buf), 0) < 0) {
            printf("hold: read of the open file: refused (%s)\n",
                   err_name(errno));
        } else {
            printf("hold: read of the open file: GRANTED\n");
        }
        return 3;
    }
    printf("hold: %s mapped, reading every 10 ms for %d s\n", path, seconds);
    fflush(stdout);
    end = time(NULL) + seconds;
    while (time(NULL) < end) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };

        if (op->magic != PVCP_OFFSET_MAGIC) {
            printf("hold: offset page magic now %#x after %lu reads\n",
                   op->magic, reads);
            return 4;
        }
        reads++;
        nanosleep(&ts, NULL);
    }
    printf("hold: still mapped after %d s (%lu reads)\n", seconds, reads);
    return 0;
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* the driver's count of interrupts handled, from the class directory */
static void read_interrupts(const char *path, char *out, size_t len)
{
    char copy[256], attr[512];
    FILE *f;

    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(attr, sizeof(attr), "/sys/class/pvclock-pages/%s/interrupts",
             basename(copy));
    snprintf(out, len, "?");
    f = fopen(attr, "r");
    if (f) {
        if (fgets(out, len, f)) {
            out[strcspn(out, "\n")] = 0;
        }
        fclose(f);
    }
}

static int poll_now(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/*
 * poll() for S seconds.  At each wakeup: the file must stay readable
 * until a read() (poll alone acknowledges nothing), and a pread() of the
 * offset page acknowledges it.
 */
static int watch(const char *path, int seconds)
{
    struct pvcp_offset_page op;
    struct timespec t0;
    char irqs[32];
    int fd, n = 0, bad = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("watch: open %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    read_interrupts(path, irqs, sizeof(irqs));
    printf("watch: polling %s for %d s, interrupts %s\n", path, seconds, irqs);
    for (;;) {
        double left = seconds - elapsed(&t0);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r, again, after;

        if (left <= 0) {
            break;
        }
        r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            printf("watch: poll failed (%s)\n", err_name(errno));
            return 1;
        }
        if (r == 0) {
            continue;
        }
        if (p.revents & (POLLHUP | POLLERR)) {
            printf("watch: hangup at %.3f s (revents%s%s%s)\n", elapsed(&t0),
                   p.revents & POLLHUP ? " POLLHUP" : "",
                   p.revents & POLLERR ? " POLLERR" : "",
                   p.revents & POLLIN ? " POLLIN" : "");
            close(fd);
            return 3;
        }
        if (!(p.revents & POLLIN)) {
            printf("watch: revents %#x\n", p.revents);
            continue;
        }
        n++;
        again = poll_now(fd) & POLLIN;
        if (pread(fd, &op, sizeof(op), PVCP_BAR_OFFSET_PAGE) != (ssize_t)sizeof(op)) {
            printf("watch: pread failed (%s)\n", err_name(errno));
            return 1;
        }
        after = poll_now(fd) & POLLIN;
        read_interrupts(path, irqs, sizeof(irqs));
        printf("watch: wakeup %d at %.3f s: interrupts %s, offset page status "
               "%u generation %llu; readable until read %s, after %s\n", n,
               elapsed(&t0), irqs, op.status,
               (unsigned long long)op.generation, again ? "yes" : "NO",
               after ? "YES" : "no");
        bad |= !again;
    }
    read_interrupts(path, irqs, sizeof(irqs));
    printf("watch: %d wakeups in %d s, interrupts %s\n", n, seconds, irqs);
    close(fd);
    return bad;
}

/* include/linux/posix-timers.h: a dynamic clock's id from its fd */
#define FD_TO_CLOCKID(fd)   ((~(clockid_t)(fd) << 3) | 3)

static long long pct_ns(const struct ptp_clock_time *t)
{
    return t->sec * 1000000000LL + t->nsec;
}

/* PTP_SYS_OFFSET_EXTENDED: the sample with the shortest system window */
static int phc_extended(int fd)
{
    struct ptp_sys_offset_extended x = { .n_samples = 10 };
    long long best = -1, off = 0;

    if (ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &x) < 0) {
        printf("phc: extended: refused (%s)\n", err_name(errno));
        return 1;
    }
    for (unsigned i = 0; i < x.n_samples; i++) {
        long long pre = pct_ns(&x.ts[i][0]), post = pct_ns(&x.ts[i][2]);

        if (post < pre) {
            printf("phc: extended: sample %u: system time after < before\n", i);
            return 1;
        }
        if (best < 0 || post - pre < best) {
            best = post - pre;
            off = pct_ns(&x.ts[i][1]) - (pre + (post - pre) / 2);
        }
    }
    printf("phc: extended: ok, %u samples, shortest system window %lld ns, "
           "PHC - system there %lld ns\n", x.n_samples, best, off);
    return 0;
}

/* PTP_SYS_OFFSET_PRECISE: a cross-timestamp, or why not */
static void phc_precise(int fd)
{
    struct ptp_sys_offset_precise p;

    memset(&p, 0, sizeof(p));
    if (ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) < 0) {
        printf("phc: precise: refused (%s)\n", err_name(errno));
        return;
    }
    printf("phc: precise: ok, PHC - system %lld ns\n",
           pct_ns(&p.device) - pct_ns(&p.sys_realtime));
}

/* PHC time, twice: it must not go backwards */
static int phc_gettime(int fd)
{
    struct timespec a, b;
    clockid_t id = FD_TO_CLOCKID(fd);

    if (clock_gettime(id, &a) < 0 || clock_gettime(id, &b) < 0) {
        printf("phc: gettime: refused (%s)\n", err_name(errno));
        return 1;
    }
    if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec)) {
        printf("phc: gettime: went backwards\n");
        return 1;
    }
    printf("phc: gettime: ok, %lld.%09ld\n", (long long)a.tv_sec, a.tv_nsec);
    return 0;
}

/* Steering the host's clock from the guest: every way must be refused. */
static int phc_steer(int fd)
{
    clockid_t id = FD_TO_CLOCKID(fd);
    struct timex tx = { .modes = ADJ_FREQUENCY, .freq = 65536 };
    struct timespec ts;
    int bad = 0;

    clock_gettime(id, &ts);
    if (clock_settime(id, &ts) == 0) {
        printf("phc: settime: GRANTED\n");
        bad = 1;
    } else {
        printf("phc: settime: refused (%s)\n", err_name(errno));
    }
    if (clock_adjtime(id, &tx) >= 0) {
        printf("phc: adjtime ADJ_FREQUENCY: GRANTED\n");
        bad = 1;
    } else {
        printf("phc: adjtime ADJ_FREQUENCY: refused (%s)\n", err_name(errno));
    }
    memset(&tx, 0, sizeof(tx));
    tx.modes = ADJ_SETOFFSET | ADJ_NANO;
    tx.time.tv_usec = 1000;
    if (clock_adjtime(id, &tx) >= 0) {
        printf("phc: adjtime ADJ_SETOFFSET: GRANTED\n");
        bad = 1;
    } else {
        printf("phc: adjtime ADJ_SETOFFSET: refused (%s)\n", err_name(errno));
    }
    return bad;
}

static int check_phc(const char *path)
{
    struct ptp_clock_caps caps;
    int fd = open(path, O_RDWR | O_CLOEXEC), bad;

    if (fd < 0) {
        printf("phc: open %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    memset(&caps, 0, sizeof(caps));
    if (ioctl(fd, PTP_CLOCK_GETCAPS, &caps) < 0) {
        printf("phc: caps: refused (%s)\n", err_name(errno));
        close(fd);
        return 1;
    }
    printf("phc: caps: max_adj %d, n_alarm %d, n_ext_ts %d, n_per_out %d, "
           "pps %d, cross_timestamping %d\n", caps.max_adj, caps.n_alarm,
           caps.n_ext_ts, caps.n_per_out, caps.pps, caps.cross_timestamping);
    bad = phc_gettime(fd) | phc_extended(fd);
    phc_precise(fd);
    bad |= phc_steer(fd);
    printf("phc: %s\n", bad ? "FAILED" : "all checks passed");
    close(fd);
    return bad;
}

/* one mmap of the BAR's [off, off + len): its line; 1 if granted */
static int hole_map(int fd, const char *path, off_t off, size_t len)
{
    volatile unsigned char *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd,
                                     off);

    if (m == MAP_FAILED) {
        printf("holes %s: mmap %#llx+%zu: refused (%s)\n", path,
               (unsigned long long)off, len, err_name(errno));
        return 0;
    }
    /* touch its last page: a hole there is a VM exit into QEMU */
    printf("holes %s: mmap %#llx+%zu: GRANTED, last byte %u\n", path,
           (unsigned long long)off, len, m[len - 1]);
    munmap((void *)m, len);
    return 1;
}

/* one pread() of [off, off + len): its line; the bytes it gave */
static ssize_t hole_read(int fd, const char *path, off_t off, size_t len)
{
    static unsigned char buf[PVCP_BAR_SIZE];
    ssize_t n = pread(fd, buf, len, off);

    if (n < 0) {
        printf("holes %s: pread %#llx+%zu: refused (%s)\n", path,
               (unsigned long long)off, len, err_name(errno));
    } else {
        printf("holes %s: pread %#llx+%zu: %zd bytes\n", path,
               (unsigned long long)off, len, n);
    }
    return n;
}

/*
 * The BAR's holes: 0x6000-0x7fff always, 0x5000 unless the offset page
 * says the live page is mapped.  QEMU serves them with MMIO ops, so every
 * access is a VM exit under the BQL; the node must not reach them.
 */
static int holes(const char *path)
{
    const volatile struct pvcp_offset_page *op;
    off_t end = PVCP_BAR_LIVE_PAGE;
    int fd, bad = 0;
    void *m;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("holes: open %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    m = mmap(NULL, MAP_LEN, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("holes: mmap %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    op = (const volatile void *)((char *)m + PVCP_BAR_OFFSET_PAGE);
    if (op->live.flags & (PVCP_LIVE_F_VALID | PVCP_LIVE_F_MAPPED)) {
        end += PVCP_PAGE_SIZE;
    }
    printf("holes %s: live flags %#x: memory up to %#llx\n", path,
           op->live.flags, (unsigned long long)end);
    munmap(m, MAP_LEN);
    for (off_t off = end; off < PVCP_BAR_SIZE; off += PVCP_PAGE_SIZE) {
        bad |= hole_map(fd, path, off, PVCP_PAGE_SIZE);
        bad |= hole_read(fd, path, off, PVCP_PAGE_SIZE) != 0;
    }
    bad |= hole_map(fd, path, 0, PVCP_BAR_SIZE);
    bad |= !hole_map(fd, path, 0, end);
    bad |= hole_read(fd, path, 0, PVCP_BAR_SIZE) != end;
    close(fd);
    printf("holes %s: %s\n", path, bad ? "FAILED" : "no hole reachable");
    return bad;
}

struct uffd_reader {
    int fd;
    unsigned char *buf;
    size_t len;
    ssize_t n;
    int err;
    volatile int done;
};

static void *uffd_read_thread(void *arg)
{
    struct uffd_reader *r = arg;

    r->n = pread(r->fd, r->buf, r->len, 0);
    r->err = errno;
    r->done = 1;
    return NULL;
}

/*
 * A reader whose buffer faults for as long as user space likes (what
 * FUSE or userfaultfd give any user): pread() of the node into a
 * buffer registered with userfaultfd, the fault left pending until
 * /tmp/uffd-resolve appears.  The device's removal must not wait for it.
 */
static int uffd(const char *path)
{
    struct uffdio_api api = { .api = UFFD_API };
    struct uffdio_register reg;
    struct uffd_reader r = { .len = 2 * PVCP_PAGE_SIZE };
    const struct pvcp_host_page *hp;
    pthread_t t;
    int u, faults = 0;
    time_t end;

    r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
        printf("uffd: open %s refused (%s)\n", path, err_name(errno));
        return 1;
    }
    u = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (u < 0 || ioctl(u, UFFDIO_API, &api) < 0) {
        printf("uffd: userfaultfd refused (%s)\n", err_name(errno));
        return 1;
    }
    r.buf = mmap(NULL, r.len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg.range.start = (unsigned long)r.buf;
    reg.range.len = r.len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (r.buf == MAP_FAILED || ioctl(u, UFFDIO_REGISTER, &reg) < 0) {
        printf("uffd: UFFDIO_REGISTER refused (%s)\n", err_name(errno));
        return 1;
    }
    pthread_create(&t, NULL, uffd_read_thread, &r);
    end = time(NULL) + 600;
    while (!r.done && time(NULL) < end) {
        struct pollfd p = { .fd = u, .events = POLLIN };
        struct uffd_msg msg;
        struct uffdio_zeropage zp;

        if (poll(&p, 1, 100) != 1 || read(u, &msg, sizeof(msg)) != sizeof(msg)) {
            continue;
        }
        if (msg.event != UFFD_EVENT_PAGEFAULT) {
            continue;
        }
        if (!faults++) {
            printf("uffd: reader blocked in a fault at byte %llu of its buffer\n",
                   (unsigned long long)(msg.arg.pagefault.address -
                                        (unsigned long)r.buf));
        }
        while (access("/tmp/uffd-resolve", F_OK) && time(NULL) < end) {
            struct timespec ts = { 0, 50 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
        if (faults == 1) {
            printf("uffd: resolving; reader %s\n",
                   r.done ? "had returned" : "still blocked");
        }
        zp.range.start = msg.arg.pagefault.address & ~(PVCP_PAGE_SIZE - 1ul);
        zp.range.len = PVCP_PAGE_SIZE;
        zp.mode = 0;
        ioctl(u, UFFDIO_ZEROPAGE, &zp);
    }
    pthread_join(t, NULL);
    hp = (const void *)r.buf;
    if (r.n < 0) {
        printf("uffd: read returned %s\n", err_name(r.err));
    } else {
        printf("uffd: read returned %zd bytes, host page 0 magic %s\n", r.n,
               r.n >= 4 && hp->magic == PVCP_HOST_MAGIC ? "ok" : "BAD");
    }
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;

    if (argc > 2 && strcmp(argv[1], "--uid") == 0) {
        int uid = atoi(argv[2]);

        if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
            perror("driver-check: cannot drop privileges");
            return 2;
        }
        i = 3;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc - i == 2 && strcmp(argv[i], "map") == 0) {
        return check_map(argv[i + 1]);
    }
    if (argc - i == 2 && strcmp(argv[i], "write") == 0) {
        return check_write(argv[i + 1]);
    }
    if (argc - i >= 2 && strcmp(argv[i], "run") == 0) {
        execv(argv[i + 1], argv + i + 1);
        perror("driver-check: exec");
        return 2;
    }
    if (argc - i == 3 && strcmp(argv[i], "watch") == 0) {
        return watch(argv[i + 1], atoi(argv[i + 2]));
    }
    if (argc - i == 2 && strcmp(argv[i], "holes") == 0) {
        return holes(argv[i + 1]);
    }
    if (argc - i == 2 && strcmp(argv[i], "uffd") == 0) {
        return uffd(argv[i + 1]);
    }
    if (argc - i == 2 && strcmp(argv[i], "phc") == 0) {
        return check_phc(argv[i + 1]);
    }
    if (argc - i == 3 && strcmp(argv[i], "hold") == 0) {
        return hold(argv[i + 1], atoi(argv[i + 2]));
    }
    fprintf(stderr, "usage: driver-check [--uid N] map|write|holes|uffd PATH | hold|watch PATH SECONDS"
            " | phc PATH | run PROG ARG...\n");
    return 2;
}
