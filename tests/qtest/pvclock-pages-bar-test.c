/*
 * QTest for the pvclock-pages PCI device: BAR0 and the host pages behind
 * it: the PCI identity, the pages file, memdev= and the helper's socket
 * mapped read-only, what makes the pages unusable (stale, zeroed,
 * replaced, a stuck writer, a shift out of range) and back, the
 * properties and every realize error.
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
#include "qemu/cutils.h"
#include "qobject/qnum.h"
#include "libqos/fw_cfg.h"
#include "hw/pci/pci_regs.h"
#include "pvclock-pages-common.h"

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
    watch_until(qts, qatomic_read(&th->served) > served);
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
    watch_until(qts, (sec = qpci_io_readq(dev, bar, sec_off)) == 1700000100);
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

    make_real_host(th->map);    /* this host's clocks */
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

    assert_reserved_zero((const void *)(a + PVCP_BAR_OFFSET_PAGE));

    for (uint64_t off = 0; off < PVCP_BAR_SIZE; off += 8) {
        qpci_io_writeq(da, bar_a, off, ~0ull);
    }
    qpci_memread(da, bar_a, 0, a2, PVCP_BAR_SIZE);
    qpci_memread(db, bar_b, 0, b2, PVCP_BAR_SIZE);
    /* the live pages change at the kernel's ticks (live-test compares) */
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
    watch_until(qts, (sec = qpci_io_readq(dev, bar, sec_off)) == 1700000100);
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
 * (with the BQL held) give up after a bounded time, so a watch round and
 * QMP stay prompt.
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
        g_autofree char *st = NULL;

        watch_round(qts);
        st = qom_get_str(qts, "pvc", "status");
        worst = MAX(worst, g_get_monotonic_time() - t0);
        g_assert_cmpstr(st, ==, "no-helper");
    }
    g_test_message("slowest watch round and status query with a stuck seq: "
                   "%" PRId64 " us", worst);
    g_assert_cmpint(worst, <, 500000);
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
    qtest_add_func("/pvclock-pages/guest-writes-ignored",
                   test_guest_writes_ignored);
    qtest_add_func("/pvclock-pages/realize-errors", test_realize_errors);
    qtest_add_func("/pvclock-pages/status-properties",
                   test_status_properties);
    qtest_add_func("/pvclock-pages/property-errors", test_property_errors);
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
    qtest_add_func("/pvclock-pages/stale-limit-fast-counter",
                   test_stale_limit_fast_counter);
    qtest_add_func("/pvclock-pages/stuck-writer", test_stuck_writer);
    add_bad_shift_tests(false);

    return g_test_run();
}
