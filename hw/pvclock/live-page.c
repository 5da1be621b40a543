/*
 * pvclock-pages: the live page, the host kernel's own timekeeping page.
 *
 * QEMU's process has the host kernel's vDSO data mapped ([vvar]), as
 * every process has.  The device finds its layout with the detection
 * it shares with the helper (pvclock-pages/pvclock-vvar.h), validates
 * it against clock_gettime() as the helper does, and maps that first
 * page read-only into the BAR at PVCP_BAR_LIVE_PAGE: no copy, nothing to
 * update, no lag behind the host's own clock_gettime().  The offset
 * page's descriptor (struct pvcp_live) tells guests where the kernel's
 * words are; the kernel's struct stays private to it.  A layout the
 * detection does not know, a time namespace or a clocksource other than
 * the TSC: no live page, and the status says why; guests read the
 * helper's pages as before.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/error-report.h"
#include "hw/qdev-properties.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "trace.h"

#if defined(CONFIG_LINUX) && defined(HOST_X86_64)
#include "pvclock-pages/pvclock-vvar.h"

/* Find and check QEMU's own vDSO data page; NULL and *why if unusable. */
static void *pvclock_live_find(struct pvcp_live *desc, char **why,
                               struct vvar_source **out)
{
    struct vvar_source src;
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN];

    if (vvar_open(&src, err) < 0 ||
        vvar_read_validated(&src, &snap, err) < 0) {
        *why = strstr(err, "time namespace")
               ? g_strdup("QEMU runs in a non-initial time namespace, whose "
                          "vDSO data page is the namespace's, not the "
                          "host's; start QEMU in the initial one")
               : g_strdup(err);
        return NULL;
    }
    if (snap.counter_mode != PVCP_COUNTER_TSC) {
        *why = g_strdup("the host clocksource is not the TSC (vDSO clock "
                        "mode kvm-clock): the live page needs the TSC");
        return NULL;
    }
    vvar_live_desc(src.layout, desc);
    if (pvcp_live_desc_check(desc)) {
        /* what guests would refuse: offsets outside the page */
        *why = g_strdup_printf("layout %s: its descriptor has offsets "
                               "outside the page", src.layout->name);
        return NULL;
    }
    *why = g_strdup_printf("layout %s", src.layout->name);
    *out = g_memdup2(&src, sizeof(src));
    return (void *)src.vvar;
}

/* |a - b| below a second: the same host's clock, not another's */
static bool within_a_second(struct pvcp_time a, struct pvcp_time b)
{
    int64_t d = (int64_t)(a.sec - b.sec);

    return d >= -1 && d <= 1 &&
           llabs(d * (int64_t)NANOSECONDS_PER_SECOND +
                 ((int64_t)a.nsec - (int64_t)b.nsec)) <
           (int64_t)NANOSECONDS_PER_SECOND;
}

static bool pvclock_live_matches(PvclockPagesState *s,
                                 const struct pvcp_host_page *h)
{
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN];
    uint64_t tsc = cpu_get_host_ticks() & PVCP_S64_MAX;

    if (!s->live.src || vvar_snapshot(s->live.src, &snap, err) < 0 ||
        snap.counter_mode != PVCP_COUNTER_TSC ||
        (pvcp_host_page_check(h, 0) & PVCP_BAD_RANGE)) {
        return false;
    }
    return within_a_second(
               pvcp_clock_at(&snap.hres, &snap.hres_base[PVCP_HRES_REALTIME],
                             snap.flags, tsc),
               pvcp_clock_at(&h->hres, &h->hres_base[PVCP_HRES_REALTIME],
                             h->flags, tsc)) &&
           within_a_second(
               pvcp_clock_at(&snap.raw, &snap.raw_base, snap.flags, tsc),
               pvcp_clock_at(&h->raw, &h->raw_base, h->flags, tsc));
}

static bool live_overlay(PvclockPagesState *s, struct pvcp_host_page *h)
{
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN];

    if (!s->live.src || !s->offset_page ||
        !(qatomic_read(&s->offset_page->live.flags) & PVCP_LIVE_F_VALID) ||
        (h->flags & PVCP_HOST_F_SIMULATED) ||
        h->counter_mode != PVCP_COUNTER_TSC ||
        vvar_snapshot(s->live.src, &snap, err) < 0 ||
        snap.counter_mode != PVCP_COUNTER_TSC) {
        return false;
    }
    h->hres = snap.hres;
    memcpy(h->hres_base, snap.hres_base, sizeof(h->hres_base));
    h->raw = snap.raw;
    h->raw_base = snap.raw_base;
    h->flags = (h->flags & ~PVCP_HOST_F_MUL_WRAPS) |
               (snap.flags & PVCP_HOST_F_MUL_WRAPS);
    return true;
}
#else
static void *pvclock_live_find(struct pvcp_live *desc, char **why,
                               struct vvar_source **out)
{
    *why = g_strdup("the live page needs an x86_64 Linux host");
    return NULL;
}

static bool live_overlay(PvclockPagesState *s, struct pvcp_host_page *h)
{
    return false;
}

static bool pvclock_live_matches(PvclockPagesState *s,
                                 const struct pvcp_host_page *h)
{
    return false;
}
#endif

static void pvclock_live_init(PvclockPagesState *s)
{
    void *page;

    if (!s->live.enabled) {
        s->live.why = g_strdup("live-page=off");
        return;
    }
    page = pvclock_live_find(&s->live.desc, &s->live.why, &s->live.src);
    trace_pvclock_pages_live(page != NULL, s->live.why);
    if (!page) {
        warn_report("pvclock-pages: no live page (%s); guests read the "
                    "helper's pages", s->live.why);
        return;
    }
    /*
     * The kernel's read-only mapping, not registered for migration (the
     * destination maps its own), read-only to the guest and to QEMU's
     * own writers (pvclock_readonly_host_init()).
     */
    pvclock_readonly_host_init(&s->live.mr, OBJECT(s), "pvclock-pages-live",
                               PVCP_PAGE_SIZE, page);
    memory_region_add_subregion(&s->bar, PVCP_BAR_LIVE_PAGE, &s->live.mr);
    s->live.mapped = true;
    s->live.refused = "host page 0 not read yet";
}

static void pvclock_live_exit(PvclockPagesState *s)
{
    if (s->live.mapped) {
        memory_region_del_subregion(&s->bar, &s->live.mr);
        s->live.mapped = false;
    }
    g_free(s->live.src);
    s->live.src = NULL;
    g_free(s->live.why);
    s->live.why = NULL;
}

/*
 * May guests use it with this copy of host page 0?  Only while the
 * unscaled domain is this host's real TSC, so that the live page and
 * page 0 are the same clocks (and the monotonic offsets apply to both).
 */
static const char *live_refusal(PvclockPagesState *s,
                                const struct pvcp_host_page *pg)
{
    if (pg->counter_mode != PVCP_COUNTER_TSC) {
        return "host page 0 does not count the TSC";
    }
    if (pg->flags & PVCP_HOST_F_SIMULATED) {
        return "host page 0 is a simulated host (pvclock-helper "
               "--simulate), not this one";
    }
    if (!pvclock_live_matches(s, pg)) {
        return "host page 0's REALTIME or MONOTONIC_RAW is a second or "
               "more from this host's (pages of another host?)";
    }
    return NULL;
}

static void live_judge(PvclockPagesState *s,
                       const struct pvcp_host_page *pg)
{
    if (!pg) {
        s->live.refused = "no usable host pages";
    } else {
        s->live.refused = s->live.mapped ? live_refusal(s, pg) : NULL;
    }
}

static bool live_usable(PvclockPagesState *s, const char **why)
{
    *why = s->live.mapped ? s->live.refused : NULL;
    return s->live.mapped && !s->live.refused;
}

/* For management: in use, mapped but not in use, or not mapped, why. */
static char *pvclock_live_get_status(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    const char *why;

    if (!s->live.mapped) {
        return g_strdup_printf("not mapped: %s", s->live.why);
    }
    if (!s->offset_page ||
        !(s->offset_page->live.flags & PVCP_LIVE_F_VALID)) {
        live_usable(s, &why);
        return g_strdup_printf("mapped, not in use: %s (%s)",
                               why ? why : "the counter relation is not "
                               "known", s->live.why);
    }
    return g_strdup_printf("in use (%s)", s->live.why);
}

static const PvclockLiveOps pvclock_live_ops = {
    .usable = live_usable,
    .overlay = live_overlay,
    .judge = live_judge,
};

static bool pvclock_live_realize(PvclockPagesState *s, Error **errp)
{
    pvclock_live_init(s);
    s->live.ops = &pvclock_live_ops;
    return true;
}

static const Property pvclock_live_properties[] = {
    DEFINE_PROP_BOOL("live-page", PvclockPagesState, live.enabled, true),
};

static void pvclock_live_class_init(ObjectClass *klass)
{
    object_class_property_set_description(klass, "live-page",
        "map the host kernel's own timekeeping page (QEMU's vDSO data) "
        "into the BAR at 0x5000, for guests to read with no lag (default "
        "on; off: the helper's pages only)");
    object_class_property_add_str(klass, "live-page-status",
                                  pvclock_live_get_status, NULL);
    object_class_property_set_description(klass, "live-page-status",
        "in use, mapped but not in use, or not mapped, and why "
        "(read-only)");
}

/*
 * A part, though the layers below the glue ask it (PvclockLiveOps): the
 * live page sits under the host pages, which read clocks through it.
 */
const PvclockPart pvclock_part_live = {
    .name = "live-page",
    .props = pvclock_live_properties,
    .nprops = ARRAY_SIZE(pvclock_live_properties),
    .class_init = pvclock_live_class_init,
    .realize = pvclock_live_realize,
    .exit = pvclock_live_exit,
};
