/*
 * pvclock-pages: the offset page, what this guest is shown and when.
 *
 * Everything the guest sees here follows from the device's state (the
 * host pages, the phase, the relation, the monotonic offsets) through
 * one function, pvclock_offset_page_publish(): it builds the page the
 * state calls for and writes it only if it differs from what the guest
 * sees, under the seqcount, with generation bumped before the new values
 * are visible.  This file is the page's only writer; it tells nobody
 * (publish() says whether what the guest's clocks rest on changed, and
 * the device's glue tells the interrupt and VMClock).  The relation is
 * read from the accelerator on events only; nothing here runs
 * periodically against a vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/timer.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "trace.h"

static const char *const status_names[] = {
    [PVCP_STATUS_INVALID] = "invalid",
    [PVCP_STATUS_VALID] = "valid",
    [PVCP_STATUS_NO_HELPER] = "no-helper",
    [PVCP_STATUS_UNRELIABLE] = "unreliable",
    [PVCP_STATUS_STALE] = "stale",
};

const char *pvclock_status_name(uint32_t status)
{
    return status < ARRAY_SIZE(status_names) ? status_names[status]
                                              : "unknown";
}

/*
 * Writer side of the seqcount.  The guest reads this page concurrently
 * (a vCPU thread under TCG, the guest itself under KVM); the barriers
 * pair with the reader's after its seq loads.
 */
static void pvclock_offset_page_write_begin(PvclockPagesState *s)
{
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
    smp_wmb();  /* odd seq visible before any field changes */
}

static void pvclock_offset_page_write_end(PvclockPagesState *s)
{
    smp_wmb();  /* all fields visible before seq is even again */
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
}

/* The host's clock now, as a timens-like offset that takes it to zero. */
static struct pvcp_timens_offset zero_offset(clockid_t clk)
{
    struct pvcp_timens_offset o = { 0, 0 };
    struct timespec ts;

    clock_gettime(clk, &ts);
    o.sec = -(int64_t)ts.tv_sec;
    if (ts.tv_nsec) {
        o.sec -= 1;
        o.nsec = NANOSECONDS_PER_SECOND - ts.tv_nsec;
    }
    return o;
}

void pvclock_offset_page_init(PvclockPagesState *s, bool smeared,
                              bool mono_host)
{
    struct pvcp_offset_page *op = s->offset_page;

    /*
     * Native stores: the pages describe the host TSC, so the host is x86
     * and little-endian like the ABI.
     */
    memset(op, 0, PVCP_PAGE_SIZE);
    op->magic = PVCP_OFFSET_MAGIC;
    op->abi_major = PVCP_ABI_MAJOR;
    op->abi_minor = PVCP_ABI_MINOR;
    op->status = PVCP_STATUS_INVALID;
    op->generation = 1;
    op->counter_backend = s->backend ? s->backend->abi_backend
                                     : PVCP_BACKEND_NONE;
    s->off.recommended_page = smeared ? PVCP_PAGE_UNSCALED_SMEARED
                                      : PVCP_PAGE_UNSCALED_UNSMEARED;
    op->recommended_page = s->off.recommended_page;
    if (!mono_host) {
        /* like a time namespace made at VM start: these count from 0 */
        s->off.mono_offset[PVCP_MONO_MONOTONIC] = zero_offset(CLOCK_MONOTONIC);
        s->off.mono_offset[PVCP_MONO_RAW] = zero_offset(CLOCK_MONOTONIC_RAW);
        s->off.mono_offset[PVCP_MONO_BOOTTIME] = zero_offset(CLOCK_BOOTTIME);
    }
    memcpy(op->mono_offset, s->off.mono_offset, sizeof(op->mono_offset));
    s->off.published_dis = pvclock_guest_disruptions(s);
    s->off.published_status = op->status;
    s->off.phase = PVCLOCK_PHASE_STOPPED;
    s->rel.due = true;
    s->rel.relation.kind = PVCLOCK_REL_UNKNOWN;
    s->rel.relation.why = "the VM has not started yet";
}

/* The status the device's state calls for, and why. */
static uint32_t status_now(PvclockPagesState *s, const char **why)
{
    if (!s->host.pages) {
        *why = "no usable host pages";
        return PVCP_STATUS_NO_HELPER;
    }
    if (!s->host.ok) {
        *why = "host pages damaged (headers, check words or ranges)";
        return PVCP_STATUS_NO_HELPER;
    }
    if (s->off.phase == PVCLOCK_PHASE_INCOMING) {
        *why = "incoming migration: applied when the VM starts";
        return PVCP_STATUS_INVALID;
    }
    if (s->rel.due) {
        *why = s->rel.relation.why;
        return PVCP_STATUS_INVALID;
    }
    if (s->rel.relation.kind != PVCLOCK_REL_LINEAR) {
        *why = s->rel.relation.why;
        return PVCP_STATUS_UNRELIABLE;
    }
    if (s->host.stale) {
        *why = "pvclock-helper stopped updating the pages";
        return PVCP_STATUS_STALE;
    }
    *why = NULL;
    return PVCP_STATUS_VALID;
}

/*
 * The scaled domain's transform goes through page 0's raw line; the
 * line's slope changes only with the host's clocksource, which the
 * device learns from the file, not from a vCPU.
 */
static void refresh_raw_xform(PvclockPagesState *s,
                              const struct pvcp_host_page *pg, bool have)
{
    if (have && pg->raw.mult == s->rel.raw.mult &&
        pg->raw.shift == s->rel.raw.shift &&
        pg->counter_mode == s->rel.raw_mode) {
        return;
    }
    s->rel.raw = have ? pg->raw : (struct pvcp_line){ 0 };
    s->rel.raw_mode = have ? pg->counter_mode : PVCP_COUNTER_NONE;
    if (!have ||
        !pvclock_relation_raw_xform(&s->rel.relation, s->rel.host_ref, pg,
                                    &s->rel.xform[PVCP_DOMAIN_SCALED])) {
        memset(&s->rel.xform[PVCP_DOMAIN_SCALED], 0,
               sizeof(s->rel.xform[PVCP_DOMAIN_SCALED]));
    }
}

/*
 * The transforms as published (ABI 1.7): to the page counter.  On a
 * simulated host the unscaled one gets page 0's sim composed in, and
 * without PVCP_XFORM_F_VALID, which readers of 1.3-1.6 require: they
 * would apply sim once more.  A page 0 busy being written keeps the sim
 * last read.
 */
static void page_counter_xforms(PvclockPagesState *s,
                                const struct pvcp_host_page *pg,
                                struct pvcp_ref_xform out[PVCP_DOMAINS])
{
    struct pvcp_ref_xform *u = &out[PVCP_DOMAIN_UNSCALED];

    if (pg) {
        s->off.sim = (pg->flags & PVCP_HOST_F_SIMULATED)
                     ? pg->sim : (struct pvcp_xform){ 0 };
    }
    memcpy(out, s->rel.xform, sizeof(s->rel.xform));
    for (int i = 0; i < PVCP_DOMAINS; i++) {
        if (out[i].flags & PVCP_XFORM_F_VALID) {
            out[i].flags |= PVCP_XFORM_F_PAGE_COUNTER;
        }
    }
    if (s->off.sim.flags &&
        !pvclock_relation_compose_sim(&s->rel.xform[PVCP_DOMAIN_UNSCALED],
                                      &s->off.sim, u)) {
        memset(u, 0, sizeof(*u));
    }
}

/* The part of the page publish() writes: everything under seq. */
#define PUBLISHED_START offsetof(struct pvcp_offset_page, status)
#define PUBLISHED_END   offsetof(struct pvcp_offset_page, reserved)

static void publish_offset(PvclockPagesState *s, const char *why)
{
    struct pvcp_offset_page *op = s->offset_page;
    struct pvcp_offset_page next;
    struct pvcp_host_page pg;
    bool have_pg = pvclock_host_page0(s, &pg, NULL);
    uint64_t host_dis;
    const char *reason, *live_why;
    uint32_t status = status_now(s, &reason);
    bool linear = s->rel.relation.kind == PVCLOCK_REL_LINEAR && !s->rel.due;

    if (have_pg) {
        s->off.last_host_dis = pg.disruptions;
        pvclock_live_judge(s, &pg);
    } else if (!s->host.pages || !s->host.ok) {
        pvclock_live_judge(s, NULL);
    }
    host_dis = s->host.pages ? s->off.last_host_dis : 0;
    /* a page 0 busy being written changes nothing here: keep what was */
    if (linear && (have_pg || !s->host.pages || !s->host.ok)) {
        refresh_raw_xform(s, &pg, have_pg);
    }
    memcpy(&next, op, PUBLISHED_END);
    next.status = status;
    next.recommended_page = s->off.recommended_page;
    next.guest_counter_hz = linear ? s->rel.relation.guest_hz : 0;
    memset(next.ref_xform, 0, sizeof(next.ref_xform));
    if (linear) {
        page_counter_xforms(s, have_pg ? &pg : NULL, next.ref_xform);
    }
    next.relation_flags = s->rel.relation.flags;
    memset(&next.live, 0, sizeof(next.live));
    if (linear && pvclock_live_usable(s, &live_why)) {
        next.live = s->live.desc;
    }
    /* memory at 0x5000, not an MMIO hole: the guest driver may map it */
    if (s->live.mapped) {
        next.live.flags |= PVCP_LIVE_F_MAPPED;
    }
    memcpy(next.mono_offset, s->off.mono_offset, sizeof(next.mono_offset));
    next.generation = op->generation;
    if (!memcmp((char *)&next + PUBLISHED_START,
                (char *)op + PUBLISHED_START,
                PUBLISHED_END - PUBLISHED_START) &&
        op->generation >= s->off.generation_floor &&
        pvclock_disruption_count(op->generation, host_dis) >=
        s->off.disruption_floor) {
        return;                 /* nothing the guest sees would change */
    }
    if (op->status != PVCP_STATUS_INVALID) {
        next.generation++;      /* what a guest may have used changes */
    }
    /* the disruption count (generation + the host's) only grows */
    next.generation = MAX(next.generation, s->off.generation_floor);
    if (pvclock_disruption_count(next.generation, host_dis) <
        s->off.disruption_floor) {
        next.generation = s->off.disruption_floor - host_dis;
    }
    if (op->status != status) {
        trace_pvclock_pages_status(pvclock_status_name(op->status),
                                   pvclock_status_name(status),
                                   next.generation, reason ? reason : "");
    }
    trace_pvclock_pages_generation(next.generation, why);
    pvclock_offset_page_write_begin(s);
    memcpy((char *)op + PUBLISHED_START, (char *)&next + PUBLISHED_START,
           PUBLISHED_END - PUBLISHED_START);
    pvclock_offset_page_write_end(s);
}

bool pvclock_offset_page_publish(PvclockPagesState *s, const char *why)
{
    uint64_t dis;

    publish_offset(s, why);
    /* host disruptions alone change the guest's count too */
    dis = pvclock_guest_disruptions(s);
    if (dis == s->off.published_dis &&
        s->offset_page->status == s->off.published_status) {
        return false;
    }
    s->off.published_dis = dis;
    s->off.published_status = s->offset_page->status;
    return true;
}

/*
 * Other host pages replace the ones shown (pvclock_host_look() found
 * them), in one seq write: generation steps past what the old pages had
 * counted, so that a guest's disruption count (generation + the host
 * page's) only grows and a reader straddling the swap retries; with
 * monotonic=vm the guest's clocks go on from where the old pages had
 * them, at the counter value at which the new ones were found, whatever
 * their host says (a helper that started over may count differently, as
 * a simulated host does).  The BAR's views change at the commit.
 */
void pvclock_offset_page_replace_host(PvclockPagesState *s,
                                      const PvclockHostSwap *sw)
{
    struct pvcp_offset_page *op = s->offset_page;
    uint64_t host_mono[PVCP_MONO_CLOCKS], guest_mono[PVCP_MONO_CLOCKS];
    struct pvcp_host_page pg;
    uint64_t old_dis, rt;
    bool carry;

    memory_region_transaction_begin();
    if (!pvclock_host_disruptions(s, &old_dis)) {
        old_dis = s->off.last_host_dis;
    }
    carry = s->monotonic == PVCLOCK_MONOTONIC_VM &&
            pvclock_host_at(s, &sw->tsc, host_mono, &rt, NULL);
    for (int i = 0; carry && i < PVCP_MONO_CLOCKS; i++) {
        guest_mono[i] = host_mono[i] + s->off.mono_offset[i].sec *
                        NANOSECONDS_PER_SECOND + s->off.mono_offset[i].nsec;
    }
    pvclock_offset_page_write_begin(s);
    op->generation += old_dis + 1;
    pvclock_host_swap(s, sw);
    /* another simulated host's sim goes in with its pages */
    if (op->ref_xform[PVCP_DOMAIN_UNSCALED].flags &&
        pvclock_host_page0(s, &pg, NULL)) {
        page_counter_xforms(s, &pg, op->ref_xform);
    }
    if (carry && pvclock_host_at(s, &sw->tsc, host_mono, &rt, NULL)) {
        pvclock_offset_page_set_mono(s, guest_mono, host_mono);
        memcpy(op->mono_offset, s->off.mono_offset,
               sizeof(s->off.mono_offset));
    }
    pvclock_offset_page_write_end(s);
    memory_region_transaction_commit();
}

static bool same_line(const PvclockCounterRelation *a,
                      const PvclockCounterRelation *b)
{
    return a->kind == PVCLOCK_REL_LINEAR && b->kind == PVCLOCK_REL_LINEAR &&
           a->ratio == b->ratio && a->ratio_frac_bits == b->ratio_frac_bits &&
           a->offset == b->offset;
}

void pvclock_offset_page_fetch_relation(PvclockPagesState *s)
{
    PvclockCounterRelation rel = { .kind = PVCLOCK_REL_UNKNOWN };
    bool same;

    if (s->backend) {
        s->backend->get(s, &rel);
    } else {
        rel.why = "no counter backend for this accelerator";
    }
    s->rel.reads++;
    s->rel.read_ns = get_clock();
    same = same_line(&rel, &s->rel.relation) &&
           (s->rel.xform[PVCP_DOMAIN_UNSCALED].flags & PVCP_XFORM_F_VALID);
    s->rel.relation = rel;
    s->rel.due = false;
    trace_pvclock_pages_relation(s->backend ? s->backend->name : "none",
                                 rel.kind, rel.ratio, rel.ratio_frac_bits,
                                 rel.offset, rel.guest_hz,
                                 rel.why ? rel.why : "");
    if (same) {
        return;                 /* the same line: keep its reference */
    }
    /*
     * Unscaled lines are exact from any reference: 0 keeps the page the
     * same for the same offset.  Scaled ones refer to the host TSC now.
     */
    s->rel.host_ref = rel.ratio ? cpu_get_host_ticks() : 0;
    if (!pvclock_relation_xform(&rel, s->rel.host_ref,
                                &s->rel.xform[PVCP_DOMAIN_UNSCALED]) &&
        rel.kind == PVCLOCK_REL_LINEAR) {
        s->rel.relation.kind = PVCLOCK_REL_UNKNOWN;
        s->rel.relation.why = "the guest counter's scaling ratio has no "
                              "inverse this device can publish";
    }
    s->rel.raw_mode = PVCP_COUNTER_NONE;  /* recompute the scaled one */
    s->rel.raw.mult = 0;
}

void pvclock_offset_page_forget_relation(PvclockPagesState *s,
                                         const char *why)
{
    s->rel.due = true;
    s->rel.relation.kind = PVCLOCK_REL_UNKNOWN;
    s->rel.relation.why = why;
}

void pvclock_offset_page_relation_changed(PvclockPagesState *s)
{
    s->rel.due = true;
}

void pvclock_offset_page_set_phase(PvclockPagesState *s, PvclockPhase phase)
{
    s->off.phase = phase;
}

void pvclock_offset_page_incoming(PvclockPagesState *s,
                                  uint64_t generation_floor,
                                  uint64_t disruption_floor)
{
    s->off.generation_floor = MAX(s->off.generation_floor, generation_floor);
    s->off.disruption_floor = MAX(s->off.disruption_floor, disruption_floor);
    s->off.phase = PVCLOCK_PHASE_INCOMING;
}

uint64_t pvclock_disruption_count(uint64_t generation, uint64_t host_dis)
{
    return generation + host_dis;
}

uint64_t pvclock_guest_disruptions_at(PvclockPagesState *s,
                                      uint64_t host_dis)
{
    return pvclock_disruption_count(s->offset_page->generation, host_dis);
}

uint64_t pvclock_guest_disruptions(PvclockPagesState *s)
{
    return pvclock_guest_disruptions_at(s, s->host.pages ?
                                           s->off.last_host_dis : 0);
}

void pvclock_offset_page_set_mono(PvclockPagesState *s,
                                  const uint64_t mono_ns[PVCP_MONO_CLOCKS],
                                  const uint64_t host_ns[PVCP_MONO_CLOCKS])
{
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        int64_t ns = (int64_t)(mono_ns[i] - host_ns[i]);
        struct pvcp_timens_offset *o = &s->off.mono_offset[i];

        o->sec = ns / (int64_t)NANOSECONDS_PER_SECOND;
        ns %= (int64_t)NANOSECONDS_PER_SECOND;
        if (ns < 0) {
            o->sec -= 1;
            ns += NANOSECONDS_PER_SECOND;
        }
        o->nsec = ns;
    }
}
