/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's pages file.  See pages.h.
 */
#define _GNU_SOURCE             /* memfd_create(), F_ADD_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pages.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-pages-cpu.h"

/* The seq-protected part of a host page: counter_mode up to reserved2. */
#define PROT_START  offsetof(struct pvcp_host_page, counter_mode)
#define PROT_END    offsetof(struct pvcp_host_page, reserved2)

int pages_mkdir_parents(const char *path)
{
    char *dup = strdup(path);
    char *dir;
    int ret = 0;

    if (!dup) {
        return -1;
    }
    dir = dirname(dup);
    if (strcmp(dir, ".") && strcmp(dir, "/")) {
        struct stat st;

        if (stat(dir, &st) < 0) {
            if (pages_mkdir_parents(dir) < 0 ||
                (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
                ret = -1;
            }
        }
    }
    free(dup);
    return ret;
}

static void read_protected(const volatile struct pvcp_host_page *src,
                           struct pvcp_host_page *dst);
static void wake_waiters(volatile struct pvcp_host_page *p);

static bool header_ok(const volatile struct pvcp_host_page *p, int index)
{
    return p->magic == PVCP_HOST_MAGIC && p->abi_major == PVCP_ABI_MAJOR &&
           p->abi_minor == PVCP_ABI_MINOR &&
           p->page_index == (uint32_t)index;
}

/*
 * (Re)write page index's header, unpublished.  seq goes odd first and
 * stays on from whatever it was, so that a reader that sampled the page
 * before sees it change; the content is published afresh by the caller.
 */
static void init_header(volatile struct pvcp_host_page *p, int index)
{
    uint32_t seq = p->seq | 1;

    p->seq = seq;
    pvcp_wmb();
    p->counter_mode = PVCP_COUNTER_NONE;
    p->flags = 0;
    p->page_index = (uint32_t)index;
    p->abi_major = PVCP_ABI_MAJOR;
    p->abi_minor = PVCP_ABI_MINOR;
    p->magic = PVCP_HOST_MAGIC;
    pvcp_wmb();
    p->seq = seq + 1;
    wake_waiters(p);
}

/*
 * Someone may truncate the file under our mapping; the next store or
 * load there raises SIGBUS.  The handler grows the file back (zeros) so
 * the access restarts and succeeds, and tells pages_repair().
 */
static struct {
    char *map;
    int fd;
    volatile sig_atomic_t hit;
} bus;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
    char *addr = info->si_addr;

    (void)ctx;
    if (bus.map && addr >= bus.map && addr < bus.map + PVCP_FILE_SIZE &&
        ftruncate(bus.fd, PVCP_FILE_SIZE) == 0) {
        bus.hit = 1;
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

bool pages_repair(struct pages_file *pf)
{
    bool fixed = bus.hit;

    bus.hit = 0;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page cur;

        if (!header_ok(pf->page[i], i)) {
            init_header(pf->page[i], i);
            pages_unpublish(pf, i);
            fixed = true;
            continue;
        }
        /* only this process writes the file: no seq loop needed */
        read_protected(pf->page[i], &cur);
        cur.abi_minor = PVCP_ABI_MINOR;
        if (!pvcp_page_checks_ok(&cur)) {
            pages_unpublish(pf, i);
            fixed = true;
        }
    }
    return fixed;
}

/*
 * Map fd (PVCP_FILE_SIZE bytes) for writing and make every page carry a
 * valid header; pf owns fd from here on, also on failure.
 */
static int pages_attach(struct pages_file *pf, int fd, const char *name,
                        char *err, size_t errlen)
{
    void *map = mmap(NULL, PVCP_FILE_SIZE, PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);

    if (map == MAP_FAILED) {
        snprintf(err, errlen, "cannot map pages %s: %s", name,
                 strerror(errno));
        close(fd);
        return -1;
    }
    pf->fd = fd;
    pf->map = map;
    pf->path = strdup(name);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        volatile struct pvcp_host_page *p = (volatile struct pvcp_host_page *)
            ((char *)map + PVCP_BAR_HOST_PAGE(i));

        pf->page[i] = p;
        /*
         * Keep a valid page's seq running across helper restarts: a
         * reader that sampled it before the restart must see it change.
         */
        if (!header_ok(p, i) || (p->seq & 1)) {
            init_header(p, i);
            pages_unpublish(pf, i);
        }
    }
    return 0;
}

int pages_open(struct pages_file *pf, const char *path, char *err,
               size_t errlen)
{
    struct stat st;
    int fd;

    memset(pf, 0, sizeof(*pf));
    pf->fd = -1;
    if (pages_mkdir_parents(path) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s "
                 "(create it, or choose another --pages path)", path,
                 strerror(errno));
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open pages file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "pages file %s is locked by another "
                 "pvclock-helper: only one helper may publish a file",
                 path);
        close(fd);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "pages file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    /*
     * Resize in place, never replace: QEMU maps this inode.  Growing a
     * short file reads as zero, which the headers below then initialise.
     */
    if (st.st_size != PVCP_FILE_SIZE && ftruncate(fd, PVCP_FILE_SIZE) < 0) {
        snprintf(err, errlen, "cannot size pages file %s: %s", path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (pages_attach(pf, fd, path, err, errlen) < 0) {
        return -1;
    }
    {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        bus.fd = fd;
        bus.map = pf->map;
        sigaction(SIGBUS, &sa, NULL);
    }
    return 0;
}

#define PAGES_SEALS     (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int pages_check_memfd(int fd, char *err, size_t errlen)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);

    if (seals < 0 || (seals & PAGES_SEALS) != PAGES_SEALS) {
        snprintf(err, errlen, "the pages memfd is not sealed against "
                 "shrinking and growing (seals 0x%x): not pvclock-helper's",
                 seals < 0 ? 0 : seals);
        return -1;
    }
    if (fstat(fd, &st) < 0 || st.st_size != PVCP_FILE_SIZE) {
        snprintf(err, errlen, "the pages memfd has %lld bytes, not %d",
                 (long long)st.st_size, PVCP_FILE_SIZE);
        return -1;
    }
    return 0;
}

int pages_open_memfd(struct pages_file *pf, int fd, char *err, size_t errlen)
{
    memset(pf, 0, sizeof(*pf));
    pf->fd = -1;
    if (fd < 0) {
        fd = memfd_create("pvclock-pages", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, PVCP_FILE_SIZE) < 0 ||
            fcntl(fd, F_ADD_SEALS, PAGES_SEALS) < 0) {
            snprintf(err, errlen, "cannot create the pages memfd: %s",
                     strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
    } else if (pages_check_memfd(fd, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    /*
     * A memfd is created mode 0777, and whoever holds a descriptor of it
     * can open /proc/self/fd/N again with the access the mode allows:
     * read-write, for every client.  Read-only for all (root aside):
     * the helper writes through its own read-write open, which the mode
     * does not affect, also after a restart (systemd keeps that open).
     */
    if (fchmod(fd, 0444) < 0) {
        snprintf(err, errlen, "cannot make the pages memfd read-only: %s",
                 strerror(errno));
        close(fd);
        return -1;
    }
    return pages_attach(pf, fd, "memfd:pvclock-pages", err, errlen);
}

void pages_close(struct pages_file *pf)
{
    if (bus.map == pf->map) {
        bus.map = NULL;
    }
    if (pf->map) {
        munmap(pf->map, PVCP_FILE_SIZE);
    }
    if (pf->fd >= 0) {
        close(pf->fd);
    }
    free(pf->path);
    memset(pf, 0, sizeof(*pf));
    pf->fd = -1;
}

void pages_fill_from_snapshot(struct pvcp_host_page *dst,
                              const struct host_snapshot *snap,
                              uint64_t counter_hz)
{
    dst->counter_mode = snap->counter_mode;
    dst->flags = snap->flags | PVCP_HOST_F_VALID;
    dst->counter_hz = counter_hz;
    if (snap->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        dst->kvmclock = snap->kvmclock;
    } else {
        memset(&dst->kvmclock, 0, sizeof(dst->kvmclock));
    }
    dst->hres = snap->hres;
    memcpy(dst->hres_base, snap->hres_base, sizeof(dst->hres_base));
    dst->raw = snap->raw;
    dst->raw_base = snap->raw_base;
}

/* The exact value of a base in line units: (sec * 10^9 << shift) + nsec. */
static pvcp_u128 base_units(const struct pvcp_base *b, uint32_t shift)
{
    return (((pvcp_u128)b->sec * PVCP_NSEC_PER_SEC) << shift) +
           b->nsec_shifted;
}

/*
 * Same line: equal slope, and b's base is a's base moved along the line
 * to b's cycle_last.  Then for every counter value both give the same
 * nanoseconds (the shifted seconds are multiples of 2^shift, so the
 * floor in ">> shift" falls the same way).
 */
static bool same_line(const struct pvcp_line *la, const struct pvcp_base *ba,
                      const struct pvcp_line *lb, const struct pvcp_base *bb,
                      int n)
{
    if (la->mult != lb->mult || la->shift != lb->shift ||
        la->max_cycles != lb->max_cycles || lb->cycle_last < la->cycle_last) {
        return false;
    }
    for (int i = 0; i < n; i++) {
        pvcp_u128 moved = base_units(&ba[i], la->shift) +
                          (pvcp_u128)(lb->cycle_last - la->cycle_last) *
                          la->mult;

        if (moved != base_units(&bb[i], lb->shift)) {
            return false;
        }
    }
    return true;
}

bool pages_same_mapping(const struct pvcp_host_page *a,
                        const struct pvcp_host_page *b)
{
    if (a->counter_mode != b->counter_mode || a->flags != b->flags ||
        a->counter_hz != b->counter_hz) {
        return false;
    }
    if (a->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK &&
        memcmp(&a->kvmclock, &b->kvmclock, sizeof(a->kvmclock)) != 0) {
        return false;
    }
    /* NTP state, smear schedule and simulate transform: as they are */
    if (a->tai_offset != b->tai_offset || a->ntp_status != b->ntp_status ||
        a->esterror_ns != b->esterror_ns ||
        a->maxerror_ns != b->maxerror_ns ||
        a->smear.leap != b->smear.leap ||
        a->smear.start_tai_sec != b->smear.start_tai_sec ||
        a->smear.duration_s != b->smear.duration_s ||
        a->smear.tai_offset_before != b->smear.tai_offset_before ||
        memcmp(&a->sim, &b->sim, sizeof(a->sim)) != 0 ||
        a->disruptions != b->disruptions) {
        return false;
    }
    return same_line(&a->hres, a->hres_base, &b->hres, b->hres_base,
                     PVCP_HRES_CLOCKS) &&
           same_line(&a->raw, &a->raw_base, &b->raw, &b->raw_base, 1);
}

/*
 * The seq-protected part moves as whole 64-bit words (a reader never sees
 * half a word), and through memcpy() on our side of the copy: the private
 * pages are structs of narrower fields, and a uint64_t lvalue over them
 * would break the aliasing rules (it did: -O2 kept mult and shift from
 * before the copy).
 */
static void copy_protected(volatile struct pvcp_host_page *dst,
                           const struct pvcp_host_page *src)
{
    volatile uint8_t *d = (volatile uint8_t *)dst;

    dst->counter_mode = src->counter_mode;
    for (size_t off = PROT_START + 4; off < PROT_END; off += 8) {
        uint64_t w;

        memcpy(&w, (const uint8_t *)src + off, sizeof(w));
        *(volatile uint64_t *)(d + off) = w;
    }
}

static void read_protected(const volatile struct pvcp_host_page *src,
                           struct pvcp_host_page *dst)
{
    const volatile uint8_t *s = (const volatile uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;

    memset(dst, 0, sizeof(*dst));
    dst->counter_mode = src->counter_mode;
    for (size_t off = PROT_START + 4; off < PROT_END; off += 8) {
        uint64_t w = *(const volatile uint64_t *)(s + off);

        memcpy(d + off, &w, sizeof(w));
    }
}

static void write_begin(volatile struct pvcp_host_page *p)
{
    p->seq = p->seq + 1;
    pvcp_wmb();
}

/*
 * Wake whoever waits for a new seq (a shared futex on the page's seq
 * word: QEMU's vmclock=on rewrites its guest's VMClock page on it).
 * With no waiter this is one syscall; with n, the kernel wakes n.
 */
static void wake_waiters(volatile struct pvcp_host_page *p)
{
    syscall(SYS_futex, &p->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void write_end(volatile struct pvcp_host_page *p, bool wake)
{
    pvcp_wmb();
    p->seq = p->seq + 1;
    if (wake) {
        wake_waiters(p);
    }
}

/* Page n as published, and whether it has src's mapping. */
static bool published_same(struct pages_file *pf, int n,
                           const struct pvcp_host_page *src,
                           struct pvcp_host_page *cur)
{
    /* Only this process writes the file, so no seq loop is needed here. */
    read_protected(pf->page[n], cur);
    return (cur->flags & PVCP_HOST_F_VALID) && pages_same_mapping(cur, src);
}

bool pages_is_current(struct pages_file *pf, int n,
                      const struct pvcp_host_page *src)
{
    struct pvcp_host_page cur;

    return published_same(pf, n, src, &cur);
}

/*
 * How far (ns, along the line) src's hres bases are ahead of cur's, on
 * the same line: cycle_last only grows on it (pages_same_mapping()).
 */
static uint64_t base_age_ns(const struct pvcp_host_page *cur,
                            const struct pvcp_host_page *src)
{
    const struct pvcp_line *l = &cur->hres;

    return pvcp_mul_add_shr(src->hres.cycle_last - l->cycle_last, l->mult,
                            0, l->shift);
}

bool pages_due(struct pages_file *pf, int n,
               const struct pvcp_host_page *src)
{
    struct pvcp_host_page cur;

    return !published_same(pf, n, src, &cur) ||
           base_age_ns(&cur, src) >= PAGES_REBASE_NS;
}

/* Write src's seq-protected part into p with fresh check words. */
static void write_sealed(volatile struct pvcp_host_page *p,
                         const struct pvcp_host_page *src, bool wake)
{
    struct pvcp_host_page sealed = *src;

    pvcp_page_seal(&sealed);
    write_begin(p);
    copy_protected(p, &sealed);
    write_end(p, wake);
}

bool pages_publish(struct pages_file *pf, int n,
                   const struct pvcp_host_page *src)
{
    struct pvcp_host_page cur;

    if (published_same(pf, n, src, &cur)) {
        if (base_age_ns(&cur, src) >= PAGES_REBASE_NS) {
            write_sealed(pf->page[n], src, false);      /* a rebase */
        }
        return false;
    }
    write_sealed(pf->page[n], src, true);
    return true;
}

void pages_unpublish(struct pages_file *pf, int n)
{
    struct pvcp_host_page cur;

    read_protected(pf->page[n], &cur);
    cur.abi_minor = PVCP_ABI_MINOR;
    if (cur.counter_mode == PVCP_COUNTER_NONE &&
        !(cur.flags & PVCP_HOST_F_VALID) && pvcp_page_checks_ok(&cur)) {
        return;
    }
    cur.counter_mode = PVCP_COUNTER_NONE;
    cur.flags = 0;
    write_sealed(pf->page[n], &cur, true);
}

void pages_heartbeat(struct pages_file *pf,
                     const uint64_t counter[PVCP_HOST_PAGES],
                     uint64_t mono_ns,
                     const uint64_t stale_after[PVCP_HOST_PAGES],
                     uint32_t interval_ms)
{
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        volatile struct pvcp_host_page *p = pf->page[i];

        p->heartbeat_ns = mono_ns;
        p->stale_after = stale_after[i];
        p->heartbeat_interval_ms = interval_ms;
        pvcp_wmb();
        p->heartbeat_counter = counter[i];
    }
}

void pages_set_epoch(struct pages_file *pf, uint64_t epoch)
{
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pf->page[i]->helper_epoch = epoch;
        /* every guest sees these pages: a host PID is none of its business */
        pf->page[i]->helper_pid = 0;
    }
}
