/*
 * QTest for the pvclock-pages PCI device: migration: the guest's clocks
 * continue across hosts of different rates, the disruption count grows,
 * a paused destination.
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
 * A destination kept paused before 'cont' (libvirt's way): the page
 * says invalid until the VM starts, and with downtime=exclude the
 * guest's MONOTONIC does not advance while the destination waits.
 */
static void test_paused_destination(void)
{
    TestPages *tp = pages_new();
    g_autofree char *st = NULL;
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
    wait_loaded(to, "paused");
    read_offset_page(to, DEV_SLOT, &op);
    g_assert_cmpuint(op.status, ==, PVCP_STATUS_INVALID);
    /*
     * A downtime long enough to tell, in host time, with the watch
     * rounds a real accelerator's host-time watch would run meanwhile:
     * still invalid.
     */
    g_usleep(2 * G_USEC_PER_SEC);
    watch_rounds_stopped(to, "pvc", 3);
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/pvclock-pages/migration", test_migration);
    qtest_add_func("/pvclock-pages/disruptions-grow", test_disruptions_grow);
    qtest_add_func("/pvclock-pages/paused-destination",
                   test_paused_destination);

    return g_test_run();
}
