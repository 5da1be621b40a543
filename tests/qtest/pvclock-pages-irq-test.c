/*
 * QTest for the pvclock-pages PCI device: the disruption interrupt
 * (BAR2): INTx, MSI-X, a helper restart, migration of its state.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib/gstdio.h>
#include <sys/mman.h>
#include <math.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include "qemu/atomic.h"
#include "qobject/qnum.h"
#include "libqos/fw_cfg.h"
#include "hw/pci/pci_regs.h"
#include "pvclock-pages-common.h"

/* BAR2, the interrupt's registers. */
static QPCIBar irq_regs(QPCIDevice *dev)
{
    uint64_t size;
    QPCIBar regs = qpci_iomap(dev, PVCP_REGS_BAR, &size);

    g_assert_cmpuint(size, ==, PVCP_REGS_SIZE);
    return regs;
}

static bool intx_up(QPCIDevice *dev)
{
    return qpci_config_readw(dev, PCI_STATUS) & PCI_STATUS_INTERRUPT;
}

/* The guest counter jumps (a new relation): one disruption. */
static void bump_relation(QTestState *qts, uint64_t offset)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                            "{'path': '/machine/peripheral/pvc', 'property': "
                            "'x-qtest-offset', 'value': %" PRIu64 "}}",
                            offset);

    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

/* Watch rounds until the device's count reaches want; then it is want. */
static void wait_raised(QTestState *qts, uint64_t want)
{
    watch_until(qts, qom_get_u64(qts, "pvc", "interrupts-raised") >= want);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, want);
}

static void test_irq_identity(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    uint64_t size;

    irq_regs(dev);
    g_assert_cmpuint(qpci_config_readb(dev, PCI_INTERRUPT_PIN), ==, 1);
    g_assert_cmpuint(qpci_find_capability(dev, PCI_CAP_ID_MSIX, 0), !=, 0);
    g_assert_cmpuint(qpci_msix_table_size(dev), ==, PVCP_MSIX_VECTORS);
    qpci_iomap(dev, 0, &size);
    g_assert_cmpuint(size, ==, PVCP_BAR_SIZE);
    g_free(dev);
    qpci_free_pc(bus);
    qtest_quit(qts);

    /* interrupts=off: the BAR0-only device */
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,interrupts=off", DEV_SLOT,
                      tp->path);
    bus = qpci_new_pc(qts, NULL);
    dev = find_device(bus);
    g_assert_cmpuint(qpci_config_readl(dev, PCI_BASE_ADDRESS_2), ==, 0);
    g_assert_cmpuint(qpci_config_readb(dev, PCI_INTERRUPT_PIN), ==, 0);
    g_assert_cmpuint(qpci_find_capability(dev, PCI_CAP_ID_MSIX, 0), ==, 0);
    bump_relation(qts, 1000);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 0);
    end_test(qts, bus, dev, tp);
}

/*
 * INTx: nothing until the driver sets IER; then one interrupt per
 * disruption, the pin up until ISR is read, and nothing in steady state.
 */
static void test_irq_intx(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar regs = irq_regs(dev);

    wait_status(qts, "pvc", "valid");
    bump_relation(qts, 1000);           /* IER 0: not raised */
    watch_round(qts);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 0);
    g_assert_false(intx_up(dev));
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==, 0);

    qpci_io_writel(dev, regs, PVCP_REG_IER, 0xffffffff);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_IER), ==,
                    PVCP_IRQ_DISRUPTION);
    bump_relation(qts, 2000);
    wait_raised(qts, 1);
    g_assert_true(intx_up(dev));
    g_assert_cmpuint(qpci_io_readl(dev, regs, PVCP_REG_IRQ_COUNT), ==, 1);
    /* a second disruption before the driver looked: the pin is up already */
    bump_relation(qts, 3000);
    watch_round(qts);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 1);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    g_assert_false(intx_up(dev));
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==, 0);

    /* steady state: three watch rounds, nothing */
    watch_rounds(qts, 3);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 1);
    g_assert_false(intx_up(dev));

    /* a reset disables it again */
    qtest_system_reset(qts);
    qpci_device_enable(dev);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_IER), ==, 0);
    qpci_iounmap(dev, regs);
    end_test(qts, bus, dev, tp);
}

#define MSI_ADDR    0x100000

#define MSI_DATA    0x5a5a0001u

/* MSI-X: one message per disruption; masked, it waits in the PBA. */
static void test_irq_msix(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar regs;
    uint64_t entry;

    wait_status(qts, "pvc", "valid");
    qpci_msix_enable(dev);      /* maps BAR2, where the registers are too */
    regs = dev->msix_table_bar;
    entry = dev->msix_table_off;
    qpci_io_writel(dev, dev->msix_table_bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR,
                   MSI_ADDR);
    qpci_io_writel(dev, dev->msix_table_bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR,
                   0);
    qpci_io_writel(dev, dev->msix_table_bar, entry + PCI_MSIX_ENTRY_DATA,
                   MSI_DATA);
    qpci_io_writel(dev, dev->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    qpci_io_writel(dev, regs, PVCP_REG_IER, PVCP_IRQ_DISRUPTION);
    qtest_writel(qts, MSI_ADDR, 0);

    bump_relation(qts, 1000);
    wait_raised(qts, 1);
    g_assert_cmphex(qtest_readl(qts, MSI_ADDR), ==, MSI_DATA);
    g_assert_false(intx_up(dev));

    /* masked: pending, delivered at the unmask */
    qtest_writel(qts, MSI_ADDR, 0);
    qpci_io_writel(dev, dev->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_VECTOR_CTRL,
                   PCI_MSIX_ENTRY_CTRL_MASKBIT);
    bump_relation(qts, 2000);
    wait_raised(qts, 2);
    g_assert_true(qpci_msix_pending(dev, 0));
    g_assert_cmphex(qtest_readl(qts, MSI_ADDR), ==, 0);
    qpci_io_writel(dev, dev->msix_table_bar,
                   entry + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    g_assert_cmphex(qtest_readl(qts, MSI_ADDR), ==, MSI_DATA);
    g_assert_false(qpci_msix_pending(dev, 0));

    /* steady state: three watch rounds, nothing */
    qtest_writel(qts, MSI_ADDR, 0);
    watch_rounds(qts, 3);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 2);
    g_assert_cmphex(qtest_readl(qts, MSI_ADDR), ==, 0);
    qpci_msix_disable(dev);
    end_test(qts, bus, dev, tp);
}

/*
 * A helper that restarts on the same pages file counts one disruption
 * (and a new epoch): one interrupt, seen at the device's next watch
 * round; new pages behind pages= (another file): one more.
 */
static void test_irq_helper_restart(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar regs = irq_regs(dev);

    wait_status(qts, "pvc", "valid");
    qpci_io_writel(dev, regs, PVCP_REG_IER, PVCP_IRQ_DISRUPTION);
    make_pages(pages);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].disruptions = 1;
        pages[i].helper_epoch = 2;
        pvcp_page_seal(&pages[i]);
    }
    rewrite_in_place(tp->path, pages);
    wait_raised(qts, 1);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    watch_rounds(qts, 2);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 1);

    g_assert_cmpint(unlink(tp->path), ==, 0);
    write_file(tp->path, pages, PVCP_FILE_SIZE);   /* a new inode */
    wait_raised(qts, 2);
    watch_rounds(qts, 2);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 2);
    qpci_iounmap(dev, regs);
    end_test(qts, bus, dev, tp);
}

/*
 * A migration to a destination kept paused: nothing there until cont,
 * then exactly one interrupt; the enable and the count came along.
 */
static void test_irq_migration(void)
{
    TestPages *tp = pages_new();
    QTestState *from, *to;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar regs;
    g_autofree char *st = NULL;
    g_autofree char *uri = start_pair(tp, 2500000000ull, 0, 3000000000ull, 0,
                                      true, &from, &to);
    QDict *rsp;

    bus = qpci_new_pc(from, NULL);
    dev = find_device(bus);
    regs = irq_regs(dev);
    qpci_io_writel(dev, regs, PVCP_REG_IER, PVCP_IRQ_DISRUPTION);
    bump_relation(from, 1000);
    wait_raised(from, 1);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    g_free(dev);
    qpci_free_pc(bus);

    st = migrate_and_wait(from, uri);
    g_assert_cmpstr(st, ==, "completed");
    /* paused, through watch rounds: nothing raised */
    watch_rounds_stopped(to, "pvc", 3);
    g_assert_cmpuint(qom_get_u64(to, "pvc", "interrupts-raised"), ==, 1);
    rsp = qtest_qmp(to, "{'execute': 'cont'}");
    qobject_unref(rsp);
    qtest_qmp_eventwait(to, "RESUME");
    wait_raised(to, 2);
    bus = qpci_new_pc(to, NULL);
    dev = qpci_device_find(bus, DEV_DEVFN);
    regs = irq_regs(dev);
    g_assert_true(intx_up(dev));
    g_assert_cmpuint(qpci_io_readl(dev, regs, PVCP_REG_IRQ_COUNT), ==, 2);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_IER), ==,
                    PVCP_IRQ_DISRUPTION);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    watch_rounds(to, 3);                /* steady state there: nothing */
    g_assert_cmpuint(qom_get_u64(to, "pvc", "interrupts-raised"), ==, 2);
    g_assert_cmpuint(qom_get_u64(from, "pvc", "interrupts-raised"), ==, 1);
    g_free(dev);
    qpci_free_pc(bus);
    qtest_quit(to);
    qtest_quit(from);
    pages_free(tp);
}

/*
 * The registers in a saved stream: ISR and IER of the pvclock-pages/irq
 * subsection, after its header and the MSI-X state (one vector: a 16-byte
 * table entry and a 1-byte PBA).
 */
static size_t stream_isr_at(const char *data, size_t len)
{
    static const char sub[] = "\x05\x11pvclock-pages/irq";
    const char *p = memmem(data, len, sub, sizeof(sub) - 1);

    g_assert_nonnull(p);
    return p - data + sizeof(sub) - 1 + 4 + 17;
}

static uint32_t stream_be32(const char *p)
{
    const uint8_t *b = (const uint8_t *)p;

    return (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
}

static char *save_to_file(QTestState *qts, TestPages *tp)
{
    char *path = pages_extra_file(tp, "state");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QDict *rsp = qtest_qmp(qts, "{'execute': 'migrate', 'arguments': "
                           "{'uri': %s}}", uri);
    const char *st = "";

    qobject_unref(rsp);
    for (int i = 0; i < 600 && strcmp(st, "completed"); i++) {
        rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        st = qdict_get_try_str(qdict_get_qdict(rsp, "return"), "status");
        st = st && !strcmp(st, "completed") ? "completed" : "";
        qobject_unref(rsp);
        g_usleep(20 * 1000);
    }
    g_assert_cmpstr(st, ==, "completed");
    return path;
}

/*
 * A stream whose ISR holds a cause while its PCI state has the pin down
 * (crafted, or from a guest that cleared MSI-X with a cause pending): the
 * destination puts the pin where ISR says.  Left down, the guest would
 * never hear of the cause, nor of any later one (a pending cause raises
 * nothing new).
 */
static void test_irq_migration_isr_pin(void)
{
    TestPages *tp = pages_new();
    QTestState *from = start_qemu(tp->path, 0), *to;
    QPCIBus *bus = qpci_new_pc(from, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar regs = irq_regs(dev);
    g_autofree char *path = NULL, *data = NULL;
    size_t len, at;

    wait_status(from, "pvc", "valid");
    qpci_io_writel(dev, regs, PVCP_REG_IER, PVCP_IRQ_DISRUPTION);
    g_assert_false(intx_up(dev));
    qpci_iounmap(dev, regs);
    g_free(dev);
    qpci_free_pc(bus);
    path = save_to_file(from, tp);
    qtest_quit(from);

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    at = stream_isr_at(data, len);
    g_assert_cmphex(stream_be32(data + at), ==, 0);             /* ISR */
    g_assert_cmphex(stream_be32(data + at + 4), ==, PVCP_IRQ_DISRUPTION);
    data[at + 3] = PVCP_IRQ_DISRUPTION;         /* big-endian: low byte */
    write_file(path, data, len);

    to = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                     "addr=%d.0,pages=%s -incoming file:%s", DEV_SLOT,
                     tp->path, path);
    wait_loaded(to, "running");
    watch_round(to);                    /* the start's check: nothing new */
    bus = qpci_new_pc(to, NULL);
    dev = qpci_device_find(bus, DEV_DEVFN);
    regs = irq_regs(dev);
    g_assert_true(intx_up(dev));
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    g_assert_false(intx_up(dev));
    /* and the next disruption reaches the guest again */
    bump_relation(to, 1000);
    wait_raised(to, 1);
    g_assert_true(intx_up(dev));
    qpci_iounmap(dev, regs);
    end_test(to, bus, dev, tp);
}

/*
 * Both ends of a migration must agree on interrupts=: either mismatch
 * fails the migration (the destination refuses the stream) and the
 * source runs on.
 */
static void test_irq_migration_mismatch(void)
{
    TestPages *tp = pages_new();
    g_autofree char *sock = pages_extra_file(tp, "mig.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);

    for (int on = 0; on < 2; on++) {
        QTestState *from, *to;
        g_autofree char *st = NULL, *rs = NULL;

        from = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                           "addr=%d.0,pages=%s,interrupts=%s", DEV_SLOT,
                           tp->path, on ? "on" : "off");
        to = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                         "addr=%d.0,pages=%s,interrupts=%s -incoming %s",
                         DEV_SLOT, tp->path, on ? "off" : "on", uri);
        st = migrate_and_wait(from, uri);
        g_assert_cmpstr(st, ==, "failed");
        qtest_qmp_eventwait(from, "RESUME");
        rs = run_state(from);
        g_assert_cmpstr(rs, ==, "running");
        qtest_set_expected_status(to, EXIT_FAILURE);
        qtest_quit(to);
        qtest_quit(from);
        unlink(sock);
    }
    pages_free(tp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/pvclock-pages/irq-identity", test_irq_identity);
    qtest_add_func("/pvclock-pages/irq-intx", test_irq_intx);
    qtest_add_func("/pvclock-pages/irq-msix", test_irq_msix);
    qtest_add_func("/pvclock-pages/irq-helper-restart",
                   test_irq_helper_restart);
    qtest_add_func("/pvclock-pages/irq-migration", test_irq_migration);
    qtest_add_func("/pvclock-pages/irq-migration-mismatch",
                   test_irq_migration_mismatch);
    qtest_add_func("/pvclock-pages/irq-migration-isr-pin",
                   test_irq_migration_isr_pin);

    return g_test_run();
}
