/*
 * QTest for the pvclock-pages PCI device: the live page: the host
 * kernel's own vDSO data page in the BAR, and when the device does not
 * use it.
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
    watch_until(qts, (read_offset_page(qts, DEV_SLOT, &op),
                      op.live.flags & PVCP_LIVE_F_VALID));
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
    watch_until(qts, (read_offset_page(qts, DEV_SLOT, &op),
                      !(op.live.flags & PVCP_LIVE_F_VALID)));
    g_assert_cmphex(op.live.flags, ==, PVCP_LIVE_F_MAPPED);
    st = qom_get_str(qts, "pvc", "live-page-status");
    g_assert_true(g_str_has_prefix(st, "mapped, not in use: host page 0's "
                                   "REALTIME or MONOTONIC_RAW is a second"));
    g_free(st);
    qtest_quit(qts);
    pages_free(tp);
}

/*
 * Two guests on one helper: both live pages are the host kernel's one
 * page, equal whenever the kernel did not write between the two reads
 * (its seq says so), and each offset page describes it as usable.
 */
static void test_live_page_shared(void)
{
    TestPages *tp = pages_new();
    TestHelper *th = helper_start(tp, true);
    QTestState *qa, *qb;
    QPCIBus *ba, *bb;
    QPCIDevice *da, *db;
    QPCIBar bar_a, bar_b;
    g_autofree uint8_t *a = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *a2 = g_malloc(PVCP_BAR_SIZE);
    g_autofree uint8_t *b2 = g_malloc(PVCP_BAR_SIZE);

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
    qpci_memread(da, bar_a, 0, a, PVCP_BAR_SIZE);

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/pvclock-pages/live-page", test_live_page);
    qtest_add_func("/pvclock-pages/live-page-unused", test_live_page_unused);
    qtest_add_func("/pvclock-pages/live-page-shared", test_live_page_shared);

    return g_test_run();
}
