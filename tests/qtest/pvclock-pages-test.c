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
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "hw/pvclock/pvclock-pages-abi.h"
#include "hw/pvclock/pvclock-pages-calc.h"

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
    return qtest_initf("-machine pc -nodefaults -device pvclock-pages,id=pvc,"
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

    /* Beyond the offset page the BAR reads as zero. */
    for (size_t i = PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE; i < PVCP_BAR_SIZE;
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

static void test_offset_page(void)
{
    const uint64_t sim_offset = 0x123456789ull;
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, sim_offset);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    struct pvcp_offset_page op;
    const struct pvcp_xform *x = &op.xform[PVCP_DOMAIN_UNSCALED];

    qpci_memread(dev, bar, PVCP_BAR_OFFSET_PAGE, &op, sizeof(op));
    g_assert_cmphex(op.magic, ==, PVCP_OFFSET_MAGIC);
    g_assert_cmpuint(op.abi_major, ==, PVCP_ABI_MAJOR);
    g_assert_cmpuint(op.abi_minor, ==, PVCP_ABI_MINOR);
    g_assert_cmpuint(op.seq & 1, ==, 0);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    g_assert_cmpuint(op.generation, ==, 1);
    g_assert_cmpuint(op.counter_backend, ==, PVCP_BACKEND_QTEST);
    g_assert_cmpuint(op.recommended_page, ==, PVCP_PAGE_UNSCALED_UNSMEARED);
    g_assert_cmpuint(op.guest_counter_hz, ==, 2500000000ull);

    /* host = guest - offset: the simulated guest runs ahead by sim_offset */
    g_assert_cmphex(x->mult, ==, 1);
    g_assert_cmpuint(x->frac_bits, ==, 0);
    g_assert_cmphex(x->flags & PVCP_XFORM_F_VALID, ==, PVCP_XFORM_F_VALID);
    g_assert_cmphex(x->offset, ==, -sim_offset);
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
                         "{'addr': %s, 'pages': %s}", addr, tp->path);
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
                         "{'addr': %s, 'pages': %s}", addr, tp->path);
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
    qpci_memread(dev, bar, PVCP_BAR_OFFSET_PAGE, op, sizeof(*op));
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
                          "property 'on-missing' is 'maybe'; allowed "
                          "values: 'fail', 'degraded'");
    expect_property_error(qts, tp->path, "flavour", "blurred",
                          "property 'flavour' is 'blurred'; allowed "
                          "values: 'unsmeared', 'smeared'");
    expect_property_error(qts, tp->path, "monotonic", "guest",
                          "property 'monotonic' is 'guest'; allowed "
                          "values: 'vm', 'host'");
    qtest_quit(qts);
    pages_free(tp);
}

static void test_flavour_and_monotonic(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults "
                                  "-device pvclock-pages,id=pvc,addr=%d.0,"
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
                                  "-device pvclock-pages,id=pvc,addr=%d.0,"
                                  "pages=%s,on-missing=degraded",
                                  DEV_SLOT, later);
    struct pvcp_offset_page op;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    uint32_t magic;

    wait_status(qts, "pvc", "no-helper");
    g_assert_false(qom_get_bool(qts, "pvc", "helper-connected"));
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
    g_assert_cmpuint(op.generation, ==, 1);

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
    g_assert_cmpuint(op.generation, >, 1);

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

/* ms until status turns want (up to 5 s) */
static int64_t ms_until_status(QTestState *qts, const char *want)
{
    int64_t start = g_get_monotonic_time();

    wait_status(qts, "pvc", want);
    return (g_get_monotonic_time() - start) / 1000;
}

/*
 * Truncated, then zeroed, under the device: it stops showing the file
 * (zero pages over the mapping, status no-helper) at once, through its
 * inotify watch, and maps the file back when it is whole again.  QEMU's
 * own reads of the BAR here would die of SIGBUS if the device left the
 * short file mapped.
 */
static void test_truncated_file(void)
{
    TestPages *tp = pages_new();
    g_autofree struct pvcp_host_page *pages = g_malloc(PVCP_FILE_SIZE);
    QTestState *qts = start_qemu(tp->path, 0);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = find_device(bus);
    QPCIBar bar = qpci_iomap(dev, 0, NULL);
    struct pvcp_offset_page op;
    int64_t worst = 0;
    uint64_t gen;

    make_pages(pages);
    wait_status(qts, "pvc", "valid");
    read_offset_page(qts, DEV_SLOT, &op);
    gen = op.generation;
    for (int round = 1; round <= 3; round++) {
        g_assert_cmpint(truncate(tp->path, 0), ==, 0);
        worst = MAX(worst, ms_until_status(qts, "no-helper"));
        g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-lost"), ==, round);
        g_assert_false(qom_get_bool(qts, "pvc", "helper-connected"));
        g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, 0);
        g_assert_cmphex(qpci_io_readq(dev, bar, PVCP_FILE_SIZE - 8), ==, 0);
        read_offset_page(qts, DEV_SLOT, &op);
        g_assert_cmpuint(op.status, ==, PVCP_STATUS_NO_HELPER);
        g_assert_cmpuint(op.generation, >, gen);
        gen = op.generation;

        rewrite_in_place(tp->path, pages);
        worst = MAX(worst, ms_until_status(qts, "valid"));
        g_assert_cmphex(qpci_io_readl(dev, bar, 0), ==, PVCP_HOST_MAGIC);
        g_assert_cmpuint(qpci_io_readq(dev, bar, offsetof(struct pvcp_host_page,
                                                          hres_base)), ==,
                         1700000000);
        read_offset_page(qts, DEV_SLOT, &op);
        g_assert_cmpuint(op.generation, >, gen);
        gen = op.generation;
    }
    /* inotify, not the 1 Hz watch: three times in a row well under 1 s */
    g_test_message("worst time to notice: %" PRId64 " ms", worst);
    g_assert_cmpint(worst, <, 500);

    /* zeroed in place: the mapping stays, the device calls it unusable */
    memset(pages, 0, PVCP_FILE_SIZE);
    rewrite_in_place(tp->path, pages);
    wait_status(qts, "pvc", "no-helper");
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-lost"), ==, 3);
    make_pages(pages);
    rewrite_in_place(tp->path, pages);
    wait_status(qts, "pvc", "valid");
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-faults"), ==, 0);

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
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-lost"), ==, 0);

    /* and it watches the new file: truncated, it is noticed */
    g_assert_cmpint(truncate(tp->path, 0), ==, 0);
    wait_status(qts, "pvc", "no-helper");
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-lost"), ==, 1);

    qpci_iounmap(dev, bar);
    end_test(qts, bus, dev, tp);
}

static void test_relation_change_and_reset(void)
{
    TestPages *tp = pages_new();
    QTestState *qts = start_qemu(tp->path, 5);
    struct pvcp_offset_page op;
    QDict *resp;

    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, ==, 1);
    g_assert_cmphex(op.xform[0].offset, ==, -5ull);

    /* the guest counter jumps (as after a guest WRMSR): generation bumps */
    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {'path': "
                     "'/machine/peripheral/pvc', 'property': "
                     "'x-qtest-offset', 'value': 1000}}");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.generation, ==, 2);
    g_assert_cmphex(op.xform[0].offset, ==, -1000ull);
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
                                  "-device pvclock-pages,id=a,addr=%d.0,"
                                  "pages=%s,x-qtest-offset=1 "
                                  "-device pvclock-pages,id=b,addr=%d.0,"
                                  "pages=%s,x-qtest-offset=2",
                                  DEV_SLOT, tp->path, DEV_SLOT + 1, tp->path);
    struct pvcp_offset_page a, b;
    QDict *resp;

    read_offset_page(qts, DEV_SLOT, &a);
    read_offset_page(qts, DEV_SLOT + 1, &b);
    g_assert_cmphex(a.xform[0].offset, ==, -1ull);
    g_assert_cmphex(b.xform[0].offset, ==, -2ull);

    /* each has its own offset page */
    resp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {'path': "
                     "'/machine/peripheral/b', 'property': "
                     "'x-qtest-offset', 'value': 3}}");
    qobject_unref(resp);
    read_offset_page(qts, DEV_SLOT, &a);
    read_offset_page(qts, DEV_SLOT + 1, &b);
    g_assert_cmpuint(a.generation, ==, 1);
    g_assert_cmpuint(b.generation, ==, 2);
    g_assert_cmphex(b.xform[0].offset, ==, -3ull);
    qtest_quit(qts);
    pages_free(tp);
}

/* ---- live migration ------------------------------------------------- */

static uint64_t host_tsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}

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
    qpci_memread(dev, bar, PVCP_BAR_OFFSET_PAGE, &op, sizeof(op));
    qpci_iounmap(dev, bar);
    g_free(dev);
    qpci_free_pc(bus);

    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    /* the qtest guest counter: host TSC minus the relation's offset */
    guest = host_tsc() - op.xform[0].offset;
    host = pvcp_xform_apply(&op.xform[0], guest);
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

    from = qtest_initf("-machine pc -nodefaults -device pvclock-pages,"
                       "id=pvc,addr=%d.0,pages=%s,x-qtest-offset=77",
                       DEV_SLOT, pa);
    to = qtest_initf("-machine pc -nodefaults -device pvclock-pages,"
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
    bad = qtest_initf("-machine pc -nodefaults -device pvclock-pages,"
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

/* A guest TSC scaled against the host's, as KVM scales it: the inverse. */
static void test_scaled_relation(void)
{
    const uint64_t scale = 5153960755ull;       /* 1.2 in 32.32 */
    const uint64_t off = 0x1234567890ull;
    TestPages *tp = pages_new();
    QTestState *qts = qtest_initf("-machine pc -nodefaults -device "
                                  "pvclock-pages,id=pvc,addr=%d.0,pages=%s,"
                                  "x-qtest-offset=%" PRIu64 ",x-qtest-scale="
                                  "%" PRIu64, DEV_SLOT, tp->path, off, scale);
    static const uint64_t hosts[] = {
        0, 1, 1000, 2500000000ull, 1ull << 40, 123456789012345ull,
        1ull << 50, (1ull << 60) + 12345, (1ull << 62) - 1,
    };
    struct pvcp_offset_page op;
    int64_t worst = 0;

    read_offset_page(qts, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_VALID);
    /* 1.2 x 2.5 GHz, the 32.32 scale rounded down */
    g_assert_cmpuint(op.guest_counter_hz, >=, 2999999999ull);
    g_assert_cmpuint(op.guest_counter_hz, <=, 3000000000ull);
    for (size_t i = 0; i < G_N_ELEMENTS(hosts); i++) {
        uint64_t guest = (uint64_t)(((unsigned __int128)hosts[i] * scale) >>
                                    32) + off;
        uint64_t back = pvcp_xform_apply(&op.xform[0], guest);
        int64_t d = (int64_t)(back - hosts[i]);

        worst = MAX(worst, d < 0 ? -d : d);
    }
    g_test_message("scaled relation: worst %" PRId64 " host counts",
                   worst);
    g_assert_cmpint(worst, <=, 2);
    qtest_quit(qts);
    pages_free(tp);
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
    qtest_add_func("/pvclock-pages/truncated-file", test_truncated_file);
    qtest_add_func("/pvclock-pages/replaced-file", test_replaced_file);
    qtest_add_func("/pvclock-pages/relation-change-and-reset",
                   test_relation_change_and_reset);
    qtest_add_func("/pvclock-pages/two-instances", test_two_instances);
    qtest_add_func("/pvclock-pages/migration", test_migration);
    qtest_add_func("/pvclock-pages/scaled-relation", test_scaled_relation);

    return g_test_run();
}
