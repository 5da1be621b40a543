/*
 * pvclock-pages: the disruption interrupt (BAR2, the ABI header says
 * what the guest sees).
 *
 * A guest's clocks rest on the offset page's status and on its
 * disruption count (generation + host page 0's disruptions).  The
 * device's glue asks for a check from a bottom half when a publish of
 * the offset page says either changed (pvclock_pages_publish(), from the
 * 1 Hz watch and every event) and at each VM start; the check compares
 * with what was last seen and raises one interrupt per change, while the
 * VM runs and the driver wants it.  Nothing here runs in steady state,
 * and nothing per vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci.h"
#include "hw/qdev-properties.h"
#include "system/runstate.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "trace.h"

/* What the guest's clocks rest on now. */
static void irq_state_now(PvclockPagesState *s, uint64_t *dis,
                          uint32_t *status)
{
    *dis = pvclock_guest_disruptions(s);
    *status = s->offset_page->status;
}

static void irq_raise(PvclockPagesState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (msix_enabled(pdev)) {
        s->irq.count++;
        msix_notify(pdev, 0);
    } else if (!(s->irq.isr & PVCP_IRQ_DISRUPTION)) {
        s->irq.count++;         /* a pin already up raises nothing new */
        pci_set_irq(pdev, 1);
    }
    s->irq.isr |= PVCP_IRQ_DISRUPTION;
    trace_pvclock_pages_irq(s->irq.count, msix_enabled(pdev));
}

static void irq_check_bh(void *opaque)
{
    PvclockPagesState *s = opaque;
    uint64_t dis;
    uint32_t status;

    if (!s->offset_page || !runstate_is_running()) {
        return;                 /* a VM start asks again */
    }
    irq_state_now(s, &dis, &status);
    if (dis == s->irq.seen_dis && status == s->irq.seen_status) {
        return;
    }
    s->irq.seen_dis = dis;
    s->irq.seen_status = status;
    if (s->irq.ier & PVCP_IRQ_DISRUPTION) {
        irq_raise(s);
    }
}

/* What the guest's clocks rest on may have changed: check soon. */
static void pvclock_irq_published(PvclockPagesState *s, bool changed,
                                  const char *why)
{
    if (changed && s->irq.bh) {
        qemu_bh_schedule(s->irq.bh);
    }
}

static uint64_t pvclock_regs_read(void *opaque, hwaddr addr, unsigned size)
{
    PvclockPagesState *s = opaque;
    uint32_t val;

    switch (addr) {
    case PVCP_REG_ISR:
        val = s->irq.isr;
        s->irq.isr = 0;
        pci_set_irq(PCI_DEVICE(s), 0);
        return val;
    case PVCP_REG_IER:
        return s->irq.ier;
    case PVCP_REG_IRQ_COUNT:
        return (uint32_t)s->irq.count;
    default:
        return 0;
    }
}

static void pvclock_regs_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    PvclockPagesState *s = opaque;

    if (addr == PVCP_REG_IER) {
        s->irq.ier = val & PVCP_IRQ_DISRUPTION;
    } else {
        trace_pvclock_pages_guest_write(addr, size, val);
    }
}

static const MemoryRegionOps pvclock_regs_ops = {
    .read = pvclock_regs_read,
    .write = pvclock_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

static bool pvclock_irq_realize(PvclockPagesState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (!s->irq.enabled) {
        return true;
    }
    memory_region_init_io(&s->irq.regs, OBJECT(s), &pvclock_regs_ops, s,
                          "pvclock-pages-regs", PVCP_REGS_SIZE);
    if (msix_init(pdev, PVCP_MSIX_VECTORS, &s->irq.regs, PVCP_REGS_BAR,
                  PVCP_MSIX_TABLE, &s->irq.regs, PVCP_REGS_BAR, PVCP_MSIX_PBA,
                  0, errp) < 0) {
        return false;
    }
    msix_vector_use(pdev, 0);
    pci_config_set_interrupt_pin(pdev->config, 1);
    pci_register_bar(pdev, PVCP_REGS_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->irq.regs);
    irq_state_now(s, &s->irq.seen_dis, &s->irq.seen_status);
    s->irq.bh = qemu_bh_new(irq_check_bh, s);
    return true;
}

static void pvclock_irq_exit(PvclockPagesState *s)
{
    if (!s->irq.bh) {
        return;
    }
    qemu_bh_delete(s->irq.bh);
    s->irq.bh = NULL;
    msix_vector_unuse(PCI_DEVICE(s), 0);
    msix_uninit(PCI_DEVICE(s), &s->irq.regs, &s->irq.regs);
}

/* A reset: the driver enables again what it wants (MSI-X: the PCI core). */
static void pvclock_irq_reset(PvclockPagesState *s)
{
    s->irq.isr = 0;
    s->irq.ier = 0;
    if (s->irq.bh) {
        pci_set_irq(PCI_DEVICE(s), 0);
    }
}

/*
 * The registers from a stream: only bits the device has, and the pin as
 * the ISR says.  In INTx mode the pin is up exactly while ISR holds a
 * cause (raised, not yet read: IER gates the raising, not the level); a
 * stream whose PCI state says otherwise would leave a cause the guest is
 * never told of, and since a pending cause raises nothing new, no later
 * disruption would reach it either.  MSI-X: the PCI core keeps INTx down.
 */
static int pvclock_pages_irq_post_load(void *opaque, int version_id)
{
    PvclockPagesState *s = opaque;
    PCIDevice *pdev = PCI_DEVICE(s);

    if (s->irq.isr & ~PVCP_IRQ_DISRUPTION ||
        s->irq.ier & ~PVCP_IRQ_DISRUPTION) {
        error_report("pvclock-pages: incoming field %s = 0x%" PRIx32 " has "
                     "bits no interrupt of this device has (only 0x%x); "
                     "migration refused",
                     s->irq.isr & ~PVCP_IRQ_DISRUPTION ? "irq_isr"
                                                       : "irq_ier",
                     s->irq.isr & ~PVCP_IRQ_DISRUPTION ? s->irq.isr
                                                       : s->irq.ier,
                     PVCP_IRQ_DISRUPTION);
        return -EINVAL;
    }
    /* the config space came in the stream too: its pin, ours (INTA) */
    if (pci_intx(pdev) != 0) {
        error_report("pvclock-pages: incoming PCI config has interrupt pin "
                     "%d, this device has 1 (INTA); migration refused",
                     pci_intx(pdev) + 1);
        return -EINVAL;
    }
    pci_set_irq(pdev, !msix_enabled(pdev) &&
                      (s->irq.isr & PVCP_IRQ_DISRUPTION));
    return 0;
}

static bool pvclock_pages_irq_needed(void *opaque)
{
    PvclockPagesState *s = opaque;

    return s->irq.enabled;
}

/*
 * The registers and MSI-X state.  Both ends of a migration must agree on
 * interrupts=: a destination refuses the stream of either mismatch
 * (qtest irq-migration-mismatch), and the source runs on.
 */
static const VMStateDescription vmstate_pvclock_pages_irq = {
    .name = "pvclock-pages/irq",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = pvclock_pages_irq_needed,
    .post_load = pvclock_pages_irq_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_MSIX(parent_obj, PvclockPagesState),
        VMSTATE_UINT32(irq.isr, PvclockPagesState),
        VMSTATE_UINT32(irq.ier, PvclockPagesState),
        VMSTATE_UINT64(irq.count, PvclockPagesState),
        VMSTATE_END_OF_LIST()
    },
};

static const Property pvclock_irq_properties[] = {
    DEFINE_PROP_BOOL("interrupts", PvclockPagesState, irq.enabled, true),
};

static void pvclock_irq_class_init(ObjectClass *klass)
{
    object_class_property_set_description(klass, "interrupts",
        "BAR2 with the disruption interrupt (MSI-X, INTx): raised when "
        "the status or the disruption count changes, never in steady "
        "state (default on; off: the BAR0-only device of before, which "
        "both ends of a migration must then use)");
}

static void pvclock_irq_instance_init(Object *obj)
{
    PvclockPagesState *s = PVCLOCK_PAGES(obj);
    const PvclockCounterProp raised = {
        "interrupts-raised", &s->irq.count,
        "disruption interrupts raised (BAR2), all time"
    };

    pvclock_add_counters(obj, &raised, 1);
}

const PvclockPart pvclock_part_irq = {
    .name = "irq",
    .props = pvclock_irq_properties,
    .nprops = ARRAY_SIZE(pvclock_irq_properties),
    .class_init = pvclock_irq_class_init,
    .instance_init = pvclock_irq_instance_init,
    .realize = pvclock_irq_realize,
    .exit = pvclock_irq_exit,
    .reset = pvclock_irq_reset,
    .published = pvclock_irq_published,
    .vmsd = &vmstate_pvclock_pages_irq,
};
