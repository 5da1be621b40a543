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
    s->recommended_page = smeared ? PVCP_PAGE_UNSCALED_SMEARED
                                  : PVCP_PAGE_UNSCALED_UNSMEARED;
    op->recommended_page = s->recommended_page;
    if (!mono_host) {
        /* like a time namespace made at VM start: these count from 0 */
        s->mono_offset[PVCP_MONO_MONOTONIC] = zero_offset(CLOCK_MONOTONIC);
        s->mono_offset[PVCP_MONO_RAW] = zero_offset(CLOCK_MONOTONIC_RAW);
        s->mono_offset[PVCP_MONO_BOOTTIME] = zero_offset(CLOCK_BOOTTIME);
    }
    memcpy(op->mono_offset, s->mono_offset, sizeof(op->mono_offset));
    s->published_dis = pvclock_guest_disruptions(s);
    s->published_status = op->status;
    s->phase = PVCLOCK_PHASE_STOPPED;
    s->relation_due = true;
    s->relation.kind = PVCLOCK_REL_UNKNOWN;
    s->relation.why = "the VM has not started yet";
}

/* The status the device's state calls for, and why. */
static uint32_t status_now(PvclockPagesState *s, const char **why)
{
    if (!s->host) {
        *why = "no usable host pages";
        return PVCP_STATUS_NO_HELPER;
    }
    if (!s->host_ok) {
        *why = "host pages damaged (headers, check words or ranges)";
        return PVCP_STATUS_NO_HELPER;
    }
    if (s->phase == PVCLOCK_PHASE_INCOMING) {
        *why = "incoming migration: applied when the VM starts";
        return PVCP_STATUS_INVALID;
    }
    if (s->relation_due) {
        *why = s->relation.why;
        return PVCP_STATUS_INVALID;
    }
    if (s->relation.kind != PVCLOCK_REL_LINEAR) {
        *why = s->relation.why;
        return PVCP_STATUS_UNRELIABLE;
    }
    if (s->helper_stale) {
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
    if (have && pg->raw.mult == s->xform_raw.mult &&
        pg->raw.shift == s->xform_raw.shift &&
        pg->counter_mode == s->xform_raw_mode) {
        return;
    }
    s->xform_raw = have ? pg->raw : (struct pvcp_line){ 0 };
    s->xform_raw_mode = have ? pg->counter_mode : PVCP_COUNTER_NONE;
    if (!have || !pvclock_relation_raw_xform(&s->relation,
                                             s->relation_host_ref, pg,
                                             &s->xform[PVCP_DOMAIN_SCALED])) {
        memset(&s->xform[PVCP_DOMAIN_SCALED], 0,
               sizeof(s->xform[PVCP_DOMAIN_SCALED]));
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
    bool linear = s->relation.kind == PVCLOCK_REL_LINEAR && !s->relation_due;

    if (have_pg) {
        s->last_host_dis = pg.disruptions;
        s->live_refused = s->live_mapped ? pvclock_live_refusal(s, &pg)
                                         : NULL;
    } else if (!s->host || !s->host_ok) {
        s->live_refused = "no usable host pages";
    }
    host_dis = s->host ? s->last_host_dis : 0;
    /* a page 0 busy being written changes nothing here: keep what was */
    if (linear && (have_pg || !s->host || !s->host_ok)) {
        refresh_raw_xform(s, &pg, have_pg);
    }
    memcpy(&next, op, PUBLISHED_END);
    next.status = status;
    next.recommended_page = s->recommended_page;
    next.guest_counter_hz = linear ? s->relation.guest_hz : 0;
    memset(next.ref_xform, 0, sizeof(next.ref_xform));
    if (linear) {
        memcpy(next.ref_xform, s->xform, sizeof(next.ref_xform));
    }
    next.relation_flags = s->relation.flags;
    memset(&next.live, 0, sizeof(next.live));
    if (linear && pvclock_live_usable(s, &live_why)) {
        next.live = s->live_desc;
    }
    /* memory at 0x5000, not an MMIO hole: the guest driver may map it */
    if (s->live_mapped) {
        next.live.flags |= PVCP_LIVE_F_MAPPED;
    }
    memcpy(next.mono_offset, s->mono_offset, sizeof(next.mono_offset));
    next.generation = op->generation;
    if (!memcmp((char *)&next + PUBLISHED_START,
                (char *)op + PUBLISHED_START,
                PUBLISHED_END - PUBLISHED_START) &&
        op->generation >= s->generation_floor &&
        op->generation + host_dis >= s->disruption_floor) {
        return;                 /* nothing the guest sees would change */
    }
    if (op->status != PVCP_STATUS_INVALID) {
        next.generation++;      /* what a guest may have used changes */
    }
    /* the disruption count (generation + the host's) only grows */
    next.generation = MAX(next.generation, s->generation_floor);
    if (next.generation + host_dis < s->disruption_floor) {
        next.generation = s->disruption_floor - host_dis;
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
    if (dis == s->published_dis &&
        s->offset_page->status == s->published_status) {
        return false;
    }
    s->published_dis = dis;
    s->published_status = s->offset_page->status;
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
    uint64_t old_dis, rt;
    bool carry;

    memory_region_transaction_begin();
    if (!pvclock_host_disruptions(s, &old_dis)) {
        old_dis = s->last_host_dis;
    }
    carry = s->monotonic == PVCLOCK_MONOTONIC_VM &&
            pvclock_host_at(s, &sw->tsc, host_mono, &rt, NULL);
    for (int i = 0; carry && i < PVCP_MONO_CLOCKS; i++) {
        guest_mono[i] = host_mono[i] + s->mono_offset[i].sec *
                        NANOSECONDS_PER_SECOND + s->mono_offset[i].nsec;
    }
    pvclock_offset_page_write_begin(s);
    op->generation += old_dis + 1;
    pvclock_host_swap(s, sw);
    if (carry && pvclock_host_at(s, &sw->tsc, host_mono, &rt, NULL)) {
        pvclock_offset_page_set_mono(s, guest_mono, host_mono);
        memcpy(op->mono_offset, s->mono_offset, sizeof(s->mono_offset));
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
    s->relation_reads++;
    s->relation_read_ns = get_clock();
    same = same_line(&rel, &s->relation) &&
           (s->xform[PVCP_DOMAIN_UNSCALED].flags & PVCP_XFORM_F_VALID);
    s->relation = rel;
    s->relation_due = false;
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
    s->relation_host_ref = rel.ratio ? cpu_get_host_ticks() : 0;
    if (!pvclock_relation_xform(&rel, s->relation_host_ref,
                                &s->xform[PVCP_DOMAIN_UNSCALED]) &&
        rel.kind == PVCLOCK_REL_LINEAR) {
        s->relation.kind = PVCLOCK_REL_UNKNOWN;
        s->relation.why = "the guest counter's scaling ratio has no "
                          "inverse this device can publish";
    }
    s->xform_raw_mode = PVCP_COUNTER_NONE;  /* recompute the scaled one */
    s->xform_raw.mult = 0;
}

void pvclock_offset_page_forget_relation(PvclockPagesState *s,
                                         const char *why)
{
    s->relation_due = true;
    s->relation.kind = PVCLOCK_REL_UNKNOWN;
    s->relation.why = why;
}

uint64_t pvclock_guest_disruptions_at(PvclockPagesState *s,
                                      uint64_t host_dis)
{
    return s->offset_page->generation + host_dis;
}

uint64_t pvclock_guest_disruptions(PvclockPagesState *s)
{
    return pvclock_guest_disruptions_at(s, s->host ? s->last_host_dis : 0);
}

void pvclock_offset_page_set_mono(PvclockPagesState *s,
                                  const uint64_t mono_ns[PVCP_MONO_CLOCKS],
                                  const uint64_t host_ns[PVCP_MONO_CLOCKS])
{
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        int64_t ns = (int64_t)(mono_ns[i] - host_ns[i]);
        struct pvcp_timens_offset *o = &s->mono_offset[i];

        o->sec = ns / (int64_t)NANOSECONDS_PER_SECOND;
        ns %= (int64_t)NANOSECONDS_PER_SECOND;
        if (ns < 0) {
            o->sec -= 1;
            ns += NANOSECONDS_PER_SECOND;
        }
        o->nsec = ns;
    }
}
