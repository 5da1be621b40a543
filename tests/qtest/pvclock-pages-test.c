/*
 * QTest for the pvclock-pages PCI device: what the device promises.
 *
 * Each test writes its own pages file (as pvclock-helper would), starts
 * QEMU with the device on it and checks the guest's view through BAR0.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <glib/gstdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include <math.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "libqos/fw_cfg.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include "hw/pci/pci_regs.h"
#include "pvclock-pages/pvclock-pages-abi.h"
#include "pvclock-pages/pvclock-pages-cpu.h"
#include "pvclock-pages/pvclock-pages-calc.h"

/* the device with the qtest accelerator's simulated counter */
#define PVC "pvclock-pages,x-counter-backend=qtest"

#define DEV_SLOT 4
#define DEV_DEVFN QPCI_DEVFN(DEV_SLOT, 0)

typedef struct TestPages {
    char *dir;
    char *path;
} TestPages;

/* A pages file as pvclock-helper writes it, with recognisable contents. */
static void make_pages(struct pvcp_host_page *pages)
{
    memset(pages, 0, PVCP_FILE_SIZE);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = &pages[i];

        h->magic = PVCP_HOST_MAGIC;
        h->abi_major = PVCP_ABI_MAJOR;
        h->abi_minor = PVCP_ABI_MINOR;
        h->page_index = i;
        h->seq = 2;
        h->counter_mode = i == 0 ? PVCP_COUNTER_TSC : PVCP_COUNTER_NONE;
        h->flags = i == 0 ? PVCP_HOST_F_VALID : 0;
        h->counter_hz = 2500000000ull;
        h->hres.cycle_last = 0x1000 + i;
        h->hres.mult = 0x800000;
        h->hres.shift = 23;
        h->hres_base[PVCP_HRES_REALTIME].sec = 1700000000 + i;
        pvcp_page_seal(h);
    }
}

static void write_file(const char *path, const void *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents(path, buf, len, &err));
}

static TestPages *pages_new(void)
{
    TestPages *tp = g_new0(TestPages, 1);
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    tp->dir = g_dir_make_tmp("pvclock-pages-test-XXXXXX", NULL);
    g_assert_nonnull(tp->dir);
    tp->path = g_build_filename(tp->dir, "pages", NULL);
    make_pages(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

static char *pages_extra_file(TestPages *tp, const char *name)
{
    return g_build_filename(tp->dir, name, NULL);
}

static void pages_free(TestPages *tp)
{
    g_autoptr(GDir) d = g_dir_open(tp->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *f = g_build_filename(tp->dir, name, NULL);

        if (g_file_test(f, G_FILE_TEST_IS_DIR)) {
            g_rmdir(f);
        } else {
            g_unlink(f);
        }
    }
    g_rmdir(tp->dir);
    g_free(tp->dir);
    g_free(tp->path);
    g_free(tp);
}

static QTestState *start_qemu(const char *pages, uint64_t qtest_offset)
{
    return qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                       "addr=%d.0,pages=%s,x-qtest-offset=%" PRIu64,
                       DEV_SLOT, pages, qtest_offset);
}

static QPCIDevice *find_device(QPCIBus *bus)
{
    QPCIDevice *dev = qpci_device_find(bus, DEV_DEVFN);

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    return dev;
}

/* The end of a test that started QEMU on tp and found the device. */
static void end_test(QTestState *qts, QPCIBus *bus, QPCIDevice *dev,
                     TestPages *tp)
{
    g_free(dev);
    qpci_free_pc(bus);
    qtest_quit(qts);
    pages_free(tp);
}

static void test_pci_identity(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    uint32_t bar0 = qpci_config_readl(dev, PCI_BASE_ADDRESS_0);
    uint64_t size;

    g_assert_cmphex(qpci_config_readw(dev, PCI_VENDOR_ID), ==,
                    PVCP_PCI_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(dev, PCI_DEVICE_ID), ==,
                    PVCP_PCI_DEVICE_ID);
    g_assert_cmphex(qpci_config_readb(dev, PCI_REVISION_ID), ==,
                    PVCP_PCI_REVISION);
    g_assert_cmphex(qpci_config_readw(dev, PCI_CLASS_DEVICE), ==, 0x0880);

    /* A 64-bit prefetchable memory BAR of exactly 32 KiB. */
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_SPACE, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY);
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_MEM_TYPE_MASK, ==,
                    PCI_BASE_ADDRESS_MEM_TYPE_64);
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_MEM_PREFETCH, ==,
                    PCI_BASE_ADDRESS_MEM_PREFETCH);
    qpci_iomap(dev, 0, &size);
    g_assert_cmpuint(size, ==, PVCP_BAR_SIZE);

    end_test(qts, bus, dev, tp);
}

static void test_bar_maps_file(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    g_autofree uint8_t *file = NULL, *seen = g_malloc(PVCP_BAR_SIZE);
    gsize len;

    g_assert_true(g_file_get_contents(tp->path, (char **)&file, &len, NULL));
    g_assert_cmpuint(len, ==, PVCP_FILE_SIZE);
    qpci_memread(dev, bar, 0, seen, PVCP_BAR_SIZE);
    g_assert_cmpmem(seen, PVCP_FILE_SIZE, file, PVCP_FILE_SIZE);

    /* Beyond the live page the BAR reads as zero. */
    for (size_t i = PVCP_BAR_LIVE_PAGE + PVCP_PAGE_SIZE; i < PVCP_BAR_SIZE;
         i++) {
        g_assert_cmpuint(seen[i], ==, 0);
    }

    end_test(qts, bus, dev, tp);
}

static void test_bar_follows_in_place_update(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    uint64_t sec_off = offsetof(struct pvcp_host_page, hres_base) +
                       PVCP_HRES_REALTIME * sizeof(struct pvcp_base);
    uint64_t newsec = 1800000000;
    int fd;

    /*
     * The helper writes its file in place, never replacing it, and the
     * device maps it rather than copying: a write shows through at once.
     */
    g_assert_cmphex(qpci_io_readq(dev, bar, sec_off), ==, 1700000000);
    fd = open(tp->path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, &newsec, sizeof(newsec), sec_off), ==,
                    sizeof(newsec));
    close(fd);
    g_assert_cmphex(qpci_io_readq(dev, bar, sec_off), ==, newsec);

    end_test(qts, bus, dev, tp);
}

/*
 * The offset page's reserved space reads as zero whatever state the
 * device is in: 0x028 up to mono_offset (reserved since ABI 1.6; the
 * transform of readers before 1.3 until then, which such a reader
 * computes with if it is valid) and everything after the live
 * descriptor.
 */
static size_t first_nonzero(const void *page, size_t from, size_t to)
{
    const uint8_t *p = page;

    while (from < to && !p[from]) {
        from++;
    }
    return from;
}

static void assert_reserved_zero(const struct pvcp_offset_page *op)
{
    const size_t old_xform_end = offsetof(struct pvcp_offset_page,
                                          mono_offset);
    const size_t tail = offsetof(struct pvcp_offset_page, reserved);

    g_assert_cmphex(first_nonzero(op, 0x028, old_xform_end), ==,
                    old_xform_end);
    g_assert_cmphex(first_nonzero(op, tail, PVCP_PAGE_SIZE), ==,
                    PVCP_PAGE_SIZE);
}

/* The guest's view of the offset page, checked for the above. */
static void offset_page_read(QPCIDevice *dev, QPCIBar bar,
                             struct pvcp_offset_page *op)
{
    qpci_memread(dev, bar, PVCP_BAR_OFFSET_PAGE, op, sizeof(*op));
    assert_reserved_zero(op);
}

static void test_offset_page(void)
{
    const uint64_t sim_offset = 0x123456789ull;
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, sim_offset);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    struct pvcp_offset_page op;

    offset_page_read(dev, bar, &op);
    g_assert_cmphex(op.magic, ==, PVCP_OFFSET_MAGIC);
    g_assert_cmpuint(op.abi_major, ==, PVCP_ABI_MAJOR);
    g_assert_cmpuint(op.abi_minor, ==, PVCP_ABI_MINOR);
    g_assert_cmpuint(op.seq & 1, ==, 0);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmpuint(op.generation, ==, 1);
    g_assert_cmpuint(op.counter_backend, ==, PVCP_BACKEND_QTEST);
    g_assert_cmpuint(op.recommended_page, ==, PVCP_PAGE_UNSCALED_UNSMEARED);
    g_assert_cmpuint(op.guest_counter_hz, ==, 2500000000ull);

    /*
     * host = guest - offset: the simulated guest runs ahead by
     * sim_offset, a line through a reference point without scaling
     */
    g_assert_cmphex(op.ref_xform[0].mult, ==, 1);
    g_assert_cmpuint(op.ref_xform[0].frac_bits, ==, 0);
    g_assert_cmphex(op.ref_xform[0].flags & PVCP_XFORM_F_VALID, ==,
                    PVCP_XFORM_F_VALID);
    g_assert_cmphex(op.ref_xform[0].host_ref - op.ref_xform[0].guest_ref, ==,
                    -sim_offset);
    /* monotonic=vm (default): offsets take the host's clocks to ~0 */
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        static const clockid_t clk[] = {
            CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME
        };
        struct timespec now;

        clock_gettime(clk[i], &now);
        g_assert_cmpint(-op.mono_offset[i].sec, <=, now.tv_sec + 1);
        g_assert_cmpint(-op.mono_offset[i].sec, >=, now.tv_sec - 30);
        g_assert_cmpuint(op.mono_offset[i].nsec, <, 1000000000);
    }

    end_test(qts, bus, dev, tp);
}

static void test_guest_writes_ignored(void)
{
    static const uint64_t offsets[] = {
        0, 0x18, 0x60, PVCP_BAR_HOST_PAGE(1) + 0x40, PVCP_BAR_HOST_PAGE(3),
        PVCP_BAR_OFFSET_PAGE, PVCP_BAR_OFFSET_PAGE + 0x28,
        PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE, PVCP_BAR_SIZE - 8,
    };
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    g_autofree uint8_t *before = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *after = g_malloc(PVCP_BAR_SIZE);
    g_autofree char *file = NULL;
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    gsize len;

    qpci_memread(dev, bar, 0, before, PVCP_BAR_SIZE);
    for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
        qpci_io_writeq(dev, bar, offsets[i], 0xdeadbeefcafef00dull);
        qpci_io_writel(dev, bar, offsets[i], 0x5a5a5a5a);
        qpci_io_writeb(dev, bar, offsets[i], 0xa5);
    }
    qpci_memread(dev, bar, 0, after, PVCP_BAR_SIZE);
    /* the live page is the kernel's, changing at its ticks: not compared */
    memset(before + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    memset(after + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    g_assert_cmpmem(after, PVCP_BAR_SIZE, before, PVCP_BAR_SIZE);

    /* and the host's file is untouched */
    make_pages(pages);
    g_assert_true(g_file_get_contents(tp->path, &file, &len, NULL));
    g_assert_cmpmem(file, len, pages, PVCP_FILE_SIZE);

    end_test(qts, bus, dev, tp);
}

/* device_add with a bad pages file must fail with this text. */
static void expect_realize_error(QTestState *qts, const char *pages,
                                 const char *expected)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                            "{'driver': 'pvclock-pages', 'id': 'bad', "
                            "'x-counter-backend': 'qtest', "
                            "'pages': %s}}", pages);
    QDict *error;
    const char *desc;

    g_assert_true(qdict_haskey(resp, "error"));
    error = qdict_get_qdict(resp, "error");
    desc = qdict_get_str(error, "desc");
    if (!strstr(desc, expected)) {
        g_test_message("error was: %s", desc);
    }
    g_assert_nonnull(strstr(desc, expected));
    g_assert_nonnull(strstr(desc, "property 'pages'"));
    qobject_unref(resp);
}

static void test_realize_errors(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_init("-machine pc -nodefaults");
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    g_autofree char *missing = pages_extra_file(tp, "missing");
    g_autofree char *small = pages_extra_file(tp, "small");
    g_autofree char *magic = pages_extra_file(tp, "magic");
    g_autofree char *version = pages_extra_file(tp, "version");
    g_autofree char *dir = pages_extra_file(tp, "dir");

    expect_realize_error(qts, missing, "No such file or directory");

    write_file(small, "short", 5);
    expect_realize_error(qts, small, "is 5 bytes");

    make_pages(pages);
    pages[2].magic = 0x12345678;
    write_file(magic, pages, PVCP_FILE_SIZE);
    expect_realize_error(qts, magic, "no pvclock-pages header in page 2");

    make_pages(pages);
    pages[0].abi_major = PVCP_ABI_MAJOR + 1;
    write_file(version, pages, PVCP_FILE_SIZE);
    expect_realize_error(qts, version, "ABI version");

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    expect_realize_error(qts, dir, "not a regular file");

    qtest_quit(qts);
    pages_free(tp);
}

static void test_hotplug_unplug(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_init("-machine pc -nodefaults");
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    g_autofree char *addr = g_strdup_printf("%d.0", DEV_SLOT);
    QPCIDevice *dev;

    qtest_qmp_device_add(qts, "pvclock-pages", "hot",
                         "{'addr': %s, 'pages': %s, "
                         "'x-counter-backend': 'qtest'}", addr, tp->path);
    dev = qpci_device_find(bus, DEV_DEVFN);
    g_assert_nonnull(dev);
    g_assert_cmphex(qpci_config_readw(dev, PCI_DEVICE_ID), ==,
                    PVCP_PCI_DEVICE_ID);
    g_free(dev);

    qpci_unplug_acpi_device_test(qts, "hot", DEV_SLOT);
    dev = qpci_device_find(bus, DEV_DEVFN);
    g_assert_null(dev);

    /* and again: nothing of the first instance is left behind */
    qtest_qmp_device_add(qts, "pvclock-pages", "hot2",
                         "{'addr': %s, 'pages': %s, "
                         "'x-counter-backend': 'qtest'}", addr, tp->path);
    dev = qpci_device_find(bus, DEV_DEVFN);
    g_assert_nonnull(dev);
    g_free(dev);

    qpci_free_pc(bus);
    qtest_quit(qts);
    pages_free(tp);
}

/* ---- configuration and status properties -------------------------- */

/* qom-get of a device property; the caller unrefs the response. */
static QDict *qom_get(QTestState *qts, const char *id, const char *prop)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': %s, 'property': %s}}", path, prop);

    g_assert_true(qdict_haskey(resp, "return"));
    return resp;
}

static char *qom_get_str(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    char *value = g_strdup(qdict_get_str(resp, "return"));

    qobject_unref(resp);
    return value;
}

static uint64_t qom_get_u64(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    uint64_t value = qnum_get_uint(qobject_to(QNum, qdict_get(resp,
                                                               "return")));

    qobject_unref(resp);
    return value;
}

static bool qom_get_bool(QTestState *qts, const char *id, const char *prop)
{
    QDict *resp = qom_get(qts, id, prop);
    bool value = qdict_get_bool(resp, "return");

    qobject_unref(resp);
    return value;
}

/* Wait (up to 5 s of host time: the device's watch runs at 1 Hz). */
static void wait_status(QTestState *qts, const char *id, const char *want)
{
    g_autofree char *st = NULL;

    for (int i = 0; i < 50; i++) {
        g_free(st);
        st = qom_get_str(qts, id, "status");
        if (!strcmp(st, want)) {
            return;
        }
        g_usleep(100 * 1000);
    }
    g_assert_cmpstr(st, ==, want);
}

static void read_offset_page(QTestState *qts, int slot,
                             struct pvcp_offset_page *op)
{
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = qpci_device_find(bus, QPCI_DEVFN(slot, 0));
    QPCIBar bar;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    offset_page_read(dev, bar, op);
    qpci_iounmap(dev, bar);
    g_free(dev);
    qpci_free_pc(bus);
}

static void test_status_properties(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    g_autofree char *status = qom_get_str(qts, "pvc", "status");
    g_autofree char *backend = qom_get_str(qts, "pvc", "counter-backend");

    g_assert_cmpstr(status, ==, "valid");
    g_assert_cmpstr(backend, ==, "qtest");
    g_assert_true(qom_get_bool(qts, "pvc", "helper-connected"));
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "generation"), ==, 1);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "guest-counter-hz"), ==,
                     2500000000ull);
    /* the test's file has no heartbeat: age unknown */
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "helper-age-ms"), ==,
                     UINT64_MAX);
    qtest_quit(qts);
    pages_free(tp);
}

/* device_add with these extra arguments must fail with this text. */
static void expect_property_error(QTestState *qts, const char *pages,
                                  const char *prop, const char *value,
                                  const char *expected)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                            "{'driver': 'pvclock-pages', 'id': 'bad', "
                            "'x-counter-backend': 'qtest', "
                            "'pages': %s, %s: %s}}", pages, prop, value);
    const char *desc;

    g_assert_true(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    if (!strstr(desc, expected)) {
        g_test_message("error was: %s", desc);
    }
    g_assert_nonnull(strstr(desc, expected));
    qobject_unref(resp);
}

static void test_property_errors(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_init("-machine pc -nodefaults");

    expect_property_error(qts, tp->path, "on-missing", "maybe",
                          "'on-missing' does not accept value 'maybe'");
    expect_property_error(qts, tp->path, "flavour", "blurred",
                          "'flavour' does not accept value 'blurred'");
    expect_property_error(qts, tp->path, "monotonic", "guest",
                          "'monotonic' does not accept value 'guest'");
    expect_property_error(qts, tp->path, "downtime", "sometimes",
                          "'downtime' does not accept value 'sometimes'");
    qtest_quit(qts);
    pages_free(tp);
}

static void test_flavour_and_monotonic(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults "
                                  "-device " PVC ",id=pvc,addr=%d.0,"
                                  "pages=%s,flavour=smeared,monotonic=host",
                                  DEV_SLOT, tp->path);
    struct pvcp_offset_page op;

    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.recommended_page, ==, PVCP_PAGE_UNSCALED_SMEARED);
    for (int i = 0; i < PVCP_MONO_CLOCKS; i++) {
        g_assert_cmpint(op.mono_offset[i].sec, ==, 0);
        g_assert_cmpuint(op.mono_offset[i].nsec, ==, 0);
    }
    qtest_quit(qts);
    pages_free(tp);
}

static void test_degraded_then_helper(void)
{
    TestPages *tp = pages_new();
    g_autofree char *later = pages_extra_file(tp, "later");
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts = qtest_initf("-machine pc -nodefaults "
                                  "-device " PVC ",id=pvc,addr=%d.0,"
                                  "pages=%s,on-missing=degraded",
                                  DEV_SLOT, later);
    struct pvcp_offset_page op;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    uint32_t magic;
    uint64_t gen;

    wait_status(qts, "pvc", "no-helper");
    g_assert_false(qom_get_bool(qts, "pvc", "helper-connected"));
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
    gen = op.generation;

    bus = qpci_new_pc(qts, NULL);
    dev = find_device(bus);
    bar = qpci_iomap(dev, 0, NULL);
    g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, 0);

    /* the helper starts: the device maps the file within a second */
    make_pages(pages);
    write_file(later, pages, PVCP_FILE_SIZE);
    wait_status(qts, "pvc", "valid");
    magic = qpci_io_readl(dev, bar, 0);
    g_assert_cmphex(magic, ==, PVCP_HOST_MAGIC);
    g_assert_true(qom_get_bool(qts, "pvc", "helper-connected"));
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmpuint(op.generation, >, gen);

    end_test(qts, bus, dev, tp);
}

static void test_stale_helper(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    struct pvcp_offset_page op;
    QTestState *qts;
    uint64_t gen, now;
    int fd;

    /* a helper that stopped long ago: stale after 1 s, last beat at 1 ns */
    make_pages(pages);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].stale_after = 2500000000ull;
        pages[i].heartbeat_ns = 1;
        pages[i].helper_epoch = 7;
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    wait_status(qts, "pvc", "stale");
    g_assert_false(qom_get_bool(qts, "pvc", "helper-connected"));
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "helper-epoch"), ==, 7);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_STALE);
    gen = op.generation;

    /* it beats again (in place, as the helper writes) */
    now = g_get_monotonic_time() * 1000;
    fd = open(tp->path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, &now, sizeof(now),
                           offsetof(struct pvcp_host_page, heartbeat_ns)),
                    ==, sizeof(now));
    close(fd);
    wait_status(qts, "pvc", "valid");
    g_assert_true(qom_get_bool(qts, "pvc", "helper-connected"));
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "helper-age-ms"), <, 10000);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, >, gen);
    qtest_quit(qts);
    pages_free(tp);
}

/* Write the whole file in place, as a helper would (same inode). */
static void rewrite_in_place(const char *path,
                             const struct pvcp_host_page *pages)
{
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, pages, PVCP_FILE_SIZE, 0), ==,
                    PVCP_FILE_SIZE);
    close(fd);
}

/*
 * Zeroed in place under the device (what another process may do to a
 * plain file): the mapping stays, the device calls the pages unusable at
 * once (status no-helper) and valid again once they are rewritten.
 */
static void test_zeroed_file(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    struct pvcp_offset_page op;
    uint64_t gen;

    wait_status(qts, "pvc", "valid");
    read_offset_page(qts, DEV_SLOT, &op);
    gen = op.generation;
    memset(pages, 0, PVCP_FILE_SIZE);
    rewrite_in_place(tp->path, pages);
    wait_status(qts, "pvc", "no-helper");
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
    g_assert_cmpuint(op.generation, >, gen);
    make_pages(pages);
    rewrite_in_place(tp->path, pages);
    wait_status(qts, "pvc", "valid");
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 0);
    end_test(qts, bus, dev, tp);
}

/* ---- pvclock-helper --socket: a sealed memfd handed over ---------- */

/*
 * A stand-in for pvclock-helper --socket (struct pvcp_handoff): a thread
 * that answers every client with the current memfd, or with what a test
 * makes it send instead.
 */
typedef enum {
    SERVE_PAGES,                /* the header and a read-only memfd */
    SERVE_SILENT,               /* accept, never answer */
    SERVE_GARBAGE,              /* bytes that are no handoff */
} ServeMode;

typedef struct TestHelper {
    char *path;
    int listen_fd;
    int memfd;                  /* writable: the "helper's" own */
    struct pvcp_host_page *map;
    ServeMode mode;
    GThread *thread;
    int served;
    int silent[4];
    int n_silent;
} TestHelper;

static int pages_memfd(bool sealed, struct pvcp_host_page **map)
{
    int fd = memfd_create("pvclock-pages-test", MFD_CLOEXEC |
                          MFD_ALLOW_SEALING);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, PVCP_FILE_SIZE), ==, 0);
    if (sealed) {
        g_assert_cmpint(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
                              F_SEAL_SEAL), ==, 0);
    }
    *map = mmap(NULL, PVCP_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                fd, 0);
    g_assert_true(*map != MAP_FAILED);
    make_pages(*map);
    return fd;
}

static void send_handoff(int conn, int fd)
{
    struct pvcp_handoff msg = {
        .magic = PVCP_HANDOFF_MAGIC, .abi_major = PVCP_ABI_MAJOR,
        .abi_minor = PVCP_ABI_MINOR, .size = PVCP_FILE_SIZE,
    };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl = { 0 };
    struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    g_autofree char *self = g_strdup_printf("/proc/self/fd/%d", fd);
    int ro = open(self, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(ro, >=, 0);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &ro, sizeof(int));
    g_assert_cmpint(sendmsg(conn, &mh, MSG_NOSIGNAL), ==, sizeof(msg));
    close(ro);
}

static gpointer helper_serve(gpointer opaque)
{
    TestHelper *th = opaque;
    int conn;

    while ((conn = accept(th->listen_fd, NULL, NULL)) >= 0) {
        switch (qatomic_read(&th->mode)) {
        case SERVE_PAGES:
            send_handoff(conn, qatomic_read(&th->memfd));
            break;
        case SERVE_SILENT:
            /* keep it open, unanswered, until the helper stops */
            th->silent[th->n_silent++ % 4] = dup(conn);
            break;
        case SERVE_GARBAGE:
            g_assert_cmpint(write(conn, "hello, world", 12), ==, 12);
            break;
        }
        qatomic_inc(&th->served);
        close(conn);
    }
    return NULL;
}

static TestHelper *helper_start(TestPages *tp, bool sealed)
{
    TestHelper *th = g_new0(TestHelper, 1);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    th->path = pages_extra_file(tp, "pages.sock");
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), th->path);
    th->memfd = pages_memfd(sealed, &th->map);
    th->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(th->listen_fd, (struct sockaddr *)&sa,
                         sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(th->listen_fd, 8), ==, 0);
    th->thread = g_thread_new("pvclock-test-helper", helper_serve, th);
    return th;
}

static void helper_stop(TestHelper *th)
{
    shutdown(th->listen_fd, SHUT_RDWR);
    g_thread_join(th->thread);
    for (int i = 0; i < MIN(th->n_silent, 4); i++) {
        close(th->silent[i]);
    }
    close(th->listen_fd);
    close(th->memfd);
    munmap(th->map, PVCP_FILE_SIZE);
    g_unlink(th->path);
    g_free(th->path);
    g_free(th);
}

/* A VM with the device on a stand-in helper's socket, its BAR mapped. */
typedef struct SocketVM {
    TestPages *tp;
    TestHelper *th;
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} SocketVM;

static void socket_vm_start(SocketVM *v)
{
    v->tp = pages_new();
    v->th = helper_start(v->tp, true);
    v->qts = start_qemu(v->th->path, 0);
    v->bus = qpci_new_pc(v->qts, NULL);
    v->dev = find_device(v->bus);
    v->bar = qpci_iomap(v->dev, 0, NULL);
    wait_status(v->qts, "pvc", "valid");
}

static void socket_vm_end(SocketVM *v)
{
    qpci_iounmap(v->dev, v->bar);
    g_free(v->dev);
    qpci_free_pc(v->bus);
    qtest_quit(v->qts);
    helper_stop(v->th);
    pages_free(v->tp);
}

/*
 * pages= names the helper's socket: the device gets the memfd, maps it,
 * and the guest sees the helper's in-place writes.  Shrinking or growing
 * it is refused by the kernel, by the helper's own writable descriptor
 * and by a read-write reopen of what was handed over, so no mapping of it
 * can turn short (the case that needed a SIGBUS guard with plain files).
 */
static void test_socket_sealed_memfd(void)
{
    SocketVM v;
    const uint64_t sec_off = offsetof(struct pvcp_host_page, hres_base);
    g_autofree char *reopen = NULL;
    g_autofree char *status = NULL;
    QTestState *qts;
    TestHelper *th;
    QPCIDevice *dev;
    QPCIBar bar;
    int rw;

    socket_vm_start(&v);
    qts = v.qts;
    th = v.th;
    dev = v.dev;
    bar = v.bar;
    reopen = g_strdup_printf("/proc/self/fd/%d", th->memfd);
    g_assert_cmpint(qatomic_read(&th->served), ==, 1);
    g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, PVCP_HOST_MAGIC);
    g_assert_cmpuint(qpci_io_readq(dev, bar, sec_off), ==, 1700000000);

    g_assert_cmpint(ftruncate(th->memfd, 0), ==, -1);
    g_assert_cmpint(errno, ==, EPERM);
    g_assert_cmpint(ftruncate(th->memfd, 2 * PVCP_FILE_SIZE), ==, -1);
    g_assert_cmpint(errno, ==, EPERM);
    g_assert_cmpint(fallocate(th->memfd, 0, 0, 2 * PVCP_FILE_SIZE), ==, -1);
    g_assert_cmpint(errno, ==, EPERM);
    rw = open(reopen, O_RDWR);
    g_assert_cmpint(rw, >=, 0);
    g_assert_cmpint(ftruncate(rw, 0), ==, -1);
    g_assert_cmpint(errno, ==, EPERM);
    g_assert_cmpint(fcntl(rw, F_ADD_SEALS, 0), ==, -1);  /* F_SEAL_SEAL */
    close(rw);

    /* the helper writes in place: the guest reads it at once */
    th->map[0].hres_base[PVCP_HRES_REALTIME].sec = 1700000042;
    g_assert_cmpuint(qpci_io_readq(dev, bar, sec_off), ==, 1700000042);
    status = qom_get_str(qts, "pvc", "status");
    g_assert_cmpstr(status, ==, "valid");
    socket_vm_end(&v);
}

/*
 * A helper that started over with a new memfd (no file descriptor store):
 * once the pages shown are stale, the device asks the socket again and
 * shows the new pages; generation steps past the old pages' disruptions.
 * A helper that kept its memfd (the store) gives the same one: nothing
 * changes.
 */
static void test_socket_new_memfd(void)
{
    SocketVM v;
    const uint64_t sec_off = offsetof(struct pvcp_host_page, hres_base);
    struct pvcp_host_page *old_map, *new_map;
    struct pvcp_offset_page op;
    int old_fd, new_fd, served;
    uint64_t gen, sec = 0;
    QTestState *qts;
    TestHelper *th;
    QPCIDevice *dev;
    QPCIBar bar;

    socket_vm_start(&v);
    qts = v.qts;
    th = v.th;
    dev = v.dev;
    bar = v.bar;
    read_offset_page(qts, DEV_SLOT, &op);
    gen = op.generation;

    /* stale with the same memfd behind the socket: asked, kept */
    served = qatomic_read(&th->served);
    th->map[0].stale_after = 2500000000ull;
    th->map[0].heartbeat_ns = 1;
    th->map[0].disruptions = 5;
    pvcp_page_seal(&th->map[0]);
    wait_status(qts, "pvc", "stale");
    for (int i = 0; i < 50 && qatomic_read(&th->served) == served; i++) {
        g_usleep(100 * 1000);
    }
    g_assert_cmpint(qatomic_read(&th->served), >, served);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 0);

    /* a new memfd: shown instead */
    new_fd = pages_memfd(true, &new_map);
    new_map[0].hres_base[PVCP_HRES_REALTIME].sec = 1700000100;
    pvcp_page_seal(&new_map[0]);
    old_fd = th->memfd;
    old_map = th->map;
    th->map = new_map;
    qatomic_set(&th->memfd, new_fd);
    for (int i = 0; i < 50 && sec != 1700000100; i++) {
        g_usleep(100 * 1000);
        sec = qpci_io_readq(dev, bar, sec_off);
    }
    g_assert_cmpuint(sec, ==, 1700000100);
    wait_status(qts, "pvc", "valid");
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 1);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, >=, gen + 5 + 1);
    close(old_fd);
    munmap(old_map, PVCP_FILE_SIZE);
    socket_vm_end(&v);
}

/*
 * device_add on socket: fails with want in the error, within 2 s (a
 * silent socket is waited on for 1 s at realize).
 */
static void expect_socket_error(QTestState *qts, const char *path,
                                const char *want)
{
    int64_t start = g_get_monotonic_time();

    expect_realize_error(qts, path, want);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
}

/*
 * What a socket must give, or device_add fails, never hangs: an unsealed
 * memfd (a truncation could crash QEMU), silence (bounded wait), bytes
 * that are not a handoff, nobody listening.
 */
static void test_socket_refusals(void)
{
    TestPages *tp = pages_new();
    TestHelper *th = helper_start(tp, false);
    QTestState *qts = qtest_init("-machine pc -nodefaults");
    g_autofree char *dead = pages_extra_file(tp, "dead.sock");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    expect_socket_error(qts, th->path, "not sealed against shrinking");
    qatomic_set(&th->mode, SERVE_SILENT);
    expect_socket_error(qts, th->path, "did not answer within 1000 ms");
    qatomic_set(&th->mode, SERVE_GARBAGE);
    expect_socket_error(qts, th->path, "answered with no pvclock-helper");

    /* a socket left by a helper that died */
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), dead);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    close(fd);
    expect_socket_error(qts, dead, "Connection refused");

    qtest_quit(qts);
    helper_stop(th);
    pages_free(tp);
}

static uint64_t host_tsc(void)
{
    return pvcp_counter_read(pvcp_counter_order_detect());
}


/*
 * Pages whose page 0 gives this host's clocks (to well within a second),
 * as a real helper's do: the device uses the live page only then.  The
 * TSC rate is measured against MONOTONIC_RAW over 20 ms.
 */
static void make_real_host(struct pvcp_host_page *pages)
{
    struct pvcp_host_page *h = &pages[0];
    struct timespec r0, r1, ts;
    static const struct {
        clockid_t id;
        int index;
    } bases[] = {
        { CLOCK_REALTIME, PVCP_HRES_REALTIME },
        { CLOCK_MONOTONIC, PVCP_HRES_MONOTONIC },
        { CLOCK_BOOTTIME, PVCP_HRES_BOOTTIME },
        { CLOCK_TAI, PVCP_HRES_TAI },
    };
    uint64_t t0, t1, hz;

    make_pages(pages);
    clock_gettime(CLOCK_MONOTONIC_RAW, &r0);
    t0 = host_tsc();
    g_usleep(20000);
    clock_gettime(CLOCK_MONOTONIC_RAW, &r1);
    t1 = host_tsc();
    hz = (uint64_t)((t1 - t0) * 1e9 /
                    ((r1.tv_sec - r0.tv_sec) * 1e9 +
                     (r1.tv_nsec - r0.tv_nsec)));
    h->counter_hz = hz;
    h->hres.shift = 24;
    h->hres.mult = (uint32_t)((1000000000ull << 24) / hz);
    h->hres.max_cycles = PVCP_S64_MAX / h->hres.mult;
    h->hres.cycle_last = host_tsc() & PVCP_S64_MAX;
    for (size_t i = 0; i < G_N_ELEMENTS(bases); i++) {
        clock_gettime(bases[i].id, &ts);
        h->hres_base[bases[i].index].sec = ts.tv_sec;
        h->hres_base[bases[i].index].nsec_shifted = (uint64_t)ts.tv_nsec << 24;
    }
    h->raw = h->hres;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    h->raw_base.sec = ts.tv_sec;
    h->raw_base.nsec_shifted = (uint64_t)ts.tv_nsec << 24;
    pvcp_page_seal(h);
}

static TestPages *pages_new_real(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    make_real_host(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

/*
 * What two guests on one host share, as docs/security.md says: the 16 KiB
 * of host pages, bit for bit (the same memfd, mapped), and nothing else:
 * each has its own offset page.  A guest that writes all over its BAR
 * changes nothing it, the other guest or the host sees.
 */
static void test_two_guests_share(void)
{
    TestPages *tp = pages_new();
    TestHelper *th = helper_start(tp, true);
    QTestState *qa, *qb;
    QPCIBus *ba, *bb;
    QPCIDevice *da, *db;
    QPCIBar bar_a, bar_b;
    g_autofree uint8_t *a = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *b = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *a2 = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *b2 = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *host = g_malloc(PVCP_FILE_SIZE);

    make_real_host(th->map);    /* this host's clocks: the live page too */
    qa = start_qemu(th->path, 1);
    qb = start_qemu(th->path, 1000);
    ba = qpci_new_pc(qa, NULL);
    bb = qpci_new_pc(qb, NULL);
    da = find_device(ba);
    db = find_device(bb);
    bar_a = qpci_iomap(da, 0, NULL);
    bar_b = qpci_iomap(db, 0, NULL);

    wait_status(qa, "pvc", "valid");
    wait_status(qb, "pvc", "valid");
    memcpy(host, th->map, PVCP_FILE_SIZE);
    qpci_memread(da, bar_a, 0, a, PVCP_BAR_SIZE);
    qpci_memread(db, bar_b, 0, b, PVCP_BAR_SIZE);
    g_assert_cmpmem(a, PVCP_FILE_SIZE, host, PVCP_FILE_SIZE);
    g_assert_cmpmem(b, PVCP_FILE_SIZE, host, PVCP_FILE_SIZE);
    /* the offset pages are each guest's own: their relations differ */
    g_assert_true(memcmp(a + PVCP_BAR_OFFSET_PAGE, b + PVCP_BAR_OFFSET_PAGE,
                         PVCP_PAGE_SIZE) != 0);

    /*
     * Both live pages are the host kernel's one page: equal whenever the
     * kernel did not write between the two reads (its seq says so).
     */
    for (int i = 0; i < 100; i++) {
        const struct pvcp_offset_page *op = (const void *)
            (a + PVCP_BAR_OFFSET_PAGE);
        unsigned seq_at = op->live.block[0] + op->live.seq;
        uint32_t sa, sb;

        assert_reserved_zero(op);
        g_assert_true(op->live.flags & PVCP_LIVE_F_VALID);
        qpci_memread(da, bar_a, PVCP_BAR_LIVE_PAGE, a2, PVCP_PAGE_SIZE);
        qpci_memread(db, bar_b, PVCP_BAR_LIVE_PAGE, b2, PVCP_PAGE_SIZE);
        memcpy(&sa, a2 + seq_at, 4);
        memcpy(&sb, b2 + seq_at, 4);
        if (sa == sb && !(sa & 1)) {
            break;
        }
    }
    g_assert_cmpmem(a2, PVCP_PAGE_SIZE, b2, PVCP_PAGE_SIZE);

    for (uint64_t off = 0; off < PVCP_BAR_SIZE; off += 8) {
        qpci_io_writeq(da, bar_a, off, ~0ull);
    }
    qpci_memread(da, bar_a, 0, a2, PVCP_BAR_SIZE);
    qpci_memread(db, bar_b, 0, b2, PVCP_BAR_SIZE);
    /* the live pages change at the kernel's ticks: compared above */
    memset(a + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    memset(b + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    memset(a2 + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    memset(b2 + PVCP_BAR_LIVE_PAGE, 0, PVCP_PAGE_SIZE);
    g_assert_cmpmem(a2, PVCP_BAR_SIZE, a, PVCP_BAR_SIZE);
    g_assert_cmpmem(b2, PVCP_BAR_SIZE, b, PVCP_BAR_SIZE);
    g_assert_cmpmem(th->map, PVCP_FILE_SIZE, host, PVCP_FILE_SIZE);

    qpci_iounmap(da, bar_a);
    qpci_iounmap(db, bar_b);
    g_free(da);
    g_free(db);
    qpci_free_pc(ba);
    qpci_free_pc(bb);
    qtest_quit(qa);
    qtest_quit(qb);
    helper_stop(th);
    pages_free(tp);
}

/*
 * memdev=: any memory backend holding the pages, as ivshmem-plain takes
 * one.  The guest cannot write it even when the backend is writable; one
 * backend serves one device; memdev and pages exclude each other.
 */
static void test_memdev(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults "
        "-object memory-backend-file,id=hp,mem-path=%s,size=%d,share=on,"
        "readonly=on "
        "-object memory-backend-memfd,id=junk,size=%d,share=on "
        "-device " PVC ",id=pvc,addr=%d.0,memdev=hp",
        tp->path, PVCP_FILE_SIZE, PVCP_FILE_SIZE, DEV_SLOT);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    const uint64_t sec_off = offsetof(struct pvcp_host_page, hres_base);
    QDict *resp;

    wait_status(qts, "pvc", "valid");
    g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, PVCP_HOST_MAGIC);
    qpci_io_writeq(dev, bar, sec_off, 42);
    g_assert_cmpuint(qpci_io_readq(dev, bar, sec_off), ==, 1700000000);

    /* a writable backend (readonly=off): still read-only to the guest */
    {
        g_autofree char *rw_path = pages_extra_file(tp, "rw");
        g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
        g_autofree char *file = NULL;
        QTestState *q2;
        QPCIBus *b2;
        QPCIDevice *d2;
        QPCIBar bar2;
        gsize len;

        make_pages(pages);
        write_file(rw_path, pages, PVCP_FILE_SIZE);
        q2 = qtest_initf("-machine pc -nodefaults -object "
                         "memory-backend-file,id=rw,mem-path=%s,size=%d,"
                         "share=on -device " PVC ",id=pvc,addr=%d.0,memdev=rw",
                         rw_path, PVCP_FILE_SIZE, DEV_SLOT);
        b2 = qpci_new_pc(q2, NULL);
        d2 = find_device(b2);
        bar2 = qpci_iomap(d2, 0, NULL);
        wait_status(q2, "pvc", "valid");
        for (uint64_t off = 0; off < PVCP_FILE_SIZE; off += 8) {
            qpci_io_writeq(d2, bar2, off, 0x5a5a5a5a5a5a5a5aull);
        }
        g_assert_cmpuint(qpci_io_readq(d2, bar2, sec_off), ==, 1700000000);
        g_assert_true(g_file_get_contents(rw_path, &file, &len, NULL));
        g_assert_cmpmem(file, len, pages, PVCP_FILE_SIZE);
        qpci_iounmap(d2, bar2);
        g_free(d2);
        qpci_free_pc(b2);
        qtest_quit(q2);
    }

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'pvclock-pages', 'id': 'two', "
                     "'x-counter-backend': 'qtest', 'memdev': 'hp'}}");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "already in use"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'pvclock-pages', 'id': 'three', "
                     "'x-counter-backend': 'qtest', 'memdev': 'junk'}}");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"),
                            "no pvclock-pages header in page 0"));
    qobject_unref(resp);
    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'pvclock-pages', 'id': 'four', "
                     "'x-counter-backend': 'qtest', 'memdev': 'junk', "
                     "'pages': %s}}", tp->path);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "set one"));
    qobject_unref(resp);

    qpci_iounmap(dev, bar);
    end_test(qts, bus, dev, tp);
}

/*
 * The file removed and a new one made at the same path (a helper started
 * over after /run was cleaned): the device maps the new file over the old
 * one and reads it from then on.
 */
static void test_replaced_file(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    const uint64_t sec_off = offsetof(struct pvcp_host_page, hres_base);
    struct pvcp_offset_page op;
    uint64_t gen, sec = 0;

    wait_status(qts, "pvc", "valid");
    read_offset_page(qts, DEV_SLOT, &op);
    gen = op.generation;
    g_assert_cmpuint(qpci_io_readq(dev, bar, sec_off), ==, 1700000000);

    g_assert_cmpint(unlink(tp->path), ==, 0);
    make_pages(pages);
    pages[0].hres_base[PVCP_HRES_REALTIME].sec = 1700000100;
    pvcp_page_seal(&pages[0]);
    write_file(tp->path, pages, PVCP_FILE_SIZE);   /* a new inode */
    for (int i = 0; i < 50 && sec != 1700000100; i++) {
        g_usleep(100 * 1000);
        sec = qpci_io_readq(dev, bar, sec_off);
    }
    g_assert_cmpuint(sec, ==, 1700000100);
    wait_status(qts, "pvc", "valid");
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, >, gen);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 1);

    /* and it watches the new file: zeroed, it is noticed */
    memset(pages, 0, PVCP_FILE_SIZE);
    rewrite_in_place(tp->path, pages);
    wait_status(qts, "pvc", "no-helper");

    qpci_iounmap(dev, bar);
    end_test(qts, bus, dev, tp);
}

/* host - guest of an unscaled relation, from the published transform */
static uint64_t guest_to_host(const struct pvcp_offset_page *op)
{
    const struct pvcp_ref_xform *x = &op->ref_xform[PVCP_DOMAIN_UNSCALED];

    g_assert_cmphex(x->flags & PVCP_XFORM_F_VALID, ==, PVCP_XFORM_F_VALID);
    g_assert_cmphex(x->mult, ==, 1);
    g_assert_cmpuint(x->frac_bits, ==, 0);
    return x->host_ref - x->guest_ref + x->frac_ref;
}

static void test_relation_change_and_reset(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 5);
    struct pvcp_offset_page op;
    QDict *resp;

    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, ==, 1);
    g_assert_cmphex(guest_to_host(&op), ==, -5ull);

    /* the guest counter jumps (as after a guest WRMSR): generation bumps */
    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {'path': "
                     "'/machine/peripheral/pvc', 'property': "
                     "'x-qtest-offset', 'value': 1000}}");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, ==, 2);
    g_assert_cmphex(guest_to_host(&op), ==, -1000ull);
    g_assert_cmpuint(op.seq & 1, ==, 0);

    /* a system reset recomputes: nothing changed, nothing bumps */
    qtest_system_reset(qts);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, ==, 2);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmphex(op.magic, ==, PVCP_OFFSET_MAGIC);
    qtest_quit(qts);
    pages_free(tp);
}

static void test_two_instances(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults "
                                  "-device " PVC ",id=a,addr=%d.0,"
                                  "pages=%s,x-qtest-offset=1 "
                                  "-device " PVC ",id=b,addr=%d.0,"
                                  "pages=%s,x-qtest-offset=2",
                                  DEV_SLOT, tp->path, DEV_SLOT + 1, tp->path);
    struct pvcp_offset_page a, b;
    QDict *resp;

    read_offset_page(qts, DEV_SLOT, &a);
    read_offset_page(qts, DEV_SLOT + 1, &b);
    g_assert_cmphex(guest_to_host(&a), ==, -1ull);
    g_assert_cmphex(guest_to_host(&b), ==, -2ull);

    /* each has its own offset page */
    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {'path': "
                     "'/machine/peripheral/b', 'property': "
                     "'x-qtest-offset', 'value': 3}}");
    qobject_unref(resp);
    read_offset_page(qts, DEV_SLOT, &a);
    read_offset_page(qts, DEV_SLOT + 1, &b);
    g_assert_cmpuint(a.generation, ==, 1);
    g_assert_cmpuint(b.generation, ==, 2);
    g_assert_cmphex(guest_to_host(&b), ==, -3ull);
    qtest_quit(qts);
    pages_free(tp);
}

/* ---- the live page ------------------------------------------------- */

/* This process's own first [vvar] page: the kernel's, as QEMU's is. */
static const uint8_t *own_vvar(void)
{
    g_autofree char *maps = NULL;
    char *line;

    g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
    line = strstr(maps, " [vvar]\n");
    g_assert_nonnull(line);
    while (line > maps && line[-1] != '\n') {
        line--;
    }
    return (const uint8_t *)(uintptr_t)g_ascii_strtoull(line, NULL, 16);
}

/* the kernel writes the page while we read it: single, untorn loads */
static uint32_t ld32(const uint8_t *p, unsigned off)
{
    return qatomic_read((const uint32_t *)(p + off));
}

static uint64_t ld64(const uint8_t *p, unsigned off)
{
    return qatomic_read__nocheck((const uint64_t *)(p + off));
}

/* A clock from a live page copy, as the descriptor says to compute it. */
static struct pvcp_time live_clock(const uint8_t *page,
                                   const struct pvcp_live *d, int b, int clk,
                                   uint64_t tsc)
{
    const uint8_t *blk = page + d->block[b];
    struct pvcp_line line = {
        .cycle_last = ld64(blk, d->cycle_last),
        .max_cycles = d->max_cycles == PVCP_LIVE_NONE ? (1ull << 62) - 1
                                                      : ld64(blk,
                                                             d->max_cycles),
        .mult = ld32(blk, d->mult),
        .shift = ld32(blk, d->shift),
    };
    struct pvcp_base base = {
        ld64(blk, d->base[clk]), ld64(blk, d->base[clk] + 8)
    };

    return pvcp_clock_at(&line, &base, (d->flags & PVCP_LIVE_F_MUL_WRAPS) ?
                         PVCP_HOST_F_MUL_WRAPS : 0, tsc & PVCP_S64_MAX);
}

static void test_live_page(void)
{
    static const struct {
        clockid_t id;
        int block, clk;
    } clocks[] = {
        { CLOCK_REALTIME, 0, PVCP_HRES_REALTIME },
        { CLOCK_MONOTONIC, 0, PVCP_HRES_MONOTONIC },
        { CLOCK_BOOTTIME, 0, PVCP_HRES_BOOTTIME },
        { CLOCK_TAI, 0, PVCP_HRES_TAI },
        { CLOCK_MONOTONIC_RAW, 1, PVCP_LIVE_RAW },
    };
    TestPages *tp = pages_new_real();
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    const uint8_t *vvar = own_vvar();
    g_autofree uint8_t *mine = g_malloc(PVCP_PAGE_SIZE);
    g_autofree uint8_t *seen = g_malloc(PVCP_PAGE_SIZE);
    g_autofree char *st = qom_get_str(qts, "pvc", "live-page-status");
    struct pvcp_offset_page op;
    const struct pvcp_live *d = &op.live;
    bool same = false;

    g_assert_true(g_str_has_prefix(st, "in use ("));
    offset_page_read(dev, bar, &op);
    g_assert_cmphex(d->flags & PVCP_LIVE_F_VALID, ==, PVCP_LIVE_F_VALID);
    g_assert_cmpuint(d->version, ==, PVCP_LIVE_VERSION);
    g_assert_cmpint(d->clock_mode_tsc, ==, 1);
    g_assert_cmpuint(d->block[1] + d->base[PVCP_LIVE_RAW] + 16, <=,
                     PVCP_PAGE_SIZE);

    /*
     * The BAR shows the kernel's own page, not a copy: between two ticks
     * it is byte for byte this process's [vvar] page.
     */
    for (int i = 0; i < 100 && !same; i++) {
        uint32_t s1 = ld32(vvar, d->block[0] + d->seq);

        for (int j = 0; j < PVCP_PAGE_SIZE; j += 8) {
            *(uint64_t *)(mine + j) = ld64(vvar, j);
        }
        qpci_memread(dev, bar, PVCP_BAR_LIVE_PAGE, seen, PVCP_PAGE_SIZE);
        same = !(s1 & 1) && ld32(vvar, d->block[0] + d->seq) == s1 &&
               ld32(seen, d->block[0] + d->seq) == s1 &&
               !memcmp(mine, seen, PVCP_PAGE_SIZE);
    }
    g_assert_true(same);

    /* what the descriptor says to compute brackets clock_gettime() */
    for (size_t i = 0; i < G_N_ELEMENTS(clocks); i++) {
        struct timespec before, after;
        struct pvcp_time t;
        uint64_t tsc;
        uint32_t s;

        do {
            s = ld32(vvar, d->block[clocks[i].block] + d->seq);
            for (int j = 0; j < PVCP_PAGE_SIZE; j += 8) {
                *(uint64_t *)(mine + j) = ld64(vvar, j);
            }
            clock_gettime(clocks[i].id, &before);
            tsc = host_tsc();
            clock_gettime(clocks[i].id, &after);
        } while ((s & 1) || ld32(vvar, d->block[clocks[i].block] + d->seq) !=
                 s);
        t = live_clock(mine, d, clocks[i].block, clocks[i].clk, tsc);
        g_assert_cmpint(pvcp_time_cmp(t, (struct pvcp_time){
                            before.tv_sec, before.tv_nsec }), >=, 0);
        g_assert_cmpint(pvcp_time_cmp(t, (struct pvcp_time){
                            after.tv_sec, after.tv_nsec }), <=, 0);
    }
    end_test(qts, bus, dev, tp);
}

/* live-page=off, or a simulated host on page 0: no live page in use. */
static void test_live_page_unused(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    g_autofree uint8_t *seen = g_malloc(PVCP_PAGE_SIZE);
    g_autofree uint8_t *zero = g_malloc0(PVCP_PAGE_SIZE);
    struct pvcp_offset_page op;
    QTestState *qts;
    char *st;

    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,live-page=off", DEV_SLOT, tp->path);
    st = qom_get_str(qts, "pvc", "live-page-status");
    g_assert_cmpstr(st, ==, "not mapped: live-page=off");
    g_free(st);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmphex(op.live.flags, ==, 0);
    {
        QPCIBus *bus = qpci_new_pc(qts, NULL);
        QPCIDevice *dev = find_device(bus);
        QPCIBar bar = qpci_iomap(dev, 0, NULL);

        qpci_memread(dev, bar, PVCP_BAR_LIVE_PAGE, seen, PVCP_PAGE_SIZE);
        g_assert_cmpmem(seen, PVCP_PAGE_SIZE, zero, PVCP_PAGE_SIZE);
        g_free(dev);
        qpci_free_pc(bus);
    }
    qtest_quit(qts);

    /* page 0 of a simulated host: another host's clocks than this one */
    make_pages(pages);
    pages[0].flags |= PVCP_HOST_F_SIMULATED;
    pages[0].sim.mult = 1;
    pages[0].sim.flags = PVCP_XFORM_F_VALID;
    pvcp_page_seal(&pages[0]);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    st = qom_get_str(qts, "pvc", "live-page-status");
    g_assert_true(g_str_has_prefix(st, "mapped, not in use: host page 0 "
                                   "is a simulated host"));
    g_free(st);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmphex(op.live.flags, ==, PVCP_LIVE_F_MAPPED);

    /* the real host's pages again: in use, and the generation grew */
    make_real_host(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    for (int i = 0; i < 50; i++) {
        read_offset_page(qts, DEV_SLOT, &op);
        if (op.live.flags & PVCP_LIVE_F_VALID) {
            break;
        }
        g_usleep(100 * 1000);
    }
    g_assert_cmphex(op.live.flags & PVCP_LIVE_F_VALID, ==, PVCP_LIVE_F_VALID);
    g_assert_cmpuint(op.generation, >, 1);
    st = qom_get_str(qts, "pvc", "live-page-status");
    g_assert_true(g_str_has_prefix(st, "in use ("));
    g_free(st);
    qtest_quit(qts);

    /* pages of another host (a year off): mapped, not in use */
    qts = start_qemu(tp->path, 0);
    make_pages(pages);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    for (int i = 0; i < 50; i++) {
        read_offset_page(qts, DEV_SLOT, &op);
        if (!(op.live.flags & PVCP_LIVE_F_VALID)) {
            break;
        }
        g_usleep(100 * 1000);
    }
    g_assert_cmphex(op.live.flags, ==, PVCP_LIVE_F_MAPPED);
    st = qom_get_str(qts, "pvc", "live-page-status");
    g_assert_true(g_str_has_prefix(st, "mapped, not in use: host page 0's "
                                   "REALTIME or MONOTONIC_RAW is a second"));
    g_free(st);
    qtest_quit(qts);
    pages_free(tp);
}

/* ---- live migration ------------------------------------------------- */

/* A host at hz whose MONOTONIC reads mono_sec at the current TSC. */
static void make_host(struct pvcp_host_page *pages, uint64_t hz,
                      uint64_t mono_sec, uint64_t realtime_sec)
{
    make_pages(pages);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        struct pvcp_host_page *h = &pages[i];

        h->counter_hz = hz;
        h->hres.shift = h->raw.shift = 24;
        h->hres.mult = h->raw.mult = (uint32_t)((1000000000ull << 24) / hz);
        h->hres.max_cycles = h->raw.max_cycles = PVCP_S64_MAX / h->hres.mult;
        h->hres.cycle_last = h->raw.cycle_last = host_tsc();
        h->hres_base[PVCP_HRES_MONOTONIC].sec = mono_sec;
        h->hres_base[PVCP_HRES_BOOTTIME].sec = mono_sec;
        h->raw_base.sec = mono_sec;
        h->hres_base[PVCP_HRES_REALTIME].sec = realtime_sec;
        h->hres_base[PVCP_HRES_TAI].sec = realtime_sec + 37;
        h->tai_offset = 37;     /* the kernel's: an NTP daemon set it */
        pvcp_page_seal(h);
    }
}

/* The guest's MONOTONIC now, from BAR contents, as a reader computes it. */
static int64_t guest_mono_now(QTestState *qts, int slot)
{
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = qpci_device_find(bus, QPCI_DEVFN(slot, 0));
    struct pvcp_host_page h;
    struct pvcp_offset_page op;
    struct pvcp_time t;
    QPCIBar bar;
    uint64_t guest, host;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_memread(dev, bar, 0, &h, sizeof(h));
    offset_page_read(dev, bar, &op);
    qpci_iounmap(dev, bar);
    g_free(dev);
    qpci_free_pc(bus);

    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    /* the qtest guest counter: the host TSC plus the simulated offset */
    guest = host_tsc() + op.ref_xform[0].guest_ref - op.ref_xform[0].host_ref;
    host = pvcp_ref_xform_apply(&op.ref_xform[0], guest);
    t = pvcp_clock_at(&h.hres, &h.hres_base[PVCP_HRES_MONOTONIC], h.flags,
                      host & PVCP_S64_MAX);
    t = pvcp_time_add_offset(t, &op.mono_offset[PVCP_MONO_MONOTONIC]);
    return (int64_t)(t.sec * 1000000000ull + t.nsec);
}

static char *migrate_and_wait(QTestState *from, const char *uri)
{
    QDict *rsp;
    char *status = NULL;

    rsp = qtest_qmp(from, "{'execute': 'migrate-set-capabilities', "
                    "'arguments': {'capabilities': [{'capability': "
                    "'return-path', 'state': true}]}}");
    qobject_unref(rsp);
    rsp = qtest_qmp(from, "{'execute': 'migrate', 'arguments': {'uri': %s}}",
                    uri);
    g_assert_true(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    for (int i = 0; i < 600; i++) {
        QDict *r = qtest_qmp(from, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(r, "return");
        const char *st = qdict_haskey(ret, "status") ?
                         qdict_get_str(ret, "status") : "none";

        if (!strcmp(st, "completed") || !strcmp(st, "failed")) {
            status = g_strdup(st);
            qobject_unref(r);
            break;
        }
        qobject_unref(r);
        g_usleep(50 * 1000);
    }
    return status;
}

static char *run_state(QTestState *qts)
{
    QDict *r = qtest_qmp(qts, "{'execute': 'query-status'}");
    char *st = g_strdup(qdict_get_str(qdict_get_qdict(r, "return"),
                                      "status"));

    qobject_unref(r);
    return st;
}

/*
 * Wait until a QEMU started with -incoming file: runs.  A file loads as
 * QEMU starts, possibly before QMP's handshake, while no event is sent
 * yet: a wait for RESUME can hang (it did once, under load).
 */
static void wait_loaded(QTestState *qts)
{
    g_autofree char *rs = run_state(qts);

    for (int i = 0; i < 500 && !strcmp(rs, "inmigrate"); i++) {
        g_usleep(20 * 1000);
        g_free(rs);
        rs = run_state(qts);
    }
    g_assert_cmpstr(rs, ==, "running");
}

static void test_migration(void)
{
    TestPages *tp = pages_new();
    g_autofree char *pa = pages_extra_file(tp, "hostA");
    g_autofree char *pb = pages_extra_file(tp, "hostB");
    g_autofree char *none = pages_extra_file(tp, "none");
    g_autofree char *sock = pages_extra_file(tp, "mig.sock");
    g_autofree char *sock2 = pages_extra_file(tp, "mig2.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    g_autofree char *uri2 = g_strdup_printf("unix:%s", sock2);
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *from, *to, *bad;
    struct pvcp_offset_page op;
    uint64_t gen_from;
    int64_t before, after, t0;
    g_autofree char *st = NULL, *st2 = NULL, *rs = NULL;

    /* host A: 2.5 GHz, up 1000 s; host B: 3.0 GHz, up 9000 s, 1 s ahead */
    make_host(pages, 2500000000ull, 1000, 1700000000);
    write_file(pa, pages, PVCP_FILE_SIZE);
    make_host(pages, 3000000000ull, 9000, 1700000001);
    write_file(pb, pages, PVCP_FILE_SIZE);

    from = qtest_initf("-machine pc -nodefaults -device " PVC ","
                       "id=pvc,addr=%d.0,pages=%s,x-qtest-offset=77",
                       DEV_SLOT, pa);
    to = qtest_initf("-machine pc -nodefaults -device " PVC ","
                     "id=pvc,addr=%d.0,pages=%s,x-qtest-offset=99 "
                     "-incoming %s", DEV_SLOT, pb, uri);
    read_offset_page(from, DEV_SLOT, &op);
    gen_from = op.generation;
    before = guest_mono_now(from, DEV_SLOT);
    t0 = g_get_monotonic_time();

    st = migrate_and_wait(from, uri);
    g_assert_cmpstr(st, ==, "completed");
    qtest_qmp_eventwait(to, "RESUME");
    after = guest_mono_now(to, DEV_SLOT);
    read_offset_page(to, DEV_SLOT, &op);
    /* bumped, valid, and MONOTONIC continued: host B's 9000 s is hidden */
    g_assert_cmpuint(op.generation, >, gen_from);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmpint(after, >=, before);
    g_assert_cmpint(after - before, <=,
                    (g_get_monotonic_time() - t0) * 1000 + 50000000);
    g_assert_cmpuint(qom_get_u64(to, "pvc", "last-post-load-us"), <, 100000);

    /* to a destination without pages: fails, and the source runs on */
    bad = qtest_initf("-machine pc -nodefaults -device " PVC ","
                      "id=pvc,addr=%d.0,pages=%s,on-missing=degraded "
                      "-incoming %s", DEV_SLOT, none, uri2);
    before = guest_mono_now(to, DEV_SLOT);
    st2 = migrate_and_wait(to, uri2);
    g_assert_cmpstr(st2, ==, "failed");
    qtest_qmp_eventwait(to, "RESUME");
    rs = run_state(to);
    g_assert_cmpstr(rs, ==, "running");
    g_assert_cmpint(guest_mono_now(to, DEV_SLOT), >=, before);

    qtest_set_expected_status(bad, EXIT_FAILURE);     /* its load failed */
    qtest_quit(bad);
    qtest_quit(to);
    qtest_quit(from);
    pages_free(tp);
}

/* ---- the guest-to-host transform, as KVM would make it ------------ */

static void qom_set_u64(QTestState *qts, const char *id, const char *prop,
                        uint64_t value)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': "
                            "{'path': %s, 'property': %s, 'value': %llu}}",
                            path, prop, (unsigned long long)value);

    if (!qdict_haskey(resp, "return")) {
        g_test_message("qom-set %s %s=%" PRIu64 " failed", id, prop, value);
    }
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

/* xorshift64*: the same sequence on every run, from a printed seed */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static double rng_unit(void)
{
    return (rng() >> 11) * (1.0 / 9007199254740992.0);
}

static void rng_seed(void)
{
    const char *env = g_getenv("PVCLOCK_SEED");

    rng_state = env ? g_ascii_strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
    rng_state |= 1;
    g_test_message("seed 0x%" PRIx64 " (PVCLOCK_SEED)", rng_state);
}

/*
 * The guest counter at host count h as KVM's hardware runs it:
 * floor(h * ratio / 2^frac) truncated to 64 bits, plus offset (mod 2^64).
 * ratio 0: unscaled.  Also the first host count at which the guest
 * counter reads that value (what a correct inverse may return, or one
 * less: see struct pvcp_ref_xform).
 */
static uint64_t kvm_guest(uint64_t ratio, unsigned frac, uint64_t offset,
                          uint64_t h, uint64_t *first)
{
    pvcp_u128 q;

    if (!ratio) {
        *first = h;
        return h + offset;
    }
    q = ((pvcp_u128)h * ratio) >> frac;
    *first = (uint64_t)((((q << frac) + ratio - 1)) / ratio);
    return (uint64_t)q + offset;
}

/* A host count within the transform's domain around ref, for ratio r. */
static uint64_t pick_host(uint64_t ref, double r)
{
    double bound = MIN(ldexp(1, 62), ldexp(1, 63) / r) * 0.999;
    uint64_t kind = rng() % 10, mag;
    int64_t delta;

    if (kind < 4) {
        mag = rng() >> 32;                      /* seconds */
    } else if (kind < 7) {
        mag = rng() >> 20;                      /* hours */
    } else {
        mag = (uint64_t)(bound * pow(2, -40 * rng_unit()) * rng_unit());
    }
    delta = (rng() & 7) ? (int64_t)mag : -(int64_t)mag;
    if (delta < 0 && (uint64_t)-delta > ref) {
        delta = -delta;                         /* the TSC is not negative */
    }
    return ref + delta;
}

typedef struct XformCheck {
    uint64_t n, exact, behind_one, wrong;
    int64_t worst;
} XformCheck;

/* Map guest counters of n random host counts back through the page. */
static void check_xform(const struct pvcp_offset_page *op, uint64_t ratio,
                        unsigned frac, uint64_t offset, uint64_t n,
                        XformCheck *c)
{
    const struct pvcp_ref_xform *x = &op->ref_xform[PVCP_DOMAIN_UNSCALED];
    double r = ratio ? ldexp((double)ratio, -(int)frac) : 1;
    /* the reference is the host count the device used */
    uint64_t ref = x->host_ref;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = pick_host(ref, r), first;
        uint64_t g = kvm_guest(ratio, frac, offset, h, &first);
        int64_t err = (int64_t)(first - pvcp_ref_xform_apply(x, g));

        c->n++;
        if (err == 0) {
            c->exact++;
        } else if (err == 1) {
            c->behind_one++;
        } else {
            if (!c->wrong++) {
                g_test_message("ratio 0x%" PRIx64 "/2^%u offset 0x%" PRIx64
                               " host 0x%" PRIx64 " guest 0x%" PRIx64
                               ": %" PRId64 " counts off", ratio, frac,
                               offset, h, g, err);
            }
            if (err < 0 ? -err > c->worst : err > c->worst) {
                c->worst = err < 0 ? -err : err;
            }
        }
    }
}

/*
 * Over the whole input domain: ratios from 0.2 to 5 in both of KVM's
 * formats (32 and 48 fraction bits), offsets anywhere in 2^64 (a third
 * of them as KVM makes them for a guest whose TSC starts near 0, i.e.
 * wrapped), host counts from next to the reference out to 2^62 away.
 * Every guest counter value must map to the first host count at which
 * the guest reads it, or one before: never ahead, never further off.
 */
static void test_relation_property(void)
{
    static const unsigned fracs[] = { 32, 48 };
    const uint64_t configs = g_test_slow() ? 2000 : 500, per = 20000;
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 0);
    struct pvcp_offset_page op;

    rng_seed();
    for (size_t f = 0; f < G_N_ELEMENTS(fracs); f++) {
        XformCheck c = { 0 };

        qom_set_u64(qts, "pvc", "x-qtest-frac-bits", fracs[f]);
        for (uint64_t k = 0; k < configs; k++) {
            double r = exp(log(0.2) + rng_unit() * (log(5) - log(0.2)));
            uint64_t ratio = (uint64_t)ldexp(r, fracs[f]) | 1, offset;
            uint64_t first;

            if (k == 0 && fracs[f] == 32) {
                /* the report's case: 1.2 in 32.32, offset 2^64 - 10^12 */
                ratio = 5153960755ull;
                offset = -1000000000000ull;
            } else if (k % 3 == 0) {
                offset = rng();
            } else if (k % 3 == 1) {
                /* KVM: the guest's TSC started near 0 a while ago */
                offset = (rng() >> 24) - kvm_guest(ratio, fracs[f], 0,
                                                   host_tsc(), &first);
            } else {
                offset = rng() >> (rng() % 64);
            }
            qom_set_u64(qts, "pvc", "x-qtest-scale", ratio);
            qom_set_u64(qts, "pvc", "x-qtest-offset", offset);
            read_offset_page(qts, DEV_SLOT, &op);
            g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
            g_assert_cmphex(op.ref_xform[0].flags & PVCP_XFORM_F_VALID, ==,
                            PVCP_XFORM_F_VALID);
            g_assert_cmpuint(op.ref_xform[0].frac_bits, <=, 64);
            check_xform(&op, ratio, fracs[f], offset, per, &c);
        }
        g_test_message("%u fraction bits: %" PRIu64 " triples, %" PRIu64
                       " exact, %" PRIu64 " one count behind, %" PRIu64
                       " wrong (worst %" PRId64 ")", fracs[f], c.n, c.exact,
                       c.behind_one, c.wrong, c.worst);
        g_assert_cmpuint(c.n, >=, 10000000);
        g_assert_cmpuint(c.wrong, ==, 0);
    }
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * KVM's rules, written here from kvm_set_tsc_khz(), set_tsc_khz() and
 * kvm_scale_tsc() (Linux arch/x86/kvm/x86.c): what the guest TSC does
 * when a guest asks for user_khz on a host of host_khz.
 */
typedef enum { KVM_UNSCALED, KVM_SCALED, KVM_CATCHUP } KvmMode;

static KvmMode kvm_model(uint32_t host_khz, uint32_t user_khz, bool control,
                         unsigned frac, uint32_t tol_ppm, uint64_t *ratio)
{
    uint64_t lo = (uint64_t)host_khz * (1000000 - tol_ppm) / 1000000;
    uint64_t hi = (uint64_t)host_khz * (1000000 + tol_ppm) / 1000000;
    uint64_t max = frac == 48 ? UINT64_MAX : (1ull << 40) - 1;

    *ratio = 0;
    if (user_khz >= lo && user_khz <= hi) {
        return KVM_UNSCALED;            /* within the tolerance */
    }
    if (!control) {                     /* no hardware scaling */
        return user_khz > host_khz ? KVM_CATCHUP : KVM_UNSCALED;
    }
    *ratio = (uint64_t)(((pvcp_u128)1 << frac) * user_khz / host_khz);
    if (*ratio == 0 || *ratio >= max) {
        *ratio = 0;
        return KVM_UNSCALED;            /* refused: the default ratio */
    }
    return *ratio == 1ull << frac ? KVM_UNSCALED : KVM_SCALED;
}

/*
 * The device under a simulated KVM, scaled up and down, inside and just
 * outside the tolerance, without hardware scaling: the published
 * relation is exact (the same check as above against this file's
 * model), or the status is unreliable.  Never wrong and valid.
 */
static void test_kvm_model(void)
{
    static const struct {
        uint32_t guest_khz;
        bool control;
        unsigned frac;
        uint32_t tol;
        KvmMode want;
    } cases[] = {
        { 2500000, true, 48, 250, KVM_UNSCALED },   /* the same rate */
        { 2500500, true, 48, 250, KVM_UNSCALED },   /* +200 ppm: tolerated */
        { 2499376, true, 32, 250, KVM_UNSCALED },   /* -249.6 ppm */
        { 2500627, true, 48, 250, KVM_SCALED },     /* +250.8 ppm */
        { 2499373, true, 32, 250, KVM_SCALED },     /* -250.8 ppm */
        { 3000000, true, 48, 250, KVM_SCALED },     /* up, Intel */
        { 3000000, true, 32, 250, KVM_SCALED },     /* up, AMD */
        { 2000000, true, 48, 250, KVM_SCALED },     /* down, Intel */
        { 1100000, true, 32, 250, KVM_SCALED },     /* down, AMD */
        { 2500001, true, 48, 0, KVM_SCALED },       /* no tolerance at all */
        { 2502000, true, 32, 1000, KVM_UNSCALED },  /* a wider one */
        { 3000000, false, 48, 250, KVM_CATCHUP },   /* faster, no scaling */
        { 2500700, false, 32, 250, KVM_CATCHUP },   /* just outside */
        { 2000000, false, 48, 250, KVM_UNSCALED },  /* slower: refused */
    };
    const uint32_t host_khz = 2500000;
    const uint64_t offset = -123456789012345ull;
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults -device "
                                  "" PVC ",id=pvc,addr=%d.0,pages=%s,"
                                  "x-qtest-host-khz=%u,x-qtest-guest-khz=%u,"
                                  "x-qtest-offset=%" PRIu64, DEV_SLOT,
                                  tp->path, host_khz, host_khz, offset);
    struct pvcp_offset_page op;

    rng_seed();
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t ratio;
        KvmMode mode = kvm_model(host_khz, cases[i].guest_khz,
                                 cases[i].control, cases[i].frac,
                                 cases[i].tol, &ratio);
        XformCheck c = { 0 };
        g_autofree char *st = NULL, *rel = NULL;

        g_assert_cmpint(mode, ==, cases[i].want);   /* the model itself */
        qom_set_u64(qts, "pvc", "x-qtest-frac-bits", cases[i].frac);
        qom_set_u64(qts, "pvc", "x-qtest-tolerance-ppm", cases[i].tol);
        qom_set_u64(qts, "pvc", "x-qtest-tsc-control", cases[i].control);
        qom_set_u64(qts, "pvc", "x-qtest-guest-khz", cases[i].guest_khz);
        read_offset_page(qts, DEV_SLOT, &op);
        st = qom_get_str(qts, "pvc", "status");
        rel = qom_get_str(qts, "pvc", "relation");
        g_test_message("guest %u kHz on %u, hardware scaling %d, %u bits, "
                       "%u ppm: %s (%s)", cases[i].guest_khz, host_khz,
                       cases[i].control, cases[i].frac, cases[i].tol, st,
                       rel);
        if (mode == KVM_CATCHUP) {
            g_assert_cmpuint(op.status, ==, PVCP_STATUS_UNRELIABLE);
            g_assert_cmphex(op.ref_xform[0].flags & PVCP_XFORM_F_VALID, ==,
                            0);
            continue;
        }
        g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
        /* the rate the counter really runs at, not the one asked for */
        g_assert_cmpuint(op.guest_counter_hz, ==,
                         mode == KVM_UNSCALED ? host_khz * 1000ull :
                         (uint64_t)(((pvcp_u128)host_khz * 1000 * ratio) >>
                                    cases[i].frac));
        g_assert_cmphex(op.relation_flags &
                        PVCP_RELATION_F_TSC_WRITES_UNSEEN, !=, 0);
        check_xform(&op, ratio, cases[i].frac, offset, 100000, &c);
        if (mode == KVM_UNSCALED) {
            g_assert_cmpuint(c.exact, ==, c.n);
        }
        g_assert_cmpuint(c.wrong, ==, 0);
    }
    qtest_quit(qts);
    pages_free(tp);
}

/* The host page's raw clock at host count h (h at or after cycle_last). */
static uint64_t page_raw_ns(const struct pvcp_host_page *h, uint64_t tsc)
{
    struct pvcp_time t = pvcp_clock_at(&h->raw, &h->raw_base, h->flags,
                                       tsc & PVCP_S64_MAX);

    return t.sec * 1000000000ull + t.nsec;
}

/*
 * The scaled domain (host pages 2 and 3 count host MONOTONIC_RAW in ns):
 * the offset page's second transform takes the guest counter there, for
 * an unscaled and a scaled, wrapped relation: never ahead of the host's
 * raw clock at the first host count of that guest value, at most 1 ns
 * behind.  A simulated host has no scaled pages: no transform either.
 */
static void test_scaled_domain(void)
{
    static const struct {
        uint64_t ratio, offset;
    } rel[] = {
        { 0, 12345 },
        { 5153960755ull, -1000000000000ull },   /* 1.2, wrapped */
        { 3435973837ull, 987654321ull },        /* 0.8 */
    };
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    struct pvcp_offset_page op;
    QTestState *qts;

    make_host(pages, 2500000000ull, 1000, 1700000000);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    rng_seed();
    for (size_t i = 0; i < G_N_ELEMENTS(rel); i++) {
        const struct pvcp_ref_xform *x = &op.ref_xform[PVCP_DOMAIN_SCALED];
        uint64_t behind = 0;

        qom_set_u64(qts, "pvc", "x-qtest-scale", rel[i].ratio);
        qom_set_u64(qts, "pvc", "x-qtest-offset", rel[i].offset);
        read_offset_page(qts, DEV_SLOT, &op);
        g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
        g_assert_cmphex(x->flags & PVCP_XFORM_F_VALID, ==,
                        PVCP_XFORM_F_VALID);
        for (int k = 0; k < 200000; k++) {
            uint64_t h = pages[0].raw.cycle_last + (rng() >> (20 + k % 24));
            uint64_t first, g = kvm_guest(rel[i].ratio, 32, rel[i].offset, h,
                                          &first);
            uint64_t want = page_raw_ns(&pages[0], first);
            uint64_t got = pvcp_ref_xform_apply(x, g);

            if (got > want || want - got > 1) {
                g_test_message("relation %zu host 0x%" PRIx64 ": raw %"
                               PRIu64 " ns, transform %" PRIu64, i, first,
                               want, got);
            }
            g_assert_cmpuint(got, <=, want);
            g_assert_cmpuint(want - got, <=, 1);
            behind += want - got;
        }
        g_test_message("relation %zu: 200000 values, %" PRIu64 " 1 ns "
                       "behind, the rest exact", i, behind);
    }
    qtest_quit(qts);

    /* simulated: the scaled pages are not the simulated host's */
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].flags |= PVCP_HOST_F_SIMULATED;
        pages[i].sim.mult = 1;
        pages[i].sim.flags = PVCP_XFORM_F_VALID;
        pvcp_page_seal(&pages[i]);
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmphex(op.ref_xform[1].flags & PVCP_XFORM_F_VALID, ==, 0);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * Two hosts (pages files hostA and hostB at hz_a and hz_b, whose helpers
 * counted dis_a and dis_b disruptions), a source QEMU on A and a
 * destination on B waiting for the stream (paused after it with -S if
 * paused).  Returns the migration URI.
 */
static char *start_pair(TestPages *tp, uint64_t hz_a, uint64_t dis_a,
                        uint64_t hz_b, uint64_t dis_b, bool paused,
                        QTestState **from, QTestState **to)
{
    g_autofree char *pa = pages_extra_file(tp, "hostA");
    g_autofree char *pb = pages_extra_file(tp, "hostB");
    g_autofree char *sock = pages_extra_file(tp, "mig.sock");
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    char *uri = g_strdup_printf("unix:%s", sock);

    for (int side = 0; side < 2; side++) {
        make_host(pages, side ? hz_b : hz_a, side ? 9000 : 1000, 1700000000);
        for (int i = 0; i < PVCP_HOST_PAGES; i++) {
            pages[i].disruptions = side ? dis_b : dis_a;
            pvcp_page_seal(&pages[i]);
        }
        write_file(side ? pb : pa, pages, PVCP_FILE_SIZE);
    }
    *from = qtest_initf("-machine pc -nodefaults -device " PVC ","
                        "id=pvc,addr=%d.0,pages=%s", DEV_SLOT, pa);
    *to = qtest_initf("-machine pc -nodefaults %s -device " PVC ","
                      "id=pvc,addr=%d.0,pages=%s -incoming %s",
                      paused ? "-S" : "", DEV_SLOT, pb, uri);
    return uri;
}

/*
 * A guest's disruption count is the offset page's generation plus the
 * host page's disruptions; across a migration to a host whose helper
 * counted fewer, both must still grow (5 + 3 before must not become
 * 7 + 1 after).
 */
static void test_disruptions_grow(void)
{
    TestPages *tp = pages_new();
    g_autofree char *st = NULL;
    struct pvcp_offset_page a, b;
    QTestState *from, *to;
    g_autofree char *uri = start_pair(tp, 2500000000ull, 3, 3000000000ull, 1,
                                      false, &from, &to);

    for (int i = 1; i <= 4; i++) {
        qom_set_u64(from, "pvc", "x-qtest-offset", i);  /* generation 5 */
    }
    read_offset_page(from, DEV_SLOT, &a);
    g_assert_cmpuint(a.generation, ==, 5);
    st = migrate_and_wait(from, uri);
    g_assert_cmpstr(st, ==, "completed");
    qtest_qmp_eventwait(to, "RESUME");
    read_offset_page(to, DEV_SLOT, &b);
    g_test_message("before %" PRIu64 " + 3, after %" PRIu64 " + 1",
                   a.generation, b.generation);
    g_assert_cmpuint(b.status, ==, PVCP_STATUS_VALID);
    g_assert_cmpuint(b.generation, >, a.generation);
    g_assert_cmpuint(b.generation + 1, >, a.generation + 3);
    qtest_quit(to);
    qtest_quit(from);
    pages_free(tp);
}

/*
 * The stale limit is stale_after host counts: at 4.5 GHz that is more
 * than 2^32 counts per second, which a 32-bit divisor would cut to a
 * limit 22 times too long.
 */
static void test_stale_limit_fast_counter(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts;

    make_pages(pages);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].counter_hz = 4500000000ull;
        pages[i].stale_after = 4500000000ull;           /* 1 s */
        pages[i].heartbeat_ns = g_get_monotonic_time() * 1000 -
                                3000000000ull;          /* 3 s ago */
        pvcp_page_seal(&pages[i]);
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    wait_status(qts, "pvc", "stale");
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * A helper that died in the middle of a write leaves page 0's seq odd
 * for good: the device calls the pages unusable, and its reads of them
 * (with the BQL held) give up after a bounded time, so QMP stays prompt.
 */
static void test_stuck_writer(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts;
    int64_t worst = 0;

    make_pages(pages);
    pages[0].seq = 3;
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = start_qemu(tp->path, 0);
    wait_status(qts, "pvc", "no-helper");
    for (int i = 0; i < 20; i++) {
        int64_t t0 = g_get_monotonic_time();
        g_autofree char *st = qom_get_str(qts, "pvc", "status");

        worst = MAX(worst, g_get_monotonic_time() - t0);
        g_assert_cmpstr(st, ==, "no-helper");
        g_usleep(50 * 1000);
    }
    g_test_message("slowest status query with a stuck seq: %" PRId64 " us",
                   worst);
    g_assert_cmpint(worst, <, 500000);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * A destination kept paused before 'cont' (libvirt's way): the page
 * says invalid until the VM starts, and with downtime=exclude the
 * guest's MONOTONIC does not advance while the destination waits.
 */
static void test_paused_destination(void)
{
    TestPages *tp = pages_new();
    g_autofree char *st = NULL, *rs = NULL;
    struct pvcp_offset_page op;
    QTestState *from, *to;
    int64_t before, after, t0, t1;
    QDict *rsp;
    g_autofree char *uri = start_pair(tp, 2500000000ull, 0, 2500000000ull, 0,
                                      true, &from, &to);

    before = guest_mono_now(from, DEV_SLOT);
    t0 = g_get_monotonic_time();
    st = migrate_and_wait(from, uri);
    g_assert_cmpstr(st, ==, "completed");
    for (int i = 0; i < 100; i++) {
        g_free(rs);
        rs = run_state(to);
        if (strcmp(rs, "inmigrate")) {
            break;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpstr(rs, ==, "paused");
    read_offset_page(to, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_INVALID);
    g_usleep(2 * G_USEC_PER_SEC);
    read_offset_page(to, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_INVALID);
    rsp = qtest_qmp(to, "{'execute': 'cont'}");
    qobject_unref(rsp);
    qtest_qmp_eventwait(to, "RESUME");
    after = guest_mono_now(to, DEV_SLOT);
    t1 = g_get_monotonic_time();
    g_test_message("guest MONOTONIC +%" PRId64 " us over %" PRId64 " us "
                   "with the destination paused 2 s", (after - before) / 1000,
                   t1 - t0);
    g_assert_cmpint(after, >=, before);
    g_assert_cmpint(after - before, <, (t1 - t0) * 1000 - 1500000000ll);
    qtest_quit(to);
    qtest_quit(from);
    pages_free(tp);
}

/* ---- the disruption interrupt (BAR2) -------------------------------- */

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

/* Wait up to 3 s for the device's count to reach want, then check it. */
static void wait_raised(QTestState *qts, uint64_t want)
{
    for (int i = 0; i < 30 &&
         qom_get_u64(qts, "pvc", "interrupts-raised") < want; i++) {
        g_usleep(100 * 1000);
    }
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
    g_usleep(300 * 1000);
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
    g_usleep(300 * 1000);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 1);
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==,
                    PVCP_IRQ_DISRUPTION);
    g_assert_false(intx_up(dev));
    g_assert_cmphex(qpci_io_readl(dev, regs, PVCP_REG_ISR), ==, 0);

    /* steady state: three watch rounds, nothing */
    g_usleep(3 * G_USEC_PER_SEC);
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

    /* steady state: nothing */
    qtest_writel(qts, MSI_ADDR, 0);
    g_usleep(3 * G_USEC_PER_SEC);
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
    g_usleep(2500 * 1000);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "interrupts-raised"), ==, 1);

    g_assert_cmpint(unlink(tp->path), ==, 0);
    write_file(tp->path, pages, PVCP_FILE_SIZE);   /* a new inode */
    wait_raised(qts, 2);
    g_usleep(2500 * 1000);
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
    g_usleep(2 * G_USEC_PER_SEC);       /* paused: nothing */
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
    g_usleep(3 * G_USEC_PER_SEC);       /* steady state there: nothing */
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
    wait_loaded(to);
    g_usleep(300 * 1000);               /* the start's check: nothing new */
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

/* ---- vmclock=on: QEMU's VMClock page, filled ------------------------ */

#define VMC_ADDR        0xfeffb000ull
#define VMC_LEN         0x70

/* The fields of Linux 7.x's struct vmclock_abi the tests look at. */
typedef struct Vmc {
    uint32_t magic, size;
    uint16_t version;
    uint8_t counter_id, time_type;
    uint32_t seq;
    uint64_t marker, flags;
    uint8_t status, smearing;
    int16_t tai_offset;
    uint8_t leap, shift;
    uint64_t counter, period, period_est, period_max;
    uint64_t sec, frac, est_ns, max_ns, generation;
} Vmc;

/* A consistent copy of the page, as a guest reader takes it. */
static void vmc_read(QTestState *qts, Vmc *v)
{
    uint8_t b[VMC_LEN];
    uint32_t seq2;

    for (int tries = 0; tries < 1000; tries++) {
        qtest_memread(qts, VMC_ADDR, b, sizeof(b));
        memcpy(&v->seq, b + 0x0c, 4);
        seq2 = qtest_readl(qts, VMC_ADDR + 0x0c);
        if (!(v->seq & 1) && seq2 == v->seq) {
            break;
        }
    }
    g_assert_false(v->seq & 1);
    memcpy(&v->magic, b, 4);
    memcpy(&v->size, b + 4, 4);
    memcpy(&v->version, b + 8, 2);
    v->counter_id = b[0x0a];
    v->time_type = b[0x0b];
    memcpy(&v->marker, b + 0x10, 8);
    memcpy(&v->flags, b + 0x18, 8);
    v->status = b[0x22];
    v->smearing = b[0x23];
    memcpy(&v->tai_offset, b + 0x24, 2);
    v->leap = b[0x26];
    v->shift = b[0x27];
    memcpy(&v->counter, b + 0x28, 8);
    memcpy(&v->period, b + 0x30, 8);
    memcpy(&v->period_est, b + 0x38, 8);
    memcpy(&v->period_max, b + 0x40, 8);
    memcpy(&v->sec, b + 0x48, 8);
    memcpy(&v->frac, b + 0x50, 8);
    memcpy(&v->est_ns, b + 0x58, 8);
    memcpy(&v->max_ns, b + 0x60, 8);
    memcpy(&v->generation, b + 0x68, 8);
}

/* The page's period of one guest count, in ns. */
static double vmc_period_ns(const Vmc *v)
{
    return ldexp((double)v->period, -(64 + v->shift)) * 1e9;
}

/* The time a reader of the page computes at guest count g, 2^-64 s. */
static pvcp_u128 vmc_at(const Vmc *v, uint64_t g)
{
    return ((pvcp_u128)v->sec << 64) + v->frac +
           (((pvcp_u128)(g - v->counter) * v->period) >> v->shift);
}

/* The same in ns. */
static pvcp_u128 vmc_ns(const Vmc *v, uint64_t g)
{
    pvcp_u128 t = vmc_at(v, g);

    return (t >> 64) * 1000000000ull +
           (((t & UINT64_MAX) * (pvcp_u128)1000000000ull) >> 64);
}

/*
 * TAI at guest count g from the BAR, as libpvclock computes it, in ns:
 * the transform gives the page counter, a simulated host's too (1.7).
 */
static pvcp_u128 bar_tai_ns(const struct pvcp_host_page *h,
                            const struct pvcp_offset_page *op, uint64_t g)
{
    uint64_t host = pvcp_ref_xform_apply(&op->ref_xform[0], g);
    struct pvcp_time t;

    t = pvcp_clock_at(&h->hres, &h->hres_base[PVCP_HRES_TAI], h->flags,
                      host & PVCP_S64_MAX);
    return (pvcp_u128)t.sec * 1000000000ull + t.nsec;
}

static void read_host_page0(QTestState *qts, struct pvcp_host_page *h)
{
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = qpci_device_find(bus, DEV_DEVFN);
    QPCIBar bar;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar = qpci_iomap(dev, 0, NULL);
    qpci_memread(dev, bar, 0, h, sizeof(*h));
    qpci_iounmap(dev, bar);
    g_free(dev);
    qpci_free_pc(bus);
}

/*
 * The page against the BAR at n guest counts from counter_value on, up
 * to 2^40 counts (minutes) later: within tol_ns either way.  Returns the
 * largest difference seen.
 */
static int64_t vmc_check_against_bar(QTestState *qts, const Vmc *v,
                                     uint64_t n, int64_t tol_ns)
{
    struct pvcp_host_page h;
    struct pvcp_offset_page op;
    int64_t worst = 0;

    read_host_page0(qts, &h);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t g = v->counter + (i ? rng() >> (24 + rng() % 40) : 0);
        int64_t d = (int64_t)(vmc_ns(v, g) - bar_tai_ns(&h, &op, g));

        if (d < -tol_ns || d > tol_ns) {
            g_test_message("guest count 0x%" PRIx64 " (+%" PRIu64 "): VMClock"
                           " %" PRId64 " ns from the BAR", g, g - v->counter,
                           d);
        }
        g_assert_cmpint(d, >=, -tol_ns);
        g_assert_cmpint(d, <=, tol_ns);
        worst = MAX(worst, d < 0 ? -d : d);
    }
    return worst;
}

static TestPages *pages_new_tai(uint64_t hz, int tai_offset)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    make_host(pages, hz, 1000, 1700000000);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].tai_offset = tai_offset;
        pages[i].hres_base[PVCP_HRES_TAI].sec = 1700000000 + tai_offset;
        pages[i].esterror_ns = 20000;
        pages[i].maxerror_ns = 300000;
        pvcp_page_seal(&pages[i]);
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

static void wait_vmc_status(QTestState *qts, uint8_t want, Vmc *v)
{
    for (int i = 0; i < 200; i++) {
        vmc_read(qts, v);
        if (v->status == want) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(v->status, ==, want);
}

/*
 * What a guest's ptp_vmclock reads: the identity and the fields Linux
 * checks at probe, TAI with the offset in its sign, the host's errors
 * plus the device's own bound, and a line that gives the BAR's TAI to
 * within a nanosecond for minutes ahead of counter_value, which never
 * lies ahead of the guest's counter.  The SSDT of the notification is
 * in the ACPI tables.
 */
static void test_vmclock_filled(void)
{
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    QTestState *qts = qtest_initf("-machine pc -nodefaults -device " PVC
                                  ",id=pvc,addr=%d.0,pages=%s,vmclock=on,"
                                  "x-qtest-offset=%" PRIu64, DEV_SLOT,
                                  tp->path, (uint64_t)-5000000000000ull);
    QFWCFG *fw = pc_fw_cfg_init(qts);
    g_autofree uint8_t *acpi = g_malloc(256 * 1024);
    double slope;
    size_t len;
    Vmc v;
    uint64_t g_after;

    rng_seed();
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2 /* synchronised */, &v);
    g_after = host_tsc() - 5000000000000ull;
    g_assert_cmphex(v.magic, ==, 0x4b4c4356);
    g_assert_cmpuint(v.size, ==, 4096);
    g_assert_cmpuint(v.version, ==, 1);
    g_assert_cmpuint(v.counter_id, ==, 1);          /* x86 TSC */
    g_assert_cmpuint(v.time_type, ==, 1);           /* TAI */
    g_assert_cmpint(v.tai_offset, ==, -37);         /* as ptp_vmclock uses */
    g_assert_cmpuint(v.leap, ==, 0);
    g_assert_cmpuint(v.smearing, ==, 0);
    /* TAI offset, the errors, monotonic, generation counter, notification */
    g_assert_cmphex(v.flags, ==,
                    0x1 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200);
    g_assert_cmpuint(v.est_ns, ==, 20000);
    /* the host's 300 us plus one watch round at 500 ppm */
    g_assert_cmpuint(v.max_ns, ==, 300000 + 500000);
    g_assert_cmpuint(v.period_max, ==, v.period / 2000);
    g_assert_cmpuint(v.counter, <=, g_after);
    g_assert_cmpuint(g_after - v.counter, <, 60 * 2500000000ull);
    /* the line's slope, mult / 2^24 ns per count (0.4 at 2.5 GHz) */
    slope = ldexp((double)((1000000000ull << 24) / 2500000000ull), -24);
    g_assert_cmpfloat(fabs(vmc_period_ns(&v) / slope - 1), <, 1 / 1e12);
    g_test_message("VMClock vs BAR: worst %" PRId64 " ns",
                   vmc_check_against_bar(qts, &v, 100000, 1));
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "vmclock-notifies"), >=, 1);

    len = qfw_cfg_get_file(fw, "etc/acpi/tables", acpi, 256 * 1024);
    g_assert_cmpuint(len, >, 0);
    g_assert_nonnull(memmem(acpi, len, "PVCLKGPE", 8));
    g_assert_nonnull(memmem(acpi, len, "_E00", 4));
    g_assert_nonnull(memmem(acpi, len, "AMZNC10C", 8));
    pc_fw_cfg_uninit(fw);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * Pages of a host whose kernel keeps TAI - UTC kernel_tai (CLOCK_TAI is
 * REALTIME plus it: UTC when 0) and whose helper knows known_tai (flags:
 * PVCP_HOST_F_TAI_KNOWN and maybe _FROM_LIST; 0 for a helper that knows
 * nothing, as one before ABI 1.5 on such a host).
 */
static TestPages *pages_new_known_tai(int kernel_tai, int known_tai,
                                      uint64_t flags)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);

    make_host(pages, 2500000000ull, 1000, 1700000000);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pages[i].tai_offset = kernel_tai;
        pages[i].hres_base[PVCP_HRES_TAI].sec = 1700000000 + kernel_tai;
        pages[i].known_tai_offset = known_tai;
        pages[i].flags |= flags;
        pvcp_page_seal(&pages[i]);
    }
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    return tp;
}

/* The page's time minus the BAR's CLOCK_TAI at a few counts, in ns. */
static void vmc_assert_tai_ahead(QTestState *qts, const Vmc *v,
                                 int64_t ahead_ns)
{
    struct pvcp_host_page h;
    struct pvcp_offset_page op;

    read_host_page0(qts, &h);
    read_offset_page(qts, DEV_SLOT, &op);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t g = v->counter + i * 1000003;
        int64_t d = (int64_t)(vmc_ns(v, g) - bar_tai_ns(&h, &op, g));

        g_assert_cmpint(d, >=, ahead_ns - 1);
        g_assert_cmpint(d, <=, ahead_ns + 1);
    }
}

static const struct {
    const char *name;
    int kernel, known;
    uint64_t flags;
    bool valid;
    int64_t ahead_s;            /* the page's TAI minus the kernel's */
} vmclock_tai_cases[] = {
    /* no NTP daemon set the kernel's, no leap list: nobody knows */
    { "unknown", 0, 0, 0, false, 0 },
    /* the same host, the helper read a current leap-seconds.list */
    { "from-list", 0, 37, PVCP_HOST_F_TAI_KNOWN | PVCP_HOST_F_TAI_FROM_LIST,
      true, 37 },
    /* an NTP daemon set the kernel's */
    { "kernel", 37, 37, PVCP_HOST_F_TAI_KNOWN, true, 0 },
    /* a helper before ABI 1.5 on such a host: the kernel's, not 0 */
    { "kernel-old-helper", 37, 0, 0, true, 0 },
};

/*
 * VMClock says TAI only when the host knows TAI - UTC.  The page's
 * time_type is TAI: with the kernel's offset 0 its CLOCK_TAI is UTC,
 * and ptp_vmclock would serve UTC as TAI, 37 s off, to chronyd's 'tai'
 * refclock or phc2sys.  Unknown: flag bit 0 (TAI offset valid) clear
 * and the clock unreliable (ptp_vmclock returns an error, no time).
 * Known from the leap list: true TAI, the kernel's CLOCK_TAI + 37 s.
 */
static void test_vmclock_tai(const void *opaque)
{
    int i = (int)(intptr_t)opaque;
    TestPages *tp = pages_new_known_tai(vmclock_tai_cases[i].kernel,
                                        vmclock_tai_cases[i].known,
                                        vmclock_tai_cases[i].flags);
    QTestState *qts = qtest_initf("-machine pc -nodefaults -device " PVC
                                  ",id=pvc,addr=%d.0,pages=%s,vmclock=on",
                                  DEV_SLOT, tp->path);
    Vmc v;

    wait_status(qts, "pvc", "valid");
    if (!vmclock_tai_cases[i].valid) {
        g_usleep(200 * 1000);   /* past any rewrite the status caused */
        vmc_read(qts, &v);
        g_assert_cmphex(v.flags & 0x1, ==, 0);
        g_assert_cmpuint(v.status, ==, 4);          /* unreliable */
        g_assert_cmpint(v.tai_offset, ==, 0);
    } else {
        wait_vmc_status(qts, 2, &v);
        g_assert_cmphex(v.flags & 0x1, ==, 0x1);
        g_assert_cmpint(v.tai_offset, ==, -37);     /* as ptp_vmclock uses */
        vmc_assert_tai_ahead(qts, &v,
                             vmclock_tai_cases[i].ahead_s * 1000000000ll);
    }
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * The offset page's transform on a simulated host (ABI 1.7): the page's
 * sim composed in, so that the guest's transform of a guest count is,
 * bit for bit, sim of the host TSC at that count (here guest = host TSC,
 * x-qtest-offset 0), anywhere within 2^40 counts; and without
 * PVCP_XFORM_F_VALID, which readers of 1.3-1.6 (that apply sim once
 * more) require.
 */
static void check_sim_composed(QTestState *qts, const struct pvcp_xform *sim)
{
    struct pvcp_offset_page op;
    const struct pvcp_ref_xform *x = &op.ref_xform[PVCP_DOMAIN_UNSCALED];
    uint64_t now = host_tsc();

    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmphex(x->flags, ==, PVCP_XFORM_F_PAGE_COUNTER);
    for (int i = 0; i < 100000; i++) {
        uint64_t d = rng() >> (24 + rng() % 40);
        uint64_t tsc = i == 0 ? now : rng() % 2 ? now + d : now - d;

        g_assert_cmphex(pvcp_ref_xform_apply(x, tsc), ==,
                        pvcp_xform_apply(sim, tsc));
    }
}

/*
 * The same over KVM-scaled relations (both ratio formats, offsets
 * anywhere): never ahead of sim at the first host count at which the
 * guest reads a value, at most floor(sim's rate) + 2 page counts behind
 * (see pvclock_relation_compose_sim()); how far, counted.
 */
static void check_sim_composed_scaled(QTestState *qts,
                                      const struct pvcp_xform *sim)
{
    static const unsigned fracs[] = { 32, 48 };
    uint64_t most = (sim->mult >> sim->frac_bits) + 2, behind[8] = { 0 };
    struct pvcp_offset_page op;
    const struct pvcp_ref_xform *x = &op.ref_xform[PVCP_DOMAIN_UNSCALED];

    for (int i = 0; i < 40; i++) {
        unsigned frac = fracs[i % 2];
        double r = exp(log(0.2) + rng_unit() * (log(5) - log(0.2)));
        uint64_t ratio = (uint64_t)ldexp(r, frac) | 1;
        uint64_t offset = i % 3 ? rng() : -1000000000000ull;

        qom_set_u64(qts, "pvc", "x-qtest-frac-bits", frac);
        qom_set_u64(qts, "pvc", "x-qtest-scale", ratio);
        qom_set_u64(qts, "pvc", "x-qtest-offset", offset);
        read_offset_page(qts, DEV_SLOT, &op);
        g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
        g_assert_cmphex(x->flags, ==, PVCP_XFORM_F_PAGE_COUNTER);
        for (int k = 0; k < 50000; k++) {
            uint64_t h = pick_host(host_tsc(), r), first, g, want;
            int64_t d;

            g = kvm_guest(ratio, frac, offset, h, &first);
            want = pvcp_xform_apply(sim, first);
            d = (int64_t)(want - pvcp_ref_xform_apply(x, g));
            if (d < 0 || d > (int64_t)most) {
                g_test_message("ratio 0x%" PRIx64 "/2^%u offset 0x%" PRIx64
                               " host 0x%" PRIx64 ": %" PRId64 " page "
                               "counts behind", ratio, frac, offset, h, d);
            }
            g_assert_cmpint(d, >=, 0);
            g_assert_cmpint(d, <=, most);
            behind[MIN(d, 7)]++;
        }
    }
    g_test_message("scaled relations, page counts behind sim: 0: %" PRIu64
                   ", 1: %" PRIu64 ", 2: %" PRIu64 ", 3: %" PRIu64,
                   behind[0], behind[1], behind[2], behind[3]);
    qom_set_u64(qts, "pvc", "x-qtest-scale", 0);
    qom_set_u64(qts, "pvc", "x-qtest-offset", 0);
}

/*
 * A simulated host's pages (pvclock-helper --simulate): page 0 counts
 * the simulated host's counter, sim applied to the host TSC (here 1.2
 * times as fast, far ahead).  The page's line goes through sim too.
 */
static void test_vmclock_simulated(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts;
    Vmc v;

    make_host(pages, 3000000000ull, 1000, 1700000000);
    pages[0].flags |= PVCP_HOST_F_SIMULATED;
    pages[0].sim.mult = 5153960755ull;          /* 1.2 in 32.32 */
    pages[0].sim.frac_bits = 32;
    pages[0].sim.flags = PVCP_XFORM_F_VALID;
    pages[0].sim.offset = pages[0].hres.cycle_last -
                          pvcp_mul_add_shr(host_tsc(), 5153960755ull, 0, 32);
    pvcp_page_seal(&pages[0]);
    write_file(tp->path, pages, PVCP_FILE_SIZE);
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, tp->path);
    rng_seed();
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    /* 1.2 simulated counts of 1/3 ns per host TSC count: 0.4 ns */
    g_assert_cmpfloat(fabs(vmc_period_ns(&v) / 0.4 - 1), <, 1 / 1e6);
    check_sim_composed(qts, &pages[0].sim);
    vmc_check_against_bar(qts, &v, 10000, 1);
    check_sim_composed_scaled(qts, &pages[0].sim);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * Over KVM's scaled relations (both ratio formats, offsets anywhere,
 * wrapped ones as KVM makes them): the page follows each new relation
 * and gives the BAR's TAI within 2 ns at every count up to 2^40 on.
 */
static void test_vmclock_scaled(void)
{
    static const unsigned fracs[] = { 32, 48 };
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    QTestState *qts = qtest_initf("-machine pc -nodefaults -device " PVC
                                  ",id=pvc,addr=%d.0,pages=%s,vmclock=on",
                                  DEV_SLOT, tp->path);
    int64_t worst = 0;
    uint64_t marker = 0, first;
    Vmc v;

    rng_seed();
    wait_status(qts, "pvc", "valid");
    for (size_t f = 0; f < G_N_ELEMENTS(fracs); f++) {
        qom_set_u64(qts, "pvc", "x-qtest-frac-bits", fracs[f]);
        for (int k = 0; k < 40; k++) {
            double r = exp(log(0.2) + rng_unit() * (log(5) - log(0.2)));
            uint64_t ratio = (uint64_t)ldexp(r, fracs[f]) | 1;
            uint64_t offset = k % 2 ? rng() :
                (rng() >> 24) - kvm_guest(ratio, fracs[f], 0, host_tsc(),
                                          &first);

            qom_set_u64(qts, "pvc", "x-qtest-scale", ratio);
            qom_set_u64(qts, "pvc", "x-qtest-offset", offset);
            vmc_read(qts, &v);
            g_assert_cmpuint(v.status, ==, 2);
            /* a new relation is a disruption */
            g_assert_cmpuint(v.marker, >, marker);
            marker = v.marker;
            g_assert_cmpuint(kvm_guest(ratio, fracs[f], offset, host_tsc(),
                                       &first) - v.counter, <,
                             1ull << 62);
            worst = MAX(worst, vmc_check_against_bar(qts, &v, 2000, 2));
        }
    }
    g_test_message("80 relations: worst %" PRId64 " ns", worst);
    qtest_quit(qts);
    pages_free(tp);
}

/* Change page 0's line in place as pvclock-helper does; wake if asked. */
static void helper_new_line(TestHelper *th, uint32_t mult, bool wake)
{
    struct pvcp_host_page *h = &th->map[0];

    qatomic_set(&h->seq, h->seq + 1);
    smp_wmb();                  /* odd before the line changes */
    h->hres.mult = mult;
    pvcp_page_seal(h);
    smp_wmb();                  /* the line before seq is even again */
    qatomic_set(&h->seq, h->seq + 1);
    if (wake) {
        syscall(SYS_futex, &h->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

/*
 * The update policy: a new line in host page 0 is on the VMClock page
 * within milliseconds of pvclock-helper's futex wake, not at the next
 * 1 s watch round, five times over; the period follows the line.  A
 * write with no wake is still caught, within a watch round.
 */
static void test_vmclock_follows_line(void)
{
    TestPages *tp = pages_new();
    TestHelper *th = helper_start(tp, true);
    struct pvcp_host_page *old_map, *new_map;
    QTestState *qts;
    int old_fd, new_fd;
    uint32_t mult0;
    int64_t t0;
    Vmc v, w;

    make_host(th->map, 2500000000ull, 1000, 1700000000);
    mult0 = th->map[0].hres.mult;
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, th->path);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    for (int i = 1; i <= 6; i++) {
        uint32_t mult = mult0 + i * 1000;
        int64_t took;
        uint64_t wakes = qom_get_u64(qts, "pvc", "vmclock-wakes");

        t0 = g_get_monotonic_time();
        helper_new_line(th, mult, i <= 5);
        do {
            g_usleep(1000);
            vmc_read(qts, &w);
        } while (w.seq == v.seq && g_get_monotonic_time() - t0 < 3000000);
        took = g_get_monotonic_time() - t0;
        g_test_message("line %d (%s): on the VMClock page after %" PRId64
                       " us", i, i <= 5 ? "woken" : "no wake", took);
        g_assert_cmpuint(w.seq, !=, v.seq);
        if (i <= 5) {
            g_assert_cmpint(took, <, 200000);
            g_assert_cmpuint(qom_get_u64(qts, "pvc", "vmclock-wakes"), >,
                             wakes);
        } else {
            g_assert_cmpint(took, <, 2100000);
        }
        /* the period is the new line's slope */
        g_assert_cmpfloat(fabs(vmc_period_ns(&w) / ldexp(mult, -24) - 1), <,
                          1 / 1e9);
        g_assert_cmpuint(w.status, ==, 2);
        vmc_check_against_bar(qts, &w, 1000, 1);
        v = w;
    }

    /*
     * The helper starts over with a new memfd (the old pages go stale):
     * the device waits on the new pages instead, and the thread on the
     * old ones is gone, not left waiting.
     */
    new_fd = pages_memfd(true, &new_map);
    make_host(new_map, 2500000000ull, 1000, 1700000000);
    old_fd = th->memfd;
    old_map = th->map;
    th->map = new_map;
    qatomic_set(&th->memfd, new_fd);
    old_map[0].stale_after = 2500000000ull;
    old_map[0].heartbeat_ns = 1;
    pvcp_page_seal(&old_map[0]);
    for (int i = 0; i < 100 &&
         qom_get_u64(qts, "pvc", "pages-replaced") == 0; i++) {
        g_usleep(100 * 1000);
    }
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 1);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    g_usleep(1100 * 1000);      /* a watch round: the new thread waits */
    vmc_read(qts, &v);
    t0 = g_get_monotonic_time();
    helper_new_line(th, mult0 + 7000, true);
    do {
        g_usleep(1000);
        vmc_read(qts, &w);
    } while (w.seq == v.seq && g_get_monotonic_time() - t0 < 3000000);
    g_test_message("new pages: a line on the VMClock page after %" PRId64
                   " us", g_get_monotonic_time() - t0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 200000);
    vmc_check_against_bar(qts, &w, 1000, 1);
    close(old_fd);
    munmap(old_map, PVCP_FILE_SIZE);
    qtest_quit(qts);
    helper_stop(th);
    pages_free(tp);
}

/*
 * Host page 0's line slows by ppm parts per million from now on (the
 * host TSC it returns), as the
 * kernel turns its line: continuous here (cycle_last moves to now and
 * each base to the line's value there), no wake, so the device sees it
 * at its next watch round, up to a second late.
 */
static uint64_t helper_slow_line(TestHelper *th, double ppm)
{
    struct pvcp_host_page *h = &th->map[0];
    uint64_t now = host_tsc();
    pvcp_u128 unit = (pvcp_u128)1000000000ull << h->hres.shift;

    qatomic_set(&h->seq, h->seq + 1);
    smp_wmb();                  /* odd before the line changes */
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        struct pvcp_base *b = &h->hres_base[i];
        pvcp_u128 t = b->nsec_shifted +
                      (pvcp_u128)(now - h->hres.cycle_last) * h->hres.mult;

        b->sec += (uint64_t)(t / unit);
        b->nsec_shifted = (uint64_t)(t % unit);
    }
    h->hres.cycle_last = now;
    h->hres.mult = (uint32_t)(h->hres.mult * (1 - ppm / 1e6));
    pvcp_page_seal(h);
    smp_wmb();                  /* the line before seq is even again */
    qatomic_set(&h->seq, h->seq + 1);
    return now;                 /* the host TSC where it turned */
}

/* Wait up to ms for the page's seq to move on from v's; the new page. */
static void wait_vmc_rewrite(QTestState *qts, const Vmc *v, int64_t ms,
                             Vmc *w)
{
    int64_t t0 = g_get_monotonic_time();

    do {
        g_usleep(1000);
        vmc_read(qts, w);
    } while (w->seq == v->seq && g_get_monotonic_time() - t0 < ms * 1000);
    g_assert_cmpuint(w->seq, !=, v->seq);
}

/*
 * VMCLOCK_FLAG_TIME_MONOTONIC (issue 34): the host's line slows by 200
 * ppm and the device rewrites at its next watch round, up to a second
 * late, while guests kept reading the old, faster line.  The new line
 * must start no earlier than where the old one has reached at its own
 * count (which is taken inside the write), so no reader steps back; it
 * starts ahead of the host's by at most 200 ppm of the lag, runs slower
 * until the host's line meets it, and then the device rewrites again
 * onto the host's line, within a nanosecond of the BAR.
 */
static void test_vmclock_monotonic(void)
{
    TestPages *tp = pages_new();
    TestHelper *th = helper_start(tp, true);
    struct pvcp_host_page h;
    struct pvcp_offset_page op;
    QTestState *qts;
    int64_t lead, took, t0;
    uint64_t turned, lag_ns;
    Vmc v, w, x;

    make_host(th->map, 2500000000ull, 1000, 1700000000);
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, th->path);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    g_assert_cmphex(v.flags & 0x80, ==, 0x80);

    t0 = g_get_monotonic_time();
    turned = helper_slow_line(th, 200);
    wait_vmc_rewrite(qts, &v, 2100, &w);
    took = g_get_monotonic_time() - t0;
    g_assert_cmpuint(w.status, ==, 2);
    g_assert_cmphex(w.flags & 0x80, ==, 0x80);
    g_assert_cmpuint(w.marker, ==, v.marker);
    /* where the old line had reached at the new line's count: not later */
    g_assert_true(vmc_at(&v, w.counter) <= vmc_at(&w, w.counter));
    read_host_page0(qts, &h);
    read_offset_page(qts, DEV_SLOT, &op);
    lead = (int64_t)(vmc_ns(&w, w.counter) - bar_tai_ns(&h, &op, w.counter));
    /* the lag in the pages' time: 2.5 GHz counts of the host TSC */
    lag_ns = (pvcp_ref_xform_apply(&op.ref_xform[0], w.counter) - turned) *
             2 / 5;
    g_test_message("the new line starts %" PRId64 " ns ahead of the "
                   "host's, %" PRIu64 " ns after the host's line turned "
                   "(seen %" PRId64 " ms after)", lead, lag_ns, took / 1000);
    g_assert_cmpint(lead, >=, 0);
    /* 200 ppm of the lag (201: the new mult is rounded down) */
    g_assert_cmpint(lead, <=, lag_ns * 201 / 1000000 + 1);

    /*
     * The slower line meets the host's after 8192 times the lead; the
     * watch rounds in between may rewrite it (still ahead, a smaller
     * lead), each no earlier than the line before.
     */
    t0 = g_get_monotonic_time();
    do {
        wait_vmc_rewrite(qts, &w, 2100, &x);
        g_assert_true(vmc_at(&w, x.counter) <= vmc_at(&x, x.counter));
        g_assert_cmphex(x.flags & 0x80, ==, 0x80);
        g_assert_cmpuint(x.status, ==, 2);
        read_host_page0(qts, &h);
        read_offset_page(qts, DEV_SLOT, &op);
        took = g_get_monotonic_time() - t0;
        g_test_message("after %" PRId64 " ms: %" PRId64 " ns ahead",
                       took / 1000, (int64_t)(vmc_ns(&x, x.counter) -
                                              bar_tai_ns(&h, &op,
                                                         x.counter)));
        w = x;
    } while (vmc_ns(&x, x.counter) - bar_tai_ns(&h, &op, x.counter) > 1 &&
             took < (lead * 8192 / 1000000 + 1500) * 1000);
    g_test_message("on the host's line after %" PRId64 " ms (8192 times "
                   "the lead: %" PRId64 " ms)", took / 1000,
                   lead * 8192 / 1000000);
    vmc_check_against_bar(qts, &x, 1000, 1);
    qtest_quit(qts);
    helper_stop(th);
    pages_free(tp);
}

/*
 * A migration between hosts of different TSC rates, to a destination
 * kept paused: while paused the page is unreliable (Linux refuses
 * reads); after cont it follows the destination's line, within a
 * nanosecond, and the disruption marker grew.
 */
static void test_vmclock_migration(void)
{
    TestPages *tp = pages_new();
    g_autofree char *pa = pages_extra_file(tp, "hostA");
    g_autofree char *pb = pages_extra_file(tp, "hostB");
    g_autofree char *sock = pages_extra_file(tp, "mig.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    g_autofree char *st = NULL, *rs = NULL;
    QTestState *from, *to;
    Vmc a, b;
    QDict *rsp;

    rng_seed();
    make_host(pages, 2500000000ull, 1000, 1700000000);
    write_file(pa, pages, PVCP_FILE_SIZE);
    make_host(pages, 3000000000ull, 9000, 1700000000);
    write_file(pb, pages, PVCP_FILE_SIZE);
    from = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                       "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, pa);
    to = qtest_initf("-machine pc -nodefaults -S -device " PVC ",id=pvc,"
                     "addr=%d.0,pages=%s,vmclock=on -incoming %s", DEV_SLOT,
                     pb, uri);
    wait_status(from, "pvc", "valid");
    wait_vmc_status(from, 2, &a);
    g_assert_cmphex(a.flags & 0x6, ==, 0);
    /* management announces the migration: the flag, at once */
    rsp = qtest_qmp(from, "{'execute': 'qom-set', 'arguments': {'path': "
                    "'/machine/peripheral/pvc', 'property': "
                    "'vmclock-disruption', 'value': 'tomorrow'}}");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "allowed values: none"));
    qobject_unref(rsp);
    rsp = qtest_qmp(from, "{'execute': 'qom-set', 'arguments': {'path': "
                    "'/machine/peripheral/pvc', 'property': "
                    "'vmclock-disruption', 'value': 'imminent'}}");
    qobject_unref(rsp);
    vmc_read(from, &a);
    g_assert_cmphex(a.flags & 0x6, ==, 0x4);
    st = migrate_and_wait(from, uri);
    g_assert_cmpstr(st, ==, "completed");
    for (int i = 0; i < 100; i++) {
        g_free(rs);
        rs = run_state(to);
        if (strcmp(rs, "inmigrate")) {
            break;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpstr(rs, ==, "paused");
    vmc_read(to, &b);
    g_assert_cmpuint(b.status, ==, 4);              /* unreliable */
    g_assert_cmpuint(b.marker, >, a.marker);
    rsp = qtest_qmp(to, "{'execute': 'cont'}");
    qobject_unref(rsp);
    qtest_qmp_eventwait(to, "RESUME");
    wait_vmc_status(to, 2, &b);
    g_assert_cmpuint(b.marker, >, a.marker);
    g_assert_cmpuint(b.generation, ==, a.generation); /* not a restore */
    g_assert_cmphex(b.flags & 0x6, ==, 0);          /* it has happened */
    g_assert_cmpfloat(fabs(vmc_period_ns(&b) * 3 - 1), <, 1 / 1e6);
    vmc_check_against_bar(to, &b, 10000, 1);
    qtest_quit(to);
    qtest_quit(from);
    pages_free(tp);
}

static void hmp_ok(QTestState *qts, const char *cmd)
{
    g_autofree char *out = qtest_hmp(qts, "%s", cmd);

    if (*out) {
        g_test_message("%s: %s", cmd, out);
    }
    g_assert_cmpstr(out, ==, "");
}

/*
 * A snapshot restore (loadvm) is a new instance of the guest: the VM
 * generation counter moves, and the disruption marker with it; a live
 * migration moves only the marker (test_vmclock_migration).
 */
static void test_vmclock_loadvm(void)
{
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    g_autofree char *disk = pages_extra_file(tp, "disk.qcow2");
    g_autofree char *mk = g_strdup_printf("qemu-img create -q -f qcow2 %s "
                                          "16M", disk);
    QTestState *qts;
    uint64_t first;
    Vmc a, b;

    g_assert_true(g_spawn_command_line_sync(mk, NULL, NULL, NULL, NULL));
    qts = qtest_initf("-machine pc -nodefaults -drive if=none,id=d0,"
                      "format=qcow2,file=%s -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", disk, DEV_SLOT,
                      tp->path);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &a);
    hmp_ok(qts, "savevm s1");
    hmp_ok(qts, "loadvm s1");
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &b);
    for (int i = 0; i < 100 && b.generation == a.generation; i++) {
        g_usleep(10 * 1000);
        vmc_read(qts, &b);
    }
    g_assert_cmpuint(b.generation, !=, a.generation);
    g_assert_cmpuint(b.marker, >, a.marker);
    vmc_check_against_bar(qts, &b, 1000, 1);
    /*
     * The snapshot holds the page as it was: a second restore of it is
     * another instance, with a counter unlike the first restore's.
     */
    first = b.generation;
    hmp_ok(qts, "loadvm s1");
    wait_status(qts, "pvc", "valid");
    for (int i = 0; i < 100 && (b.generation == first ||
                                b.generation == a.generation); i++) {
        g_usleep(10 * 1000);
        vmc_read(qts, &b);
    }
    g_assert_cmpuint(b.generation, !=, a.generation);
    g_assert_cmpuint(b.generation, !=, first);
    qtest_quit(qts);
    pages_free(tp);
}

/* QEMU started with args must exit with an error that says expected. */
static void expect_cli_error(const char *args, const char *expected)
{
    g_autofree char *cmd = g_strdup_printf("%s -machine pc -nodefaults "
                                           "-accel qtest -display none -S %s",
                                           g_getenv("QTEST_QEMU_BINARY"),
                                           args);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) argv = NULL;
    int status;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, NULL));
    if (!strstr(err, expected)) {
        g_test_message("stderr was: %s", err);
    }
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    g_assert_nonnull(strstr(err, expected));
}

/* One VMClock per machine, at boot only; each refusal says why. */
static void test_vmclock_refusals(void)
{
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    g_autofree char *two = g_strdup_printf(
        "-device " PVC ",addr=4.0,pages=%s,vmclock=on "
        "-device " PVC ",addr=5.0,pages=%s,vmclock=on", tp->path, tp->path);
    g_autofree char *with_qemus = g_strdup_printf(
        "-device vmclock -device " PVC ",addr=4.0,pages=%s,vmclock=on",
        tp->path);
    QTestState *qts;
    QDict *rsp;

    expect_cli_error(two, "a machine has at most one");
    expect_cli_error(with_qemus, "a machine has at most one");

    /* cold-plugged with vmclock=on: device_del is refused, and says why */
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, tp->path);
    rsp = qtest_qmp(qts, "{'execute': 'device_del', 'arguments': {"
                    "'id': 'pvc'}}");
    g_assert_true(qdict_haskey(rsp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "cannot be unplugged"));
    qobject_unref(rsp);
    qtest_quit(qts);

    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s", DEV_SLOT, tp->path);
    rsp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': {"
                    "'driver': 'pvclock-pages', 'id': 'hot', 'addr': '6.0',"
                    "'x-counter-backend': 'qtest', 'pages': %s, "
                    "'vmclock': true}}", tp->path);
    g_assert_true(qdict_haskey(rsp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "cold-plugged"));
    qobject_unref(rsp);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * A shift out of the ABI's range in host page 0 (issue 32, finding 2):
 * the lines' shifts (hres, raw), the kvmclock stage's, a simulated
 * host's frac_bits, at 64, 70, 100, 110, 120 and 127, sealed with the
 * check words as a helper writes them, reaching the device by each path
 * (a pages file, memdev=, the helper's socket), with vmclock on and off.
 * With vmclock=on the device computes TAI from page 0 on its main loop;
 * an unchecked shift there hung QEMU (100) or killed it with SIGFPE
 * (127), and 64 was published as valid.  QEMU must keep answering QMP,
 * call the pages damaged (no-helper) in the offset page, and keep the
 * VMClock page unreliable.  Each path meets each field, each field both
 * vmclock settings.
 */
typedef struct BadShift {
    const char *path;           /* file, memdev, socket */
    const char *field;          /* hres, raw, kvmclock, sim */
    bool vmclock;
    int value;
} BadShift;

static void bad_shift_apply(struct pvcp_host_page *h, const BadShift *b)
{
    if (!strcmp(b->field, "hres")) {
        h->hres.shift = b->value;
    } else if (!strcmp(b->field, "raw")) {
        h->raw.shift = b->value;
    } else if (!strcmp(b->field, "kvmclock")) {
        h->counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        h->kvmclock.tsc_to_system_mul = 1u << 31;
        h->kvmclock.tsc_shift = b->value;
    } else {
        h->flags |= PVCP_HOST_F_SIMULATED;
        h->sim.mult = 1ull << 32;
        h->sim.frac_bits = b->value;
        h->sim.flags = PVCP_XFORM_F_VALID;
    }
    pvcp_page_seal(h);
}

static void test_bad_shift(const void *opaque)
{
    const BadShift *b = opaque;
    TestPages *tp = pages_new_tai(2500000000ull, 37);
    TestHelper *th = NULL;
    g_autofree char *file = NULL, *st = NULL, *source = NULL;
    g_autofree char *memdev = NULL;
    struct pvcp_offset_page op;
    QTestState *qts;
    gsize len;
    Vmc v;

    g_assert_true(g_file_get_contents(tp->path, &file, &len, NULL));
    g_assert_cmpuint(len, ==, PVCP_FILE_SIZE);
    bad_shift_apply((struct pvcp_host_page *)file, b);
    if (!strcmp(b->path, "socket")) {
        th = helper_start(tp, true);
        memcpy(th->map, file, PVCP_FILE_SIZE);
        source = g_strdup_printf("pages=%s", th->path);
    } else if (!strcmp(b->path, "memdev")) {
        write_file(tp->path, file, PVCP_FILE_SIZE);
        memdev = g_strdup_printf("-object memory-backend-file,id=hp,"
                                 "mem-path=%s,size=%d,share=on,readonly=on",
                                 tp->path, PVCP_FILE_SIZE);
        source = g_strdup("memdev=hp");
    } else {
        write_file(tp->path, file, PVCP_FILE_SIZE);
        source = g_strdup_printf("pages=%s", tp->path);
    }

    qts = qtest_initf("-machine pc -nodefaults %s -device " PVC ",id=pvc,"
                      "addr=%d.0,%s,on-missing=degraded%s",
                      memdev ? memdev : "", DEV_SLOT, source,
                      b->vmclock ? ",vmclock=on" : "");
    wait_status(qts, "pvc", "no-helper");
    g_usleep(1500 * 1000);      /* a watch round and a VMClock update on */
    st = qom_get_str(qts, "pvc", "status");
    g_assert_cmpstr(st, ==, "no-helper");
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
    if (b->vmclock) {
        vmc_read(qts, &v);
        g_assert_cmpuint(v.status, ==, 4 /* unreliable */);
    }
    qtest_quit(qts);
    if (th) {
        helper_stop(th);
    }
    pages_free(tp);
}

static void add_bad_shift_tests(void)
{
    static const char *const paths[] = { "file", "memdev", "socket" };
    static const char *const fields[] = { "hres", "raw", "kvmclock", "sim" };
    static const int values[] = { 64, 100, 127, 70, 110, 120 };
    static BadShift cases[G_N_ELEMENTS(paths) * G_N_ELEMENTS(fields)];

    for (size_t p = 0; p < G_N_ELEMENTS(paths); p++) {
        for (size_t f = 0; f < G_N_ELEMENTS(fields); f++) {
            size_t k = p * G_N_ELEMENTS(fields) + f;
            BadShift *b = &cases[k];
            g_autofree char *name = NULL;

            b->path = paths[p];
            b->field = fields[f];
            b->vmclock = (p + f) % 2 == 0;
            b->value = values[k % G_N_ELEMENTS(values)];
            name = g_strdup_printf("/pvclock-pages/bad-shift/%s-%s-%d-"
                                   "vmclock-%s", b->path, b->field,
                                   b->value, b->vmclock ? "on" : "off");
            qtest_add_data_func(name, b, test_bad_shift);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/pvclock-pages/pci-identity", test_pci_identity);
    qtest_add_func("/pvclock-pages/bar-maps-file", test_bar_maps_file);
    qtest_add_func("/pvclock-pages/bar-follows-in-place-update",
                   test_bar_follows_in_place_update);
    qtest_add_func("/pvclock-pages/offset-page", test_offset_page);
    qtest_add_func("/pvclock-pages/guest-writes-ignored",
                   test_guest_writes_ignored);
    qtest_add_func("/pvclock-pages/realize-errors", test_realize_errors);
    qtest_add_func("/pvclock-pages/hotplug-unplug", test_hotplug_unplug);
    qtest_add_func("/pvclock-pages/status-properties",
                   test_status_properties);
    qtest_add_func("/pvclock-pages/property-errors", test_property_errors);
    qtest_add_func("/pvclock-pages/flavour-and-monotonic",
                   test_flavour_and_monotonic);
    qtest_add_func("/pvclock-pages/degraded-then-helper",
                   test_degraded_then_helper);
    qtest_add_func("/pvclock-pages/stale-helper", test_stale_helper);
    qtest_add_func("/pvclock-pages/zeroed-file", test_zeroed_file);
    qtest_add_func("/pvclock-pages/socket-sealed-memfd",
                   test_socket_sealed_memfd);
    qtest_add_func("/pvclock-pages/socket-new-memfd", test_socket_new_memfd);
    qtest_add_func("/pvclock-pages/socket-refusals", test_socket_refusals);
    qtest_add_func("/pvclock-pages/memdev", test_memdev);
    qtest_add_func("/pvclock-pages/two-guests-share", test_two_guests_share);
    qtest_add_func("/pvclock-pages/replaced-file", test_replaced_file);
    qtest_add_func("/pvclock-pages/relation-change-and-reset",
                   test_relation_change_and_reset);
    qtest_add_func("/pvclock-pages/two-instances", test_two_instances);
    qtest_add_func("/pvclock-pages/migration", test_migration);
    qtest_add_func("/pvclock-pages/relation-property",
                   test_relation_property);
    qtest_add_func("/pvclock-pages/kvm-model", test_kvm_model);
    qtest_add_func("/pvclock-pages/scaled-domain", test_scaled_domain);
    qtest_add_func("/pvclock-pages/disruptions-grow", test_disruptions_grow);
    qtest_add_func("/pvclock-pages/stale-limit-fast-counter",
                   test_stale_limit_fast_counter);
    qtest_add_func("/pvclock-pages/stuck-writer", test_stuck_writer);
    qtest_add_func("/pvclock-pages/paused-destination",
                   test_paused_destination);
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
    qtest_add_func("/pvclock-pages/live-page", test_live_page);
    qtest_add_func("/pvclock-pages/live-page-unused", test_live_page_unused);
    qtest_add_func("/pvclock-pages/vmclock-filled", test_vmclock_filled);
    qtest_add_func("/pvclock-pages/vmclock-scaled", test_vmclock_scaled);
    for (size_t i = 0; i < G_N_ELEMENTS(vmclock_tai_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/pvclock-pages/vmclock-tai/%s",
                            vmclock_tai_cases[i].name);

        qtest_add_data_func(path, (void *)(intptr_t)i, test_vmclock_tai);
    }
    qtest_add_func("/pvclock-pages/vmclock-simulated", test_vmclock_simulated);
    qtest_add_func("/pvclock-pages/vmclock-monotonic",
                   test_vmclock_monotonic);
    qtest_add_func("/pvclock-pages/vmclock-follows-line",
                   test_vmclock_follows_line);
    qtest_add_func("/pvclock-pages/vmclock-migration", test_vmclock_migration);
    qtest_add_func("/pvclock-pages/vmclock-loadvm", test_vmclock_loadvm);
    qtest_add_func("/pvclock-pages/vmclock-refusals", test_vmclock_refusals);
    add_bad_shift_tests();

    return g_test_run();
}
