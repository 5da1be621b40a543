/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the host kernel's vDSO timekeeping data (the [vvar] mapping),
 * for pvclock-helper (which copies it into the host pages) and for the
 * device's live page (hw/pvclock/live-page.c, which maps QEMU's own copy
 * into the BAR).
 *
 * The layout of that data is kernel-internal and has changed over time,
 * so nothing here trusts a layout: each known one is tried, and one is
 * used only after the times computed from it bracket clock_gettime() for
 * every clock.  The functions take plain memory so unit tests can feed
 * captured or synthesised pages.
 *
 * Self-contained (static inline, the C library and the project's ABI,
 * arithmetic and CPU headers only), so that QEMU's files include it after
 * qemu/osdep.h and the helper includes it as is: neither side compiles
 * the other's sources.  x86_64 Linux hosts only.
 */
#ifndef PVCLOCK_PAGES_VVAR_H
#define PVCLOCK_PAGES_VVAR_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvclock-pages-abi.h"
#include "pvclock-pages-calc.h"
#include "pvclock-pages-cpu.h"

/* Linux's enum vdso_clock_mode on x86. */
#define VVAR_CLOCKMODE_NONE     0
#define VVAR_CLOCKMODE_TSC      1
#define VVAR_CLOCKMODE_PVCLOCK  2
#define VVAR_CLOCKMODE_HVCLOCK  3
#define VVAR_CLOCKMODE_TIMENS   0x7fffffff

/* Linux clock ids: the index of a clock's base in a clock block */
#define VVAR_CLOCK_REALTIME         0
#define VVAR_CLOCK_MONOTONIC        1
#define VVAR_CLOCK_MONOTONIC_RAW    4
#define VVAR_CLOCK_REALTIME_COARSE  5
#define VVAR_CLOCK_MONOTONIC_COARSE 6
#define VVAR_CLOCK_BOOTTIME         7
#define VVAR_CLOCK_TAI              11

/* struct pvclock_vcpu_time_info (the kvmclock page) */
#define VVAR_PVTI_VERSION       0x00
#define VVAR_PVTI_TSC_TIMESTAMP 0x08
#define VVAR_PVTI_SYSTEM_TIME   0x10
#define VVAR_PVTI_MUL           0x18
#define VVAR_PVTI_SHIFT         0x1c
#define VVAR_PVTI_FLAGS         0x1d
#define VVAR_PVTI_TSC_STABLE    0x01

/* Where one kernel generation keeps struct vdso_data / vdso_clock. */
struct vvar_layout {
    const char *name;
    size_t data_offset;     /* clock block 0 (CS_HRES_COARSE) in [vvar] */
    size_t stride;          /* distance to clock block 1 (CS_RAW) */
    bool max_cycles;        /* has the overflow-protection field */
    /* the pvclock page in [vvar] when there is no [vvar_vclock] */
    size_t vclock_offset;
    uint16_t abi_layout;    /* PVCP_LIVE_LAYOUT_* */
};

/*
 * Known x86_64 layouts, newest first.  Field order inside a clock block
 * has been stable since the generic vDSO (5.3): seq, clock_mode,
 * cycle_last, [max_cycles], mask, mult, shift, basetime[12].
 *
 *  - 6.15+ generic data store: struct vdso_time_data at offset 0 of the
 *    first [vvar] page, clock blocks of 0xe8 bytes (with max_cycles, which
 *    x86 has had since 6.10); kvmclock page in its own [vvar_vclock].
 *  - 6.10 .. 6.14: struct vdso_data at offset 128 of the vvar page
 *    (x86 DECLARE_VVAR(128, ...)), with max_cycles: 0xf8 bytes each
 *    (tz_*, hrtimer_res and padding follow the bases).
 *  - 5.4 .. 6.9: the same without max_cycles: 0xf0 bytes each.
 *
 * One copy per translation unit: compare layouts by name or
 * abi_layout across files, not by address.
 */
static const struct vvar_layout vvar_layouts[] = {
    { "datastore (6.15+)", 0, 0xe8, true, 4096, PVCP_LIVE_LAYOUT_DATASTORE },
    { "vdso_data@128, overflow protection (6.10-6.14)", 128, 0xf8, true,
      4096, PVCP_LIVE_LAYOUT_VDSO_DATA_MAX },
    { "vdso_data@128 (5.4-6.9)", 128, 0xf0, false, 4096,
      PVCP_LIVE_LAYOUT_VDSO_DATA },
};
static const size_t vvar_layout_count =
    sizeof(vvar_layouts) / sizeof(vvar_layouts[0]);

/* The kernel's data as one consistent copy, in ABI terms. */
struct host_snapshot {
    uint32_t seq;           /* kernel seqcount the copy was taken at */
    int32_t clock_mode;     /* VVAR_CLOCKMODE_* */
    uint32_t counter_mode;  /* PVCP_COUNTER_* */
    uint64_t flags;         /* PVCP_HOST_F_MUL_WRAPS */
    struct pvcp_kvmclock kvmclock;
    struct pvcp_line hres;
    struct pvcp_base hres_base[PVCP_HRES_CLOCKS];
    struct pvcp_line raw;
    struct pvcp_base raw_base;
    /* CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE: nsec not shifted */
    struct pvcp_base coarse[2];
};

struct vvar_source {
    const uint8_t *vvar;   /* first [vvar] page */
    size_t vvar_len;
    const uint8_t *vclock; /* pvclock page, or NULL */
    const struct vvar_layout *layout;
};

/* Error text buffer size the functions below expect. */
#define VVAR_ERR_LEN 256

#ifndef VVAR_SPIN_LIMIT          /* fuzz builds make it small */
#define VVAR_SPIN_LIMIT 10000000ul  /* seconds; the kernel writes in ns */
#endif

/*
 * The kernel writes these words while we read them: every load is a
 * single, untorn one (naturally aligned), never merged or repeated by
 * the compiler.
 */
static inline uint32_t vvar_ld32(const uint8_t *p, size_t off)
{
    return __atomic_load_n((const uint32_t *)(p + off), __ATOMIC_RELAXED);
}

static inline uint64_t vvar_ld64(const uint8_t *p, size_t off)
{
    return __atomic_load_n((const uint64_t *)(p + off), __ATOMIC_RELAXED);
}

static inline uint8_t vvar_ld8(const uint8_t *p, size_t off)
{
    return __atomic_load_n(p + off, __ATOMIC_RELAXED);
}

/* The host counter (TSC) read like the vDSO reads it. */
static inline uint64_t vvar_read_tsc(void)
{
    /* detected once, CPUID being slow; racing threads find the same */
    static int order = -1;
    int o = __atomic_load_n(&order, __ATOMIC_RELAXED);

    if (o < 0) {
        o = pvcp_counter_order_detect();
        __atomic_store_n(&order, o, __ATOMIC_RELAXED);
    }
    return pvcp_counter_read(o);
}

/* Find [vvar] (and [vvar_vclock]) in this process's maps. */
static inline int vvar_find_mappings(struct vvar_source *src, char *err)
{
    char line[512];
    FILE *f;

    memset(src, 0, sizeof(*src));
    f = fopen("/proc/self/maps", "re");
    if (!f) {
        snprintf(err, VVAR_ERR_LEN, "cannot read /proc/self/maps: %s",
                 strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        uintptr_t start, end;
        char *name = strrchr(line, ' ');

        if (!name || sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start,
                            &end) != 2) {
            continue;
        }
        name++;
        if (strcmp(name, "[vvar]\n") == 0) {
            src->vvar = (const uint8_t *)start;
            src->vvar_len = end - start;
        } else if (strcmp(name, "[vvar_vclock]\n") == 0) {
            src->vclock = (const uint8_t *)start;
        }
    }
    fclose(f);
    if (!src->vvar) {
        snprintf(err, VVAR_ERR_LEN,
                 "no [vvar] mapping in this process: the kernel has no "
                 "vDSO data to share (vdso=0 on the kernel command line?)");
        return -1;
    }
    return 0;
}

/* Read one clock block's line; returns the offset of basetime[]. */
static inline size_t vvar_read_line(const uint8_t *blk, bool has_max,
                                     struct pvcp_line *line)
{
    line->cycle_last = vvar_ld64(blk, 0x08);
    if (has_max) {
        line->max_cycles = vvar_ld64(blk, 0x10);
        line->mult = vvar_ld32(blk, 0x20);
        line->shift = vvar_ld32(blk, 0x24);
        return 0x28;
    }
    /*
     * Before 6.10 the x86 vDSO had no overflow protection: deltas below
     * 2^62 used the 64-bit product, larger ones clamped (6.8, 6.9) or
     * wrapped; PVCP_HOST_F_MUL_WRAPS plus this bound reproduce that.
     */
    line->max_cycles = (1ull << 62) - 1;
    line->mult = vvar_ld32(blk, 0x18);
    line->shift = vvar_ld32(blk, 0x1c);
    return 0x20;
}

static inline void vvar_read_base(const uint8_t *blk, size_t bases, int clk,
                                  struct pvcp_base *b)
{
    b->sec = vvar_ld64(blk, bases + 16 * clk);
    b->nsec_shifted = vvar_ld64(blk, bases + 16 * clk + 8);
}

static inline int vvar_read_kvmclock(const uint8_t *pvti,
                                     struct pvcp_kvmclock *kc, char *err)
{
    uint32_t version;
    uint8_t flags;

    do {
        version = vvar_ld32(pvti, VVAR_PVTI_VERSION) & ~1u;
        pvcp_rmb();
        kc->tsc_timestamp = vvar_ld64(pvti, VVAR_PVTI_TSC_TIMESTAMP);
        kc->system_time = vvar_ld64(pvti, VVAR_PVTI_SYSTEM_TIME);
        kc->tsc_to_system_mul = vvar_ld32(pvti, VVAR_PVTI_MUL);
        kc->tsc_shift = (int8_t)vvar_ld8(pvti, VVAR_PVTI_SHIFT);
        flags = vvar_ld8(pvti, VVAR_PVTI_FLAGS);
        pvcp_rmb();
    } while (vvar_ld32(pvti, VVAR_PVTI_VERSION) != version);
    memset(kc->reserved, 0, sizeof(kc->reserved));

    if (!(flags & VVAR_PVTI_TSC_STABLE)) {
        snprintf(err, VVAR_ERR_LEN,
                 "host clocksource is kvm-clock without a stable TSC "
                 "(VVAR_PVTI_TSC_STABLE clear): the host vDSO itself "
                 "falls back to a syscall, so there is nothing exact to "
                 "share");
        return -1;
    }
    return 0;
}

/*
 * One copy of both blocks' words through layout l: 1 when the seqcounts
 * held still around it, 0 when a writer was in (try again), -1 with err
 * set (a time namespace's page, kvm-clock without its page).
 */
static inline int vvar_copy_once(const struct vvar_source *src,
                                 const uint8_t *hres, const uint8_t *raw,
                                 struct host_snapshot *snap, char *err)
{
    const struct vvar_layout *l = src->layout;
    uint32_t seq = vvar_ld32(hres, 0), rseq;
    size_t hb, rb;

    memset(snap, 0, sizeof(*snap));
    if (seq & 1) {
        /* A time namespace's vvar page says seq 1 forever. */
        if ((int32_t)vvar_ld32(hres, 4) == VVAR_CLOCKMODE_TIMENS) {
            snprintf(err, VVAR_ERR_LEN,
                     "running in a non-root time namespace (the vvar "
                     "page is a timens page): its clocks are offset "
                     "from the host's; run pvclock-helper in the "
                     "initial time namespace");
            return -1;
        }
        __builtin_ia32_pause();
        return 0;
    }
    pvcp_rmb();
    rseq = vvar_ld32(raw, 0);
    snap->seq = seq;
    snap->clock_mode = (int32_t)vvar_ld32(hres, 4);
    hb = vvar_read_line(hres, l->max_cycles, &snap->hres);
    rb = vvar_read_line(raw, l->max_cycles, &snap->raw);
    vvar_read_base(hres, hb, VVAR_CLOCK_REALTIME,
                   &snap->hres_base[PVCP_HRES_REALTIME]);
    vvar_read_base(hres, hb, VVAR_CLOCK_MONOTONIC,
                   &snap->hres_base[PVCP_HRES_MONOTONIC]);
    vvar_read_base(hres, hb, VVAR_CLOCK_BOOTTIME,
                   &snap->hres_base[PVCP_HRES_BOOTTIME]);
    vvar_read_base(hres, hb, VVAR_CLOCK_TAI,
                   &snap->hres_base[PVCP_HRES_TAI]);
    vvar_read_base(raw, rb, VVAR_CLOCK_MONOTONIC_RAW, &snap->raw_base);
    vvar_read_base(hres, hb, VVAR_CLOCK_REALTIME_COARSE, &snap->coarse[0]);
    vvar_read_base(hres, hb, VVAR_CLOCK_MONOTONIC_COARSE, &snap->coarse[1]);
    if (snap->clock_mode == VVAR_CLOCKMODE_PVCLOCK) {
        const uint8_t *pvti = src->vclock;

        if (!pvti) {
            pvti = src->vvar_len > l->vclock_offset
                   ? src->vvar + l->vclock_offset : NULL;
        }
        if (!pvti) {
            snprintf(err, VVAR_ERR_LEN,
                     "host clocksource is kvm-clock but no pvclock "
                     "page is mapped");
            return -1;
        }
        if (vvar_read_kvmclock(pvti, &snap->kvmclock, err) < 0) {
            return -1;
        }
    }
    pvcp_rmb();
    return vvar_ld32(hres, 0) == seq && vvar_ld32(raw, 0) == rseq;
}

/*
 * The page's counter from the vDSO's clock mode, and the words read
 * checked: 0, or -1 with err set (a mode no reader can share, values
 * out of the ABI's ranges).
 */
static inline int vvar_snapshot_usable(struct host_snapshot *snap, char *err)
{
    switch (snap->clock_mode) {
    case VVAR_CLOCKMODE_TSC:
        snap->counter_mode = PVCP_COUNTER_TSC;
        break;
    case VVAR_CLOCKMODE_PVCLOCK:
        snap->counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        break;
    case VVAR_CLOCKMODE_HVCLOCK:
        snprintf(err, VVAR_ERR_LEN,
                 "host clocksource is hyperv_clocksource_tsc_page "
                 "(vDSO mode HVCLOCK), which pvclock-helper does not "
                 "compose yet; switch the host clocksource to tsc");
        return -1;
    case VVAR_CLOCKMODE_NONE:
        snprintf(err, VVAR_ERR_LEN,
                 "host clocksource has no vDSO mode (clock_mode NONE): "
                 "the host's clock_gettime() is a syscall and cannot be "
                 "shared; use the tsc (or kvm-clock) clocksource");
        return -1;
    default:
        snprintf(err, VVAR_ERR_LEN, "unknown vDSO clock mode %d",
                 snap->clock_mode);
        return -1;
    }
    /*
     * What the helper would publish as page 0, in the ranges readers
     * accept (the one validator); a mult of 0, harmless there, says the
     * layout was read at the wrong offsets.
     */
    if ((pvcp_host_words_check(PVCP_PAGE_UNSCALED_UNSMEARED,
                               snap->counter_mode, PVCP_HOST_F_VALID,
                               snap->hres.shift, snap->raw.shift,
                               &snap->kvmclock, NULL, NULL, 1) &
         PVCP_BAD_RANGE) ||
        snap->hres.mult == 0 || snap->raw.mult == 0) {
        snprintf(err, VVAR_ERR_LEN,
                 "implausible clock data (mult %u shift %u)",
                 snap->hres.mult, snap->hres.shift);
        return -1;
    }
    return 0;
}

/*
 * Copy the data through a given layout.  Returns 0, or -1 with err set
 * (timens page, unsupported clock mode, implausible values).
 */
static inline int vvar_snapshot(const struct vvar_source *src,
                                struct host_snapshot *snap, char *err)
{
    const struct vvar_layout *l = src->layout;
    const uint8_t *hres;
    unsigned long tries;
    int r;

    if (!l || l->data_offset + 2 * l->stride > src->vvar_len ||
        l->data_offset + 2 * l->stride > PVCP_PAGE_SIZE) {
        snprintf(err, VVAR_ERR_LEN, "no usable vvar layout");
        return -1;
    }
    hres = src->vvar + l->data_offset;
    for (tries = 0; (r = vvar_copy_once(src, hres, hres + l->stride,
                                        snap, err)) == 0; tries++) {
        if (tries + 1 == VVAR_SPIN_LIMIT) {
            snprintf(err, VVAR_ERR_LEN, "the kernel's vDSO data stayed "
                     "locked (seqcount odd or changing) for %lu reads; not "
                     "a vvar page this helper understands", tries + 1);
            return -1;
        }
    }
    if (r < 0) {
        return -1;
    }
    if (!l->max_cycles) {
        snap->flags |= PVCP_HOST_F_MUL_WRAPS;
    }
    return vvar_snapshot_usable(snap, err);
}

/* A snapshot's time for a Linux clock id at a host TSC value. */
static inline struct pvcp_time vvar_snap_time(const struct host_snapshot *s,
                                              int clk, uint64_t tsc)
{
    uint64_t cycles = pvcp_host_cycles(s->counter_mode, &s->kvmclock, tsc);

    switch (clk) {
    case VVAR_CLOCK_MONOTONIC_RAW:
        return pvcp_clock_at(&s->raw, &s->raw_base, s->flags, cycles);
    case VVAR_CLOCK_MONOTONIC:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_MONOTONIC],
                             s->flags, cycles);
    case VVAR_CLOCK_BOOTTIME:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_BOOTTIME],
                             s->flags, cycles);
    case VVAR_CLOCK_TAI:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_TAI],
                             s->flags, cycles);
    default:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_REALTIME],
                             s->flags, cycles);
    }
}

static inline struct pvcp_time vvar_ts_time(const struct timespec *ts)
{
    struct pvcp_time t = { (uint64_t)ts->tv_sec, (uint64_t)ts->tv_nsec };

    return t;
}

/*
 * Check a snapshot against the live clock_gettime(): for each clock the
 * time computed at a counter read between two clock_gettime() calls must
 * lie between them.  Returns 0 on success, 1 if the kernel updated its
 * data meanwhile (take a new snapshot), -1 on a mismatch (err set).
 */
static inline int vvar_validate(const struct host_snapshot *snap, char *err)
{
    static const struct {
        int linux_id;
        clockid_t id;
        const char *name;
    } clocks[] = {
        { VVAR_CLOCK_REALTIME, CLOCK_REALTIME, "REALTIME" },
        { VVAR_CLOCK_MONOTONIC, CLOCK_MONOTONIC, "MONOTONIC" },
        { VVAR_CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
        { VVAR_CLOCK_BOOTTIME, CLOCK_BOOTTIME, "BOOTTIME" },
        { VVAR_CLOCK_TAI, CLOCK_TAI, "TAI" },
    };

    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        struct timespec before, after;
        struct pvcp_time t;
        uint64_t tsc;

        clock_gettime(clocks[i].id, &before);
        tsc = vvar_read_tsc();
        clock_gettime(clocks[i].id, &after);
        t = vvar_snap_time(snap, clocks[i].linux_id, tsc);
        if (pvcp_time_cmp(t, vvar_ts_time(&before)) < 0 ||
            pvcp_time_cmp(t, vvar_ts_time(&after)) > 0) {
            snprintf(err, VVAR_ERR_LEN,
                     "CLOCK_%s computed %" PRIu64 ".%09" PRIu64
                     " is outside clock_gettime() %lld.%09ld..%lld.%09ld",
                     clocks[i].name, t.sec, t.nsec,
                     (long long)before.tv_sec, before.tv_nsec,
                     (long long)after.tv_sec, after.tv_nsec);
            return -1;
        }
    }
    return 0;
}

/* Did the kernel publish new data since the snapshot was taken? */
static inline bool vvar_snapshot_outdated(const struct vvar_source *src,
                                          const struct host_snapshot *snap)
{
    return vvar_ld32(src->vvar + src->layout->data_offset, 0) != snap->seq;
}

/*
 * Validate, retrying while the kernel updates underneath (the bracket
 * only holds for the data in force during the two clock_gettime()s).
 */
static inline int vvar_read_validated(const struct vvar_source *src,
                                      struct host_snapshot *snap, char *err)
{
    for (int tries = 0; tries < 100; tries++) {
        int ret;

        if (vvar_snapshot(src, snap, err) < 0) {
            return -1;
        }
        ret = vvar_validate(snap, err);
        if (vvar_snapshot_outdated(src, snap)) {
            continue;
        }
        return ret;
    }
    snprintf(err, VVAR_ERR_LEN, "kernel data kept changing during "
             "validation");
    return -1;
}

/*
 * Is this layout the kernel's, whatever its clock mode?  The kernel writes
 * CLOCK_REALTIME_COARSE and CLOCK_MONOTONIC_COARSE at every update even
 * when the clocksource has no vDSO mode (update_vsyscall()), and the
 * vDSO answers both from these words.  Both within a second of
 * clock_gettime() cannot happen by chance for a wrong layout (zeros, or
 * another structure's words), so only an identified layout may speak
 * for the host (say "clock_mode NONE"), never one that merely failed.
 */
static inline bool vvar_layout_identified(const struct vvar_source *src)
{
    static const clockid_t ids[] = {
        CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE
    };
    const struct vvar_layout *l = src->layout;
    const uint8_t *blk;
    size_t bases;

    if (!l || l->data_offset + 2 * l->stride > src->vvar_len) {
        return false;
    }
    blk = src->vvar + l->data_offset;
    bases = l->max_cycles ? 0x28 : 0x20;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        int clk = ids[i] == CLOCK_REALTIME_COARSE
                  ? VVAR_CLOCK_REALTIME_COARSE : VVAR_CLOCK_MONOTONIC_COARSE;
        struct timespec now;
        int64_t sec, nsec, d;

        clock_gettime(ids[i], &now);
        sec = (int64_t)vvar_ld64(blk, bases + 16 * clk);
        nsec = (int64_t)vvar_ld64(blk, bases + 16 * clk + 8);
        if (nsec < 0 || nsec >= (int64_t)PVCP_NSEC_PER_SEC) {
            return false;
        }
        d = (sec - (int64_t)now.tv_sec) * (int64_t)PVCP_NSEC_PER_SEC +
            (nsec - now.tv_nsec);
        if (d < -(int64_t)PVCP_NSEC_PER_SEC || d > (int64_t)PVCP_NSEC_PER_SEC) {
            return false;
        }
    }
    return true;
}

/*
 * Try each known layout over src->vvar and keep the first that
 * validates.  A failure speaks for the host (clock_mode NONE, Hyper-V,
 * a time namespace) only when it comes from a layout identified as this
 * kernel's (vvar_layout_identified()); otherwise err names every layout
 * tried and why it failed.
 */
static inline int vvar_detect(struct vvar_source *src, char *err)
{
    char why[VVAR_ERR_LEN * 3] = "";
    struct host_snapshot snap;

    /*
     * Every known layout is tried before anything is said about the host:
     * a layout that does not match this kernel reads other words (on a
     * 6.1 kernel the 6.15 layout reads zeros, i.e. "clock_mode NONE").
     */
    for (size_t i = 0; i < vvar_layout_count; i++) {
        char one[VVAR_ERR_LEN];
        size_t used = strlen(why);

        src->layout = &vvar_layouts[i];
        if (vvar_read_validated(src, &snap, one) == 0) {
            return 0;
        }
        /* a timens page (seq 1, mode TIMENS) is unmistakable */
        if (strstr(one, "time namespace") ||
            vvar_layout_identified(src)) {
            snprintf(err, VVAR_ERR_LEN, "%.180s (vvar layout %.60s)", one,
                     vvar_layouts[i].name);
            src->layout = NULL;
            return -1;
        }
        snprintf(why + used, sizeof(why) - used, "%s%s: %s",
                 used ? "; " : "", vvar_layouts[i].name, one);
    }
    src->layout = NULL;
    snprintf(err, VVAR_ERR_LEN,
             "vDSO data layout of this kernel not recognised (%.180s)", why);
    return -1;
}

/* vvar_find_mappings(), then vvar_detect(). */
static inline int vvar_open(struct vvar_source *src, char *err)
{
    if (vvar_find_mappings(src, err) < 0) {
        return -1;
    }
    return vvar_detect(src, err);
}

/*
 * The live page's descriptor for a layout: where its words are in the
 * first [vvar] page (valid, version PVCP_LIVE_VERSION).
 */
static inline void vvar_live_desc(const struct vvar_layout *l,
                                  struct pvcp_live *d)
{
    /* the offsets vvar_read_line() and vvar_read_base() use */
    uint16_t bases = l->max_cycles ? 0x28 : 0x20;
    static const int hres_clk[PVCP_HRES_CLOCKS] = {
        [PVCP_HRES_REALTIME] = VVAR_CLOCK_REALTIME,
        [PVCP_HRES_MONOTONIC] = VVAR_CLOCK_MONOTONIC,
        [PVCP_HRES_BOOTTIME] = VVAR_CLOCK_BOOTTIME,
        [PVCP_HRES_TAI] = VVAR_CLOCK_TAI,
    };

    memset(d, 0, sizeof(*d));
    d->flags = PVCP_LIVE_F_VALID | (l->max_cycles ? 0 : PVCP_LIVE_F_MUL_WRAPS);
    d->version = PVCP_LIVE_VERSION;
    d->layout = l->abi_layout;
    d->block[0] = (uint16_t)l->data_offset;
    d->block[1] = (uint16_t)(l->data_offset + l->stride);
    d->seq = 0;
    d->clock_mode = 4;
    d->cycle_last = 0x08;
    d->max_cycles = l->max_cycles ? 0x10 : PVCP_LIVE_NONE;
    d->mask = l->max_cycles ? 0x18 : 0x10;
    d->mult = l->max_cycles ? 0x20 : 0x18;
    d->shift = l->max_cycles ? 0x24 : 0x1c;
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        d->base[i] = bases + 16 * hres_clk[i];
    }
    d->base[PVCP_LIVE_RAW] = bases + 16 * VVAR_CLOCK_MONOTONIC_RAW;
    d->clock_mode_tsc = VVAR_CLOCKMODE_TSC;
}

#endif /* PVCLOCK_PAGES_VVAR_H */
