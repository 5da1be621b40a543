/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: the reader.  The arithmetic lives in pvclock-pages-calc.h;
 * this file maps pages, runs the seqcount protocol and reads the counter.
 */
#define _GNU_SOURCE             /* F_GET_SEALS, MSG_CMSG_CLOEXEC */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvclock.h"
#include "hw/pvclock/pvclock-pages-calc.h"

/* How long a reader waits for a writer before giving up (iterations). */
#ifndef SEQ_SPIN_LIMIT          /* fuzz builds make it small */
#define SEQ_SPIN_LIMIT  (1u << 24)
#endif

/*
 * On x86 loads are not reordered with other loads, so the read side of a
 * seqcount needs only to stop the compiler (the vDSO's smp_rmb() is a
 * compiler barrier there too).
 */
#define read_barrier()  __atomic_signal_fence(__ATOMIC_ACQUIRE)

/*
 * RDTSC must not run before the seq loads that precede it.  The host
 * vDSO's rdtsc_ordered() uses RDTSCP where the CPU has it and LFENCE;
 * RDTSC otherwise; so does this library (checked once, at load).
 */
static int have_rdtscp;

__attribute__((constructor)) static void pvclock_detect_rdtscp(void)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
                     : "a"(0x80000000u), "c"(0));
    if (a >= 0x80000001u) {
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
                         : "a"(0x80000001u), "c"(0));
        have_rdtscp = (d >> 27) & 1;
    }
}

/*
 * The counter, ordered as the host vDSO orders RDTSC: RDTSCP, or
 * LFENCE; RDTSC without it.  Inline for the fast paths.
 */
static inline uint64_t read_counter_inline(void)
{
    uint32_t lo, hi, aux;

    if (__builtin_expect(have_rdtscp, 1)) {
        __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux) :: "memory");
    } else {
        __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    }
    return ((uint64_t)hi << 32) | lo;
}

uint64_t pvclock_read_counter(void)
{
    return read_counter_inline();
}

static const char *const error_text[PVCLOCK_ERRORS] = {
    [PVCLOCK_OK] = "success",
    [PVCLOCK_ENOTMAPPED] = "pvclock handle is not open",
    [PVCLOCK_EOPEN] = "cannot open or map the pvclock pages",
    [PVCLOCK_ENODEV] = "no pvclock-pages PCI device (1af4:10f0) found",
    [PVCLOCK_ESIZE] = "pages file or BAR is smaller than the ABI requires",
    [PVCLOCK_EMAGIC] = "not pvclock-pages data (bad magic)",
    [PVCLOCK_EVERSION] = "unsupported pvclock-pages ABI major version",
    [PVCLOCK_EUNPUBLISHED] = "this host page variant is not published",
    [PVCLOCK_EBADPAGE] = "pvclock page contents are inconsistent",
    [PVCLOCK_ENOTVALID] = "device reports the pages are not valid",
    [PVCLOCK_EUNRELIABLE] = "device cannot relate guest and host counters",
    [PVCLOCK_ESTALE] = "host helper is not updating the pages (stale)",
    [PVCLOCK_ECLOCK] = "clock id not provided by pvclock-pages",
    [PVCLOCK_EBUSY] = "pages kept changing while being read",
    [PVCLOCK_EINVAL] = "invalid argument",
};

const char *pvclock_strerror(int err)
{
    if (err < 0 || err >= PVCLOCK_ERRORS || !error_text[err]) {
        return "unknown pvclock error";
    }
    return error_text[err];
}

static int check_host_page(const volatile struct pvcp_host_page *h, int index)
{
    if (h->magic != PVCP_HOST_MAGIC) {
        return PVCLOCK_EMAGIC;
    }
    if (h->abi_major != PVCP_ABI_MAJOR) {
        return PVCLOCK_EVERSION;
    }
    if (h->page_index != (uint32_t)index) {
        return PVCLOCK_EBADPAGE;
    }
    return PVCLOCK_OK;
}

/* The one message a pvclock-helper --socket sends: header and descriptor. */
static int receive_pages_fd(int sock, int timeout_ms)
{
    struct pvcp_handoff msg;
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
    };
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    struct cmsghdr *c;
    ssize_t got;
    int fd = -1, seals;

    if (poll(&pfd, 1, timeout_ms) != 1) {
        errno = ETIMEDOUT;
        return -1;
    }
    got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    c = got >= 0 ? CMSG_FIRSTHDR(&mh) : NULL;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    if (got < 0) {
        return -1;
    }
    if (got != (ssize_t)sizeof(msg) || fd < 0 ||
        msg.magic != PVCP_HANDOFF_MAGIC || msg.abi_major != PVCP_ABI_MAJOR ||
        msg.size != PVCP_FILE_SIZE || (mh.msg_flags & MSG_CTRUNC)) {
        errno = EPROTO;
        goto fail;
    }
    /* never map what another process could make short under us */
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
                     (F_SEAL_SHRINK | F_SEAL_GROW)) {
        errno = EPERM;
        goto fail;
    }
    return fd;

fail:
    if (fd >= 0) {
        int e = errno;

        close(fd);
        errno = e;
    }
    return -1;
}

int pvclock_pages_fd(const char *socket_path, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int sock, fd, e;

    if (!socket_path || strlen(socket_path) >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    strcpy(sa.sun_path, socket_path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0) {
        return -1;
    }
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        close(sock);
        errno = e;
        return -1;
    }
    fd = receive_pages_fd(sock, timeout_ms);
    e = errno;
    close(sock);
    errno = e;
    return fd;
}

/* How long pvclock_open_host() waits for a helper's socket to answer. */
#define HANDOFF_WAIT_MS 1000

static int map_pages(struct pvclock *pc, const char *path, size_t need,
                     int *fail_errno)
{
    struct stat st;
    void *map;
    int fd;

    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        fd = pvclock_pages_fd(path, HANDOFF_WAIT_MS);
    } else {
        /* never block: a FIFO at the path would hang until a writer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    }
    if (fd < 0) {
        *fail_errno = errno;
        return PVCLOCK_EOPEN;
    }
    if (fstat(fd, &st) < 0) {
        *fail_errno = errno;
        close(fd);
        return PVCLOCK_EOPEN;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size < need) {
        close(fd);
        return PVCLOCK_ESIZE;
    }
    map = mmap(NULL, need, PROT_READ, MAP_SHARED, fd, 0);
    *fail_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        return PVCLOCK_EOPEN;
    }
    pc->map = map;
    pc->map_len = need;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pc->host[i] = (const volatile struct pvcp_host_page *)
                      ((const char *)map + PVCP_BAR_HOST_PAGE(i));
    }
    return PVCLOCK_OK;
}

static int open_common(struct pvclock *pc, const char *path, size_t need,
                       int has_offset_page)
{
    int err;

    memset(pc, 0, sizeof(*pc));
    err = map_pages(pc, path, need, &pc->saved_errno);
    if (err) {
        return err;
    }
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        err = check_host_page(pc->host[i], i);
        if (err) {
            goto fail;
        }
    }
    if (has_offset_page) {
        pc->offset = (const volatile struct pvcp_offset_page *)
                     ((const char *)pc->map + PVCP_BAR_OFFSET_PAGE);
        if (pc->offset->magic != PVCP_OFFSET_MAGIC) {
            err = PVCLOCK_EMAGIC;
            goto fail;
        }
        if (pc->offset->abi_major != PVCP_ABI_MAJOR) {
            err = PVCLOCK_EVERSION;
            goto fail;
        }
    }
    pc->page = -1;
    return PVCLOCK_OK;

fail:
    pvclock_close(pc);
    return err;
}

int pvclock_open_host(struct pvclock *pc, const char *pages_path)
{
    if (!pc || !pages_path) {
        return PVCLOCK_EINVAL;
    }
    return open_common(pc, pages_path, PVCP_FILE_SIZE, 0);
}

int pvclock_find_device(char *path, size_t len)
{
    static const char base[] = "/sys/bus/pci/devices";
    struct dirent *de;
    int err = PVCLOCK_ENODEV;
    DIR *dir;

    dir = opendir(base);
    if (!dir) {
        return PVCLOCK_ENODEV;
    }
    while ((de = readdir(dir)) != NULL) {
        unsigned vendor = 0, device = 0;
        char file[512];
        FILE *f;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s/vendor", base, de->d_name);
        f = fopen(file, "re");
        if (!f) {
            continue;
        }
        if (fscanf(f, "%x", &vendor) != 1) {
            vendor = 0;
        }
        fclose(f);
        snprintf(file, sizeof(file), "%s/%s/device", base, de->d_name);
        f = fopen(file, "re");
        if (!f) {
            continue;
        }
        if (fscanf(f, "%x", &device) != 1) {
            device = 0;
        }
        fclose(f);
        if (vendor == PVCP_PCI_VENDOR_ID && device == PVCP_PCI_DEVICE_ID) {
            if ((size_t)snprintf(path, len, "%s/%s/resource0", base,
                                 de->d_name) >= len) {
                err = PVCLOCK_EINVAL;
            } else {
                err = PVCLOCK_OK;
            }
            break;
        }
    }
    closedir(dir);
    return err;
}

int pvclock_open_guest(struct pvclock *pc, const char *resource_path)
{
    char found[512];
    int err;

    if (!pc) {
        return PVCLOCK_EINVAL;
    }
    if (!resource_path) {
        err = pvclock_find_device(found, sizeof(found));
        if (err) {
            memset(pc, 0, sizeof(*pc));
            return err;
        }
        resource_path = found;
    }
    err = open_common(pc, resource_path, PVCP_BAR_SIZE, 1);
    if (err == PVCLOCK_OK) {
        pc->live = (const volatile unsigned char *)pc->map +
                   PVCP_BAR_LIVE_PAGE;
    }
    return err;
}

void pvclock_close(struct pvclock *pc)
{
    if (pc && pc->map) {
        munmap(pc->map, pc->map_len);
    }
    if (pc) {
        memset(pc, 0, sizeof(*pc));
    }
}

int pvclock_select_page(struct pvclock *pc, int page)
{
    if (!pc || !pc->map) {
        return PVCLOCK_ENOTMAPPED;
    }
    if (page < -1 || page >= PVCP_HOST_PAGES) {
        return PVCLOCK_EINVAL;
    }
    pc->page = page;
    return PVCLOCK_OK;
}

/*
 * A writer holds seq odd for well under a microsecond, unless it is
 * preempted in the middle of a write; one that died there holds it odd
 * for good.  Spin a little, then yield and watch the clock:
 * PVCLOCK_EBUSY after SEQ_WAIT_NS of an odd seq (or SEQ_SPIN_LIMIT
 * spins, which fuzz builds make small).  Why 100 ms: with a writer and
 * two readers on this project's 2-core machine, a 1 ms bound refused 1
 * to 78 reads in 24 M and a 10 ms one 1 to 5 (a preempted writer, not a
 * dead one); 50 ms refused none, also with two more CPU hogs.
 */
#define SEQ_FAST_SPINS  1024
#define SEQ_WAIT_NS     100000000   /* 100 ms */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t seq_begin(const volatile uint32_t *seqp, int *err)
{
    uint32_t n = 0, seq;
    int64_t since = 0;

    while ((seq = __atomic_load_n(seqp, __ATOMIC_ACQUIRE)) & 1) {
        if (++n == SEQ_SPIN_LIMIT) {
            *err = PVCLOCK_EBUSY;
            break;
        }
        if (n < SEQ_FAST_SPINS) {
            __builtin_ia32_pause();
            continue;
        }
        /*
         * Past the fast spins the writer is likely off its CPU, perhaps
         * because readers like this one keep the CPUs busy: let it run.
         */
        if (!since) {
            since = mono_ns();
        } else if (mono_ns() - since > SEQ_WAIT_NS) {
            *err = PVCLOCK_EBUSY;
            break;
        }
        sched_yield();
    }
    return seq;
}

static int page_for(const struct pvclock *pc, uint32_t recommended)
{
    if (pc->page >= 0) {
        return pc->page;
    }
    return recommended < PVCP_HOST_PAGES ? (int)recommended : 0;
}

/* Which data a clock id uses. */
enum clock_kind { KIND_HRES, KIND_RAW };

static int classify(clockid_t clk, enum clock_kind *kind, int *hres_index,
                    int *mono_index)
{
    *mono_index = -1;
    *hres_index = 0;
    *kind = KIND_HRES;
    switch (clk) {
    case CLOCK_REALTIME:
        *hres_index = PVCP_HRES_REALTIME;
        return PVCLOCK_OK;
    case CLOCK_TAI:
        *hres_index = PVCP_HRES_TAI;
        return PVCLOCK_OK;
    case CLOCK_MONOTONIC:
        *hres_index = PVCP_HRES_MONOTONIC;
        *mono_index = PVCP_MONO_MONOTONIC;
        return PVCLOCK_OK;
    case CLOCK_BOOTTIME:
        *hres_index = PVCP_HRES_BOOTTIME;
        *mono_index = PVCP_MONO_BOOTTIME;
        return PVCLOCK_OK;
    case CLOCK_MONOTONIC_RAW:
        *kind = KIND_RAW;
        *mono_index = PVCP_MONO_RAW;
        return PVCLOCK_OK;
    default:
        return PVCLOCK_ECLOCK;
    }
}

/* A copy of what one clock needs from a host page, taken under its seq. */
struct page_copy {
    bool magic_ok, major_ok;
    uint32_t counter_mode;
    uint64_t flags;
    struct pvcp_kvmclock kc;
    struct pvcp_line line;
    struct pvcp_base base;
    struct pvcp_base tai_base;      /* smeared REALTIME only */
    struct pvcp_smear smear;        /* smeared REALTIME only */
    struct pvcp_xform sim;          /* simulated hosts only */
    bool has_checks;                /* ABI 1.2 writer: verify these */
    int32_t leap;                   /* smear.leap, covered by check */
    uint64_t check, check_aux;
    uint64_t aux[PVCP_CHECK_AUX_WORDS];
};

/*
 * The offset page's transform for host page `page` and a clock's offset.
 * Pages of ABI 1.3 writers carry a reference-point transform; older ones
 * only the legacy form, of which the unscaled case is used.
 */
static inline void copy_offset(const volatile struct pvcp_offset_page *op,
                               int page, int mono_index,
                               struct pvcp_ref_xform *xf,
                               struct pvcp_timens_offset *mono)
{
    int d = page >> 1;

    if (__builtin_expect(op->abi_minor >= 3, 1)) {
        xf->guest_ref = op->ref_xform[d].guest_ref;
        xf->host_ref = op->ref_xform[d].host_ref;
        xf->mult = op->ref_xform[d].mult;
        xf->frac_ref = op->ref_xform[d].frac_ref;
        xf->frac_bits = op->ref_xform[d].frac_bits;
        xf->flags = op->ref_xform[d].flags;
    } else {
        struct pvcp_xform old = {
            op->xform[d].mult, op->xform[d].frac_bits, op->xform[d].flags,
            op->xform[d].offset,
        };

        if (!pvcp_ref_from_legacy(&old, xf)) {
            xf->flags = 0;
        }
    }
    if (mono_index >= 0) {
        mono->sec = op->mono_offset[mono_index].sec;
        mono->nsec = op->mono_offset[mono_index].nsec;
    }
}

/* A usable transform: valid and within the ABI's range. */
static inline int ref_xform_ok(const struct pvcp_ref_xform *xf)
{
    return (xf->flags & PVCP_XFORM_F_VALID) && xf->frac_bits <= 64;
}

static void copy_page(const volatile struct pvcp_host_page *h,
                      enum clock_kind kind, int hres_index, int smeared,
                      struct page_copy *c)
{
    c->counter_mode = h->counter_mode;
    c->flags = h->flags;
    c->has_checks = pvcp_page_has_checks(h->abi_minor);
    if (c->has_checks) {
        const volatile uint64_t *w = (const volatile uint64_t *)
            ((const volatile char *)h + PVCP_CHECK_AUX_START);

        c->leap = h->smear.leap;
        c->check = h->check[kind == KIND_HRES ? hres_index : PVCP_CHECK_RAW];
        c->check_aux = h->check_aux;
        for (int i = 0; i < PVCP_CHECK_AUX_WORDS; i++) {
            c->aux[i] = w[i];
        }
    }
    if (c->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        c->kc.tsc_timestamp = h->kvmclock.tsc_timestamp;
        c->kc.system_time = h->kvmclock.system_time;
        c->kc.tsc_to_system_mul = h->kvmclock.tsc_to_system_mul;
        c->kc.tsc_shift = h->kvmclock.tsc_shift;
    } else {
        c->kc = (struct pvcp_kvmclock){ 0 };
    }
    if (kind == KIND_HRES) {
        c->line.cycle_last = h->hres.cycle_last;
        c->line.max_cycles = h->hres.max_cycles;
        c->line.mult = h->hres.mult;
        c->line.shift = h->hres.shift;
        c->base.sec = h->hres_base[hres_index].sec;
        c->base.nsec_shifted = h->hres_base[hres_index].nsec_shifted;
    } else {
        c->line.cycle_last = h->raw.cycle_last;
        c->line.max_cycles = h->raw.max_cycles;
        c->line.mult = h->raw.mult;
        c->line.shift = h->raw.shift;
        c->base.sec = h->raw_base.sec;
        c->base.nsec_shifted = h->raw_base.nsec_shifted;
    }
    c->smear = (struct pvcp_smear){ 0 };
    c->tai_base = (struct pvcp_base){ 0, 0 };
    if (smeared && hres_index == PVCP_HRES_REALTIME && h->smear.leap) {
        c->tai_base.sec = h->hres_base[PVCP_HRES_TAI].sec;
        c->tai_base.nsec_shifted = h->hres_base[PVCP_HRES_TAI].nsec_shifted;
        c->smear.start_tai_sec = h->smear.start_tai_sec;
        c->smear.duration_s = h->smear.duration_s;
        c->smear.leap = h->smear.leap;
        c->smear.tai_offset_before = h->smear.tai_offset_before;
    }
    if (c->flags & PVCP_HOST_F_SIMULATED) {
        c->sim.mult = h->sim.mult;
        c->sim.frac_bits = h->sim.frac_bits;
        c->sim.flags = h->sim.flags;
        c->sim.offset = h->sim.offset;
    } else {
        c->sim = (struct pvcp_xform){ 1, 0, PVCP_XFORM_F_VALID, 0 };
    }
}

static int read_clock_page(const struct pvclock *pc, clockid_t clk,
                           int have_counter, uint64_t counter, int force_page,
                           struct pvcp_time *out);

/*
 * On the host a scaled page's counter is host MONOTONIC_RAW in ns, which
 * only the unscaled page can tell from the TSC.
 */
static int host_raw_ns(const struct pvclock *pc, int have_counter,
                       uint64_t tsc, uint64_t *raw)
{
    struct pvcp_time t;
    int err = read_clock_page(pc, CLOCK_MONOTONIC_RAW, have_counter, tsc,
                              PVCP_PAGE_UNSCALED_UNSMEARED, &t);

    *raw = t.sec * PVCP_NSEC_PER_SEC + t.nsec;
    return err == PVCLOCK_ESTALE ? PVCLOCK_OK : err;
}

/*
 * The read protocol of the ABI header: offset page seq, host page seq,
 * counter, copy, recheck.  Copies into locals so the arithmetic runs on
 * a consistent snapshot after the loop.
 */
static int read_clock_page(const struct pvclock *pc, clockid_t clk,
                           int have_counter, uint64_t counter, int force_page,
                           struct pvcp_time *out)
{
    const volatile struct pvcp_offset_page *op = pc ? pc->offset : NULL;
    struct pvcp_timens_offset mono = { 0, 0 };
    struct pvcp_ref_xform xf = { 0, 0, 1, 0, 0, PVCP_XFORM_F_VALID };
    const volatile struct pvcp_host_page *h;
    uint32_t oseq = 0, hseq, status = PVCP_STATUS_VALID;
    uint64_t ogen = 0, host_counter, cycles, stale_after, heartbeat;
    struct page_copy c;
    int hres_index, mono_index, err = PVCLOCK_OK;
    enum clock_kind kind;
    unsigned tries = 0;
    int page;

    if (!pc || !pc->map) {
        return PVCLOCK_ENOTMAPPED;
    }
    err = classify(clk, &kind, &hres_index, &mono_index);
    if (err) {
        return err;
    }

    do {
        if (++tries > SEQ_SPIN_LIMIT) {
            return PVCLOCK_EBUSY;
        }
        page = force_page >= 0 ? force_page : pc->page >= 0 ? pc->page : 0;
        if (op) {
            oseq = seq_begin(&op->seq, &err);
            if (err) {
                return err;
            }
            ogen = op->generation;
            status = op->status;
            if (force_page < 0) {
                page = page_for(pc, op->recommended_page);
            }
            copy_offset(op, page, mono_index, &xf, &mono);
        }
        h = pc->host[page];
        hseq = seq_begin(&h->seq, &err);
        if (err) {
            return err;
        }
        if (!have_counter) {
            counter = pvclock_read_counter();
        }
        copy_page(h, kind, hres_index, page & PVCP_PAGE_SMEARED, &c);
        c.magic_ok = h->magic == PVCP_HOST_MAGIC &&
                     h->page_index == (uint32_t)page &&
                     (!op || op->magic == PVCP_OFFSET_MAGIC);
        c.major_ok = h->abi_major == PVCP_ABI_MAJOR &&
                     (!op || op->abi_major == PVCP_ABI_MAJOR);
        read_barrier();
        /*
         * The generation too: a read that straddles a migration copies
         * half from the source host's pages and half from the
         * destination's, and the two sides' seqs can be equal by chance;
         * the generation always grows across a migration.
         */
    } while (h->seq != hseq ||
             (op && (op->seq != oseq || op->generation != ogen)));

    /* a page scribbled over after open is refused, not read */
    if (!c.magic_ok) {
        return PVCLOCK_EMAGIC;
    }
    if (!c.major_ok) {
        return PVCLOCK_EVERSION;
    }

    /* Liveness sits outside the seqcount (see the ABI header). */
    heartbeat = h->heartbeat_counter;
    stale_after = h->stale_after;

    if (status != PVCP_STATUS_VALID && status != PVCP_STATUS_STALE) {
        return status == PVCP_STATUS_UNRELIABLE ? PVCLOCK_EUNRELIABLE
                                                : PVCLOCK_ENOTVALID;
    }
    if (c.counter_mode == PVCP_COUNTER_NONE ||
        !(c.flags & PVCP_HOST_F_VALID)) {
        return PVCLOCK_EUNPUBLISHED;
    }
    /* damaged by someone other than the helper: refuse, don't compute */
    if (c.has_checks &&
        (c.check != pvcp_check_clock(kind == KIND_HRES ? hres_index
                                                       : PVCP_CHECK_RAW,
                                     c.counter_mode, c.flags, &c.line,
                                     &c.base, c.leap) ||
         c.check_aux != pvcp_check_aux_words(c.aux))) {
        return PVCLOCK_EBADPAGE;
    }
    /* scaled pages (2, 3) count raw ns, the others never do */
    if ((c.counter_mode == PVCP_COUNTER_RAW_NS) !=
        !!(page & PVCP_PAGE_SCALED)) {
        return PVCLOCK_EBADPAGE;
    }
    if (__builtin_expect(c.counter_mode > PVCP_COUNTER_RAW_NS ||
                         c.line.shift > 63 || !ref_xform_ok(&xf), 0) ||
        (c.counter_mode == PVCP_COUNTER_TSC_KVMCLOCK &&
         (c.kc.tsc_shift > 63 || c.kc.tsc_shift < -63)) ||
        ((c.flags & PVCP_HOST_F_SIMULATED) &&
         (c.sim.frac_bits > 63 || !(c.sim.flags & PVCP_XFORM_F_VALID)))) {
        return PVCLOCK_EBADPAGE;
    }

    if (!op && c.counter_mode == PVCP_COUNTER_RAW_NS) {
        /* host reader of a scaled page: the counter is host raw ns */
        err = host_raw_ns(pc, have_counter, counter, &host_counter);
        if (err) {
            return err;
        }
    } else {
        host_counter = pvcp_ref_xform_apply(&xf, counter);
    }
    if (c.flags & PVCP_HOST_F_SIMULATED) {
        host_counter = pvcp_xform_apply(&c.sim, host_counter);
    }
    cycles = pvcp_host_cycles(c.counter_mode, &c.kc, host_counter);
    *out = pvcp_clock_at(&c.line, &c.base, c.flags, cycles);
    if (c.smear.leap) {
        *out = pvcp_smear_realtime(&c.smear,
                                   pvcp_clock_at(&c.line, &c.tai_base,
                                                 c.flags, cycles), *out);
    }
    if (mono_index >= 0 && op) {
        *out = pvcp_time_add_offset(*out, &mono);
    }
    if (status == PVCP_STATUS_STALE ||
        (stale_after && host_counter - heartbeat > stale_after &&
         (int64_t)(host_counter - heartbeat) > 0)) {
        return PVCLOCK_ESTALE;  /* the last mapping, still filled in */
    }
    return PVCLOCK_OK;
}

/*
 * The live page (ABI 1.4): the host kernel's own words, under the
 * kernel's seq, through the offset page's unscaled transform.  The
 * descriptor says where the words are; everything it says is checked
 * against the page's size before a word is loaded.
 */
static inline uint32_t live32(const volatile unsigned char *p, unsigned off)
{
    return *(const volatile uint32_t *)(p + off);
}

static inline uint64_t live64(const volatile unsigned char *p, unsigned off)
{
    return *(const volatile uint64_t *)(p + off);
}

/* The descriptor's offsets for block b, or 0 if they leave the page. */
static int live_desc_ok(const struct pvcp_live *d, int b, int base)
{
    unsigned blk = d->block[b];
    unsigned last = d->max_cycles == PVCP_LIVE_NONE ? 0 : d->max_cycles;

    last = last > d->cycle_last ? last : d->cycle_last;
    return d->version == PVCP_LIVE_VERSION &&
           blk + d->seq + 4 <= PVCP_PAGE_SIZE &&
           blk + d->clock_mode + 4 <= PVCP_PAGE_SIZE &&
           blk + last + 8 <= PVCP_PAGE_SIZE &&
           blk + d->mult + 4 <= PVCP_PAGE_SIZE &&
           blk + d->shift + 4 <= PVCP_PAGE_SIZE &&
           blk + d->base[base] + 16 <= PVCP_PAGE_SIZE &&
           (b || blk + d->base[PVCP_HRES_TAI] + 16 <= PVCP_PAGE_SIZE);
}

/*
 * Returns -1 when the live page cannot answer (none, not valid now, the
 * host left the TSC, a scaled page chosen, a smeared page that refuses
 * its smear): the host pages answer then, and say why if they cannot.
 */
static int live_read(const struct pvclock *pc, clockid_t clk,
                     int have_counter, uint64_t counter,
                     struct pvcp_time *out)
{
    const volatile struct pvcp_offset_page *op = pc->offset;
    const volatile unsigned char *blk = NULL;
    const volatile struct pvcp_host_page *h = NULL;
    struct pvcp_ref_xform xf;
    struct pvcp_timens_offset mono = { 0, 0 };
    struct pvcp_live d;
    struct pvcp_line line;
    struct pvcp_base base, tai = { 0, 0 };
    struct page_copy sc;
    uint32_t oseq, lseq, hseq = 0, status;
    uint64_t ogen, host;
    int32_t mode;
    int hres_index, mono_index, page, b, bi, smeared, err = PVCLOCK_OK;
    enum clock_kind kind;
    unsigned tries = 0;

    if (!pc->live || !op ||
        classify(clk, &kind, &hres_index, &mono_index) != PVCLOCK_OK) {
        return -1;
    }
    b = kind == KIND_RAW;
    bi = b ? PVCP_LIVE_RAW : hres_index;
    do {
        if (++tries > SEQ_SPIN_LIMIT) {
            return -1;
        }
        oseq = seq_begin(&op->seq, &err);
        if (err) {
            return -1;
        }
        ogen = op->generation;
        status = op->status;
        page = page_for(pc, op->recommended_page);
        d.flags = op->live.flags;
        d.version = op->live.version;
        d.block[0] = op->live.block[0];
        d.block[1] = op->live.block[1];
        d.seq = op->live.seq;
        d.clock_mode = op->live.clock_mode;
        d.cycle_last = op->live.cycle_last;
        d.max_cycles = op->live.max_cycles;
        d.mult = op->live.mult;
        d.shift = op->live.shift;
        d.base[bi] = op->live.base[bi];
        d.base[PVCP_HRES_TAI] = op->live.base[PVCP_HRES_TAI];
        d.clock_mode_tsc = op->live.clock_mode_tsc;
        copy_offset(op, page, mono_index, &xf, &mono);
        /* a torn copy is bounds-checked here and retried below */
        if (op->magic != PVCP_OFFSET_MAGIC || op->abi_major != PVCP_ABI_MAJOR ||
            op->abi_minor < 4 || !(d.flags & PVCP_LIVE_F_VALID) ||
            (page & PVCP_PAGE_SCALED) || !live_desc_ok(&d, b, bi)) {
            return -1;
        }
        smeared = (page & PVCP_PAGE_SMEARED) && hres_index ==
                  PVCP_HRES_REALTIME && !b;
        if (smeared) {
            /* the smear comes from the helper's smeared page */
            h = pc->host[page];
            hseq = seq_begin(&h->seq, &err);
            if (err) {
                return -1;
            }
            copy_page(h, KIND_HRES, PVCP_HRES_REALTIME, 1, &sc);
            sc.magic_ok = h->magic == PVCP_HOST_MAGIC &&
                          h->page_index == (uint32_t)page &&
                          h->abi_major == PVCP_ABI_MAJOR;
        }
        blk = pc->live + d.block[b];
        lseq = seq_begin((const volatile uint32_t *)(blk + d.seq), &err);
        if (err) {
            return -1;
        }
        if (!have_counter) {
            counter = read_counter_inline();
        }
        mode = (int32_t)live32(blk, d.clock_mode);
        line.cycle_last = live64(blk, d.cycle_last);
        line.max_cycles = d.max_cycles == PVCP_LIVE_NONE
                          ? (1ull << 62) - 1 : live64(blk, d.max_cycles);
        line.mult = live32(blk, d.mult);
        line.shift = live32(blk, d.shift);
        base.sec = live64(blk, d.base[bi]);
        base.nsec_shifted = live64(blk, d.base[bi] + 8);
        if (smeared) {
            tai.sec = live64(blk, d.base[PVCP_HRES_TAI]);
            tai.nsec_shifted = live64(blk, d.base[PVCP_HRES_TAI] + 8);
        }
        read_barrier();
    } while (live32(blk, d.seq) != lseq || op->seq != oseq ||
             op->generation != ogen || (smeared && h->seq != hseq));

    if ((status != PVCP_STATUS_VALID && status != PVCP_STATUS_STALE) ||
        mode != d.clock_mode_tsc || line.shift > 63 || !ref_xform_ok(&xf)) {
        return -1;
    }
    if (smeared && (!sc.magic_ok || !(sc.flags & PVCP_HOST_F_VALID) ||
                    (sc.has_checks &&
                     (sc.check != pvcp_check_clock(PVCP_HRES_REALTIME,
                                                   sc.counter_mode, sc.flags,
                                                   &sc.line, &sc.base,
                                                   sc.leap) ||
                      sc.check_aux != pvcp_check_aux_words(sc.aux))))) {
        return -1;
    }
    host = pvcp_ref_xform_apply(&xf, counter) & PVCP_S64_MAX;
    {
        uint64_t flags = (d.flags & PVCP_LIVE_F_MUL_WRAPS)
                         ? PVCP_HOST_F_MUL_WRAPS : 0;

        *out = pvcp_clock_at(&line, &base, flags, host);
        if (smeared && sc.smear.leap) {
            *out = pvcp_smear_realtime(&sc.smear,
                                       pvcp_clock_at(&line, &tai, flags,
                                                     host), *out);
        }
    }
    if (mono_index >= 0) {
        *out = pvcp_time_add_offset(*out, &mono);
    }
    return PVCLOCK_OK;      /* the kernel's own data is never stale */
}

static int read_clock(const struct pvclock *pc, clockid_t clk,
                      int have_counter, uint64_t counter,
                      struct pvcp_time *out)
{
    if (pc && pc->live) {
        int err = live_read(pc, clk, have_counter, counter, out);

        if (err >= 0) {
            return err;
        }
    }
    return read_clock_page(pc, clk, have_counter, counter, -1, out);
}

int pvclock_live_in_use(const struct pvclock *pc, clockid_t clk)
{
    struct pvcp_time t;

    if (!pc || !pc->map) {
        return -PVCLOCK_ENOTMAPPED;
    }
    return pc->live && live_read(pc, clk, 0, 0, &t) == PVCLOCK_OK;
}

static int finish(int err, const struct pvcp_time *t, struct timespec *ts)
{
    if (err == PVCLOCK_OK || err == PVCLOCK_ESTALE) {
        ts->tv_sec = (time_t)t->sec;
        ts->tv_nsec = (long)t->nsec;
    }
    return err;
}

/* Where each clock id's line and base are, for the fast path. */
static const struct {
    int8_t hres_index;      /* -1: MONOTONIC_RAW */
    int8_t mono_index;      /* -1: none */
} fast_clock[] = {
    [CLOCK_REALTIME] = { PVCP_HRES_REALTIME, -1 },
    [CLOCK_MONOTONIC] = { PVCP_HRES_MONOTONIC, PVCP_MONO_MONOTONIC },
    [CLOCK_MONOTONIC_RAW] = { -1, PVCP_MONO_RAW },
    [CLOCK_BOOTTIME] = { PVCP_HRES_BOOTTIME, PVCP_MONO_BOOTTIME },
    [CLOCK_TAI] = { PVCP_HRES_TAI, -1 },
};

/*
 * The common case, kept lean: a TSC-counted page of a real host, and no
 * smear in effect for this clock.  The same protocol and arithmetic as
 * read_clock_page(); anything else (kvm-clock stage, simulated host,
 * smeared REALTIME, scaled page on the host, a writer active, an error)
 * goes there.  Returns -1 to ask for the general path.
 */
static inline int fast_read(const struct pvclock *pc, clockid_t clk,
                            struct pvcp_time *out)
{
    const volatile struct pvcp_offset_page *op = pc->offset;
    const volatile struct pvcp_host_page *h;
    const volatile struct pvcp_line *vl;
    const volatile struct pvcp_base *vb;
    struct pvcp_line line;
    struct pvcp_base base;
    struct pvcp_ref_xform xf = { 0, 0, 1, 0, 0, PVCP_XFORM_F_VALID };
    struct pvcp_timens_offset mono = { 0, 0 };
    uint32_t oseq = 0, hseq, status = PVCP_STATUS_VALID, page, mode;
    uint64_t counter, host, flags, heartbeat, stale_after, check, ogen = 0;
    int32_t leap;
    int hi, mi, checked;

    if ((unsigned)clk >= sizeof(fast_clock) / sizeof(fast_clock[0]) ||
        (clk != CLOCK_REALTIME && !fast_clock[clk].hres_index &&
         !fast_clock[clk].mono_index)) {
        return -1;
    }
    hi = fast_clock[clk].hres_index;
    mi = fast_clock[clk].mono_index;
    page = pc->page >= 0 ? (uint32_t)pc->page : 0;
    if (op) {
        oseq = __atomic_load_n(&op->seq, __ATOMIC_ACQUIRE);
        ogen = op->generation;
        status = op->status;
        if (pc->page < 0) {
            page = op->recommended_page;
            if (page >= PVCP_HOST_PAGES) {
                return -1;
            }
        }
        copy_offset(op, (int)page, mi, &xf, &mono);
    }
    h = pc->host[page];
    hseq = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
    flags = h->flags;
    mode = h->counter_mode;
    leap = h->smear.leap;
    checked = pvcp_page_has_checks(h->abi_minor);
    check = h->check[hi >= 0 ? hi : PVCP_CHECK_RAW];
    if (h->magic != PVCP_HOST_MAGIC || h->abi_major != PVCP_ABI_MAJOR ||
        h->page_index != page ||
        (op && (op->magic != PVCP_OFFSET_MAGIC ||
                op->abi_major != PVCP_ABI_MAJOR)) ||
        mode != PVCP_COUNTER_TSC ||
        (flags & (PVCP_HOST_F_SIMULATED | PVCP_HOST_F_VALID)) !=
        PVCP_HOST_F_VALID ||
        (hi == PVCP_HRES_REALTIME && (page & PVCP_PAGE_SMEARED) && leap)) {
        return -1;
    }
    vl = hi >= 0 ? &h->hres : &h->raw;
    vb = hi >= 0 ? &h->hres_base[hi] : &h->raw_base;
    line.cycle_last = vl->cycle_last;
    line.max_cycles = vl->max_cycles;
    line.mult = vl->mult;
    line.shift = vl->shift;
    base.sec = vb->sec;
    base.nsec_shifted = vb->nsec_shifted;
    /* everything loaded: only arithmetic follows the counter */
    counter = read_counter_inline();
    read_barrier();
    if (((oseq | hseq) & 1) || h->seq != hseq ||
        (op && (op->seq != oseq || op->generation != ogen))) {
        return -1;
    }
    heartbeat = h->heartbeat_counter;
    stale_after = h->stale_after;

    if (status != PVCP_STATUS_VALID || line.shift > 63 ||
        (op && !ref_xform_ok(&xf)) ||
        (checked && check != pvcp_check_clock(hi >= 0 ? hi : PVCP_CHECK_RAW,
                                              mode, flags, &line, &base,
                                              leap))) {
        return -1;
    }
    host = op ? pvcp_ref_xform_apply(&xf, counter) : counter;
    *out = pvcp_clock_at(&line, &base, flags, host & PVCP_S64_MAX);
    if (op && mi >= 0) {
        *out = pvcp_time_add_offset(*out, &mono);
    }
    if (stale_after && host - heartbeat > stale_after &&
        (int64_t)(host - heartbeat) > 0) {
        return PVCLOCK_ESTALE;
    }
    return PVCLOCK_OK;
}

/*
 * The host reader's case (a pages file, no offset page), leaner still:
 * everything is loaded between the seq read and RDTSCP, so only the
 * arithmetic follows the counter, as in the vDSO.
 */
static inline int fast_read_host(const struct pvclock *pc, clockid_t clk,
                                 struct timespec *ts)
{
    const volatile struct pvcp_host_page *h;
    const volatile struct pvcp_line *vl;
    const volatile struct pvcp_base *vb;
    uint64_t cycle_last, max_cycles, sec, nsec, flags, hb, stale, counter;
    uint64_t check;
    uint32_t hseq, mult, shift, mode;
    int32_t leap;
    int hi, checked, page = pc->page >= 0 ? pc->page : 0;

    if ((unsigned)clk >= sizeof(fast_clock) / sizeof(fast_clock[0]) ||
        (clk != CLOCK_REALTIME && !fast_clock[clk].hres_index &&
         !fast_clock[clk].mono_index)) {
        return -1;
    }
    hi = fast_clock[clk].hres_index;
    h = pc->host[page];
    vl = hi >= 0 ? &h->hres : &h->raw;
    vb = hi >= 0 ? &h->hres_base[hi] : &h->raw_base;

    hseq = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
    if (__builtin_expect(h->magic != PVCP_HOST_MAGIC ||
                         h->abi_major != PVCP_ABI_MAJOR ||
                         h->page_index != (uint32_t)page, 0)) {
        return -1;      /* the general path says which */
    }
    checked = pvcp_page_has_checks(h->abi_minor);
    flags = h->flags;
    mode = h->counter_mode;
    cycle_last = vl->cycle_last;
    max_cycles = vl->max_cycles;
    mult = vl->mult;
    shift = vl->shift;
    sec = vb->sec;
    nsec = vb->nsec_shifted;
    leap = h->smear.leap;
    check = h->check[hi >= 0 ? hi : PVCP_CHECK_RAW];
    if (__builtin_expect((hseq & 1) || mode != PVCP_COUNTER_TSC ||
                         (flags & (PVCP_HOST_F_SIMULATED |
                                   PVCP_HOST_F_VALID)) != PVCP_HOST_F_VALID ||
                         shift > 63 ||
                         ((page & PVCP_PAGE_SMEARED) && leap), 0)) {
        return -1;
    }
    counter = read_counter_inline();
    hb = h->heartbeat_counter;
    stale = h->stale_after;
    read_barrier();
    if (__builtin_expect(h->seq != hseq, 0)) {
        return -1;
    }
    {
        /* the arithmetic the exactness test checks, inlined */
        struct pvcp_line l = { cycle_last, max_cycles, mult, shift };
        struct pvcp_base b = { sec, nsec };
        struct pvcp_time t;

        if (__builtin_expect(checked &&
                             check != pvcp_check_clock(hi >= 0 ? hi :
                                                       PVCP_CHECK_RAW, mode,
                                                       flags, &l, &b, leap),
                             0)) {
            return -1;  /* damaged: the general path refuses it */
        }
        counter &= PVCP_S64_MAX;
        t = pvcp_clock_at(&l, &b, flags, counter);
        ts->tv_sec = (time_t)t.sec;
        ts->tv_nsec = (long)t.nsec;
    }
    if (__builtin_expect(stale && counter - hb > stale &&
                         (int64_t)(counter - hb) > 0, 0)) {
        return PVCLOCK_ESTALE;
    }
    return PVCLOCK_OK;
}

int pvclock_gettime(const struct pvclock *pc, clockid_t clk,
                    struct timespec *ts)
{
    struct pvcp_time t;
    int err;

    if (__builtin_expect(!ts || !pc || !pc->map, 0)) {
        return !ts ? PVCLOCK_EINVAL : PVCLOCK_ENOTMAPPED;
    }
    if (!pc->offset) {
        err = fast_read_host(pc, clk, ts);
        if (__builtin_expect(err >= 0, 1)) {
            return err;
        }
    }
    err = pc->live ? live_read(pc, clk, 0, 0, &t) : -1;
    if (err < 0) {
        err = fast_read(pc, clk, &t);
    }
    if (__builtin_expect(err < 0, 0)) {
        err = read_clock_page(pc, clk, 0, 0, -1, &t);
    }
    return finish(err, &t, ts);
}

int pvclock_gettime_at(const struct pvclock *pc, clockid_t clk,
                       uint64_t counter, struct timespec *ts)
{
    struct pvcp_time t;

    if (!ts) {
        return PVCLOCK_EINVAL;
    }
    return finish(read_clock(pc, clk, 1, counter, &t), &t, ts);
}

int pvclock_get_info(const struct pvclock *pc, struct pvclock_info *info)
{
    const volatile struct pvcp_offset_page *op;
    const volatile struct pvcp_host_page *h;
    uint32_t oseq = 0, hseq;
    uint64_t ogen = 0;
    int err = PVCLOCK_OK;

    if (!pc || !pc->map) {
        return PVCLOCK_ENOTMAPPED;
    }
    if (!info) {
        return PVCLOCK_EINVAL;
    }
    op = pc->offset;
    do {
        memset(info, 0, sizeof(*info));
        info->status = PVCP_STATUS_VALID;
        info->page = pc->page >= 0 ? pc->page : 0;
        if (op) {
            oseq = seq_begin(&op->seq, &err);
            ogen = op->generation;
            info->generation = ogen;
            info->status = op->status;
            info->backend = op->counter_backend;
            info->guest_counter_hz = op->guest_counter_hz;
            info->page = page_for(pc, op->recommended_page);
        }
        h = pc->host[info->page];
        hseq = seq_begin(&h->seq, &err);
        if (err) {
            return err;
        }
        info->counter_mode = h->counter_mode;
        info->generation += h->disruptions;
        info->host_flags = h->flags;
        info->host_counter_hz = h->counter_hz;
        read_barrier();
    } while (h->seq != hseq ||
             (op && (op->seq != oseq || op->generation != ogen)));
    info->helper_epoch = h->helper_epoch;
    return PVCLOCK_OK;
}
