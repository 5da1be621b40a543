/*
 * pvclock-pages: the guest's clocks across a stop, a migration or a
 * snapshot restore.
 *
 * As kvmclock does (hw/i386/kvm/clock.c), the guest's clocks are sampled
 * when the vCPUs stop and the sample is applied when they start, so that
 * neither the time between the stop and pre_save nor a destination kept
 * paused before 'cont' (as libvirt does) leaks into them:
 *
 *   1. vCPU stop      sample the guest's MONOTONIC, MONOTONIC_RAW and
 *                     BOOTTIME and the host's REALTIME (from the pages)
 *   2. pre_save       record the sample, the generation and the
 *                     disruption count in the stream
 *   3. post_load      check and keep them; status invalid, generation up
 *   4. vCPU start     read this host's pages: with downtime=exclude the
 *                     three clocks continue from the sample, with include
 *                     they also advance by the REALTIME between the
 *                     source's stop and this start; read the relation
 *                     (the CPUs' TSC state is in place by now) and only
 *                     then publish the page as valid.
 *
 * A stop and start without migration does the same, so with exclude a
 * paused guest's clocks do not advance while it is paused (kvmclock's
 * behaviour); with include, or monotonic=host, they simply go on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qapi/visitor.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "trace.h"

static uint64_t offset_ns(const struct pvcp_timens_offset *o)
{
    return (uint64_t)o->sec * NANOSECONDS_PER_SECOND + o->nsec;
}

/*
 * What an incoming stream may hold (DESIGN.md invariant 12).  A field
 * outside its bound is no state of a real source: the load is refused
 * with the field's name, and the source runs on.
 *
 * - generation, disruptions: below 2^62.  The destination only adds to
 *   them (one per disruption, plus its host's count), and 2^62 takes a
 *   disruption a millisecond 146 million years: they never wrap, and the
 *   ABI's "only grows" and "below 2^63" hold for the device's lifetime.
 * - the guest's MONOTONIC, MONOTONIC_RAW, BOOTTIME: within 2^62 ns (146
 *   years) of 0 either way, so that any downtime added leaves them far
 *   from 2^63.  Below 0 is a state: monotonic=vm counts from the host's
 *   clock_gettime() at realize, and pages of another host (a simulated
 *   one) may be behind it.
 * - guest counter frequency: 0 (not known) up to 2^40 Hz.
 * - the frozen flag: 0 or 1; monotonic, downtime: the enums' values.
 *
 * The source host's REALTIME at the stop is refused nowhere: with
 * downtime=exclude it is not used; with include the destination adds the
 * time between it and its own REALTIME, which is a downtime only within
 * a window: no more than PVCLOCK_MIG_DOWNTIME_MAX after it (a saved VM
 * restored up to a year later) and no more than PVCLOCK_MIG_AHEAD_MAX
 * before it (hosts whose clocks disagree a little add nothing).  Outside
 * it (a source whose REALTIME was 1970, a damaged stream) this load goes
 * on as with downtime=exclude, with a warning naming the field: the
 * guest migrates and its clocks stay continuous, only the downtime is
 * not added.
 */
#define PVCLOCK_MIG_COUNT_MAX       (1ull << 62)
#define PVCLOCK_MIG_MONO_MAX        (1ull << 62)
#define PVCLOCK_MIG_HZ_MAX          (1ull << 40)
#define PVCLOCK_MIG_DOWNTIME_MAX    (365 * 86400 * NANOSECONDS_PER_SECOND)
#define PVCLOCK_MIG_AHEAD_MAX       (86400 * NANOSECONDS_PER_SECOND)

static bool field_below(const char *name, uint64_t v, uint64_t bound)
{
    if (v < bound) {
        return true;
    }
    error_report("pvclock-pages: incoming field %s = %" PRIu64 " is not "
                 "below %" PRIu64 ": no source has such a state (a damaged "
                 "or crafted stream); migration refused", name, v, bound);
    return false;
}

static bool stream_in_range(PvclockPagesState *s)
{
    static const char *const mono_names[PVCP_MONO_CLOCKS] = {
        "mig_mono_ns[0] (MONOTONIC)", "mig_mono_ns[1] (MONOTONIC_RAW)",
        "mig_mono_ns[2] (BOOTTIME)",
    };

    if (!field_below("mig_generation", s->mig.generation,
                     PVCLOCK_MIG_COUNT_MAX) ||
        !field_below("mig_disruptions", s->mig.sample.disruptions,
                     PVCLOCK_MIG_COUNT_MAX) ||
        !field_below("mig_guest_hz", s->mig.guest_hz,
                     PVCLOCK_MIG_HZ_MAX + 1) ||
        !field_below("mig_frozen", s->mig.sample.frozen, 2) ||
        !field_below("mig_monotonic", s->mig.monotonic, 2) ||
        !field_below("mig_downtime", s->mig.downtime, 2)) {
        return false;
    }
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        int64_t v = (int64_t)s->mig.sample.mono_ns[i];

        if (v <= -(int64_t)PVCLOCK_MIG_MONO_MAX ||
            v >= (int64_t)PVCLOCK_MIG_MONO_MAX) {
            error_report("pvclock-pages: incoming field %s = %" PRId64
                         " ns is not within 2^62 ns of 0: no source has "
                         "such a state (a damaged or crafted stream); "
                         "migration refused", mono_names[i], v);
            return false;
        }
    }
    return true;
}

/*
 * downtime=include: is the time from the source's REALTIME at the stop
 * (rt_stop) to this host's (rt) a downtime?  Says why not, once.
 */
static bool downtime_plausible(PvclockPagesState *s, uint64_t rt_stop,
                               uint64_t rt)
{
    int64_t d = (int64_t)(rt - rt_stop);

    if (s->downtime != PVCLOCK_DOWNTIME_INCLUDE ||
        (rt_stop <= PVCP_S64_MAX && rt <= PVCP_S64_MAX &&
         d <= (int64_t)PVCLOCK_MIG_DOWNTIME_MAX &&
         d >= -(int64_t)PVCLOCK_MIG_AHEAD_MAX)) {
        return true;
    }
    warn_report("pvclock-pages: incoming field mig_realtime_ns (the source "
                "host's REALTIME at the stop, %" PRIu64 " ns) is not within "
                "a year before and a day after this host's (%" PRIu64 " ns);"
                " downtime=include adds nothing for this migration, the "
                "guest's clocks go on as with downtime=exclude", rt_stop, rt);
    return false;
}

/*
 * A sample taken where the guest counter stood still applies where it
 * moves on again: on this host's counter, about now.  A counter value
 * (mig_guest_counter) that maps a second or more away is no sample of
 * this guest's stop; the sample then applies now, with a warning.
 */
static bool resume_plausible(PvclockPagesState *s, uint64_t guest_counter,
                             uint64_t host_counter)
{
    uint64_t hz = pvclock_host_tsc_hz(s);
    int64_t d = (int64_t)(host_counter - cpu_get_host_ticks());

    if (!hz || (d > -(int64_t)hz && d < (int64_t)hz)) {
        return true;
    }
    warn_report("pvclock-pages: incoming field mig_guest_counter (where "
                "the guest counter stood still, %" PRIu64 ") is a second "
                "or more from where it resumes here; the guest's clocks "
                "go on from the sample as of now", guest_counter);
    return false;
}

/*
 * The guest's clocks now, through this host's pages: at the host counter
 * where the guest counter stands still if the accelerator stops it
 * (TCG stops its TSC before it pauses the vCPUs, so "now" would be a
 * little late), else at the host counter now.
 */
static bool sample_now(PvclockPagesState *s, PvclockClockSample *smp)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];
    uint64_t host[PVCP_MONO_CLOCKS], dis, h, g;
    const uint64_t *at = NULL;

    memset(smp, 0, sizeof(*smp));
    if (s->backend && s->backend->frozen_at && !s->rel.due &&
        s->rel.relation.kind == PVCLOCK_REL_LINEAR &&
        (x->flags & PVCP_XFORM_F_VALID) && s->backend->frozen_at(s, &g)) {
        h = pvcp_ref_xform_apply(x, g);
        at = &h;
        smp->frozen = true;
        smp->guest_counter = g;
    }
    if (!pvclock_host_at(s, at, host, &smp->realtime_ns, &dis)) {
        return false;
    }
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        smp->mono_ns[i] = host[i] + offset_ns(&s->off.mono_offset[i]);
    }
    smp->disruptions = pvclock_guest_disruptions_at(s, dis);
    smp->valid = true;
    return true;
}

/*
 * 1. vCPU stop (the vCPUs are paused when the handler runs) of a VM that
 * ran: not one that never ran, nor one whose migration is pending.  The
 * glue then sets the phase STOPPED.
 */
static void pvclock_migration_vm_stop(PvclockPagesState *s)
{
    sample_now(s, &s->mig.stop_sample);
    s->mig.stopped_at_ns = get_clock();
    trace_pvclock_pages_stop_sample(s->mig.stop_sample.valid,
                                    s->mig.stop_sample.mono_ns[0],
                                    s->mig.stop_sample.realtime_ns);
}

/*
 * 4. vCPU start: before the vCPUs run, after the accelerator's state.
 * The glue read the relation first: where the guest counter stood
 * still, the sample applies at the host counter at which it moves on
 * again.  The glue then sets the phase RUNNING and publishes.
 */
static void pvclock_migration_vm_start(PvclockPagesState *s)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];
    uint64_t host[PVCP_MONO_CLOCKS], rt, base[PVCP_MONO_CLOCKS], h;
    const PvclockClockSample *smp = NULL;
    const uint64_t *at = NULL;
    uint64_t add = 0;

    if (s->off.phase == PVCLOCK_PHASE_INCOMING) {
        smp = &s->mig.incoming;
    } else if (s->off.phase == PVCLOCK_PHASE_STOPPED &&
               s->mig.stop_sample.valid &&
               s->downtime == PVCLOCK_DOWNTIME_EXCLUDE &&
               s->monotonic == PVCLOCK_MONOTONIC_VM) {
        smp = &s->mig.stop_sample;
    }
    if (smp && smp->valid) {
        if (smp->frozen && s->rel.relation.kind == PVCLOCK_REL_LINEAR &&
            (x->flags & PVCP_XFORM_F_VALID)) {
            uint64_t resume = smp->guest_counter;

            /*
             * TCG's ticks never go back: after loadvm in this process the
             * guest TSC resumes where it stood at this stop, not at the
             * snapshot's older count (counter-tcg.c).  The snapshot's
             * clocks hold from where the counter really resumes.
             */
            if (smp == &s->mig.incoming && s->mig.stop_sample.valid &&
                s->mig.stop_sample.frozen &&
                (int64_t)(s->mig.stop_sample.guest_counter - resume) > 0) {
                resume = s->mig.stop_sample.guest_counter;
            }
            h = pvcp_ref_xform_apply(x, resume);
            at = resume_plausible(s, resume, h) ? &h : NULL;
        }
        if (pvclock_host_at(s, at, host, &rt, NULL)) {
            if (s->off.phase == PVCLOCK_PHASE_INCOMING &&
                s->downtime == PVCLOCK_DOWNTIME_INCLUDE &&
                s->mig.incoming_downtime_ok &&
                downtime_plausible(s, smp->realtime_ns, rt) &&
                rt > smp->realtime_ns) {
                add = rt - smp->realtime_ns;    /* as far as hosts agree */
            }
            for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
                base[i] = smp->mono_ns[i] + add;
            }
            pvclock_offset_page_set_mono(s, base, host);
        } else {
            warn_report("pvclock-pages: no usable pages at VM start; the "
                        "guest's monotonic clocks go on from the host's as "
                        "they were (%s)", pvclock_source_name(s));
        }
    }
    s->mig.last_downtime_ns =
        s->off.phase == PVCLOCK_PHASE_STOPPED && s->mig.stopped_at_ns
        ? get_clock() - s->mig.stopped_at_ns : 0;
    trace_pvclock_pages_start_apply(s->off.phase, smp != NULL, add);
    s->mig.stop_sample.valid = false;
}

/* 2. pre_save: the sample taken at the stop, or one now. */
static int pvclock_pages_pre_save(void *opaque)
{
    PvclockPagesState *s = opaque;
    PvclockClockSample smp;
    struct pvcp_host_page pg;
    uint64_t now_dis;

    if (s->off.phase == PVCLOCK_PHASE_STOPPED && s->mig.stop_sample.valid) {
        smp = s->mig.stop_sample;
    } else if (s->off.phase == PVCLOCK_PHASE_INCOMING) {
        smp = s->mig.incoming;      /* loaded here and never started */
    } else {
        sample_now(s, &smp);    /* a VM that never ran */
    }
    if (!smp.valid) {
        error_report("pvclock-pages: cannot read this host's pages to save "
                     "the guest's clocks; is pvclock-helper running?");
        return -EINVAL;
    }
    s->mig.abi_major = PVCP_ABI_MAJOR;
    s->mig.abi_minor = PVCP_ABI_MINOR;
    s->mig.generation = s->offset_page->generation;
    s->mig.guest_hz = s->rel.relation.guest_hz;
    s->mig.sample = smp;
    now_dis = pvclock_guest_disruptions_at(s, pvclock_host_page0(s, &pg, NULL)
                                              ? pg.disruptions : 0);
    s->mig.sample.disruptions = MAX(smp.disruptions, now_dis);
    /* the enums' values: 0 vm / exclude, 1 host / include */
    s->mig.monotonic = s->monotonic;
    s->mig.downtime = s->downtime;
    trace_pvclock_pages_pre_save(s->mig.generation,
                                 s->mig.sample.mono_ns[PVCP_MONO_MONOTONIC],
                                 s->mig.sample.realtime_ns);
    return 0;
}

static int pvclock_pages_pre_load(void *opaque)
{
    PvclockPagesState *s = opaque;

    /* a stream without the at-stop subsection: no count, not frozen */
    memset(&s->mig.sample, 0, sizeof(s->mig.sample));
    return 0;
}

/* 3. post_load: check, keep, invalidate; the rest waits for the start. */
static int pvclock_pages_post_load(void *opaque, int version_id)
{
    PvclockPagesState *s = opaque;
    const char *why = "incoming migration: read when the VM starts";
    uint64_t host[PVCP_MONO_CLOCKS], rt = 0;
    int64_t start = get_clock();
    bool have_rt;

    if (s->mig.abi_major != PVCP_ABI_MAJOR) {
        error_report("pvclock-pages: incoming clock state has ABI %u.%u, "
                     "this QEMU has %u.%u; migrate between matching "
                     "versions", s->mig.abi_major, s->mig.abi_minor,
                     PVCP_ABI_MAJOR, PVCP_ABI_MINOR);
        return -EINVAL;
    }
    if (!stream_in_range(s)) {
        return -EINVAL;
    }
    if (s->mig.monotonic != s->monotonic || s->mig.downtime != s->downtime) {
        error_report("pvclock-pages: the source runs with monotonic=%s,"
                     "downtime=%s, this destination with monotonic=%s,"
                     "downtime=%s; start the destination with the source's "
                     "properties", s->mig.monotonic ? "host" : "vm",
                     s->mig.downtime ? "include" : "exclude",
                     s->monotonic ? "host" : "vm",
                     s->downtime ? "include" : "exclude");
        return -EINVAL;
    }
    have_rt = pvclock_host_now(s, host, &rt, NULL);
    if (!have_rt) {
        /*
         * A migration refused here leaves the source running; a loadvm
         * refused leaves the VM with no state at all (QEMU then cannot
         * even migrate it).  So loadvm goes on: the clocks are applied
         * at the start, from whatever pages there are then.
         */
        if (!runstate_check(RUN_STATE_RESTORE_VM)) {
            error_report("pvclock-pages: the destination has no usable "
                         "pvclock-helper pages (%s); start pvclock-helper "
                         "here before migrating", pvclock_source_name(s));
            return -EINVAL;
        }
        warn_report("pvclock-pages: loadvm with no usable pvclock-helper "
                    "pages (%s) right now; the guest's clocks are applied "
                    "when the VM starts", pvclock_source_name(s));
    }
    /* checked here when this host's pages answer, else at the start */
    s->mig.incoming_downtime_ok = !have_rt ||
        downtime_plausible(s, s->mig.sample.realtime_ns, rt);
    s->mig.incoming = s->mig.sample;
    s->mig.incoming.valid = true;
    /* a source without the at-stop subsection: its generation at least */
    s->mig.incoming.disruptions =
        MAX(s->mig.sample.disruptions,
            pvclock_disruption_count(s->mig.generation, 0));
    /* what the guest counted at the source only grows from here */
    pvclock_offset_page_incoming(s, s->mig.generation + 1,
                                 s->mig.incoming.disruptions + 1);
    pvclock_pages_loaded(s);
    pvclock_offset_page_forget_relation(s, why);
    pvclock_pages_publish(s, why);
    s->mig.last_post_load_ns = get_clock() - start;
    trace_pvclock_pages_post_load(s->offset_page->generation,
                                  s->mig.last_post_load_ns);
    return 0;
}

/*
 * The sample on the wire: the guest's clocks and the source host's
 * REALTIME in the main section, where ABI 1.0 put them ...
 */
static const VMStateDescription vmstate_pvclock_sample_clocks = {
    .name = "pvclock-pages/sample-clocks",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(mono_ns, PvclockClockSample, PVCP_MONO_CLOCKS),
        VMSTATE_UINT64(realtime_ns, PvclockClockSample),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * ... and since ABI 1.3, in the at-stop subsection: the source's
 * disruption count (generation + its host's, which the destination keeps
 * growing) and the guest counter value the sample was taken at, if the
 * counter stood still there (frozen: a byte, checked to be 0 or 1).
 */
static const VMStateDescription vmstate_pvclock_sample_counter = {
    .name = "pvclock-pages/sample-counter",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(disruptions, PvclockClockSample),
        VMSTATE_UINT64(guest_counter, PvclockClockSample),
        VMSTATE_UINT8(frozen, PvclockClockSample),
        VMSTATE_END_OF_LIST()
    },
};

static bool pvclock_pages_at_stop_needed(void *opaque)
{
    return true;
}

static const VMStateDescription vmstate_pvclock_pages_at_stop = {
    .name = "pvclock-pages/at-stop",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = pvclock_pages_at_stop_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(mig.sample, PvclockPagesState, 0,
                       vmstate_pvclock_sample_counter, PvclockClockSample),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * The subsections, the parts' in the order of pvclock_parts[] (at-stop
 * first: this part is the table's first), filled at class_init.
 */
#define PVCLOCK_MIG_MAX_SUBSECTIONS 8
static const VMStateDescription *
pvclock_mig_subsections[PVCLOCK_MIG_MAX_SUBSECTIONS + 1];

static const VMStateDescription vmstate_pvclock_pages = {
    .name = "pvclock-pages",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = pvclock_pages_pre_save,
    .pre_load = pvclock_pages_pre_load,
    .post_load = pvclock_pages_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, PvclockPagesState),
        VMSTATE_UINT32(mig.abi_major, PvclockPagesState),
        VMSTATE_UINT32(mig.abi_minor, PvclockPagesState),
        VMSTATE_UINT64(mig.generation, PvclockPagesState),
        VMSTATE_UINT64(mig.guest_hz, PvclockPagesState),
        VMSTATE_STRUCT(mig.sample, PvclockPagesState, 0,
                       vmstate_pvclock_sample_clocks, PvclockClockSample),
        VMSTATE_UINT32(mig.monotonic, PvclockPagesState),
        VMSTATE_UINT32(mig.downtime, PvclockPagesState),
        VMSTATE_END_OF_LIST()
    },
    .subsections = pvclock_mig_subsections,
};

static void pvclock_migration_get_us(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    uint64_t us = (opaque ? s->mig.last_post_load_ns
                          : s->mig.last_downtime_ns) / 1000;

    visit_type_uint64(v, name, &us, errp);
}

/*
 * The device migrates by this part's description, with the parts'
 * subsections; and the figures for management.
 */
static void pvclock_migration_class_init(ObjectClass *klass)
{
    size_t n = 0;

    for (const PvclockPart *const *p = pvclock_parts; *p; p++) {
        if ((*p)->vmsd) {
            assert(n < PVCLOCK_MIG_MAX_SUBSECTIONS);
            pvclock_mig_subsections[n++] = (*p)->vmsd;
        }
    }
    DEVICE_CLASS(klass)->vmsd = &vmstate_pvclock_pages;

    object_class_property_add(klass, "last-post-load-us", "uint64",
                              pvclock_migration_get_us, NULL, NULL,
                              (void *)1);
    object_class_property_set_description(klass, "last-post-load-us",
        "time the last incoming migration spent in this device's "
        "post_load, us");
    object_class_property_add(klass, "last-downtime-us", "uint64",
                              pvclock_migration_get_us, NULL, NULL, NULL);
    object_class_property_set_description(klass, "last-downtime-us",
        "stop to start of the last VM stop, as seen by this device, us");
}

const PvclockPart pvclock_part_migration = {
    .name = "migration",
    .class_init = pvclock_migration_class_init,
    .vm_stop = pvclock_migration_vm_stop,
    .vm_start = pvclock_migration_vm_start,
    .vmsd = &vmstate_pvclock_pages_at_stop,
};
