/*
 * Reading the host kernel's vDSO timekeeping data, for pvclock-helper
 * (which copies it into the host pages) and for the device's live page
 * (which maps QEMU's own copy into the BAR).  See pvclock-vvar.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "hw/pvclock/pvclock-vvar.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-pages-cpu.h"

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
 */
const struct vvar_layout vvar_layouts[] = {
    { "datastore (6.15+)", 0, 0xe8, true, 4096, PVCP_LIVE_LAYOUT_DATASTORE },
    { "vdso_data@128, overflow protection (6.10-6.14)", 128, 0xf8, true,
      4096, PVCP_LIVE_LAYOUT_VDSO_DATA_MAX },
    { "vdso_data@128 (5.4-6.9)", 128, 0xf0, false, 4096,
      PVCP_LIVE_LAYOUT_VDSO_DATA },
};
const size_t vvar_layout_count = sizeof(vvar_layouts) / sizeof(vvar_layouts[0]);

#define VDSO_BASES      12      /* CLOCK_TAI + 1 */
#define LINUX_CLOCK_REALTIME        0
#define LINUX_CLOCK_MONOTONIC       1
#define LINUX_CLOCK_MONOTONIC_RAW   4
#define LINUX_CLOCK_REALTIME_COARSE 5
#define LINUX_CLOCK_MONOTONIC_COARSE 6
#define LINUX_CLOCK_BOOTTIME        7
#define LINUX_CLOCK_TAI             11

/* struct pvclock_vcpu_time_info */
#define PVTI_VERSION        0x00
#define PVTI_TSC_TIMESTAMP  0x08
#define PVTI_SYSTEM_TIME    0x10
#define PVTI_MUL            0x18
#define PVTI_SHIFT          0x1c
#define PVTI_FLAGS          0x1d
#define PVCLOCK_TSC_STABLE_BIT  0x01

/*
 * The kernel writes these words while we read them: every load is a
 * single, untorn one (naturally aligned), never merged or repeated by
 * the compiler.
 */
static inline uint32_t ld32(const uint8_t *p, size_t off)
{
    return __atomic_load_n((const uint32_t *)(p + off), __ATOMIC_RELAXED);
}

static inline uint64_t ld64(const uint8_t *p, size_t off)
{
    return __atomic_load_n((const uint64_t *)(p + off), __ATOMIC_RELAXED);
}

static inline uint8_t ld8(const uint8_t *p, size_t off)
{
    return __atomic_load_n(p + off, __ATOMIC_RELAXED);
}

uint64_t vvar_read_tsc(void)
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

int vvar_find_mappings(struct vvar_source *src, char *err)
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
static size_t read_line(const uint8_t *blk, bool has_max,
                        struct pvcp_line *line)
{
    line->cycle_last = ld64(blk, 0x08);
    if (has_max) {
        line->max_cycles = ld64(blk, 0x10);
        line->mult = ld32(blk, 0x20);
        line->shift = ld32(blk, 0x24);
        return 0x28;
    }
    /*
     * Before 6.10 the x86 vDSO had no overflow protection: deltas below
     * 2^62 used the 64-bit product, larger ones clamped (6.8, 6.9) or
     * wrapped; PVCP_HOST_F_MUL_WRAPS plus this bound reproduce that.
     */
    line->max_cycles = (1ull << 62) - 1;
    line->mult = ld32(blk, 0x18);
    line->shift = ld32(blk, 0x1c);
    return 0x20;
}

static void read_base(const uint8_t *blk, size_t bases, int clk,
                      struct pvcp_base *b)
{
    b->sec = ld64(blk, bases + 16 * clk);
    b->nsec_shifted = ld64(blk, bases + 16 * clk + 8);
}

static int read_kvmclock(const uint8_t *pvti,
                         struct pvcp_kvmclock *kc, char *err)
{
    uint32_t version;
    uint8_t flags;

    do {
        version = ld32(pvti, PVTI_VERSION) & ~1u;
        pvcp_rmb();
        kc->tsc_timestamp = ld64(pvti, PVTI_TSC_TIMESTAMP);
        kc->system_time = ld64(pvti, PVTI_SYSTEM_TIME);
        kc->tsc_to_system_mul = ld32(pvti, PVTI_MUL);
        kc->tsc_shift = (int8_t)ld8(pvti, PVTI_SHIFT);
        flags = ld8(pvti, PVTI_FLAGS);
        pvcp_rmb();
    } while (ld32(pvti, PVTI_VERSION) != version);
    memset(kc->reserved, 0, sizeof(kc->reserved));

    if (!(flags & PVCLOCK_TSC_STABLE_BIT)) {
        snprintf(err, VVAR_ERR_LEN,
                 "host clocksource is kvm-clock without a stable TSC "
                 "(PVCLOCK_TSC_STABLE_BIT clear): the host vDSO itself "
                 "falls back to a syscall, so there is nothing exact to "
                 "share");
        return -1;
    }
    return 0;
}

#ifndef VVAR_SPIN_LIMIT          /* fuzz builds make it small */
#define VVAR_SPIN_LIMIT 10000000ul  /* seconds; the kernel writes in ns */
#endif

int vvar_snapshot(const struct vvar_source *src, struct host_snapshot *snap,
                  char *err)
{
    const struct vvar_layout *l = src->layout;
    const uint8_t *hres, *raw;
    size_t hb, rb;
    uint32_t seq, rseq;

    if (!l || l->data_offset + 2 * l->stride > src->vvar_len ||
        l->data_offset + 2 * l->stride > PVCP_PAGE_SIZE) {
        snprintf(err, VVAR_ERR_LEN, "no usable vvar layout");
        return -1;
    }
    hres = src->vvar + l->data_offset;
    raw = hres + l->stride;

    for (unsigned long tries = 0;; tries++) {
        if (tries == VVAR_SPIN_LIMIT) {
            snprintf(err, VVAR_ERR_LEN, "the kernel's vDSO data stayed "
                     "locked (seqcount odd or changing) for %lu reads; not "
                     "a vvar page this helper understands", tries);
            return -1;
        }
        memset(snap, 0, sizeof(*snap));
        seq = ld32(hres, 0);
        if (seq & 1) {
            /* A time namespace's vvar page says seq 1 forever. */
            if ((int32_t)ld32(hres, 4) == VVAR_CLOCKMODE_TIMENS) {
                snprintf(err, VVAR_ERR_LEN,
                         "running in a non-root time namespace (the vvar "
                         "page is a timens page): its clocks are offset "
                         "from the host's; run pvclock-helper in the "
                         "initial time namespace");
                return -1;
            }
            __builtin_ia32_pause();
            continue;
        }
        pvcp_rmb();
        rseq = ld32(raw, 0);
        snap->seq = seq;
        snap->clock_mode = (int32_t)ld32(hres, 4);
        hb = read_line(hres, l->max_cycles, &snap->hres);
        rb = read_line(raw, l->max_cycles, &snap->raw);
        read_base(hres, hb, LINUX_CLOCK_REALTIME,
                  &snap->hres_base[PVCP_HRES_REALTIME]);
        read_base(hres, hb, LINUX_CLOCK_MONOTONIC,
                  &snap->hres_base[PVCP_HRES_MONOTONIC]);
        read_base(hres, hb, LINUX_CLOCK_BOOTTIME,
                  &snap->hres_base[PVCP_HRES_BOOTTIME]);
        read_base(hres, hb, LINUX_CLOCK_TAI,
                  &snap->hres_base[PVCP_HRES_TAI]);
        read_base(raw, rb, LINUX_CLOCK_MONOTONIC_RAW, &snap->raw_base);
        read_base(hres, hb, LINUX_CLOCK_REALTIME_COARSE, &snap->coarse[0]);
        read_base(hres, hb, LINUX_CLOCK_MONOTONIC_COARSE, &snap->coarse[1]);
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
            if (read_kvmclock(pvti, &snap->kvmclock, err) < 0) {
                return -1;
            }
        }
        pvcp_rmb();
        if (ld32(hres, 0) == seq && ld32(raw, 0) == rseq) {
            break;
        }
    }

    if (!l->max_cycles) {
        snap->flags |= PVCP_HOST_F_MUL_WRAPS;
    }
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

/* A snapshot's time for a Linux clock id at a host TSC value. */
static struct pvcp_time snap_time(const struct host_snapshot *s, int clk,
                                  uint64_t tsc)
{
    uint64_t cycles = pvcp_host_cycles(s->counter_mode, &s->kvmclock, tsc);

    switch (clk) {
    case LINUX_CLOCK_MONOTONIC_RAW:
        return pvcp_clock_at(&s->raw, &s->raw_base, s->flags, cycles);
    case LINUX_CLOCK_MONOTONIC:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_MONOTONIC],
                             s->flags, cycles);
    case LINUX_CLOCK_BOOTTIME:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_BOOTTIME],
                             s->flags, cycles);
    case LINUX_CLOCK_TAI:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_TAI],
                             s->flags, cycles);
    default:
        return pvcp_clock_at(&s->hres, &s->hres_base[PVCP_HRES_REALTIME],
                             s->flags, cycles);
    }
}

static struct pvcp_time ts_time(const struct timespec *ts)
{
    struct pvcp_time t = { (uint64_t)ts->tv_sec, (uint64_t)ts->tv_nsec };

    return t;
}

int vvar_validate(const struct host_snapshot *snap, char *err)
{
    static const struct {
        int linux_id;
        clockid_t id;
        const char *name;
    } clocks[] = {
        { LINUX_CLOCK_REALTIME, CLOCK_REALTIME, "REALTIME" },
        { LINUX_CLOCK_MONOTONIC, CLOCK_MONOTONIC, "MONOTONIC" },
        { LINUX_CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
        { LINUX_CLOCK_BOOTTIME, CLOCK_BOOTTIME, "BOOTTIME" },
        { LINUX_CLOCK_TAI, CLOCK_TAI, "TAI" },
    };

    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        struct timespec before, after;
        struct pvcp_time t;
        uint64_t tsc;

        clock_gettime(clocks[i].id, &before);
        tsc = vvar_read_tsc();
        clock_gettime(clocks[i].id, &after);
        t = snap_time(snap, clocks[i].linux_id, tsc);
        if (pvcp_time_cmp(t, ts_time(&before)) < 0 ||
            pvcp_time_cmp(t, ts_time(&after)) > 0) {
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

uint32_t vvar_peek_seq(const struct vvar_source *src)
{
    return ld32(src->vvar + src->layout->data_offset, 0);
}

/* Did the kernel publish new data since the snapshot was taken? */
static bool snapshot_outdated(const struct vvar_source *src,
                              const struct host_snapshot *snap)
{
    return ld32(src->vvar + src->layout->data_offset, 0) != snap->seq;
}

/*
 * Validate, retrying while the kernel updates underneath (the bracket
 * only holds for the data in force during the two clock_gettime()s).
 */
int vvar_read_validated(const struct vvar_source *src,
                        struct host_snapshot *snap, char *err)
{
    for (int tries = 0; tries < 100; tries++) {
        int ret;

        if (vvar_snapshot(src, snap, err) < 0) {
            return -1;
        }
        ret = vvar_validate(snap, err);
        if (snapshot_outdated(src, snap)) {
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
bool vvar_layout_identified(const struct vvar_source *src)
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
                  ? LINUX_CLOCK_REALTIME_COARSE : LINUX_CLOCK_MONOTONIC_COARSE;
        struct timespec now;
        int64_t sec, nsec, d;

        clock_gettime(ids[i], &now);
        sec = (int64_t)ld64(blk, bases + 16 * clk);
        nsec = (int64_t)ld64(blk, bases + 16 * clk + 8);
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

int vvar_detect(struct vvar_source *src, char *err)
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

int vvar_open(struct vvar_source *src, char *err)
{
    if (vvar_find_mappings(src, err) < 0) {
        return -1;
    }
    return vvar_detect(src, err);
}

static void st32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void st64(uint8_t *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put_block(uint8_t *blk, bool has_max, uint32_t seq,
                      int32_t mode, const struct pvcp_line *line,
                      const int *clk, const struct pvcp_base *base, int n)
{
    size_t bases;

    st32(blk, 0, seq);
    st32(blk, 4, (uint32_t)mode);
    st64(blk, 0x08, line->cycle_last);
    if (has_max) {
        st64(blk, 0x10, line->max_cycles);
        st64(blk, 0x18, UINT64_MAX);
        st32(blk, 0x20, line->mult);
        st32(blk, 0x24, line->shift);
        bases = 0x28;
    } else {
        st64(blk, 0x10, UINT64_MAX);
        st32(blk, 0x18, line->mult);
        st32(blk, 0x1c, line->shift);
        bases = 0x20;
    }
    for (int i = 0; i < n; i++) {
        st64(blk, bases + 16 * clk[i], base[i].sec);
        st64(blk, bases + 16 * clk[i] + 8, base[i].nsec_shifted);
    }
}

void vvar_put_snapshot(const struct vvar_layout *l, uint8_t *vvar_page,
                       uint8_t *pvclock_page, const struct host_snapshot *s)
{
    static const int hres_clk[PVCP_HRES_CLOCKS + 2] = {
        LINUX_CLOCK_REALTIME, LINUX_CLOCK_MONOTONIC, LINUX_CLOCK_BOOTTIME,
        LINUX_CLOCK_TAI, LINUX_CLOCK_REALTIME_COARSE,
        LINUX_CLOCK_MONOTONIC_COARSE,
    };
    static const int raw_clk = LINUX_CLOCK_MONOTONIC_RAW;
    struct pvcp_base bases[PVCP_HRES_CLOCKS + 2];

    memcpy(bases, s->hres_base, sizeof(s->hres_base));
    memcpy(bases + PVCP_HRES_CLOCKS, s->coarse, sizeof(s->coarse));
    put_block(vvar_page + l->data_offset, l->max_cycles, s->seq,
              s->clock_mode, &s->hres, hres_clk, bases,
              PVCP_HRES_CLOCKS + 2);
    put_block(vvar_page + l->data_offset + l->stride, l->max_cycles, s->seq,
              s->clock_mode, &s->raw, &raw_clk, &s->raw_base, 1);
    if (pvclock_page) {
        st32(pvclock_page, PVTI_VERSION, 2);
        st64(pvclock_page, PVTI_TSC_TIMESTAMP, s->kvmclock.tsc_timestamp);
        st64(pvclock_page, PVTI_SYSTEM_TIME, s->kvmclock.system_time);
        st32(pvclock_page, PVTI_MUL, s->kvmclock.tsc_to_system_mul);
        pvclock_page[PVTI_SHIFT] = (uint8_t)s->kvmclock.tsc_shift;
        pvclock_page[PVTI_FLAGS] = PVCLOCK_TSC_STABLE_BIT;
    }
}

uint64_t vvar_counter_hz(const struct host_snapshot *snap)
{
    if (snap->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        /* ns per tick = mul / 2^32 * 2^shift */
        const struct pvcp_kvmclock *k = &snap->kvmclock;
        pvcp_u128 num = (pvcp_u128)PVCP_NSEC_PER_SEC << 32;

        if (!k->tsc_to_system_mul) {
            return 0;
        }
        if (k->tsc_shift >= 0) {
            return (uint64_t)(num / ((pvcp_u128)k->tsc_to_system_mul <<
                                     k->tsc_shift));
        }
        return (uint64_t)((num << -k->tsc_shift) / k->tsc_to_system_mul);
    }
    /* cycles per ns = 2^shift / mult (the raw clock is never adjusted) */
    return (uint64_t)(((pvcp_u128)PVCP_NSEC_PER_SEC << snap->raw.shift) /
                      snap->raw.mult);
}

void vvar_live_desc(const struct vvar_layout *l, struct pvcp_live *d)
{
    /* the offsets read_line() and read_base() use */
    uint16_t bases = l->max_cycles ? 0x28 : 0x20;
    static const int hres_clk[PVCP_HRES_CLOCKS] = {
        [PVCP_HRES_REALTIME] = LINUX_CLOCK_REALTIME,
        [PVCP_HRES_MONOTONIC] = LINUX_CLOCK_MONOTONIC,
        [PVCP_HRES_BOOTTIME] = LINUX_CLOCK_BOOTTIME,
        [PVCP_HRES_TAI] = LINUX_CLOCK_TAI,
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
    d->base[PVCP_LIVE_RAW] = bases + 16 * LINUX_CLOCK_MONOTONIC_RAW;
    d->clock_mode_tsc = VVAR_CLOCKMODE_TSC;
}
