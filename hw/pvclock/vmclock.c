/*
 * pvclock-pages: a filled VMClock page (property vmclock=on).
 *
 * Linux's ptp_vmclock (6.13 and later) builds a PTP clock from a VMClock
 * structure (include/uapi/linux/vmclock-abi.h) described in ACPI.
 * QEMU's own vmclock device publishes the page, its ACPI description
 * and its migration, but no time.  With vmclock=on this device creates
 * that device as its child and fills its page from what it already
 * knows: the guest-to-host counter transform of the offset page and the
 * host's TAI line from host page 0 (or the live page).
 *
 * One line per guest.  The page holds one linear relation from the
 * guest's TSC to TAI; when the host's line changes (a new NTP frequency,
 * a step), when the offset page changes (VM start, migration, a new
 * counter relation) or when the device's status does, the page is
 * rewritten.  The rewrite is driven by events, not by polling vCPUs:
 * a thread blocks on host page 0's seq as a futex (pvclock-helper wakes
 * it after every page write) and hands the rewrite to the main loop; the
 * device's 1 Hz watch is the fallback for a helper that does not wake.
 * Everything else the page shows follows from the same inputs, so a
 * rewrite that would change nothing is not made and notifies nobody.
 *
 * The ACPI notification (ptp_vmclock's poll() on /dev/vmclockN, ABI
 * flag bit 9) is a general-purpose event: this file's SSDT defines
 * \_GPE._E00 to Notify \_SB.VCLK, and every rewrite while the VM runs
 * sets GPE0 status bit 0 through the machine's ACPI PM device.  The
 * SSDT is added by one hook line in hw/i386/acpi-build.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/host-utils.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "qemu/guest-random.h"
#include "qapi/error.h"
#include "hw/acpi/acpi.h"
#include "hw/acpi/acpi_dev_interface.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/vmclock.h"
#include "hw/qdev-core.h"
#include "hw/qdev-properties.h"
#include "system/runstate.h"
#include "standard-headers/linux/vmclock-abi.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "hw/pvclock/pvclock-pages-acpi.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "trace.h"

#ifdef CONFIG_LINUX
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

/*
 * Linux 7.0 added these to the ABI; QEMU 10's copy of the header
 * predates them.  The structure grew by the generation counter at 0x68
 * (its version stayed 1: readers look at size and the flags).
 */
#ifndef VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT
#define VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT     (1ull << 8)
#endif
#ifndef VMCLOCK_FLAG_NOTIFICATION_PRESENT
#define VMCLOCK_FLAG_NOTIFICATION_PRESENT       (1ull << 9)
#endif
#define PVCLOCK_VMCLOCK_GEN_OFFSET      0x68
#define PVCLOCK_VMCLOCK_ABI_END         0x70

/* The part after the seqcount that a rewrite replaces. */
#define PVCLOCK_VMCLOCK_START offsetof(struct vmclock_abi, disruption_marker)

/* GPE0 status bit 0 (\_GPE._E00): unused by QEMU's pc and q35 machines. */
#define PVCLOCK_VMCLOCK_GPE_BIT         0
#define PVCLOCK_VMCLOCK_GPE_STATUS      (1u << PVCLOCK_VMCLOCK_GPE_BIT)

/*
 * How late a rewrite can be after host page 0 changed: one watch round
 * (the fallback; the futex wake typically takes microseconds), and how
 * far the host's line can have moved meanwhile: NTP's largest frequency
 * correction (MAXFREQ, 500 ppm), the rate at which Linux itself grows a
 * clock's maximum error.  Both go into the published error fields.
 */
#define PVCLOCK_VMCLOCK_LAG_BOUND_NS    (PVCLOCK_PAGES_WATCH_MS * SCALE_MS)
#define PVCLOCK_VMCLOCK_SLEW_PPM        500

/* The distance the period is measured over: 2^40 counts, minutes. */
#define PVCLOCK_VMCLOCK_SPAN_BITS       40

/*
 * A line that starts ahead of the host's (pvcp_vmc_next_line(), for
 * TIME_MONOTONIC) runs slower by 2^-13, 122 ppm, inside the rate error
 * published, and meets the host's after 8192 times the lead: 4 s for
 * the largest lead the lag allows (500 us).
 */
#define PVCLOCK_VMCLOCK_CATCHUP_BITS    13

/* Property vmclock-disruption: a maintenance event announced. */
typedef enum PvclockVmclockAnnounce {
    PVCLOCK_VMCLOCK_NONE,
    PVCLOCK_VMCLOCK_SOON,
    PVCLOCK_VMCLOCK_IMMINENT,
} PvclockVmclockAnnounce;

#ifndef CONFIG_INT128
static bool pvclock_vmclock_realize(PvclockPagesState *s, Error **errp)
{
    if (s->vmc.enabled) {
        error_setg(errp, "property 'vmclock' needs a host compiler with "
                   "128-bit integers");
        return false;
    }
    return true;
}

static void pvclock_vmclock_update(PvclockPagesState *s, const char *why)
{
}

static void pvclock_vmclock_exit(PvclockPagesState *s)
{
}

static void pvclock_vmclock_loaded(PvclockPagesState *s)
{
}

static void pvclock_vmclock_watch(PvclockPagesState *s)
{
}
#else

typedef unsigned __int128 u128;

static struct vmclock_abi *vmclock_page(PvclockPagesState *s)
{
    return s->vmc.dev ? s->vmc.dev->clk : NULL;
}

static uint64_t *vmclock_gen_word(struct vmclock_abi *clk)
{
    return (uint64_t *)((char *)clk + PVCLOCK_VMCLOCK_GEN_OFFSET);
}

static uint64_t vmclock_gen(const struct vmclock_abi *clk)
{
    uint64_t gen;

    memcpy(&gen, (const char *)clk + PVCLOCK_VMCLOCK_GEN_OFFSET, sizeof(gen));
    return le64_to_cpu(gen);
}

/*
 * TAI at host TSC value c by page h's line, in 2^-64 s: the value
 * libpvclock would return there, before its floor to whole ns.  h came
 * through pvclock_host_page0(), which holds the shift to 0..63.
 */
static u128 tai_at_counter(const struct pvcp_host_page *h, uint64_t c)
{
    return pvcp_clock_at_frac(&h->hres, &h->hres_base[PVCP_HRES_TAI],
                              pvclock_page_cycles(h, c));
}

/*
 * The line through the guest count g: its TAI there and its period per
 * guest count, in 2^-(64 + *shift) s, the largest shift that keeps the
 * period in 64 bits.  The slope is measured over 2^40 counts, where the
 * floors of the transform and of the kvmclock stage are negligible; for
 * the plain TSC it is exact to 2^-104 s per count.
 */
static bool line_at(const struct pvcp_host_page *h,
                    const struct pvcp_ref_xform *x, uint64_t g,
                    u128 *t, uint64_t *period, uint8_t *shift)
{
    const unsigned k = PVCLOCK_VMCLOCK_SPAN_BITS;
    u128 t2, d;
    int bits, p;

    *t = tai_at_counter(h, pvcp_ref_xform_apply(x, g));
    t2 = tai_at_counter(h, pvcp_ref_xform_apply(x, g + (1ull << k)));
    if (t2 <= *t) {
        return false;
    }
    d = t2 - *t;
    bits = 128 - (d >> 64 ? clz64(d >> 64) : 64 + clz64((uint64_t)d));
    p = 64 + k - bits;
    if (p < 0 || p > 63) {
        return false;           /* no counter runs that fast or slow */
    }
    *shift = p;
    *period = (uint64_t)((d << p) >> k);
    return true;
}

/*
 * TAI - UTC as host page h knows it: known_tai_offset under
 * PVCP_HOST_F_TAI_KNOWN (ABI 1.5), else the kernel's tai_offset if not
 * 0 (an NTP daemon set it; 0 is never TAI - UTC).  With it, h's TAI base
 * moves to true TAI: the kernel's CLOCK_TAI is REALTIME + tai_offset,
 * which is UTC when nothing set it.  Returns false if nobody knows.
 */
static bool vmclock_true_tai(struct pvcp_host_page *h, int32_t *tai)
{
    if (h->flags & PVCP_HOST_F_TAI_KNOWN) {
        *tai = h->known_tai_offset;
    } else if (h->tai_offset) {
        *tai = h->tai_offset;
    } else {
        return false;
    }
    h->hres_base[PVCP_HRES_TAI].sec += (int64_t)*tai - h->tai_offset;
    return true;
}

static uint8_t vmclock_status(PvclockPagesState *s,
                              const struct pvcp_host_page *h)
{
    if (s->offset_page->status != PVCP_STATUS_VALID) {
        return VMCLOCK_STATUS_UNRELIABLE;
    }
    return h->flags & PVCP_HOST_F_UNSYNC ? VMCLOCK_STATUS_FREERUNNING
                                         : VMCLOCK_STATUS_SYNCHRONIZED;
}

static uint8_t vmclock_leap(const struct pvcp_host_page *h)
{
    if (h->flags & PVCP_HOST_F_LEAP_INS) {
        return VMCLOCK_LEAP_PRE_POS;
    }
    if (h->flags & PVCP_HOST_F_LEAP_DEL) {
        return VMCLOCK_LEAP_PRE_NEG;
    }
    return VMCLOCK_LEAP_NONE;
}

/*
 * Fill next's time fields from the host's line now.  counter_value is
 * the guest counter at a host TSC read made before the page is written,
 * so no vCPU that sees the new seq can read an earlier count (the
 * reader's delta is unsigned).
 */
static bool fill_time(PvclockPagesState *s, const struct pvcp_host_page *h,
                      struct vmclock_abi *next)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];
    uint64_t g = pvclock_relation_guest_at(&s->rel.relation,
                                           cpu_get_host_ticks());
    uint64_t period;
    uint8_t shift;
    u128 t;

    if (!(x->flags & PVCP_XFORM_F_VALID) ||
        !line_at(h, x, g, &t, &period, &shift)) {
        return false;
    }
    next->counter_value = cpu_to_le64(g);
    next->counter_period_frac_sec = cpu_to_le64(period);
    next->counter_period_shift = shift;
    next->time_sec = cpu_to_le64((uint64_t)(t >> 64));
    next->time_frac_sec = cpu_to_le64((uint64_t)t);
    /* the host's frequency may be off by as much as NTP corrects */
    next->counter_period_maxerror_rate_frac_sec =
        cpu_to_le64(period / (1000000 / PVCLOCK_VMCLOCK_SLEW_PPM));
    return true;
}

/* Does the published line still say what next's inputs say? */
static bool same_line(PvclockPagesState *s, const struct pvcp_host_page *h,
                      const struct vmclock_abi *cur)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];
    uint64_t g = le64_to_cpu(cur->counter_value), period, old;
    uint8_t shift;
    u128 t, pub, diff;

    if (!line_at(h, x, g, &t, &period, &shift) ||
        shift != cur->counter_period_shift) {
        return false;
    }
    pub = ((u128)le64_to_cpu(cur->time_sec) << 64) +
          le64_to_cpu(cur->time_frac_sec);
    diff = t > pub ? t - pub : pub - t;
    old = le64_to_cpu(cur->counter_period_frac_sec);
    /* within a nanosecond at the anchor, 10^-12 in the period */
    return diff < ((u128)1 << 64) / PVCP_NSEC_PER_SEC &&
           (period > old ? period - old : old - period) <= (old >> 40);
}

static void vmclock_notify(PvclockPagesState *s)
{
    if (s->vmc.pm && runstate_is_running()) {
        s->vmc.notifies++;
        acpi_send_event(DEVICE(s->vmc.pm),
                        (AcpiEventStatusBits)PVCLOCK_VMCLOCK_GPE_STATUS);
    }
}

/* Would writing next and gen show the guest nothing new but the line? */
static bool fields_unchanged(const struct vmclock_abi *clk,
                             const struct vmclock_abi *next, uint64_t gen)
{
    return !memcmp((const char *)next + PVCLOCK_VMCLOCK_START,
                   (const char *)clk + PVCLOCK_VMCLOCK_START,
                   sizeof(*next) - PVCLOCK_VMCLOCK_START) &&
           gen == vmclock_gen(clk);
}

/* The line a page publishes (its time fields). */
static void vmclock_line_of(const struct vmclock_abi *clk,
                            struct pvcp_vmc_line *l)
{
    l->count = le64_to_cpu(clk->counter_value);
    l->time = ((u128)le64_to_cpu(clk->time_sec) << 64) +
              le64_to_cpu(clk->time_frac_sec);
    l->period = le64_to_cpu(clk->counter_period_frac_sec);
    l->shift = clk->counter_period_shift;
}

/*
 * Inside the write (seq odd and visible): the line through the guest
 * count now, so that no reading of the old line used a later count,
 * started no earlier than where the old line has reached if readers
 * held it (VMCLOCK_FLAG_TIME_MONOTONIC); a lead is caught up by running
 * slower, and a rewrite is due when the lines meet.  False if the
 * host's line cannot be had.
 */
static bool vmclock_fill_line(PvclockPagesState *s,
                              const struct pvcp_host_page *h,
                              const struct vmclock_abi *cur, bool held,
                              struct vmclock_abi *next)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];
    struct pvcp_vmc_line old, host, line;
    uint8_t shift;
    u128 ahead;

    host.count = pvclock_relation_guest_at(&s->rel.relation,
                                           cpu_get_host_ticks());
    if (!line_at(h, x, host.count, &host.time, &host.period, &shift)) {
        return false;
    }
    host.shift = shift;
    vmclock_line_of(cur, &old);
    pvcp_vmc_next_line(held ? &old : NULL, &host,
                       PVCLOCK_VMCLOCK_CATCHUP_BITS, &line, &ahead);
    next->counter_value = cpu_to_le64(line.count);
    next->counter_period_frac_sec = cpu_to_le64(line.period);
    next->counter_period_shift = line.shift;
    next->time_sec = cpu_to_le64((uint64_t)(line.time >> 64));
    next->time_frac_sec = cpu_to_le64((uint64_t)line.time);
    if (ahead) {
        /* 2^-64 s of lead, times 2^13, in ms, and one more */
        int64_t ms = (int64_t)((ahead * 1000) >>
                               (64 - PVCLOCK_VMCLOCK_CATCHUP_BITS)) + 1;

        trace_pvclock_pages_vmclock_catchup(
            (uint64_t)((ahead * PVCP_NSEC_PER_SEC) >> 64), ms);
        timer_mod(s->vmc.catchup,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms);
    }
    return true;
}

/*
 * Write next and gen.  With h (a timed page), the line is computed
 * inside the write (vmclock_fill_line()); held says whether guests may
 * hold the published line (same disruption marker): then the new one
 * starts no earlier.  False if the line could not be had (nothing was
 * changed but the seq).
 */
static void vmclock_write(PvclockPagesState *s, struct vmclock_abi *clk,
                          struct vmclock_abi *next, uint64_t gen,
                          const struct pvcp_host_page *h, bool held)
{
    uint32_t seq = le32_to_cpu(qatomic_read(&clk->seq_count)) | 1;

    qatomic_set(&clk->seq_count, cpu_to_le32(seq));
    smp_mb();                   /* odd before the fields and the count */
    if (h && !vmclock_fill_line(s, h, clk, held, next)) {
        next->clock_status = VMCLOCK_STATUS_UNRELIABLE;
        next->flags &= ~cpu_to_le64(VMCLOCK_FLAG_TIME_MONOTONIC);
    }
    memcpy((char *)clk + PVCLOCK_VMCLOCK_START,
           (const char *)next + PVCLOCK_VMCLOCK_START,
           sizeof(*next) - PVCLOCK_VMCLOCK_START);
    qatomic_set(vmclock_gen_word(clk), cpu_to_le64(gen));
    smp_wmb();                  /* the fields before seq is even again */
    qatomic_set(&clk->seq_count, cpu_to_le32(seq + 1));
    /* written behind the guest's back: migration must see it */
    memory_region_set_dirty(&s->vmc.dev->clk_page, 0, VMCLOCK_SIZE);
    s->vmc.updates++;
    s->vmc.last_update_ns = get_clock();    /* CLOCK_MONOTONIC */
}

/* Say once, and again after it was known, that the host knows no TAI. */
static void vmclock_say_tai(PvclockPagesState *s, bool known)
{
    if (!known && !s->vmc.tai_unknown) {
        warn_report("pvclock-pages: the host does not know TAI - UTC (its "
                    "kernel's is 0 and pvclock-helper has no current leap "
                    "second list): VMClock reports its clock unreliable");
    }
    s->vmc.tai_unknown = !known;
}

/*
 * The VM generation counter and the disruption marker next: a restored
 * snapshot is a new instance, a disruption a new marker.
 */
static uint64_t vmclock_next_gen(PvclockPagesState *s,
                                 const struct vmclock_abi *clk,
                                 struct vmclock_abi *next, uint64_t dis)
{
    uint64_t gen = vmclock_gen(clk);

    if (s->vmc.restored) {
        uint32_t r;

        /*
         * Loaded from a snapshot: a new instance.  Another value than any
         * restore of the same snapshot gave (the page comes back with the
         * snapshot's), so the clones of one snapshot differ too.
         */
        qemu_guest_getrandom_nofail(&r, sizeof(r));
        gen += 1 + r;
    }
    if (dis != s->vmc.seen_dis || s->vmc.restored) {
        next->disruption_marker =
            cpu_to_le64(le64_to_cpu(next->disruption_marker) + 1);
    }
    return gen;
}

/* The flags that do not depend on the time being published. */
static uint64_t vmclock_base_flags(PvclockPagesState *s, bool tai_known)
{
    uint64_t flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT;

    /*
     * The page's time is TAI (time_type, constant): without the true
     * offset it would be UTC or worse, so it is valid only with it.
     */
    if (tai_known) {
        flags |= VMCLOCK_FLAG_TAI_OFFSET_VALID;
    }
    if (s->vmc.announce == PVCLOCK_VMCLOCK_SOON) {
        flags |= VMCLOCK_FLAG_DISRUPTION_SOON;
    } else if (s->vmc.announce == PVCLOCK_VMCLOCK_IMMINENT) {
        flags |= VMCLOCK_FLAG_DISRUPTION_IMMINENT;
    }
    if (s->vmc.pm) {
        flags |= VMCLOCK_FLAG_NOTIFICATION_PRESENT;
    }
    return flags;
}

/* A timed page: the leap indicator and error bounds from page 0. */
static uint64_t vmclock_bounds(const struct pvcp_host_page *h,
                               struct vmclock_abi *next)
{
    next->leap_indicator = vmclock_leap(h);
    next->time_esterror_nanosec = cpu_to_le64(h->esterror_ns);
    next->time_maxerror_nanosec = cpu_to_le64(h->maxerror_ns +
        PVCLOCK_VMCLOCK_LAG_BOUND_NS / 1000000 * PVCLOCK_VMCLOCK_SLEW_PPM);
    return VMCLOCK_FLAG_TIME_ESTERROR_VALID |
           VMCLOCK_FLAG_TIME_MAXERROR_VALID |
           VMCLOCK_FLAG_PERIOD_MAXERROR_VALID |
           VMCLOCK_FLAG_TIME_MONOTONIC;
}

static void pvclock_vmclock_update(PvclockPagesState *s, const char *why)
{
    struct vmclock_abi *clk = vmclock_page(s);
    struct vmclock_abi next;
    struct pvcp_host_page h;
    uint64_t dis, gen, flags;
    bool have, timed, held, tai_known = false;
    int32_t tai = 0;

    if (!clk || !s->offset_page) {
        return;
    }
    have = pvclock_host_page0(s, &h, NULL);
    if (have) {
        pvclock_live_overlay(s, &h);
        tai_known = vmclock_true_tai(&h, &tai);
        vmclock_say_tai(s, tai_known);
    }
    memcpy(&next, clk, sizeof(next));
    dis = pvclock_guest_disruptions(s);
    gen = vmclock_next_gen(s, clk, &next, dis);
    flags = vmclock_base_flags(s, tai_known);
    next.clock_status = tai_known ? vmclock_status(s, &h)
                                  : VMCLOCK_STATUS_UNRELIABLE;
    /* Linux's TAI - UTC (0 unknown); ptp_vmclock takes it as UTC - TAI */
    next.tai_offset_sec = cpu_to_le16((uint16_t)(int16_t)-tai);
    timed = next.clock_status != VMCLOCK_STATUS_UNRELIABLE &&
            s->rel.relation.kind == PVCLOCK_REL_LINEAR && !s->rel.due;
    if (timed) {
        flags |= vmclock_bounds(&h, &next);
    }
    next.flags = cpu_to_le64(flags);
    next.leap_second_smearing_hint =
        s->flavour == PVCLOCK_FLAVOUR_SMEARED ? VMCLOCK_SMEARING_NOON_LINEAR
                                              : VMCLOCK_SMEARING_STRICT;
    if (timed && fields_unchanged(clk, &next, gen) &&
        same_line(s, &h, clk)) {
        return;                 /* the guest would see the same clock */
    }
    if (timed && !fill_time(s, &h, &next)) {
        next.clock_status = VMCLOCK_STATUS_UNRELIABLE;
        timed = false;
    }
    if (!timed && fields_unchanged(clk, &next, gen)) {
        return;                 /* still unreliable, nothing else moved */
    }
    /*
     * Guests may hold the published line if it was timed and no
     * disruption separates it from this one (a new marker tells them it
     * is not comparable).
     */
    held = timed && (le64_to_cpu(clk->flags) & VMCLOCK_FLAG_TIME_MONOTONIC) &&
           clk->clock_status != VMCLOCK_STATUS_UNRELIABLE &&
           next.disruption_marker == clk->disruption_marker;
    s->vmc.seen_dis = dis;
    s->vmc.restored = false;
    trace_pvclock_pages_vmclock(next.clock_status,
                                le64_to_cpu(next.disruption_marker), gen,
                                why);
    vmclock_write(s, clk, &next, gen, timed ? &h : NULL, held);
    vmclock_notify(s);
}

/*
 * Host page 0 changed (or may have): rewrite from the main loop.  The
 * thread only waits; everything it hands over runs under the BQL.
 */
static void vmclock_host_changed_bh(void *opaque)
{
    PvclockPagesState *s = opaque;

    s->vmc.wakes++;
    pvclock_vmclock_update(s, "host page 0 written");
}

/* A line that started ahead has met the host's: publish the host's. */
static void vmclock_catchup_cb(void *opaque)
{
    pvclock_vmclock_update(opaque, "a slower line met the host's");
}

#ifdef CONFIG_LINUX
static void *vmclock_wait_thread(void *opaque)
{
    PvclockPagesState *s = opaque;
    const uint32_t *seq = &s->vmc.seq_map->seq;
    uint32_t last = qatomic_load_acquire(seq);

    while (!qatomic_read(&s->vmc.quit)) {
        uint32_t now = qatomic_load_acquire(seq);

        if (now != last && !(now & 1)) {
            last = now;
            qemu_bh_schedule(s->vmc.bh);
        }
        /*
         * A shared futex: pvclock-helper wakes it after each write.  No
         * timeout: nothing here runs until the host's pages change.
         */
        syscall(SYS_futex, seq, FUTEX_WAIT, now, NULL, NULL, 0);
    }
    qatomic_set(&s->vmc.done, true);
    return NULL;
}

/*
 * The thread maps page 0 for itself, so that a new source (a helper
 * restart, pages replaced) never unmaps what it waits on; the watch
 * restarts it on the new pages.
 */
static void vmclock_wait_start(PvclockPagesState *s)
{
    int fd = s->host.source ? memory_region_get_fd(&s->host.source->mr) : -1;
    void *map;

    if (fd < 0) {
        return;                 /* no file to wait on: the watch alone */
    }
    map = mmap(NULL, PVCP_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        return;
    }
    s->vmc.seq_map = map;
    s->vmc.wait_source = s->host.source;
    s->vmc.quit = false;
    s->vmc.done = false;
    qemu_thread_create(&s->vmc.thread, "pvclock-vmclock",
                       vmclock_wait_thread, s, QEMU_THREAD_JOINABLE);
}

static void vmclock_wait_stop(PvclockPagesState *s)
{
    if (!s->vmc.seq_map) {
        return;
    }
    qatomic_set(&s->vmc.quit, true);
    /*
     * A wake that lands between the thread's look at quit and its wait
     * is lost; wake again until it is out (a millisecond or two).
     */
    while (!qatomic_read(&s->vmc.done)) {
        syscall(SYS_futex, &s->vmc.seq_map->seq, FUTEX_WAKE, INT_MAX,
                NULL, NULL, 0);
        g_usleep(1000);
    }
    qemu_thread_join(&s->vmc.thread);
    munmap((void *)s->vmc.seq_map, PVCP_PAGE_SIZE);
    s->vmc.seq_map = NULL;
    s->vmc.wait_source = NULL;
}
#else
static void vmclock_wait_start(PvclockPagesState *s)
{
}

static void vmclock_wait_stop(PvclockPagesState *s)
{
}
#endif

static void pvclock_vmclock_watch(PvclockPagesState *s)
{
    if (!s->vmc.dev || s->vmc.wait_source == s->host.source) {
        return;
    }
    vmclock_wait_stop(s);
    vmclock_wait_start(s);
}

static bool pvclock_vmclock_realize(PvclockPagesState *s, Error **errp)
{
    DeviceState *dev;
    struct vmclock_abi *clk;
    bool ambiguous = false;

    if (!s->vmc.enabled) {
        return true;
    }
    if (DEVICE(s)->hotplugged) {
        error_setg(errp, "property 'vmclock' needs a cold-plugged device: "
                   "the VMClock page is described in the ACPI tables and "
                   "the memory map at boot; start QEMU with it");
        return false;
    }
    if (object_resolve_path_type("", TYPE_VMCLOCK, &ambiguous) ||
        ambiguous) {
        error_setg(errp, "property 'vmclock': this machine already has a "
                   "VMClock device (-device vmclock, or another "
                   "pvclock-pages with vmclock=on); a machine has at most "
                   "one");
        return false;
    }
    dev = qdev_new(TYPE_VMCLOCK);
    object_property_add_child(OBJECT(s), "vmclock-device", OBJECT(dev));
    if (!qdev_realize_and_unref(dev, NULL, errp)) {
        object_unparent(OBJECT(dev));
        return false;
    }
    s->vmc.dev = VMCLOCK(dev);
    /* the machine's ACPI PM device (PIIX4 or ICH9), made before us */
    s->vmc.pm = object_resolve_path_type("", TYPE_ACPI_DEVICE_IF, NULL);
    clk = s->vmc.dev->clk;
    clk->counter_id = VMCLOCK_COUNTER_X86_TSC;
    clk->time_type = VMCLOCK_TIME_TAI;
    /*
     * Fixed at the guest's probe: a counter and a time type that give a
     * PTP clock, with status unreliable (reads refused) until filled.
     */
    clk->clock_status = VMCLOCK_STATUS_UNRELIABLE;
    clk->flags = cpu_to_le64(VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT |
                             (s->vmc.pm ?
                              VMCLOCK_FLAG_NOTIFICATION_PRESENT : 0));
    s->vmc.bh = qemu_bh_new(vmclock_host_changed_bh, s);
    s->vmc.catchup = timer_new_ms(QEMU_CLOCK_REALTIME,
                                  vmclock_catchup_cb, s);
    /* the page is in the machine's ACPI tables and memory map for good */
    error_setg(&s->vmc.unplug_blocker, "pvclock-pages with vmclock=on "
               "cannot be unplugged: the VMClock page it fills is part of "
               "the machine (ACPI, e820) until it is powered off");
    qdev_add_unplug_blocker(DEVICE(s), s->vmc.unplug_blocker);
    pvclock_vmclock_watch(s);
    return true;
}

static void pvclock_vmclock_exit(PvclockPagesState *s)
{
    if (!s->vmc.dev) {
        return;
    }
    vmclock_wait_stop(s);
    qemu_bh_delete(s->vmc.bh);
    s->vmc.bh = NULL;
    timer_free(s->vmc.catchup);
    s->vmc.catchup = NULL;
    qdev_del_unplug_blocker(DEVICE(s), s->vmc.unplug_blocker);
    error_free(s->vmc.unplug_blocker);
    s->vmc.unplug_blocker = NULL;
}

static void pvclock_vmclock_loaded(PvclockPagesState *s)
{
    if (s->vmc.dev && runstate_check(RUN_STATE_RESTORE_VM)) {
        s->vmc.restored = true;
    }
}
#endif /* CONFIG_INT128 */

static const char *const announce_names[] = {
    [PVCLOCK_VMCLOCK_NONE] = "none",
    [PVCLOCK_VMCLOCK_SOON] = "soon",
    [PVCLOCK_VMCLOCK_IMMINENT] = "imminent",
};

static char *pvclock_vmclock_get_announce(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return g_strdup(announce_names[s->vmc.announce]);
}

/*
 * Management announces a maintenance event (a migration, say): soon
 * (about a day), imminent (about an hour) or none.  Not migrated: the
 * destination's page no longer announces what has then happened.
 */
static void pvclock_vmclock_set_announce(Object *obj, const char *value,
                                         Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    for (size_t i = 0; i < ARRAY_SIZE(announce_names); i++) {
        if (!strcmp(value, announce_names[i])) {
            s->vmc.announce = i;
            pvclock_vmclock_update(s, "disruption announced");
            return;
        }
    }
    error_setg(errp, "property 'vmclock-disruption' is '%s'; allowed "
               "values: none, soon (about a day), imminent (about an hour)",
               value);
}

/* The offset page was published: VMClock follows it, every time. */
static void pvclock_vmclock_published(PvclockPagesState *s, bool changed,
                                      const char *why)
{
    pvclock_vmclock_update(s, why);
}

static const Property pvclock_vmclock_properties[] = {
    DEFINE_PROP_BOOL("vmclock", PvclockPagesState, vmc.enabled, false),
};

static void pvclock_vmclock_class_init(ObjectClass *klass)
{
    object_class_property_set_description(klass, "vmclock",
        "also fill a VMClock page (Linux's ptp_vmclock) with the host's "
        "TAI against the guest TSC: creates QEMU's vmclock device as a "
        "child; cold-plug only, one per machine (default off)");
    object_class_property_add_str(klass, "vmclock-disruption",
                                  pvclock_vmclock_get_announce,
                                  pvclock_vmclock_set_announce);
    object_class_property_set_description(klass, "vmclock-disruption",
        "with vmclock=on: a maintenance event the VMClock page announces, "
        "none, soon (about a day) or imminent (about an hour); cleared by "
        "a migration");
}

static void pvclock_vmclock_instance_init(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    const PvclockCounterProp counters[] = {
        { "vmclock-updates", &s->vmc.updates,
          "VMClock page rewrites (vmclock=on), all time" },
        { "vmclock-wakes", &s->vmc.wakes,
          "rewrites asked for by a write to host page 0 (pvclock-helper's "
          "futex wake), all time" },
        { "vmclock-notifies", &s->vmc.notifies,
          "VMClock ACPI notifications raised, all time" },
        { "vmclock-last-update-ns", &s->vmc.last_update_ns,
          "CLOCK_MONOTONIC ns of the last VMClock page rewrite (0: none)" },
    };

    pvclock_add_counters(obj, counters, ARRAY_SIZE(counters));
}

const PvclockPart pvclock_part_vmclock = {
    .name = "vmclock",
    .props = pvclock_vmclock_properties,
    .nprops = ARRAY_SIZE(pvclock_vmclock_properties),
    .class_init = pvclock_vmclock_class_init,
    .instance_init = pvclock_vmclock_instance_init,
    .realize = pvclock_vmclock_realize,
    .exit = pvclock_vmclock_exit,
    .published = pvclock_vmclock_published,
    .watch = pvclock_vmclock_watch,
    .loaded = pvclock_vmclock_loaded,
};

/*
 * The SSDT of the notification: \_GPE._E00 notifies \_SB.VCLK, which
 * QEMU's vmclock table declares.  Called from acpi-build (a hook line).
 */
void pvclock_pages_build_acpi(GArray *table_offsets, GArray *table_data,
                              BIOSLinker *linker, const char *oem_id)
{
    Object *vmc = object_resolve_path_type("", TYPE_VMCLOCK, NULL);
    AcpiTable table = { .sig = "SSDT", .rev = 1, .oem_id = oem_id,
                        .oem_table_id = "PVCLKGPE" };
    Aml *ssdt, *scope, *method;

    if (!vmc || !object_dynamic_cast(vmc->parent, TYPE_PVCLOCK_PAGES)) {
        return;                 /* no vmclock of ours: nothing to notify */
    }
    acpi_add_table(table_offsets, table_data);
    acpi_table_begin(&table, table_data);
    ssdt = init_aml_allocator();
    /* resolved when the method runs; QEMU's vmclock SSDT comes first */
    scope = aml_scope("\\_GPE");
    method = aml_method("_E00", 0, AML_NOTSERIALIZED);
    aml_append(method, aml_notify(aml_name("\\_SB.VCLK"), aml_int(0x80)));
    aml_append(scope, method);
    aml_append(ssdt, scope);
    g_array_append_vals(table_data, ssdt->buf->data, ssdt->buf->len);
    acpi_table_end(linker, &table);
    free_aml_allocator();
}
