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
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "migration/blocker.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "system/tcg.h"
#include "hw/pvclock/pvclock-pages.h"
#include "trace.h"

#define PVCLOCK_PAGES_DEFAULT_PATH "/run/pvclock/pages"

/* How often TCG re-reads the relation (a guest WRMSR can change it). */
#define PVCLOCK_PAGES_RECHECK_MS 1000

/*
 * Offset page writer side of the seqcount.  The guest reads this page
 * concurrently (a vCPU thread under TCG, the guest itself under KVM);
 * the barriers pair with the reader's after its seq loads.
 */
static void offset_page_write_begin(PvclockPagesState *s)
{
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
    smp_wmb();
}

static void offset_page_write_end(PvclockPagesState *s)
{
    smp_wmb();
    qatomic_set(&s->offset_page->seq, s->offset_page->seq + 1);
}

uint64_t pvclock_pages_host_counter_hz(PvclockPagesState *s)
{
    const struct pvcp_host_page *h = memory_region_get_ram_ptr(&s->host_pages);

    return qatomic_read(&h->counter_hz);
}

static bool relation_equal(const PvclockCounterRelation *a,
                           const PvclockCounterRelation *b)
{
    return a->mult == b->mult && a->frac_bits == b->frac_bits &&
           a->offset == b->offset && a->guest_hz == b->guest_hz &&
           a->exact == b->exact;
}

/*
 * Read the accelerator's relation and publish it.  Any change, of the
 * relation or of the status, is a disruption for a guest that caches the
 * guest-counter-to-time mapping (under TCG every stop/cont moves the
 * offset), so it bumps generation in the same seq write, before the new
 * values are visible.
 */
static void pvclock_pages_update(PvclockPagesState *s, const char *why)
{
    struct pvcp_offset_page *op = s->offset_page;
    PvclockCounterRelation rel = { 0 };
    uint32_t status;

    if (!s->backend) {
        rel.exact = false;
        rel.why = "no counter backend for this accelerator";
    } else if (!s->backend->get(s, &rel)) {
        rel.exact = false;
    }
    status = rel.exact ? PVCP_STATUS_VALID : PVCP_STATUS_UNRELIABLE;

    if (op->status == status && relation_equal(&rel, &s->relation)) {
        return;
    }

    trace_pvclock_pages_relation(s->backend ? s->backend->name : "none",
                                 rel.mult, rel.frac_bits, rel.offset,
                                 rel.guest_hz);
    offset_page_write_begin(s);
    op->generation++;
    if (op->status != status) {
        trace_pvclock_pages_status(op->status, status, op->generation,
                                   rel.exact ? why : rel.why);
        op->status = status;
    }
    op->guest_counter_hz = rel.guest_hz;
    op->xform[PVCP_DOMAIN_UNSCALED].mult = rel.mult;
    op->xform[PVCP_DOMAIN_UNSCALED].frac_bits = rel.frac_bits;
    op->xform[PVCP_DOMAIN_UNSCALED].offset = rel.offset;
    op->xform[PVCP_DOMAIN_UNSCALED].flags = rel.exact ? PVCP_XFORM_F_VALID
                                                      : 0;
    offset_page_write_end(s);
    s->relation = rel;
}

static void pvclock_pages_recheck(void *opaque)
{
    PvclockPagesState *s = opaque;

    pvclock_pages_update(s, "periodic recheck");
    timer_mod(s->recheck_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              PVCLOCK_PAGES_RECHECK_MS);
}

static void pvclock_pages_vm_state_change(void *opaque, bool running,
                                          RunState state)
{
    PvclockPagesState *s = opaque;

    trace_pvclock_pages_vm_state(running);
    if (!running) {
        if (s->recheck_timer) {
            timer_del(s->recheck_timer);
        }
        return;
    }
    /* Runs after the accelerator set this run's offsets, before vCPUs. */
    pvclock_pages_update(s, "vm start");
    if (s->recheck_timer) {
        timer_mod(s->recheck_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  PVCLOCK_PAGES_RECHECK_MS);
    }
}

static void pvclock_pages_reset_hold(Object *obj, ResetType type)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    trace_pvclock_pages_reset();
    pvclock_pages_update(s, "reset");
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

static void pvclock_pages_realize(PCIDevice *pdev, Error **errp)
{
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);
    struct pvcp_offset_page *op;
    int fd;

    if (!s->pages_path || !*s->pages_path) {
        error_setg(errp, "property 'pages' must name pvclock-helper's pages "
                   "file (default " PVCLOCK_PAGES_DEFAULT_PATH ")");
        return;
    }
    fd = open(s->pages_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot open pages file '%s' "
                         "(property 'pages'); is pvclock-helper running?",
                         s->pages_path);
        return;
    }
    if (!pvclock_pages_check_file(s->pages_path, fd, errp)) {
        close(fd);
        return;
    }

    /*
     * The migration stream does not carry the device's clock state yet
     * (live migration is a separate piece of work); refuse it clearly
     * rather than let the guest's clocks jump on the destination.
     */
    error_setg(&s->migration_blocker, "pvclock-pages: migration of the "
               "guest clock state is not implemented yet");
    if (migrate_add_blocker(&s->migration_blocker, errp) < 0) {
        close(fd);
        return;
    }

    memory_region_init_io(&s->bar, OBJECT(s), &pvclock_pages_bar_ops, s,
                          "pvclock-pages-bar", PVCP_BAR_SIZE);
    /*
     * Mapped read-only and shared: the helper's in-place updates are seen
     * at once, the guest cannot write, and since the RAM block is never
     * registered for migration the host pages are never migrated.  The
     * RAM block owns fd from here on.
     */
    if (!memory_region_init_ram_from_fd(&s->host_pages, OBJECT(s),
                                        "pvclock-pages-host", PVCP_FILE_SIZE,
                                        RAM_SHARED | RAM_READONLY |
                                        RAM_READONLY_FD, fd, 0, errp)) {
        close(fd);
        goto fail_blocker;
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                &s->host_pages);

    if (!memory_region_init_rom_nomigrate(&s->offset_mr, OBJECT(s),
                                          "pvclock-pages-offset",
                                          PVCP_PAGE_SIZE, errp)) {
        goto fail_blocker;
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
    op->recommended_page = PVCP_PAGE_UNSCALED_UNSMEARED;
    op->xform[PVCP_DOMAIN_UNSCALED].mult = 1;
    s->offset_page = op;

    s->backend = pvclock_pages_pick_backend();
    op->counter_backend = s->backend ? s->backend->abi_backend
                                     : PVCP_BACKEND_NONE;
    trace_pvclock_pages_realize(s->pages_path,
                                s->backend ? s->backend->name : "none");

    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_PREFETCH |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar);

    if (s->backend && s->backend->needs_recheck) {
        s->recheck_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                        pvclock_pages_recheck, s);
    }
    s->vmstate_entry = qemu_add_vm_change_state_handler(
        pvclock_pages_vm_state_change, s);
    pvclock_pages_update(s, "realize");
    if (runstate_is_running()) {
        /* Hot-plugged into a running VM: no vm start will come. */
        pvclock_pages_vm_state_change(s, true, RUN_STATE_RUNNING);
    }
    return;

fail_blocker:
    migrate_del_blocker(&s->migration_blocker);
}

static void pvclock_pages_exit(PCIDevice *pdev)
{
    PvclockPagesState *s = PVCLOCK_PAGES(pdev);

    if (s->vmstate_entry) {
        qemu_del_vm_change_state_handler(s->vmstate_entry);
        s->vmstate_entry = NULL;
    }
    if (s->recheck_timer) {
        timer_free(s->recheck_timer);
        s->recheck_timer = NULL;
    }
    migrate_del_blocker(&s->migration_blocker);
    /*
     * The subregions hold references on their owner, this device, through
     * the BAR container: take them out or the device is never finalised
     * (and hot-unplug never completes with DEVICE_DELETED).
     */
    memory_region_del_subregion(&s->bar, &s->offset_mr);
    memory_region_del_subregion(&s->bar, &s->host_pages);
}

static const Property pvclock_pages_properties[] = {
    DEFINE_PROP_STRING("pages", PvclockPagesState, pages_path),
    DEFINE_PROP_UINT64("x-qtest-offset", PvclockPagesState, qtest_offset, 0),
};

static void pvclock_pages_instance_init(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);

    s->pages_path = g_strdup(PVCLOCK_PAGES_DEFAULT_PATH);
}

static void pvclock_pages_class_init(ObjectClass *klass, void *data)
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
    device_class_set_props(dc, pvclock_pages_properties);
    object_class_property_set_description(klass, "pages",
        "path of pvclock-helper's pages file (default "
        PVCLOCK_PAGES_DEFAULT_PATH ")");
    object_class_property_set_description(klass, "x-qtest-offset",
        "qtest accelerator only: simulated guest-to-host counter offset");
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo pvclock_pages_info = {
    .name          = TYPE_PVCLOCK_PAGES,
    .parent        = TYPE_PCI_DEVICE,
    .instance_size = sizeof(PvclockPagesState),
    .instance_init = pvclock_pages_instance_init,
    .class_init    = pvclock_pages_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { }
    },
};

static void pvclock_pages_register_types(void)
{
    type_register_static(&pvclock_pages_info);
}

type_init(pvclock_pages_register_types)
