/*
 * pvclock-pages PCI device.
 *
 * BAR0 (32 KiB, read-only to the guest):
 *   0x0000  the host helper's pages file, mapped, not copied, so a host
 *           clock update costs nothing per VM
 *   0x4000  the offset page: this guest's counter relation, status and
 *           generation, rewritten only on events
 *   0x5000  reads as zero
 *
 * The counter relation comes from one backend per accelerator
 * (counter-*.c); this file owns the BAR, the offset page and the events
 * that change it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "system/tcg.h"
#include "hw/pvclock/pvclock-pages.h"
#include "hw/pvclock/pvclock-pages-calc.h"
#include "trace.h"

#include <sys/inotify.h>

#define PVCLOCK_PAGES_DEFAULT_PATH "/run/pvclock/pages"

/* The watch timer: helper liveness, a missing file, the TCG relation. */
#define PVCLOCK_PAGES_WATCH_MS 1000

static const char *const status_names[] = {
    [PVCP_STATUS_INVALID] = "invalid",
    [PVCP_STATUS_VALID] = "valid",
    [PVCP_STATUS_NO_HELPER] = "no-helper",
    [PVCP_STATUS_UNRELIABLE] = "unreliable",
    [PVCP_STATUS_STALE] = "stale",
};

/*
 * Offset page writer side of the seqcount.  The guest reads this page
 * concurrently (a vCPU thread under TCG, the guest itself under KVM);
 * the barriers pair with the reader's after its seq loads.
 */
static void offset_page_write_begin(PvclockPagesState *s)
{
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
    smp_wmb();  /* odd seq visible before any field changes */
}

static void offset_page_write_end(PvclockPagesState *s)
{
    smp_wmb();  /* all fields visible before seq is even again */
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
}

/*
 * Host page 0 as the guest sees it, read through the file (never the
 * mapping, see host-file.c).  False while there is no whole, valid file.
 */
static bool pvclock_pages_host_page(PvclockPagesState *s,
                                    struct pvcp_host_page *pg, uint64_t *tsc)
{
    return s->host && s->host_ok &&
           pvclock_host_snapshot(s->host_fd, pg, tsc);
}

uint64_t pvclock_pages_host_counter_hz(PvclockPagesState *s)
{
    struct pvcp_host_page pg;

    return pvclock_pages_host_page(s, &pg, NULL) ? pg.counter_hz : 0;
}

void pvclock_pages_relation_scaled(PvclockCounterRelation *rel,
                                   uint64_t ratio, unsigned ratio_frac_bits,
                                   uint64_t acc_offset)
{
    /*
     * mult = 2^(ratio_frac_bits + frac_bits) / ratio, with frac_bits as
     * large as keeps mult in 64 bits: the inverse slope to ~2^-62.
     */
    unsigned frac_bits = 63;
    __uint128_t num;

    while (frac_bits > 0 &&
           (((__uint128_t)1 << (ratio_frac_bits + frac_bits)) / ratio) >>
           64) {
        frac_bits--;
    }
    num = (__uint128_t)1 << (ratio_frac_bits + frac_bits);
    rel->mult = (uint64_t)((num + ratio / 2) / ratio);
    rel->frac_bits = frac_bits;
    /* host = ((guest - acc_offset) * mult) >> frac_bits */
    rel->offset = -(uint64_t)(((__uint128_t)acc_offset * rel->mult) >>
                              frac_bits);
}

static bool relation_equal(const PvclockCounterRelation *a,
                           const PvclockCounterRelation *b)
{
    return a->mult == b->mult && a->frac_bits == b->frac_bits &&
           a->offset == b->offset && a->guest_hz == b->guest_hz &&
           a->exact == b->exact;
}

/*
 * Is the helper still updating page 0?  Its heartbeat_ns is the helper's
 * CLOCK_MONOTONIC, the same clock as QEMU_CLOCK_REALTIME on Linux.
 */
static bool pvclock_pages_helper_stale(PvclockPagesState *s)
{
    struct pvcp_host_page pg;
    uint64_t hb, stale_after, hz, now, limit_ns;

    if (!pvclock_pages_host_page(s, &pg, NULL)) {
        return false;
    }
    hb = pg.heartbeat_ns;
    stale_after = pg.stale_after;
    hz = pg.counter_hz;
    if (!stale_after || !hz) {
        return false;               /* the helper says: never stale */
    }
    limit_ns = muldiv64(stale_after, NANOSECONDS_PER_SECOND, hz);
    now = get_clock();
    return !hb || (now > hb && now - hb > limit_ns);
}

/*
 * Read the accelerator's relation and the helper's state and publish
 * them.  Any change, of the relation or of the status, is a disruption
 * for a guest that caches the guest-counter-to-time mapping (under TCG
 * every stop/cont moves the offset), so it bumps generation in the same
 * seq write, before the new values are visible.
 */
static void pvclock_pages_update(PvclockPagesState *s, const char *why)
{
    struct pvcp_offset_page *op = s->offset_page;
    PvclockCounterRelation rel = { 0 };
    const char *reason = why;
    uint32_t status;

    if (!s->backend) {
        rel.why = "no counter backend for this accelerator";
    } else if (!s->backend->get(s, &rel)) {
        rel.exact = false;
    }
    if (!s->host) {
        status = PVCP_STATUS_NO_HELPER;
        reason = "no usable pages file";
    } else if (!s->host_ok) {
        status = PVCP_STATUS_NO_HELPER;
        reason = s->host_lost ? "pages file truncated"
                              : "pages file damaged (headers or check words)";
    } else if (!rel.exact) {
        status = PVCP_STATUS_UNRELIABLE;
        reason = rel.why;
    } else if (s->helper_stale) {
        status = PVCP_STATUS_STALE;
        reason = "pvclock-helper stopped updating the pages";
    } else {
        status = PVCP_STATUS_VALID;
    }

    if (op->status == status && s->relation_known &&
        relation_equal(&rel, &s->relation)) {
        return;
    }
    if (!s->relation_known || !relation_equal(&rel, &s->relation)) {
        trace_pvclock_pages_relation(s->backend ? s->backend->name : "none",
                                     rel.mult, rel.frac_bits, rel.offset,
                                     rel.guest_hz);
    }
    offset_page_write_begin(s);
    op->generation++;
    if (op->status != status) {
        trace_pvclock_pages_status(status_names[op->status],
                                   status_names[status], op->generation,
                                   reason ? reason : "");
        op->status = status;
    }
    trace_pvclock_pages_generation(op->generation, why);
    op->guest_counter_hz = rel.guest_hz;
    op->xform[PVCP_DOMAIN_UNSCALED].mult = rel.mult;
    op->xform[PVCP_DOMAIN_UNSCALED].frac_bits = rel.frac_bits;
    op->xform[PVCP_DOMAIN_UNSCALED].offset = rel.offset;
    op->xform[PVCP_DOMAIN_UNSCALED].flags = rel.exact ? PVCP_XFORM_F_VALID
                                                      : 0;
    offset_page_write_end(s);
    s->relation = rel;
    s->relation_known = true;
}

/*
 * Check that fd is a pages file this device can map: big enough, each
 * host page with our magic, index and ABI major.  Readers also check
 * each page at every read; this catches a wrong path early and clearly.
 */
static bool pvclock_pages_check_file(const char *path, int fd, Error **errp)
{
    struct pvcp_host_page hdr;
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "pages file '%s' (property 'pages')",
                         path);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "pages file '%s' (property 'pages') is not a "
                   "regular file; point pages= at pvclock-helper's file",
                   path);
        return false;
    }
    if (st.st_size < PVCP_FILE_SIZE) {
        error_setg(errp, "pages file '%s' (property 'pages') is %" PRId64
                   " bytes, a pvclock-pages file has %d; is it "
                   "pvclock-helper's file?", path, (int64_t)st.st_size,
                   PVCP_FILE_SIZE);
        return false;
    }
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        if (pread(fd, &hdr, offsetof(struct pvcp_host_page, seq),
                  PVCP_BAR_HOST_PAGE(i)) !=
            offsetof(struct pvcp_host_page, seq)) {
            error_setg_errno(errp, errno, "cannot read pages file '%s' "
                             "(property 'pages')", path);
            return false;
        }
        if (le32_to_cpu(hdr.magic) != PVCP_HOST_MAGIC ||
            le32_to_cpu(hdr.page_index) != (uint32_t)i) {
            error_setg(errp, "pages file '%s' (property 'pages') has no "
                       "pvclock-pages header in page %d (magic 0x%08x): "
                       "not written by pvclock-helper, or corrupt", path, i,
                       le32_to_cpu(hdr.magic));
            return false;
        }
        if (le16_to_cpu(hdr.abi_major) != PVCP_ABI_MAJOR) {
            error_setg(errp, "pages file '%s' (property 'pages') has ABI "
                       "version %u.%u, this QEMU supports %u.x: run a "
                       "pvclock-helper that matches this QEMU", path,
                       le16_to_cpu(hdr.abi_major), le16_to_cpu(hdr.abi_minor),
                       PVCP_ABI_MAJOR);
            return false;
        }
    }
    return true;
}


/* Open and check the pages file; on success return its fd. */
static int pvclock_pages_open_file(PvclockPagesState *s, Error **errp)
{
    int fd;

    if (!s->pages_path || !*s->pages_path) {
        error_setg(errp, "property 'pages' must name pvclock-helper's pages "
                   "file (default " PVCLOCK_PAGES_DEFAULT_PATH ")");
        return -1;
    }
    fd = open(s->pages_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot open pages file '%s' "
                         "(property 'pages'); is pvclock-helper running?",
                         s->pages_path);
        return -1;
    }
    if (!pvclock_pages_check_file(s->pages_path, fd, errp)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void pvclock_pages_inotify(PvclockPagesState *s);

/*
 * Map the file read-only and shared over the BAR's host pages: the
 * helper's in-place updates are seen at once, the guest cannot write,
 * and since the RAM block is never registered for migration the host
 * pages are never migrated.  The RAM block owns fd from here on.
 */
static bool pvclock_pages_map(PvclockPagesState *s, int fd, Error **errp)
{
    if (!memory_region_init_ram_from_fd(&s->host_pages, OBJECT(s),
                                        "pvclock-pages-host", PVCP_FILE_SIZE,
                                        RAM_SHARED | RAM_READONLY |
                                        RAM_READONLY_FD, fd, 0, errp)) {
        close(fd);
        return false;
    }
    memory_region_transaction_begin();
    if (memory_region_is_mapped(&s->no_helper)) {
        memory_region_del_subregion(&s->bar, &s->no_helper);
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                &s->host_pages);
    memory_region_transaction_commit();
    s->host = memory_region_get_ram_ptr(&s->host_pages);
    s->host_fd = memory_region_get_fd(&s->host_pages);
    s->host_ok = true;
    s->guard_slot = pvclock_guard_add((void *)s->host);
    if (s->guard_slot < 0) {
        warn_report("pvclock-pages: cannot guard the mapping of '%s' "
                    "against truncation of the file", s->pages_path);
    }
    pvclock_pages_inotify(s);
    s->helper_stale = pvclock_pages_helper_stale(s);
    trace_pvclock_pages_helper_mapped(s->pages_path);
    return true;
}

/*
 * Is the mapped file still whole and valid?  If it got short, put zero
 * pages over the mapping before a guest load raises SIGBUS (the guard
 * catches the loads that come first); once it is whole and valid again,
 * map it back at the same address, so neither the BAR nor KVM's memory
 * slot changes.  Returns a reason if anything changed.
 */
static const char *pvclock_pages_check_host(PvclockPagesState *s)
{
    uint32_t faults = pvclock_guard_faults(s->guard_slot);
    bool zeroed = s->host_lost || faults != s->guard_faults_seen;
    struct pvcp_host_page pg;
    struct stat st;
    bool whole, ok;

    whole = fstat(s->host_fd, &st) == 0 && st.st_size >= PVCP_FILE_SIZE;
    s->guard_faults_seen = faults;
    if (!whole) {
        if (!s->host_lost) {
            pvclock_guard_zero((void *)s->host);
            s->host_lost = true;
            s->host_ok = false;
            s->pages_lost++;
            trace_pvclock_pages_host_lost(s->pages_path, faults);
            warn_report("pvclock-pages: pages file '%s' was truncated; the "
                        "guest sees no host pages until pvclock-helper "
                        "restores it", s->pages_path);
            return "pages file truncated";
        }
        return NULL;
    }
    ok = pvclock_pages_check_file(s->pages_path, s->host_fd, NULL) &&
         pvclock_host_snapshot(s->host_fd, &pg, NULL) &&
         pvcp_page_checks_ok(&pg);
    if (zeroed) {
        if (!ok || !pvclock_guard_remap((void *)s->host, s->host_fd)) {
            return NULL;
        }
        s->host_lost = false;
        s->host_ok = true;
        trace_pvclock_pages_host_back(s->pages_path);
        return "pages file whole again";
    }
    if (ok != s->host_ok) {
        s->host_ok = ok;
        return ok ? "pages file valid again" : "pages file corrupt";
    }
    return NULL;
}

static void pvclock_pages_recheck(PvclockPagesState *s, const char *why)
{
    const char *changed = s->host ? pvclock_pages_check_host(s) : NULL;

    if (s->host) {
        bool stale = pvclock_pages_helper_stale(s);

        if (stale != s->helper_stale) {
            trace_pvclock_pages_helper_stale(stale);
            s->helper_stale = stale;
            changed = stale ? "helper stale" : "helper live again";
        }
    }
    pvclock_pages_update(s, changed ? changed : why);
}

/* The file changed size or was written with write(2): look now. */
static void pvclock_pages_inotify_read(void *opaque)
{
    PvclockPagesState *s = opaque;
    char buf[sizeof(struct inotify_event) + NAME_MAX + 1];

    while (read(s->inotify_fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }
    pvclock_pages_recheck(s, "pages file changed");
}

static void pvclock_pages_inotify(PvclockPagesState *s)
{
    if (!s->use_inotify) {
        return;
    }
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify_fd < 0) {
        return;                 /* the 1 Hz watch still notices */
    }
    s->inotify_wd = inotify_add_watch(s->inotify_fd, s->pages_path,
                                      IN_MODIFY | IN_ATTRIB);
    if (s->inotify_wd < 0) {
        close(s->inotify_fd);
        s->inotify_fd = -1;
        return;
    }
    qemu_set_fd_handler(s->inotify_fd, pvclock_pages_inotify_read, NULL, s);
}

/*
 * Another file at the path than the one mapped: the old one was removed
 * and a helper started over with a new one.  Map the new file over the
 * old at the same address (the guest's BAR and KVM's memory slot stay as
 * they are) and read it from now on.  The RAM block keeps the old fd.
 */
static const char *pvclock_pages_follow_path(PvclockPagesState *s)
{
    struct pvcp_host_page old;
    struct stat at_path, mapped;
    uint64_t old_disruptions;
    int fd;

    if (stat(s->pages_path, &at_path) < 0 ||
        fstat(s->host_fd, &mapped) < 0 ||
        (at_path.st_dev == mapped.st_dev && at_path.st_ino == mapped.st_ino)) {
        return NULL;
    }
    fd = pvclock_pages_open_file(s, NULL);
    if (fd < 0) {
        return NULL;            /* not (yet) a pages file: keep the old */
    }
    /*
     * A guest's disruption count is generation + the host page's
     * disruptions, and must only grow; the new file counts from its own
     * start.  Step generation past what the old file had counted, before
     * the guest can see the new file.
     */
    old_disruptions = pvclock_host_snapshot(s->host_fd, &old, NULL) ?
                      old.disruptions : 0;
    offset_page_write_begin(s);
    s->offset_page->generation += old_disruptions + 1;
    offset_page_write_end(s);
    if (!pvclock_guard_remap((void *)s->host, fd)) {
        close(fd);
        return NULL;
    }
    if (s->host_fd != memory_region_get_fd(&s->host_pages)) {
        close(s->host_fd);
    }
    s->host_fd = fd;
    s->host_lost = false;
    s->host_ok = true;
    s->guard_faults_seen = pvclock_guard_faults(s->guard_slot);
    if (s->inotify_fd >= 0) {
        inotify_rm_watch(s->inotify_fd, s->inotify_wd);
        s->inotify_wd = inotify_add_watch(s->inotify_fd, s->pages_path,
                                          IN_MODIFY | IN_ATTRIB);
    }
    trace_pvclock_pages_host_replaced(s->pages_path);
    return "pages file replaced";
}

static void pvclock_pages_watch(void *opaque)
{
    PvclockPagesState *s = opaque;
    const char *why = "watch";

    if (!s->host) {
        Error *err = NULL;
        int fd = pvclock_pages_open_file(s, &err);

        if (fd >= 0 && pvclock_pages_map(s, fd, &err)) {
            why = "pages file appeared";
        }
        error_free(err);
    } else {
        why = pvclock_pages_follow_path(s) ?: why;
    }
    pvclock_pages_recheck(s, why);
    timer_mod(s->watch_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              PVCLOCK_PAGES_WATCH_MS);
}

static void pvclock_pages_vm_state_change(void *opaque, bool running,
                                          RunState state)
{
    PvclockPagesState *s = opaque;

    trace_pvclock_pages_vm_state(running);
    if (running && tcg_enabled()) {
        pvclock_guard_vcpus();  /* so guest loads can meet the guard */
    }
    if (running) {
        /* Runs after the accelerator set this run's offsets, before vCPUs. */
        pvclock_pages_update(s, "vm start");
    }
}

static void pvclock_pages_reset_hold(Object *obj, ResetType type)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    trace_pvclock_pages_reset();
    if (s->offset_page) {
        pvclock_pages_update(s, "reset");
    }
}

/* Holes in the BAR read as zero; guest writes anywhere are ignored. */
static uint64_t pvclock_pages_zero_read(void *opaque, hwaddr addr,
                                        unsigned size)
{
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

static const PvclockCounterBackend *pvclock_pages_pick_backend(void)
{
    if (qtest_enabled()) {
        return &pvclock_counter_qtest;
    }
    if (kvm_enabled()) {
        return &pvclock_counter_kvm;
    }
    if (tcg_enabled()) {
        return &pvclock_counter_tcg;
    }
    return NULL;
}

/* value must be one of the NULL-terminated choices; name the property. */
static int pvclock_pages_choice(const char *prop, const char *value,
                                const char *const *choices, Error **errp)
{
    g_autofree char *list = g_strjoinv("', '", (char **)choices);

    for (int i = 0; choices[i]; i++) {
        if (value && !strcmp(value, choices[i])) {
            return i;
        }
    }
    error_setg(errp, "property '%s' is '%s'; allowed values: '%s'", prop,
               value ? value : "", list);
    return -1;
}

/* The host's clock now, as a timens-like offset that takes it to zero. */
static struct pvcp_timens_offset pvclock_pages_zero_offset(clockid_t clk)
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

static void pvclock_pages_realize(PCIDevice *pdev, Error **errp)
{
    static const char *const on_missing_choices[] = {
        "fail", "degraded", NULL
    };
    static const char *const flavour_choices[] = {
        "unsmeared", "smeared", NULL
    };
    static const char *const monotonic_choices[] = { "vm", "host", NULL };
    static const char *const downtime_choices[] = {
        "exclude", "include", NULL
    };
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);
    struct pvcp_offset_page *op;
    Error *file_err = NULL;
    int degraded, smeared, mono_host, downtime, fd;

    degraded = pvclock_pages_choice("on-missing", s->on_missing,
                                    on_missing_choices, errp);
    if (degraded < 0) {
        return;
    }
    smeared = pvclock_pages_choice("flavour", s->flavour, flavour_choices,
                                   errp);
    if (smeared < 0) {
        return;
    }
    mono_host = pvclock_pages_choice("monotonic", s->monotonic,
                                     monotonic_choices, errp);
    if (mono_host < 0) {
        return;
    }
    downtime = pvclock_pages_choice("downtime", s->downtime,
                                    downtime_choices, errp);
    if (downtime < 0) {
        return;
    }
    s->monotonic_host = mono_host;
    s->downtime_include = downtime;
    fd = pvclock_pages_open_file(s, &file_err);
    if (fd < 0 && !degraded) {
        error_propagate(errp, file_err);
        return;
    }

    memory_region_init_io(&s->bar, OBJECT(s), &pvclock_pages_bar_ops, s,
                          "pvclock-pages-bar", PVCP_BAR_SIZE);
    if (!memory_region_init_rom_nomigrate(&s->no_helper, OBJECT(s),
                                          "pvclock-pages-no-helper",
                                          PVCP_FILE_SIZE, errp) ||
        !memory_region_init_rom_nomigrate(&s->offset_mr, OBJECT(s),
                                          "pvclock-pages-offset",
                                          PVCP_PAGE_SIZE, errp)) {
        if (fd >= 0) {
            close(fd);
        }
        error_free(file_err);
        return;
    }
    memset(memory_region_get_ram_ptr(&s->no_helper), 0, PVCP_FILE_SIZE);
    if (fd >= 0) {
        if (!pvclock_pages_map(s, fd, errp)) {
            return;
        }
    } else {
        /* on-missing=degraded: zero pages until the file appears */
        memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                    &s->no_helper);
        trace_pvclock_pages_degraded(error_get_pretty(file_err));
        warn_report("pvclock-pages: starting without host pages (%s); "
                    "the device will map them when they appear",
                    error_get_pretty(file_err));
        error_free(file_err);
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_OFFSET_PAGE, &s->offset_mr);

    /*
     * Native stores: the pages describe the host TSC, so the host is x86
     * and little-endian like the ABI.
     */
    op = memory_region_get_ram_ptr(&s->offset_mr);
    memset(op, 0, PVCP_PAGE_SIZE);
    op->magic = PVCP_OFFSET_MAGIC;
    op->abi_major = PVCP_ABI_MAJOR;
    op->abi_minor = PVCP_ABI_MINOR;
    op->status = PVCP_STATUS_INVALID;
    op->recommended_page = smeared ? PVCP_PAGE_UNSCALED_SMEARED
                                   : PVCP_PAGE_UNSCALED_UNSMEARED;
    op->xform[PVCP_DOMAIN_UNSCALED].mult = 1;
    if (!mono_host) {
        /* like a time namespace made at VM start: these count from 0 */
        op->mono_offset[PVCP_MONO_MONOTONIC] =
            pvclock_pages_zero_offset(CLOCK_MONOTONIC);
        op->mono_offset[PVCP_MONO_RAW] =
            pvclock_pages_zero_offset(CLOCK_MONOTONIC_RAW);
        op->mono_offset[PVCP_MONO_BOOTTIME] =
            pvclock_pages_zero_offset(CLOCK_BOOTTIME);
    }
    s->offset_page = op;

    s->backend = pvclock_pages_pick_backend();
    op->counter_backend = s->backend ? s->backend->abi_backend
                                     : PVCP_BACKEND_NONE;
    trace_pvclock_pages_realize(s->pages_path,
                                s->backend ? s->backend->name : "none");

    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_PREFETCH |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar);

    s->watch_timer = timer_new_ms(QEMU_CLOCK_REALTIME, pvclock_pages_watch,
                                  s);
    timer_mod(s->watch_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              PVCLOCK_PAGES_WATCH_MS);
    s->vmstate_entry = qemu_add_vm_change_state_handler(
        pvclock_pages_vm_state_change, s);
    pvclock_pages_update(s, "realize");
}

static void pvclock_pages_exit(PCIDevice *pdev)
{
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);

    if (s->vmstate_entry) {
        qemu_del_vm_change_state_handler(s->vmstate_entry);
        s->vmstate_entry = NULL;
    }
    if (s->watch_timer) {
        timer_free(s->watch_timer);
        s->watch_timer = NULL;
    }
    if (s->inotify_fd >= 0) {
        qemu_set_fd_handler(s->inotify_fd, NULL, NULL, NULL);
        close(s->inotify_fd);
        s->inotify_fd = -1;
    }
    pvclock_guard_remove(s->guard_slot);
    s->guard_slot = -1;
    if (s->host && s->host_fd != memory_region_get_fd(&s->host_pages)) {
        close(s->host_fd);      /* a replacement file's: ours */
    }
    s->host_fd = -1;
    /*
     * The subregions hold references on their owner, this device, through
     * the BAR container: take them out or the device is never finalised
     * (and hot-unplug never completes with DEVICE_DELETED).
     */
    memory_region_del_subregion(&s->bar, &s->offset_mr);
    memory_region_del_subregion(&s->bar, s->host ? &s->host_pages
                                                 : &s->no_helper);
    s->host = NULL;
}

/* ---- migration --------------------------------------------------- */

/* Can this copy of host page 0 give host clocks at all? */
static bool pvclock_pages_page_usable(const struct pvcp_host_page *h)
{
    return h->magic == PVCP_HOST_MAGIC && pvcp_page_checks_ok(h) &&
           (h->flags & PVCP_HOST_F_VALID) &&
           h->counter_mode != PVCP_COUNTER_NONE &&
           h->counter_mode != PVCP_COUNTER_RAW_NS &&
           (!(h->flags & PVCP_HOST_F_SIMULATED) || h->sim.frac_bits <= 63);
}

/*
 * A host clock at host TSC tsc, from a usable copy of host page 0 (never
 * clock_gettime(): a simulated host's clocks are only in its pages).
 * Returns false if the clock's line is not usable.
 */
static bool pvclock_pages_host_clock(const struct pvcp_host_page *h,
                                     int hres_index, bool raw, uint64_t tsc,
                                     uint64_t *ns)
{
    const struct pvcp_line *line = raw ? &h->raw : &h->hres;
    const struct pvcp_base *base = raw ? &h->raw_base
                                       : &h->hres_base[hres_index];
    uint64_t counter = tsc;
    struct pvcp_time t;

    if (line->shift > 63) {
        return false;
    }
    if (h->flags & PVCP_HOST_F_SIMULATED) {
        counter = pvcp_xform_apply(&h->sim, counter);
    }
    t = pvcp_clock_at(line, base, h->flags,
                      pvcp_host_cycles(h->counter_mode, &h->kvmclock,
                                       counter));
    *ns = t.sec * NANOSECONDS_PER_SECOND + t.nsec;
    return true;
}

/* The host's MONOTONIC, MONOTONIC_RAW, BOOTTIME and REALTIME now. */
static bool pvclock_pages_host_now(PvclockPagesState *s,
                                   uint64_t mono[PVCP_MONO_CLOCKS],
                                   uint64_t *realtime)
{
    struct pvcp_host_page h;
    uint64_t tsc;

    return pvclock_pages_host_page(s, &h, &tsc) &&
           pvclock_pages_page_usable(&h) &&
           pvclock_pages_host_clock(&h, PVCP_HRES_MONOTONIC, false, tsc,
                                    &mono[PVCP_MONO_MONOTONIC]) &&
           pvclock_pages_host_clock(&h, 0, true, tsc, &mono[PVCP_MONO_RAW]) &&
           pvclock_pages_host_clock(&h, PVCP_HRES_BOOTTIME, false, tsc,
                                    &mono[PVCP_MONO_BOOTTIME]) &&
           pvclock_pages_host_clock(&h, PVCP_HRES_REALTIME, false, tsc,
                                    realtime);
}

static uint64_t offset_ns(const struct pvcp_timens_offset *o)
{
    return (uint64_t)o->sec * NANOSECONDS_PER_SECOND + o->nsec;
}

static struct pvcp_timens_offset ns_offset(int64_t ns)
{
    struct pvcp_timens_offset o;

    o.sec = ns / (int64_t)NANOSECONDS_PER_SECOND;
    ns %= (int64_t)NANOSECONDS_PER_SECOND;
    if (ns < 0) {
        o.sec -= 1;
        ns += NANOSECONDS_PER_SECOND;
    }
    o.nsec = ns;
    return o;
}

static int pvclock_pages_pre_save(void *opaque)
{
    PvclockPagesState *s = opaque;
    struct pvcp_offset_page *op = s->offset_page;
    uint64_t host[PVCP_MONO_CLOCKS], rt;

    if (!pvclock_pages_host_now(s, host, &rt)) {
        error_report("pvclock-pages: cannot read this host's pages to save "
                     "the guest's clocks; is pvclock-helper running?");
        return -EINVAL;
    }
    s->mig_abi_major = PVCP_ABI_MAJOR;
    s->mig_abi_minor = PVCP_ABI_MINOR;
    s->mig_generation = op->generation;
    s->mig_guest_hz = s->relation.guest_hz;
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        /* what the guest reads now: the host's clock plus its offset */
        s->mig_mono_ns[i] = host[i] + offset_ns(&op->mono_offset[i]);
    }
    s->mig_realtime_ns = rt;
    s->mig_monotonic = s->monotonic_host;
    s->mig_downtime = s->downtime_include;
    trace_pvclock_pages_pre_save(s->mig_generation,
                                 s->mig_mono_ns[PVCP_MONO_MONOTONIC], rt);
    return 0;
}

static int pvclock_pages_post_load(void *opaque, int version_id)
{
    PvclockPagesState *s = opaque;
    struct pvcp_offset_page *op = s->offset_page;
    uint64_t host[PVCP_MONO_CLOCKS], rt, downtime = 0;
    int64_t start = get_clock();

    if (s->mig_abi_major != PVCP_ABI_MAJOR) {
        error_report("pvclock-pages: incoming clock state has ABI %u.%u, "
                     "this QEMU has %u.%u; migrate between matching "
                     "versions", s->mig_abi_major, s->mig_abi_minor,
                     PVCP_ABI_MAJOR, PVCP_ABI_MINOR);
        return -EINVAL;
    }
    if (s->mig_monotonic != s->monotonic_host ||
        s->mig_downtime != s->downtime_include) {
        error_report("pvclock-pages: the source runs with monotonic=%s,"
                     "downtime=%s, this destination with monotonic=%s,"
                     "downtime=%s; start the destination with the source's "
                     "properties", s->mig_monotonic ? "host" : "vm",
                     s->mig_downtime ? "include" : "exclude", s->monotonic,
                     s->downtime);
        return -EINVAL;
    }
    if (!pvclock_pages_host_now(s, host, &rt)) {
        error_report("pvclock-pages: the destination has no usable "
                     "pvclock-helper pages (%s); start pvclock-helper here "
                     "before migrating", s->pages_path);
        return -EINVAL;
    }
    if (s->mig_downtime && rt > s->mig_realtime_ns) {
        /* as far as the two hosts' REALTIME agree */
        downtime = rt - s->mig_realtime_ns;
    }

    offset_page_write_begin(s);
    op->generation = MAX(op->generation, s->mig_generation) + 1;
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        /* continue exactly where the guest was (plus the downtime) */
        op->mono_offset[i] = ns_offset((int64_t)(s->mig_mono_ns[i] +
                                                 downtime - host[i]));
    }
    op->status = PVCP_STATUS_INVALID;   /* until the relation is known */
    offset_page_write_end(s);
    s->relation_known = false;
    s->helper_stale = pvclock_pages_helper_stale(s);
    /* the relation is read again at vm start, then status turns valid */
    pvclock_pages_update(s, "incoming migration");
    s->last_post_load_ns = get_clock() - start;
    trace_pvclock_pages_post_load(op->generation, downtime,
                                  s->last_post_load_ns);
    return 0;
}

static const VMStateDescription vmstate_pvclock_pages = {
    .name = "pvclock-pages",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = pvclock_pages_pre_save,
    .post_load = pvclock_pages_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, PvclockPagesState),
        VMSTATE_UINT32(mig_abi_major, PvclockPagesState),
        VMSTATE_UINT32(mig_abi_minor, PvclockPagesState),
        VMSTATE_UINT64(mig_generation, PvclockPagesState),
        VMSTATE_UINT64(mig_guest_hz, PvclockPagesState),
        VMSTATE_UINT64_ARRAY(mig_mono_ns, PvclockPagesState,
                             PVCP_MONO_CLOCKS),
        VMSTATE_UINT64(mig_realtime_ns, PvclockPagesState),
        VMSTATE_UINT32(mig_monotonic, PvclockPagesState),
        VMSTATE_UINT32(mig_downtime, PvclockPagesState),
        VMSTATE_END_OF_LIST()
    },
};

/* ---- properties: configuration and status for management ---------- */

static const Property pvclock_pages_properties[] = {
    DEFINE_PROP_STRING("pages", PvclockPagesState, pages_path),
    DEFINE_PROP_STRING("on-missing", PvclockPagesState, on_missing),
    DEFINE_PROP_STRING("flavour", PvclockPagesState, flavour),
    DEFINE_PROP_STRING("monotonic", PvclockPagesState, monotonic),
    DEFINE_PROP_STRING("downtime", PvclockPagesState, downtime),
    DEFINE_PROP_BOOL("x-inotify", PvclockPagesState, use_inotify, true),
};

static char *pvclock_pages_get_status(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    uint32_t st = s->offset_page ? s->offset_page->status
                                 : PVCP_STATUS_INVALID;

    return g_strdup(st < ARRAY_SIZE(status_names) ? status_names[st]
                                                  : "unknown");
}

static char *pvclock_pages_get_backend(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return g_strdup(s->backend ? s->backend->name : "none");
}

static bool pvclock_pages_get_connected(Object *obj, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    return s->host && s->host_ok && !s->helper_stale;
}

static void pvclock_pages_get_u64(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    struct pvcp_host_page pg;
    bool have_pg = pvclock_pages_host_page(s, &pg, NULL);
    uint64_t value = 0;

    if (!strcmp(name, "generation")) {
        value = s->offset_page ? s->offset_page->generation : 0;
    } else if (!strcmp(name, "helper-age-ms")) {
        uint64_t hb = have_pg ? pg.heartbeat_ns : 0;

        value = hb && get_clock() > hb ? (get_clock() - hb) / SCALE_MS
                                       : UINT64_MAX;
    } else if (!strcmp(name, "helper-epoch")) {
        value = have_pg ? pg.helper_epoch : 0;
    } else if (!strcmp(name, "pages-lost")) {
        value = s->pages_lost;
    } else if (!strcmp(name, "pages-faults")) {
        value = pvclock_guard_faults(s->guard_slot);
    } else if (!strcmp(name, "guest-counter-hz")) {
        value = s->relation.guest_hz;
    } else if (!strcmp(name, "counter-offset")) {
        value = s->relation.offset;
    } else if (!strcmp(name, "last-post-load-us")) {
        value = s->last_post_load_ns / 1000;
    } else if (!strcmp(name, "x-qtest-offset")) {
        value = s->qtest_offset;
    } else if (!strcmp(name, "x-qtest-scale")) {
        value = s->qtest_scale;
    }
    visit_type_uint64(v, name, &value, errp);
}

/* x-qtest-offset may change at run time: the qtest stand-in for a WRMSR. */
static void pvclock_pages_set_qtest_offset(Object *obj, Visitor *v,
                                           const char *name, void *opaque,
                                           Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    uint64_t value;

    if (!visit_type_uint64(v, name, &value, errp)) {
        return;
    }
    if (!strcmp(name, "x-qtest-scale")) {
        s->qtest_scale = value;
    } else {
        s->qtest_offset = value;
    }
    if (s->offset_page) {
        pvclock_pages_update(s, "simulated relation changed");
    }
}

static void pvclock_pages_instance_init(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    s->pages_path = g_strdup(PVCLOCK_PAGES_DEFAULT_PATH);
    s->host_fd = -1;
    s->guard_slot = -1;
    s->inotify_fd = -1;
    s->on_missing = g_strdup("fail");
    s->flavour = g_strdup("unsmeared");
    s->monotonic = g_strdup("vm");
    s->downtime = g_strdup("exclude");
}

static void pvclock_pages_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *pc = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    static const char *const u64_status[][2] = {
        { "generation", "offset page generation (disruption counter)" },
        { "helper-age-ms", "ms since pvclock-helper's last heartbeat" },
        { "helper-epoch", "pvclock-helper's start counter" },
        { "guest-counter-hz", "guest TSC frequency, 0 unknown" },
        { "counter-offset", "guest-to-host counter offset in use" },
        { "last-post-load-us", "time the last incoming migration spent in "
          "this device's post_load, us" },
        { "pages-lost", "times the pages file was found truncated" },
        { "pages-faults", "guest loads from a truncated pages file that "
          "read zeros instead of killing QEMU" },
    };

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
    dc->vmsd = &vmstate_pvclock_pages;
    device_class_set_props(dc, pvclock_pages_properties);
    object_class_property_set_description(klass, "pages",
        "path of pvclock-helper's pages file (default "
        PVCLOCK_PAGES_DEFAULT_PATH ")");
    object_class_property_set_description(klass, "on-missing",
        "without a usable pages file at start: 'fail' (default) or "
        "'degraded' (status no-helper until the file appears)");
    object_class_property_set_description(klass, "flavour",
        "REALTIME the guest is pointed at: 'unsmeared' (default, the "
        "host's UTC) or 'smeared' (leap seconds smeared noon to noon)");
    object_class_property_set_description(klass, "downtime",
        "on migration, MONOTONIC, MONOTONIC_RAW and BOOTTIME: 'exclude' "
        "(default, continue from the value at the stop, like kvmclock) or "
        "'include' (add the time the guest was stopped, from REALTIME)");
    object_class_property_set_description(klass, "x-inotify",
        "watch the pages file with inotify as well as once a second "
        "(default on; tests turn it off to reach the SIGBUS guard)");
    object_class_property_set_description(klass, "monotonic",
        "MONOTONIC, MONOTONIC_RAW and BOOTTIME: 'vm' (default, from 0 at "
        "device start, like a time namespace) or 'host' (the host's)");

    object_class_property_add(klass, "x-qtest-offset", "uint64",
                              pvclock_pages_get_u64,
                              pvclock_pages_set_qtest_offset, NULL, NULL);
    object_class_property_set_description(klass, "x-qtest-offset",
        "qtest accelerator only: simulated guest-to-host counter offset "
        "(settable at run time)");
    object_class_property_add(klass, "x-qtest-scale", "uint64",
                              pvclock_pages_get_u64,
                              pvclock_pages_set_qtest_offset, NULL, NULL);
    object_class_property_set_description(klass, "x-qtest-scale",
        "qtest accelerator only: simulated TSC scaling, guest = host * "
        "scale / 2^32 + offset (0: none)");
    object_class_property_add_str(klass, "status", pvclock_pages_get_status,
                                  NULL);
    object_class_property_set_description(klass, "status",
        "valid, no-helper, stale, unreliable or invalid (read-only)");
    object_class_property_add_str(klass, "counter-backend",
                                  pvclock_pages_get_backend, NULL);
    object_class_property_set_description(klass, "counter-backend",
        "where the guest counter relation comes from: kvm, tcg, qtest "
        "(read-only)");
    object_class_property_add_bool(klass, "helper-connected",
                                   pvclock_pages_get_connected, NULL);
    object_class_property_set_description(klass, "helper-connected",
        "pages file mapped and pvclock-helper live (read-only)");
    for (size_t i = 0; i < ARRAY_SIZE(u64_status); i++) {
        object_class_property_add(klass, u64_status[i][0], "uint64",
                                  pvclock_pages_get_u64, NULL, NULL, NULL);
        object_class_property_set_description(klass, u64_status[i][0],
                                              u64_status[i][1]);
    }
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo pvclock_pages_info = {
    .name          = TYPE_PVCLOCK_PAGES,
    .parent        = TYPE_PCI_DEVICE,
    .instance_size = sizeof(PvclockPagesState),
    .instance_init = pvclock_pages_instance_init,
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
