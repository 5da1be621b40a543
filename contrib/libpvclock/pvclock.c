/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: the reader.  The arithmetic lives in pvclock-pages-calc.h;
 * this file maps pages, runs the seqcount protocol and reads the counter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvclock.h"
#include "hw/pvclock/pvclock-pages-calc.h"

/* How long a reader waits for a writer before giving up (iterations). */
#define SEQ_SPIN_LIMIT  (1u << 24)

/*
 * On x86 loads are not reordered with other loads, so the read side of a
 * seqcount needs only to stop the compiler (the vDSO's smp_rmb() is a
 * compiler barrier there too).
 */
#define read_barrier()  __atomic_signal_fence(__ATOMIC_ACQUIRE)

uint64_t pvclock_read_counter(void)
{
    uint32_t lo, hi;

    /*
     * LFENCE keeps RDTSC from executing before earlier loads (the seq
     * read), as the vDSO's rdtsc_ordered() does on CPUs without RDTSCP
     * preference.
     */
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
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

static int map_pages(struct pvclock *pc, const char *path, size_t need,
                     int *fail_errno)
{
    struct stat st;
    void *map;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *fail_errno = errno;
        return PVCLOCK_EOPEN;
    }
    if (fstat(fd, &st) < 0) {
        *fail_errno = errno;
        close(fd);
        return PVCLOCK_EOPEN;
    }
    if ((size_t)st.st_size < need) {
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

    if (!pc) {
        return PVCLOCK_EINVAL;
    }
    if (!resource_path) {
        int err = pvclock_find_device(found, sizeof(found));

        if (err) {
            memset(pc, 0, sizeof(*pc));
            return err;
        }
        resource_path = found;
    }
    return open_common(pc, resource_path, PVCP_BAR_SIZE, 1);
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

static uint32_t seq_begin(const volatile uint32_t *seqp, int *err)
{
    uint32_t n = 0, seq;

    while ((seq = __atomic_load_n(seqp, __ATOMIC_ACQUIRE)) & 1) {
        if (++n == SEQ_SPIN_LIMIT) {
            *err = PVCLOCK_EBUSY;
            break;
        }
        __builtin_ia32_pause();
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

/*
 * The read protocol of the ABI header: offset page seq, host page seq,
 * counter, copy, recheck.  Copies into locals so the arithmetic runs on
 * a consistent snapshot after the loop.
 */
static int read_clock(const struct pvclock *pc, clockid_t clk,
                      int have_counter, uint64_t counter,
                      struct pvcp_time *out)
{
    const volatile struct pvcp_offset_page *op = pc->offset;
    struct pvcp_timens_offset mono = { 0, 0 };
    struct pvcp_xform xf = { 1, 0, PVCP_XFORM_F_VALID, 0 };
    const volatile struct pvcp_host_page *h;
    uint32_t oseq = 0, hseq, status = PVCP_STATUS_VALID, counter_mode;
    uint64_t flags, host_counter, cycles, stale_after, heartbeat;
    struct pvcp_kvmclock kc = { 0, 0, 0, 0, { 0, 0, 0 } };
    struct pvcp_line line;
    struct pvcp_base base;
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
        page = pc->page >= 0 ? pc->page : 0;
        if (op) {
            oseq = seq_begin(&op->seq, &err);
            if (err) {
                return err;
            }
            status = op->status;
            page = page_for(pc, op->recommended_page);
            xf.mult = op->xform[page >> 1].mult;
            xf.frac_bits = op->xform[page >> 1].frac_bits;
            xf.flags = op->xform[page >> 1].flags;
            xf.offset = op->xform[page >> 1].offset;
            if (mono_index >= 0) {
                mono.sec = op->mono_offset[mono_index].sec;
                mono.nsec = op->mono_offset[mono_index].nsec;
            }
        }
        h = pc->host[page];
        hseq = seq_begin(&h->seq, &err);
        if (err) {
            return err;
        }
        if (!have_counter) {
            counter = pvclock_read_counter();
        }
        counter_mode = h->counter_mode;
        flags = h->flags;
        if (counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
            kc.tsc_timestamp = h->kvmclock.tsc_timestamp;
            kc.system_time = h->kvmclock.system_time;
            kc.tsc_to_system_mul = h->kvmclock.tsc_to_system_mul;
            kc.tsc_shift = h->kvmclock.tsc_shift;
        }
        if (kind == KIND_HRES) {
            line.cycle_last = h->hres.cycle_last;
            line.max_cycles = h->hres.max_cycles;
            line.mult = h->hres.mult;
            line.shift = h->hres.shift;
            base.sec = h->hres_base[hres_index].sec;
            base.nsec_shifted = h->hres_base[hres_index].nsec_shifted;
        } else {
            line.cycle_last = h->raw.cycle_last;
            line.max_cycles = h->raw.max_cycles;
            line.mult = h->raw.mult;
            line.shift = h->raw.shift;
            base.sec = h->raw_base.sec;
            base.nsec_shifted = h->raw_base.nsec_shifted;
        }
        read_barrier();
    } while (h->seq != hseq || (op && op->seq != oseq));

    /* Liveness sits outside the seqcount (see the ABI header). */
    heartbeat = h->heartbeat_counter;
    stale_after = h->stale_after;

    if (status != PVCP_STATUS_VALID) {
        return status == PVCP_STATUS_UNRELIABLE ? PVCLOCK_EUNRELIABLE
                                                : PVCLOCK_ENOTVALID;
    }
    if (counter_mode == PVCP_COUNTER_NONE || !(flags & PVCP_HOST_F_VALID)) {
        return PVCLOCK_EUNPUBLISHED;
    }
    if (counter_mode > PVCP_COUNTER_RAW_NS || line.shift > 63 ||
        xf.frac_bits > 63 || !(xf.flags & PVCP_XFORM_F_VALID) ||
        (counter_mode == PVCP_COUNTER_TSC_KVMCLOCK &&
         (kc.tsc_shift > 63 || kc.tsc_shift < -63))) {
        return PVCLOCK_EBADPAGE;
    }

    host_counter = pvcp_xform_apply(&xf, counter);
    cycles = pvcp_host_cycles(counter_mode, &kc, host_counter);
    *out = pvcp_clock_at(&line, &base, flags, cycles);
    if (mono_index >= 0 && op) {
        *out = pvcp_time_add_offset(*out, &mono);
    }
    if (stale_after && host_counter - heartbeat > stale_after &&
        (int64_t)(host_counter - heartbeat) > 0) {
        return PVCLOCK_ESTALE;
    }
    return PVCLOCK_OK;
}

static int finish(int err, const struct pvcp_time *t, struct timespec *ts)
{
    if (err == PVCLOCK_OK || err == PVCLOCK_ESTALE) {
        ts->tv_sec = (time_t)t->sec;
        ts->tv_nsec = (long)t->nsec;
    }
    return err;
}

int pvclock_gettime(const struct pvclock *pc, clockid_t clk,
                    struct timespec *ts)
{
    struct pvcp_time t;

    if (!ts) {
        return PVCLOCK_EINVAL;
    }
    return finish(read_clock(pc, clk, 0, 0, &t), &t, ts);
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
            info->generation = op->generation;
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
        info->host_flags = h->flags;
        info->host_counter_hz = h->counter_hz;
        read_barrier();
    } while (h->seq != hseq || (op && op->seq != oseq));
    info->helper_epoch = h->helper_epoch;
    return PVCLOCK_OK;
}
