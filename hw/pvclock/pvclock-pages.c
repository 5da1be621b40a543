/*
 * pvclock-pages PCI device.
 *
 * BAR0 (32 KiB, read-only to the guest):
 *   0x0000  the host helper's pages (a memory backend: memdev=, or one
 *           pages= makes), mapped, not copied, so a host clock update
 *           costs nothing per VM
 *   0x4000  the offset page: this guest's counter relation, status and
 *           generation, rewritten only on events
 *   0x5000  the live page: the host kernel's own vDSO time data, as
 *           QEMU's process maps it (live-page.c), or zeros
 *   0x6000  reads as zero
 * BAR2 (4 KiB, unless interrupts=off): the disruption interrupt's
 *   registers and MSI-X (irq.c)
 *
 * This file is the PCI glue: the BAR, properties, the events (realize,
 * VM stop and start, reset, hot-unplug) and status for management.  What
 * the events do lives with its concern (pvclock-pages-internal.h); the
 * capabilities beyond the host pages and the offset page (migration,
 * the interrupt, the live page, VMClock) are parts, which the glue calls
 * at each event through the table in parts.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "hw/core/qdev-prop-internal.h"
#include "qapi/util.h"
#include "hw/resettable.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "system/tcg.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "hw/pvclock/pvclock-compat.h"
#include "trace.h"

#define PVCLOCK_FOR_EACH_PART(p) \
    for (const PvclockPart *const *p = pvclock_parts; *p; p++)

/*
 * The fan-out, the one place that tells the layers above the offset page
 * that it may have changed: the offset page is published first, so that
 * the parts (parts.c, in its order) copy what it says (status, the
 * guest's disruption count).  changed: that count or the status moved
 * since the last publish, or a VM start asks again for what changed
 * while stopped (the interrupt's business); VMClock is told every time,
 * as it follows host page 0's line too, which may move while the offset
 * page does not.
 */
static void pvclock_pages_tell_parts(PvclockPagesState *s, bool changed,
                                     const char *why)
{
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->published) {
            (*p)->published(s, changed, why);
        }
    }
}

void pvclock_pages_publish(PvclockPagesState *s, const char *why)
{
    pvclock_pages_tell_parts(s, pvclock_offset_page_publish(s, why), why);
}

void pvclock_pages_loaded(PvclockPagesState *s)
{
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->loaded) {
            (*p)->loaded(s);
        }
    }
}

/* Read the accelerator's relation now (the VM runs) and publish it. */
static void pvclock_pages_read_relation(PvclockPagesState *s,
                                        const char *why)
{
    pvclock_offset_page_fetch_relation(s);
    pvclock_pages_publish(s, why);
}

/*
 * The watch's clock: the host's (QEMU_CLOCK_REALTIME), which runs while
 * the VM is stopped too, as the helper's pages change regardless.  Under
 * the qtest accelerator the virtual clock instead, so that a qtest runs
 * watch rounds with clock_step rather than sleeping; it stands still
 * while the VM is not running, and so does the watch there.  What a
 * round compares (a heartbeat's age, how long a write has been in
 * progress) stays host time either way.
 */
static QEMUClockType pvclock_pages_watch_clock(void)
{
    return qtest_enabled() ? QEMU_CLOCK_VIRTUAL : QEMU_CLOCK_REALTIME;
}

/*
 * The 1 Hz watch, host side only (nothing here touches a vCPU): what the
 * host pages report, replacement pages shown through the offset page's
 * writer, then the fan-out; then the parts' rounds (VMClock's waiter
 * follows the pages now in the BAR).
 */
static void pvclock_pages_watch(void *opaque)
{
    PvclockPagesState *s = opaque;
    PvclockHostReport r;

    pvclock_host_look(s, &r);
    if (r.swap.be) {
        pvclock_offset_page_replace_host(s, &r.swap);
        pvclock_host_swapped(s, &r.swap);
    }
    pvclock_host_recheck(s, &r);
    pvclock_pages_publish(s, r.why);
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->watch) {
            (*p)->watch(s);
        }
    }
    timer_mod(s->watch_timer,
              qemu_clock_get_ms(pvclock_pages_watch_clock()) +
              PVCLOCK_PAGES_WATCH_MS);
}

/* x-qtest-watch: a round now, once realize has started the watch */
static void pvclock_pages_qtest_watch(void *opaque)
{
    PvclockPagesState *s = opaque;

    if (s->watch_timer) {
        pvclock_pages_watch(s);
    }
}

/*
 * The VM starts: after the accelerator set this run's TSC state, before
 * the vCPUs run, the relation is read, the parts apply what they kept
 * over the stop (migration's sample), and the page is published; what
 * changed while stopped is told to the parts as changed, once.  The VM
 * stops: the parts sample while the phase still says it ran.
 */
static void pvclock_pages_vm_state_change(void *opaque, bool running,
                                          RunState state)
{
    PvclockPagesState *s = opaque;

    trace_pvclock_pages_vm_state(running);
    if (running) {
        pvclock_offset_page_fetch_relation(s);
        PVCLOCK_FOR_EACH_PART(p) {
            if ((*p)->vm_start) {
                (*p)->vm_start(s);
            }
        }
        pvclock_offset_page_set_phase(s, PVCLOCK_PHASE_RUNNING);
        pvclock_offset_page_publish(s, "vm start");
        pvclock_pages_tell_parts(s, true, "vm start");
    } else if (s->off.phase == PVCLOCK_PHASE_RUNNING) {
        PVCLOCK_FOR_EACH_PART(p) {
            if ((*p)->vm_stop) {
                (*p)->vm_stop(s);
            }
        }
        pvclock_offset_page_set_phase(s, PVCLOCK_PHASE_STOPPED);
    }
}

/*
 * After a reset of a running VM: the CPUs' reset state (a KVM guest's
 * new TSC) is put in place after the devices' reset, so the relation is
 * read from a bottom half, once, when the main loop runs again.
 */
static void pvclock_pages_after_reset(void *opaque)
{
    PvclockPagesState *s = opaque;

    if (s->rel.due && runstate_is_running()) {
        pvclock_pages_read_relation(s, "after reset");
    }
}

static void pvclock_pages_reset_hold(Object *obj, ResetType type)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    trace_pvclock_pages_reset();
    if (!s->offset_page) {
        return;
    }
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->reset) {
            (*p)->reset(s);
        }
    }
    if (s->backend && s->backend->reset_writes_counter) {
        const char *why = "reset: the guest TSC is put back after the "
                          "devices";

        pvclock_offset_page_forget_relation(s, why);
        pvclock_pages_publish(s, why);
        qemu_bh_schedule(s->reset_bh);
    } else if (runstate_is_running()) {
        pvclock_pages_read_relation(s, "reset");
    }
}

/*
 * Holes in the BAR read as zero; guest writes anywhere are ignored.
 * Each access here is a VM exit under the BQL: the guest driver keeps its
 * users out (the trace event counts them, tests/guest/test-driver.sh).
 */
static uint64_t pvclock_pages_zero_read(void *opaque, hwaddr addr,
                                        unsigned size)
{
    trace_pvclock_pages_hole_read(addr, size);
    return 0;
}

static void pvclock_pages_ignore_write(void *opaque, hwaddr addr,
                                       uint64_t val, unsigned size)
{
    trace_pvclock_pages_guest_write(addr, size, val);
}

static const MemoryRegionOps pvclock_pages_bar_ops = {
    .read = pvclock_pages_zero_read,
    .write = pvclock_pages_ignore_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/*
 * The enum properties.  Their values are parsed by qdev's enum
 * accessors (so a bad one fails with the property's name and -device
 * pvclock-pages,help shows the type and the values).
 */
#define PVCLOCK_ENUM_PROP(lname, tname, desc, ...)                        \
    static const char *const lname##_names[] = { __VA_ARGS__ };        \
    static const QEnumLookup lname##_lookup = {                          \
        .array = lname##_names,                                          \
        .size = ARRAY_SIZE(lname##_names),                               \
    };                                                                   \
    static const PropertyInfo lname##_info = {                           \
        .type = tname,                                                   \
        .description = desc,                                             \
        .enum_table = &lname##_lookup,                                   \
        .get = qdev_propinfo_get_enum,                                   \
        .set = qdev_propinfo_set_enum,                                   \
        .set_default_value = qdev_propinfo_set_default_value_enum,       \
    }

PVCLOCK_ENUM_PROP(on_missing, "PvclockOnMissing", "fail/degraded",
                  "fail", "degraded");
PVCLOCK_ENUM_PROP(flavour, "PvclockFlavour", "unsmeared/smeared",
                  "unsmeared", "smeared");
PVCLOCK_ENUM_PROP(monotonic, "PvclockMonotonic", "vm/host", "vm", "host");
PVCLOCK_ENUM_PROP(downtime, "PvclockDowntime", "exclude/include",
                  "exclude", "include");
PVCLOCK_ENUM_PROP(backend, "PvclockCounterBackend", "auto/kvm/tcg/qtest",
                  "auto", "kvm", "tcg", "qtest");

/*
 * The accelerator's backend, or the one x-counter-backend names (the
 * qtest accelerator has no guest counter: qtests ask for the simulated
 * one explicitly).
 */
static const PvclockCounterBackend *pvclock_pages_pick_backend(
    PvclockPagesState *s, Error **errp)
{
    switch (s->counter_backend) {
    case PVCLOCK_BACKEND_CHOICE_QTEST:
        if (!qtest_enabled()) {
            error_setg(errp, "property 'x-counter-backend' is 'qtest', "
                       "which simulates a guest counter for the qtest "
                       "accelerator only; leave it at 'auto'");
            return NULL;
        }
        return &pvclock_counter_qtest;
    case PVCLOCK_BACKEND_CHOICE_KVM:
        if (!kvm_enabled()) {
            error_setg(errp, "property 'x-counter-backend' is 'kvm' but "
                       "the accelerator is not KVM; leave it at 'auto'");
            return NULL;
        }
        return &pvclock_counter_kvm;
    case PVCLOCK_BACKEND_CHOICE_TCG:
        if (!tcg_enabled()) {
            error_setg(errp, "property 'x-counter-backend' is 'tcg' but "
                       "the accelerator is not TCG; leave it at 'auto'");
            return NULL;
        }
        return &pvclock_counter_tcg;
    default:
        return kvm_enabled() ? &pvclock_counter_kvm :
               tcg_enabled() ? &pvclock_counter_tcg : NULL;
    }
}

/* The properties together, and the counter backend they choose. */
static bool pvclock_pages_check_props(PvclockPagesState *s, Error **errp)
{
    s->backend = pvclock_pages_pick_backend(s, errp);
    if (!s->backend && s->counter_backend != PVCLOCK_BACKEND_AUTO) {
        return false;
    }
    if (s->qtest.guest_khz && s->qtest.scale) {
        error_setg(errp, "properties 'x-qtest-guest-khz' and 'x-qtest-scale' "
                   "both simulate the guest's rate: set one");
        return false;
    }
    if (s->host.memdev && s->pages_path) {
        error_setg(errp, "properties 'memdev' and 'pages' both say where the "
                   "host pages are: set one");
        return false;
    }
    if (!s->host.memdev && !s->pages_path) {
        s->pages_path = g_strdup(PVCLOCK_PAGES_DEFAULT_PATH);
    }
    if (s->pages_path && !*s->pages_path) {
        error_setg(errp, "property 'pages' must name pvclock-helper's "
                   "--socket or --pages file (default "
                   PVCLOCK_PAGES_DEFAULT_PATH ")");
        return false;
    }
    return true;
}

/*
 * BAR0: the host pages (or zero pages with on-missing=degraded), the
 * offset page (the live page at 0x5000 is a part: live-page.c).
 */
static bool pvclock_pages_init_bar(PvclockPagesState *s, Error **errp)
{
    Error *src_err = NULL;
    bool degraded = s->on_missing == PVCLOCK_ON_MISSING_DEGRADED;
    bool smeared = s->flavour == PVCLOCK_FLAVOUR_SMEARED;
    bool mono_host = s->monotonic == PVCLOCK_MONOTONIC_HOST;

    memory_region_init_io(&s->bar, OBJECT(s), &pvclock_pages_bar_ops, s,
                          "pvclock-pages-bar", PVCP_BAR_SIZE);
    if (!memory_region_init_rom_nomigrate(&s->no_helper, OBJECT(s),
                                          "pvclock-pages-no-helper",
                                          PVCP_FILE_SIZE, errp) ||
        !memory_region_init_rom_nomigrate(&s->offset_mr, OBJECT(s),
                                          "pvclock-pages-offset",
                                          PVCP_PAGE_SIZE, errp)) {
        return false;
    }
    memset(memory_region_get_ram_ptr(&s->no_helper), 0, PVCP_FILE_SIZE);
    s->offset_page = memory_region_get_ram_ptr(&s->offset_mr);
    pvclock_offset_page_init(s, smeared, mono_host);
    if (s->host.memdev
        ? !pvclock_host_attach(s, s->host.memdev, false, &src_err)
        : !pvclock_host_open(s, &src_err)) {
        if (!degraded || s->host.memdev) {
            error_propagate(errp, src_err);
            s->offset_page = NULL;
            return false;
        }
        /* on-missing=degraded: zero pages until the pages appear */
        memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                    &s->no_helper);
        trace_pvclock_pages_degraded(error_get_pretty(src_err));
        warn_report("pvclock-pages: starting without host pages (%s); "
                    "the device will map them when they appear",
                    error_get_pretty(src_err));
        error_free(src_err);
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_OFFSET_PAGE, &s->offset_mr);
    trace_pvclock_pages_realize(pvclock_source_name(s),
                                s->backend ? s->backend->name : "none");
    return true;
}

static bool pvclock_pages_realize_parts(PvclockPagesState *s, Error **errp)
{
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->realize && !(*p)->realize(s, errp)) {
            return false;
        }
    }
    return true;
}

/* The parts' exits, last part first. */
static void pvclock_pages_exit_parts(PvclockPagesState *s)
{
    size_t n = 0;

    while (pvclock_parts[n]) {
        n++;
    }
    while (n--) {
        if (pvclock_parts[n]->exit) {
            pvclock_parts[n]->exit(s);
        }
    }
}

static void pvclock_pages_realize(PCIDevice *pdev, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);

    if (!pvclock_pages_check_props(s, errp) ||
        !pvclock_pages_init_bar(s, errp)) {
        return;
    }
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_PREFETCH |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar);
    if (!pvclock_pages_realize_parts(s, errp)) {
        pvclock_pages_exit_parts(s);    /* each: nothing if not realized */
        pvclock_host_close(s);
        memory_region_del_subregion(&s->bar, &s->offset_mr);
        s->offset_page = NULL;
        return;
    }
    s->watch_timer = timer_new_ms(pvclock_pages_watch_clock(),
                                  pvclock_pages_watch, s);
    timer_mod(s->watch_timer,
              qemu_clock_get_ms(pvclock_pages_watch_clock()) +
              PVCLOCK_PAGES_WATCH_MS);
    s->reset_bh = qemu_bh_new(pvclock_pages_after_reset, s);
    s->vmstate_entry = qemu_add_vm_change_state_handler(
        pvclock_pages_vm_state_change, s);
    if (runstate_is_running()) {
        /* hot-plugged into a running VM: its TSC state is in place */
        pvclock_offset_page_set_phase(s, PVCLOCK_PHASE_RUNNING);
        pvclock_pages_read_relation(s, "hot-plug");
    } else {
        /* the CPUs' state is put in place later: read at the VM start */
        pvclock_pages_publish(s, "realize");
    }
}

static void pvclock_pages_exit(PCIDevice *pdev)
{
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);

    if (s->vmstate_entry) {
        qemu_del_vm_change_state_handler(s->vmstate_entry);
        s->vmstate_entry = NULL;
    }
    if (s->reset_bh) {
        qemu_bh_delete(s->reset_bh);
        s->reset_bh = NULL;
    }
    pvclock_pages_exit_parts(s);
    if (s->watch_timer) {
        timer_free(s->watch_timer);
        s->watch_timer = NULL;
    }
    pvclock_host_close(s);
    /*
     * The subregions hold references on their owner, this device, through
     * the BAR container: take them out or the device is never finalised
     * (and hot-unplug never completes with DEVICE_DELETED).
     */
    memory_region_del_subregion(&s->bar, &s->offset_mr);
}

/* ---- properties: configuration and status for management ---------- */

static const Property pvclock_pages_properties[] = {
    DEFINE_PROP_STRING("pages", PvclockPagesState, pages_path),
    DEFINE_PROP_LINK("memdev", PvclockPagesState, host.memdev,
                     TYPE_MEMORY_BACKEND, HostMemoryBackend *),
    DEFINE_PROP_SIGNED("on-missing", PvclockPagesState, on_missing,
                       PVCLOCK_ON_MISSING_FAIL, on_missing_info, int),
    DEFINE_PROP_SIGNED("flavour", PvclockPagesState, flavour,
                       PVCLOCK_FLAVOUR_UNSMEARED, flavour_info, int),
    DEFINE_PROP_SIGNED("monotonic", PvclockPagesState, monotonic,
                       PVCLOCK_MONOTONIC_VM, monotonic_info, int),
    DEFINE_PROP_SIGNED("downtime", PvclockPagesState, downtime,
                       PVCLOCK_DOWNTIME_EXCLUDE, downtime_info, int),
    DEFINE_PROP_SIGNED("x-counter-backend", PvclockPagesState,
                       counter_backend, PVCLOCK_BACKEND_AUTO, backend_info,
                       int),
};

static char *pvclock_pages_get_status(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return g_strdup(pvclock_status_name(s->offset_page
                                        ? s->offset_page->status
                                        : PVCP_STATUS_INVALID));
}

static char *pvclock_pages_get_backend(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return g_strdup(s->backend ? s->backend->name : "none");
}

/* For people: the relation in use, how it was found, what it misses. */
static char *pvclock_pages_get_relation(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    const PvclockCounterRelation *r = &s->rel.relation;
    g_autofree char *what = NULL;

    if (r->kind != PVCLOCK_REL_LINEAR || s->rel.due) {
        return g_strdup_printf("%s: %s", r->kind == PVCLOCK_REL_NONLINEAR ?
                               "not linear" : "unknown",
                               r->why ? r->why : "not read");
    }
    what = r->ratio ? g_strdup_printf("scaled, ratio %" PRIu64 "/2^%u",
                                      r->ratio, r->ratio_frac_bits)
                    : g_strdup("unscaled");
    return g_strdup_printf("%s, offset 0x%" PRIx64 ", guest %" PRIu64
                           " Hz (%s); read %" PRId64 " ms ago%s", what,
                           r->offset, r->guest_hz, r->why ? r->why : "",
                           (get_clock() - s->rel.read_ns) / SCALE_MS,
                           (r->flags & PVCP_RELATION_F_TSC_WRITES_UNSEEN) ?
                           "; a guest write to its TSC is not seen until "
                           "the next VM start, reset or migration" : "");
}

static bool pvclock_pages_get_connected(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return s->host.pages && s->host.ok && !s->host.stale;
}

/*
 * Read-only counters for management and the tests.  Those kept as
 * plain fields are pointer properties; these are computed when read.
 */
static uint64_t status_generation(PvclockPagesState *s)
{
    return s->offset_page ? s->offset_page->generation : 0;
}

static uint64_t status_helper_age_ms(PvclockPagesState *s)
{
    struct pvcp_host_page pg;
    uint64_t hb = pvclock_host_page0(s, &pg, NULL) ? pg.heartbeat_ns : 0;
    uint64_t now = get_clock();

    return hb && now > hb ? (now - hb) / SCALE_MS : UINT64_MAX;
}

static uint64_t status_helper_epoch(PvclockPagesState *s)
{
    struct pvcp_host_page pg;

    return pvclock_host_page0(s, &pg, NULL) ? pg.helper_epoch : 0;
}

static uint64_t status_guest_counter_hz(PvclockPagesState *s)
{
    return s->rel.relation.guest_hz;
}

/* host - guest, in the unscaled case */
static uint64_t status_counter_offset(PvclockPagesState *s)
{
    const struct pvcp_ref_xform *x = &s->rel.xform[PVCP_DOMAIN_UNSCALED];

    return x->mult == 1 && !x->frac_bits ? x->host_ref - x->guest_ref : 0;
}

typedef uint64_t (*PvclockStatusFn)(PvclockPagesState *s);

static void pvclock_pages_get_computed(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    PvclockStatusFn fn = opaque;
    uint64_t value = fn(PVCLOCK_PAGES(obj));

    visit_type_uint64(v, name, &value, errp);
}

static const struct {
    const char *name;
    PvclockStatusFn fn;
    const char *desc;
} computed_status[] = {
    { "generation", status_generation,
      "offset page generation (disruption counter)" },
    { "helper-age-ms", status_helper_age_ms,
      "ms since pvclock-helper's last heartbeat" },
    { "helper-epoch", status_helper_epoch,
      "pvclock-helper's start counter" },
    { "guest-counter-hz", status_guest_counter_hz,
      "the rate the guest counter really runs at, 0 unknown" },
    { "counter-offset", status_counter_offset,
      "host minus guest counter, unscaled relations only (0 otherwise)" },
};

/*
 * The qtest accelerator's simulated relation changed (counter-qtest.c),
 * standing for what an accelerator does (a new TSC offset or rate): an
 * event, so the relation is read again (or at the next VM start).
 */
static void pvclock_pages_qtest_changed(void *opaque)
{
    PvclockPagesState *s = opaque;

    if (!s->offset_page) {
        return;
    }
    if (runstate_is_running()) {
        pvclock_pages_read_relation(s, "simulated relation changed");
    } else {
        pvclock_offset_page_relation_changed(s);
        pvclock_pages_publish(s, "simulated relation changed");
    }
}

static void pvclock_pages_instance_init(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    const PvclockCounterProp counters[] = {
        { "relation-reads", &s->rel.reads,
          "times the counter relation was read from the accelerator "
          "(under KVM: one exit per vCPU each)" },
        { "pages-replaced", &s->host.replaced,
          "times new pages behind 'pages' were shown instead of the old "
          "(another file, a new helper memfd)" },
    };

    pvclock_host_init(s);
    pvclock_add_counters(obj, counters, ARRAY_SIZE(counters));
    pvclock_counter_qtest_init(obj, &s->qtest, pvclock_pages_qtest_changed,
                               pvclock_pages_qtest_watch, s);
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->instance_init) {
            (*p)->instance_init(obj);
        }
    }
}

/* The descriptions of the properties qdev sets. */
static void pvclock_pages_describe_props(ObjectClass *klass)
{
    object_class_property_set_description(klass, "pages",
        "pvclock-helper's --socket (it hands over its sealed pages memfd) "
        "or --pages file; default " PVCLOCK_PAGES_DEFAULT_PATH " unless "
        "memdev is set");
    object_class_property_set_description(klass, "memdev",
        "a memory backend holding the host pages (memory-backend-file "
        "with readonly=on,share=on over the helper's pages), instead of "
        "pages");
    object_class_property_set_description(klass, "on-missing",
        "without usable pages at start: 'fail' (default) or 'degraded' "
        "(status no-helper until pages= gives them)");
    object_class_property_set_description(klass, "flavour",
        "REALTIME the guest is pointed at: 'unsmeared' (default, the "
        "host's UTC) or 'smeared' (leap seconds smeared noon to noon)");
    object_class_property_set_description(klass, "downtime",
        "while the VM is stopped (stop/cont, migration, snapshot restore), "
        "MONOTONIC, MONOTONIC_RAW and BOOTTIME: 'exclude' (default, they "
        "continue from their value at the stop, like kvmclock) or 'include' "
        "(they advance by the time the VM was stopped)");
    object_class_property_set_description(klass, "x-counter-backend",
        "where the guest counter relation comes from: 'auto' (default, "
        "the accelerator's: kvm or tcg), or 'qtest' (a simulated one, for "
        "the qtest accelerator)");
    object_class_property_set_description(klass, "monotonic",
        "MONOTONIC, MONOTONIC_RAW and BOOTTIME: 'vm' (default, from 0 at "
        "device start, like a time namespace) or 'host' (the host's)");

}

/* The read-only properties for management. */
static void pvclock_pages_add_status(ObjectClass *klass)
{
    object_class_property_add_str(klass, "status", pvclock_pages_get_status,
                                  NULL);
    object_class_property_set_description(klass, "status",
        "valid, no-helper, stale, unreliable or invalid (read-only)");
    object_class_property_add_str(klass, "counter-backend",
                                  pvclock_pages_get_backend, NULL);
    object_class_property_set_description(klass, "counter-backend",
        "where the guest counter relation comes from: kvm, tcg, qtest "
        "(read-only)");
    object_class_property_add_str(klass, "relation",
                                  pvclock_pages_get_relation, NULL);
    object_class_property_set_description(klass, "relation",
        "the guest counter relation in use, how it was found and what it "
        "does not cover (read-only)");
    object_class_property_add_bool(klass, "helper-connected",
                                   pvclock_pages_get_connected, NULL);
    object_class_property_set_description(klass, "helper-connected",
        "pages file mapped and pvclock-helper live (read-only)");
    for (size_t i = 0; i < ARRAY_SIZE(computed_status); i++) {
        object_class_property_add(klass, computed_status[i].name, "uint64",
                                  pvclock_pages_get_computed, NULL, NULL,
                                  (void *)computed_status[i].fn);
        object_class_property_set_description(klass,
                                              computed_status[i].name,
                                              computed_status[i].desc);
    }
}

/*
 * The device's properties, then each part's: one array for qdev, made
 * once per process with the class.
 */
static void pvclock_pages_set_props(DeviceClass *dc)
{
    size_t n = ARRAY_SIZE(pvclock_pages_properties);
    Property *all;

    PVCLOCK_FOR_EACH_PART(p) {
        n += (*p)->nprops;
    }
    all = g_new(Property, n);
    n = ARRAY_SIZE(pvclock_pages_properties);
    memcpy(all, pvclock_pages_properties, sizeof(pvclock_pages_properties));
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->nprops) {     /* a part may have none (props NULL) */
            memcpy(all + n, (*p)->props, (*p)->nprops * sizeof(Property));
            n += (*p)->nprops;
        }
    }
    device_class_set_props_n(dc, all, n);
}

/* A device with no migration part cannot migrate: it says so. */
static const VMStateDescription vmstate_pvclock_pages_unmigratable = {
    .name = "pvclock-pages",
    .unmigratable = 1,
};

static void pvclock_pages_class_init(ObjectClass *klass,
                                     PvclockClassData *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *pc = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    pc->realize = pvclock_pages_realize;
    pc->exit = pvclock_pages_exit;
    pc->vendor_id = PVCP_PCI_VENDOR_ID;
    pc->device_id = PVCP_PCI_DEVICE_ID;
    pc->revision = PVCP_PCI_REVISION;
    pc->class_id = PCI_CLASS_SYSTEM_OTHER;
    rc->phases.hold = pvclock_pages_reset_hold;
    dc->desc = "Host clocks for the guest: host vDSO pages plus an offset "
               "page in a read-only BAR";
    dc->hotpluggable = true;
    /* until a part (migration.c) says how the device migrates */
    dc->vmsd = &vmstate_pvclock_pages_unmigratable;
    pvclock_pages_set_props(dc);
    pvclock_pages_describe_props(klass);
    pvclock_pages_add_status(klass);
    PVCLOCK_FOR_EACH_PART(p) {
        if ((*p)->class_init) {
            (*p)->class_init(klass);
        }
    }
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

/* The views of the host pages are gone with the device: their backends */
static void pvclock_pages_instance_finalize(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    for (int i = 0; i < ARRAY_SIZE(s->host.alias_source); i++) {
        if (s->host.alias_source[i]) {
            object_unref(OBJECT(s->host.alias_source[i]));
        }
    }
}

static const TypeInfo pvclock_pages_info = {
    .name          = TYPE_PVCLOCK_PAGES,
    .parent        = TYPE_PCI_DEVICE,
    .instance_size = sizeof(PvclockPagesState),
    .instance_init = pvclock_pages_instance_init,
    .instance_finalize = pvclock_pages_instance_finalize,
    .class_init    = pvclock_pages_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { }
    },
};

static void pvclock_pages_register_types(void)
{
    type_register_static(&pvclock_pages_info);
}

type_init(pvclock_pages_register_types)
