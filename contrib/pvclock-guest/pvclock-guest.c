/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest: the guest side of pvclock-pages.
 *
 *   pvclock-guest show             status and every clock, next to the
 *                                  guest's own clock_gettime()
 *   pvclock-guest serve --tty DEV  answer time queries from the host over
 *                                  a serial line (see pvclock-exchange)
 *   pvclock-guest chrony --socket PATH [--interval-ms N]
 *                                  feed chronyd as a SOCK reference clock
 *   pvclock-guest shm-exchange     exchange REALTIME stamps with the host
 *                                  through an ivshmem device until the
 *                                  host says stop (see pvclock-shm-exchange)
 *
 * Serial protocol, one line each way, ASCII:
 *   host -> guest   "Q <n>"    read CLOCK_REALTIME now
 *   guest -> host   "R <n> <sec>.<nsec9> <errno-name>"
 *   host -> guest   "X"        exit
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "pvclock.h"
#include "shm-exchange.h"

static const struct {
    clockid_t id;
    const char *name;
} clocks[] = {
    { CLOCK_REALTIME, "REALTIME" },
    { CLOCK_TAI, "TAI" },
    { CLOCK_MONOTONIC, "MONOTONIC" },
    { CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
    { CLOCK_BOOTTIME, "BOOTTIME" },
};

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pvclock-guest [--resource PATH] show\n"
"       pvclock-guest [--resource PATH] serve --tty DEVICE [--watch] [--hammer]\n"
"       pvclock-guest [--resource PATH] shm-exchange\n"
"       pvclock-guest [--resource PATH] chrony --socket PATH [--interval-ms N]\n"
"Read the host's clocks through the pvclock-pages PCI device.\n"
"  --resource PATH  the device's sysfs resource0 (default: find 1af4:10f0)\n"
"  --tty DEVICE     serial line to answer host time queries on (serve)\n"
"  --watch          serve: a thread reads all five clocks and counts steps back\n"
"  --hammer         serve: a thread writes all over the BAR (the device must\n"
"                   ignore it)\n");
}

static int open_device(struct pvclock *pc, const char *resource)
{
    int err = pvclock_open_guest(pc, resource);

    if (err) {
        fprintf(stderr, "pvclock-guest: %s%s%s\n", pvclock_strerror(err),
                err == PVCLOCK_EOPEN ? ": " : "",
                err == PVCLOCK_EOPEN ? strerror(pc->saved_errno) : "");
        return -1;
    }
    return 0;
}

/*
 * All four host pages at one guest counter value: each must read every
 * clock, and they must agree with page 0 (the scaled pages to within
 * the nanosecond their derivation and transform each may round).  These
 * are the helper's pages, read with the live page set aside; then how
 * far the live page (the kernel's own data) is from the helper's page 0
 * at that counter: the helper's lag, informational.
 */
static int show_pages(struct pvclock *pc)
{
    static const char *const kinds[] = {
        "unscaled unsmeared", "unscaled smeared", "scaled unsmeared",
        "scaled smeared",
    };
    const size_t n = sizeof(clocks) / sizeof(clocks[0]);
    uint64_t counter = pvclock_read_counter();
    int64_t ref[sizeof(clocks) / sizeof(clocks[0])];
    const volatile unsigned char *live = pc->live;
    int bad = 0;

    pc->live = NULL;

    for (int page = 0; page < PVCP_HOST_PAGES; page++) {
        int64_t worst = 0;
        int err = 0;

        pvclock_select_page(pc, page);
        for (size_t i = 0; i < n && !err; i++) {
            struct timespec ts;
            int64_t ns, d;

            err = pvclock_gettime_at(pc, clocks[i].id, counter, &ts);
            if (err == PVCLOCK_ESTALE) {
                err = 0;
            }
            ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            if (page == 0) {
                ref[i] = ns;
            }
            d = ns - ref[i];
            worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
        }
        if (err) {
            /* a simulated host publishes no scaled pages: not an error */
            printf("page %d %s: %s\n", page, kinds[page],
                   pvclock_strerror(err));
            bad |= err != PVCLOCK_EUNPUBLISHED;
        } else {
            printf("page %d %s: all five clocks read, at most %" PRId64
                   " ns from page 0\n", page, kinds[page], worst);
        }
    }
    pvclock_select_page(pc, -1);
    pc->live = live;
    if (live && pvclock_live_in_use(pc, CLOCK_REALTIME) == 1) {
        int64_t worst = 0;

        for (size_t i = 0; i < n; i++) {
            struct timespec ts;
            int64_t d;

            if (pvclock_gettime_at(pc, clocks[i].id, counter, &ts) !=
                PVCLOCK_OK) {
                continue;
            }
            d = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - ref[i];
            d = d < 0 ? -d : d;
            worst = d > worst ? d : worst;
        }
        printf("live page: all five clocks read, %" PRId64 " ns from the "
               "helper's page 0 (its lag)\n", worst);
    }
    return bad;
}

static int cmd_show(struct pvclock *pc)
{
    static const char *const status_names[] = {
        "invalid", "valid", "no helper", "unreliable", "stale",
    };
    static const char *const backend_names[] = {
        "none", "kvm", "tcg", "qtest",
    };
    struct pvclock_info info;
    int err = pvclock_get_info(pc, &info), bad = 0;

    if (err) {
        fprintf(stderr, "pvclock-guest: %s\n", pvclock_strerror(err));
        return 1;
    }
    printf("device: status %s, generation %" PRIu64 ", counter backend %s, "
           "guest counter %" PRIu64 " Hz, host page %u, helper epoch %"
           PRIu64 "\n",
           info.status < 5 ? status_names[info.status] : "?",
           info.generation,
           info.backend < 4 ? backend_names[info.backend] : "?",
           info.guest_counter_hz, info.page, info.helper_epoch);
    printf("live page: %s\n", pvclock_live_in_use(pc, CLOCK_REALTIME) == 1
           ? "in use (the host kernel's own data, no lag)"
           : "not in use (the helper's pages)");
    printf("%-14s %22s %22s %16s\n", "clock", "pvclock (host)",
           "guest clock_gettime", "guest - pvclock");
    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        struct timespec pv = { 0, 0 }, own;

        err = pvclock_gettime(pc, clocks[i].id, &pv);
        clock_gettime(clocks[i].id, &own);
        if (err && err != PVCLOCK_ESTALE) {
            printf("%-14s %22s %11lld.%09ld  %s\n", clocks[i].name, "-",
                   (long long)own.tv_sec, own.tv_nsec, pvclock_strerror(err));
            bad = 1;
            continue;
        }
        printf("%-14s %11lld.%09ld %11lld.%09ld %+16.9f%s\n", clocks[i].name,
               (long long)pv.tv_sec, pv.tv_nsec, (long long)own.tv_sec,
               own.tv_nsec,
               (double)(own.tv_sec - pv.tv_sec) +
               (own.tv_nsec - pv.tv_nsec) / 1e9,
               err ? " (stale)" : "");
    }
    return show_pages(pc) | bad;
}

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

/* Read one '\n'-terminated line (without it); 0 at EOF, -1 on error. */
static int read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;

    while (n + 1 < len) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r == 0 && n == 0 ? 0 : -1;
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

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static const char *err_name(int err)
{
    static const char *const names[PVCLOCK_ERRORS] = {
        "ok", "ENOTMAPPED", "EOPEN", "ENODEV", "ESIZE", "EMAGIC",
        "EVERSION", "EUNPUBLISHED", "EBADPAGE", "ENOTVALID",
        "EUNRELIABLE", "ESTALE", "ECLOCK", "EBUSY", "EINVAL",
    };

    return err >= 0 && err < PVCLOCK_ERRORS ? names[err] : "EUNKNOWN";
}

/*
 * The clock watcher (serve --watch): a thread reads all five clocks in a
 * loop and counts every reading smaller than the one before, for as long
 * as the program serves (across stops and migrations of the VM).
 */
static struct {
    const struct pvclock *pc;
    volatile int stop;
    unsigned long long reads, backward[5], errors;
    long long worst[5];
    unsigned long long gen_first, gen_last;
    int last_error;
} watch;

static void *watch_thread(void *arg)
{
    struct timespec prev[5] = { { 0, 0 } };
    int have[5] = { 0 };

    (void)arg;
    while (!watch.stop) {
        struct pvclock_info info;

        for (int i = 0; i < 5; i++) {
            struct timespec ts;
            int err = pvclock_gettime(watch.pc, clocks[i].id, &ts);

            if (err && err != PVCLOCK_ESTALE) {
                watch.errors++;
                watch.last_error = err;
                continue;
            }
            if (have[i] && (ts.tv_sec < prev[i].tv_sec ||
                            (ts.tv_sec == prev[i].tv_sec &&
                             ts.tv_nsec < prev[i].tv_nsec))) {
                long long d = (long long)(prev[i].tv_sec - ts.tv_sec) *
                              1000000000LL + (prev[i].tv_nsec - ts.tv_nsec);

                watch.backward[i]++;
                if (d > watch.worst[i]) {
                    watch.worst[i] = d;
                }
            }
            prev[i] = ts;
            have[i] = 1;
        }
        watch.reads++;
        if (pvclock_get_info(watch.pc, &info) == PVCLOCK_OK) {
            if (!watch.gen_first) {
                watch.gen_first = info.generation;
            }
            watch.gen_last = info.generation;
        }
    }
    return NULL;
}

static void watch_summary(char *buf, size_t len)
{
    snprintf(buf, len, "%llu reads, backward steps REALTIME %llu TAI %llu "
             "MONOTONIC %llu MONOTONIC_RAW %llu BOOTTIME %llu (worst %lld "
             "%lld %lld %lld %lld ns), %llu errors%s%s%s, generation %llu -> "
             "%llu",
             watch.reads, watch.backward[0], watch.backward[1],
             watch.backward[2], watch.backward[3], watch.backward[4],
             watch.worst[0], watch.worst[1], watch.worst[2], watch.worst[3],
             watch.worst[4], watch.errors, watch.errors ? " (last: " : "",
             watch.errors ? pvclock_strerror(watch.last_error) : "",
             watch.errors ? ")" : "", watch.gen_first, watch.gen_last);
}

/*
 * The BAR hammer (serve --hammer): a thread writes all over the BAR, in
 * every size, as fast as it can.  The device must ignore every write:
 * the watcher keeps reading good clocks and the host's file is untouched.
 */
static struct {
    char path[256];
    volatile int stop;
    unsigned long long writes;
} hammer;

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
        size_t off;

        x ^= x << 13;       /* xorshift: offsets and values */
        x ^= x >> 7;
        x ^= x << 17;
        off = (size_t)(x % PVCP_BAR_SIZE) & ~(size_t)7;
        switch (x >> 62) {
        case 0:
            *(volatile uint64_t *)(bar + off) = x;
            break;
        case 1:
            *(volatile uint32_t *)(bar + off) = (uint32_t)x;
            break;
        case 2:
            *(volatile uint16_t *)(bar + off) = (uint16_t)x;
            break;
        default:
            bar[off] = (uint8_t)x;
            break;
        }
        hammer.writes++;
    }
    munmap((void *)bar, PVCP_BAR_SIZE);
    return NULL;
}

static int cmd_serve(struct pvclock *pc, const char *tty, int do_watch,
                     const char *resource, int do_hammer)
{
    char line[128], reply[512];
    int fd = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC);
    pthread_t watcher, hammerer;

    if (fd < 0) {
        fprintf(stderr, "pvclock-guest: cannot open %s: %s\n", tty,
                strerror(errno));
        return 1;
    }
    if (set_raw(fd) < 0) {
        fprintf(stderr, "pvclock-guest: cannot set %s to raw mode: %s\n",
                tty, strerror(errno));
        close(fd);
        return 1;
    }
    cmd_show(pc);
    if (do_watch) {
        watch.pc = pc;
        if (pthread_create(&watcher, NULL, watch_thread, NULL)) {
            fprintf(stderr, "pvclock-guest: cannot start the watcher\n");
            return 1;
        }
    }
    if (do_hammer) {
        if (resource) {
            snprintf(hammer.path, sizeof(hammer.path), "%s", resource);
        } else if (pvclock_find_device(hammer.path, sizeof(hammer.path))) {
            fprintf(stderr, "pvclock-guest: hammer: no device\n");
            return 1;
        }
        if (pthread_create(&hammerer, NULL, hammer_thread, NULL)) {
            fprintf(stderr, "pvclock-guest: cannot start the hammer\n");
            return 1;
        }
    }
    printf("pvclock-guest: ready\n");
    fflush(stdout);

    for (;;) {
        struct timespec ts = { 0, 0 };
        unsigned long long n;
        int r = read_line(fd, line, sizeof(line)), err;

        if (r <= 0) {
            fprintf(stderr, "pvclock-guest: %s closed\n", tty);
            close(fd);
            return 1;
        }
        if (strcmp(line, "X") == 0) {
            break;
        }
        if (strcmp(line, "W") == 0) {
            char sum[400];

            watch_summary(sum, sizeof(sum));
            snprintf(reply, sizeof(reply), "S %s; %llu BAR writes\n",
                     do_watch ? sum : "no watcher (serve --watch)",
                     hammer.writes);
            if (write_all(fd, reply, strlen(reply)) < 0) {
                break;
            }
            continue;
        }
        if (sscanf(line, "Q %llu", &n) != 1) {
            continue;   /* line noise before the host connected */
        }
        /* Read the clock as late as possible: right before replying. */
        err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
        snprintf(reply, sizeof(reply), "R %llu %lld.%09ld %s\n", n,
                 (long long)ts.tv_sec, ts.tv_nsec, err_name(err));
        if (write_all(fd, reply, strlen(reply)) < 0) {
            fprintf(stderr, "pvclock-guest: write to %s: %s\n", tty,
                    strerror(errno));
            close(fd);
            return 1;
        }
    }
    close(fd);
    if (do_hammer) {
        hammer.stop = 1;
        pthread_join(hammerer, NULL);
        printf("pvclock-guest: hammer %llu writes to the BAR\n", hammer.writes);
    }
    if (do_watch) {
        char sum[400];

        watch.stop = 1;
        pthread_join(watcher, NULL);
        watch_summary(sum, sizeof(sum));
        printf("pvclock-guest: watch %s\n", sum);
        for (int i = 0; i < 5; i++) {
            if (watch.backward[i]) {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * chronyd's SOCK reference clock protocol (see the refclock directive in
 * chrony.conf(5)): datagrams to the socket chronyd created, each the
 * system time of a measurement and the offset true - system in seconds.
 */
struct chrony_sock_sample {
    struct timeval tv;
    double offset;
    int pulse;
    int leap;                   /* 0 normal, 1 insert, 2 delete */
    int pad;
    int magic;                  /* "SOCK" */
};
#define CHRONY_SOCK_MAGIC 0x534f434b

static int cmd_chrony(struct pvclock *pc, const char *path, long interval_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    unsigned long long sent = 0, errors = 0;
    int fd;

    if (!path || strlen(path) >= sizeof(sa.sun_path) || interval_ms < 10) {
        fprintf(stderr, "pvclock-guest: chrony needs --socket PATH (the "
                "path of chrony.conf's 'refclock SOCK PATH') and "
                "--interval-ms >= 10\n");
        return 2;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("pvclock-guest: socket");
        return 1;
    }
    printf("pvclock-guest: feeding chronyd at %s every %ld ms\n", path,
           interval_ms);
    fflush(stdout);
    for (;;) {
        struct chrony_sock_sample smp;
        struct timespec a, b, sys;
        struct pvclock_info info;
        int e1, e2;
        int64_t mid;

        /* the system clock read between two pvclock readings */
        e1 = pvclock_gettime(pc, CLOCK_REALTIME, &a);
        clock_gettime(CLOCK_REALTIME, &sys);
        e2 = pvclock_gettime(pc, CLOCK_REALTIME, &b);
        if ((e1 && e1 != PVCLOCK_ESTALE) || (e2 && e2 != PVCLOCK_ESTALE)) {
            /* no sample beats a wrong one: chronyd will coast */
            if (errors++ % 60 == 0) {
                fprintf(stderr, "pvclock-guest: no sample: %s\n",
                        pvclock_strerror(e1 ? e1 : e2));
            }
        } else {
            mid = ((int64_t)a.tv_sec * 1000000000 + a.tv_nsec) / 2 +
                  ((int64_t)b.tv_sec * 1000000000 + b.tv_nsec) / 2;
            memset(&smp, 0, sizeof(smp));
            smp.tv.tv_sec = sys.tv_sec;
            smp.tv.tv_usec = sys.tv_nsec / 1000;
            /* offset against the truncated tv, as chronyd reads it */
            smp.offset = (double)(mid - ((int64_t)sys.tv_sec * 1000000000 +
                                         (sys.tv_nsec / 1000) * 1000)) / 1e9;
            smp.leap = 0;
            if (pvclock_get_info(pc, &info) == PVCLOCK_OK) {
                smp.leap = (info.host_flags & PVCP_HOST_F_LEAP_INS) ? 1 :
                           (info.host_flags & PVCP_HOST_F_LEAP_DEL) ? 2 : 0;
            }
            smp.magic = CHRONY_SOCK_MAGIC;
            if (sendto(fd, &smp, sizeof(smp), 0, (struct sockaddr *)&sa,
                       sizeof(sa)) < 0) {
                if (errors++ % 60 == 0) {
                    fprintf(stderr, "pvclock-guest: send to %s: %s (is "
                            "chronyd running with 'refclock SOCK %s'?)\n",
                            path, strerror(errno), path);
                }
            } else {
                sent++;
            }
        }
        usleep((useconds_t)interval_ms * 1000);
    }
    return 0;
}

/* The ivshmem-plain device's shared memory (1af4:1110, BAR 2). */
static volatile struct xchg_area *map_ivshmem(char *path, size_t len)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    void *map = MAP_FAILED;

    path[0] = 0;
    while (d && (e = readdir(d))) {
        char f[512], id[32] = "";
        FILE *fp;

        snprintf(f, sizeof(f), "/sys/bus/pci/devices/%s/vendor", e->d_name);
        fp = fopen(f, "re");
        if (!fp) {
            continue;
        }
        if (!fgets(id, sizeof(id), fp)) {
            id[0] = 0;
        }
        fclose(fp);
        snprintf(f, sizeof(f), "/sys/bus/pci/devices/%s/device", e->d_name);
        fp = fopen(f, "re");
        if (!fp) {
            continue;
        }
        if (!fgets(id + strlen(id), (int)(sizeof(id) - strlen(id)), fp)) {
            id[0] = 0;
        }
        fclose(fp);
        if (!strcmp(id, "0x1af4\n0x1110\n")) {
            snprintf(path, len, "/sys/bus/pci/devices/%s/resource2",
                     e->d_name);
            break;
        }
    }
    if (d) {
        closedir(d);
    }
    if (path[0]) {
        int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd >= 0) {
            map = mmap(NULL, XCHG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                       fd, 0);
            close(fd);
        }
    }
    return map == MAP_FAILED ? NULL : map;
}

static int cmd_shm_exchange(struct pvclock *pc)
{
    volatile struct xchg_area *x;
    struct xchg_side me = { 0 };
    char path[512];

    x = map_ivshmem(path, sizeof(path));
    if (!x) {
        fprintf(stderr, "pvclock-guest: no ivshmem-plain device (1af4:1110) "
                "to exchange stamps through%s%s\n", path[0] ? ": " : "",
                path[0] ? strerror(errno) : "");
        return 1;
    }
    if (x->magic != XCHG_MAGIC) {
        fprintf(stderr, "pvclock-guest: ivshmem area not prepared by "
                "pvclock-shm-exchange (magic 0x%08x)\n", x->magic);
        return 1;
    }
    printf("pvclock-guest: live page %s\n",
           pvclock_live_in_use(pc, CLOCK_REALTIME) == 1 ? "in use"
                                                         : "not in use");
    __atomic_store_n(&x->state, XCHG_GUEST_READY, __ATOMIC_RELEASE);
    printf("pvclock-guest: ready\n");
    fflush(stdout);
    while (__atomic_load_n(&x->state, __ATOMIC_ACQUIRE) != XCHG_STOP) {
        int64_t seen = __atomic_load_n(&x->host.stamp, __ATOMIC_ACQUIRE);
        struct timespec ts;
        int64_t now;

        if (pvclock_gettime(pc, CLOCK_REALTIME, &ts) != PVCLOCK_OK) {
            me.errors++;
            continue;
        }
        now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        xchg_record(&me, &x->guest.stamp, seen, now);
    }
    x->guest.exchanges = me.exchanges;
    x->guest.violations = me.violations;
    x->guest.worst_ns = me.worst_ns;
    x->guest.errors = me.errors;
    __atomic_store_n(&x->state, XCHG_GUEST_DONE, __ATOMIC_RELEASE);
    printf("pvclock-guest: shm-exchange %llu exchanges, %llu violations "
           "(worst %lld ns), %llu errors\n",
           (unsigned long long)me.exchanges,
           (unsigned long long)me.violations, (long long)me.worst_ns,
           (unsigned long long)me.errors);
    return me.violations || me.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "resource", required_argument, NULL, 'r' },
        { "tty", required_argument, NULL, 't' },
        { "watch", no_argument, NULL, 'w' },
        { "hammer", no_argument, NULL, 'H' },
        { "socket", required_argument, NULL, 's' },
        { "interval-ms", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *resource = NULL, *tty = NULL, *sock = NULL, *cmd;
    long interval_ms = 1000;
    struct pvclock pc;
    int opt, ret, do_watch = 0, do_hammer = 0;

    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            resource = optarg;
            break;
        case 't':
            tty = optarg;
            break;
        case 'w':
            do_watch = 1;
            break;
        case 'H':
            do_hammer = 1;
            break;
        case 's':
            sock = optarg;
            break;
        case 'i':
            interval_ms = strtol(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    cmd = argv[optind++];
    /* Options may also follow the command. */
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (opt == 'r') {
            resource = optarg;
        } else if (opt == 't') {
            tty = optarg;
        } else if (opt == 'w') {
            do_watch = 1;
        } else if (opt == 'H') {
            do_hammer = 1;
        } else if (opt == 's') {
            sock = optarg;
        } else if (opt == 'i') {
            interval_ms = strtol(optarg, NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(cmd, "show") && strcmp(cmd, "serve") &&
        strcmp(cmd, "shm-exchange") && strcmp(cmd, "chrony")) {
        fprintf(stderr, "pvclock-guest: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (!strcmp(cmd, "serve") && !tty) {
        fprintf(stderr, "pvclock-guest: serve needs --tty DEVICE\n");
        return 2;
    }
    if (open_device(&pc, resource) < 0) {
        return 1;
    }
    ret = !strcmp(cmd, "show") ? cmd_show(&pc) :
          !strcmp(cmd, "serve") ? cmd_serve(&pc, tty, do_watch, resource,
                                              do_hammer) :
          !strcmp(cmd, "chrony") ? cmd_chrony(&pc, sock, interval_ms) :
          cmd_shm_exchange(&pc);
    pvclock_close(&pc);
    return ret;
}
