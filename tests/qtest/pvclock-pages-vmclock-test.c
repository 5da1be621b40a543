/*
 * QTest for the pvclock-pages PCI device: vmclock=on: QEMU's VMClock
 * page filled from the host pages, following the host's line, across
 * migration and snapshots.
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

/* Watch rounds until the page's status is want; the page in v. */
static void wait_vmc_status(QTestState *qts, uint8_t want, Vmc *v)
{
    watch_until(qts, (vmc_read(qts, v), v->status == want));
    g_assert_cmpuint(v->status, ==, want);
}

/*
 * Look at the page until its seq moves on from v's (the new page in w),
 * for up to ms of host time; with rounds, a watch round between looks,
 * 10 ms apart.  Without, only what runs in host time can rewrite it: the
 * thread woken by the helper's futex wake, the catch-up timer.
 */
static void wait_vmc_rewrite(QTestState *qts, const Vmc *v, int64_t ms,
                             bool rounds, Vmc *w)
{
    int64_t t0 = g_get_monotonic_time();

    vmc_read(qts, w);
    while (w->seq == v->seq && g_get_monotonic_time() - t0 < ms * 1000) {
        g_usleep(rounds ? 10 * 1000 : 1000);
        if (rounds) {
            watch_round(qts);
        }
        vmc_read(qts, w);
    }
    g_assert_cmpuint(w->seq, !=, v->seq);
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
        watch_round(qts);       /* past any rewrite the status caused */
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

/* A host count near now, up to 2^62 host counts or 2^63 guest counts. */
static uint64_t pick_near(uint64_t now, double r)
{
    double bound = MIN(ldexp(1, 62), ldexp(1, 63) / r) * 0.999;
    uint64_t mag = (uint64_t)(bound * pow(2, -40 * rng_unit()) * rng_unit());

    return (rng() & 7) || mag > now ? now + mag : now - mag;
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
            uint64_t h = pick_near(host_tsc(), r), first, g, want;
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
 * Lines with wakes from mult on (and no watch rounds) until the device's
 * waiting thread serves one, within 3 s; v becomes the page that line
 * made.  A thread just started may look at the pages after a line was
 * written and wait for the next: from here on it is known to be waiting.
 */
static void wake_until_served(QTestState *qts, TestHelper *th, uint32_t mult,
                              Vmc *v)
{
    uint64_t wakes = qom_get_u64(qts, "pvc", "vmclock-wakes");
    int64_t t0;
    Vmc w;

    for (int i = 0; qom_get_u64(qts, "pvc", "vmclock-wakes") == wakes; i++) {
        g_assert_cmpint(i, <, 60);
        helper_new_line(th, mult + i * 10, true);
        t0 = g_get_monotonic_time();
        while (qom_get_u64(qts, "pvc", "vmclock-wakes") == wakes &&
               g_get_monotonic_time() - t0 < 50000) {
            g_usleep(1000);
        }
    }
    wait_vmc_rewrite(qts, v, 3000, false, &w);
    *v = w;
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
    uint64_t wakes;
    int64_t t0;
    Vmc v, w;

    make_host(th->map, 2500000000ull, 1000, 1700000000);
    mult0 = th->map[0].hres.mult;
    qts = qtest_initf("-machine pc -nodefaults -device " PVC ",id=pvc,"
                      "addr=%d.0,pages=%s,vmclock=on", DEV_SLOT, th->path);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    wake_until_served(qts, th, mult0 + 500, &v);
    for (int i = 1; i <= 6; i++) {
        uint32_t mult = mult0 + i * 1000;
        int64_t took;

        wakes = qom_get_u64(qts, "pvc", "vmclock-wakes");
        t0 = g_get_monotonic_time();
        helper_new_line(th, mult, i <= 5);
        if (i > 5) {
            watch_round(qts);           /* no wake: the round sees it */
        }
        wait_vmc_rewrite(qts, &v, i <= 5 ? 3000 : 0, false, &w);
        took = g_get_monotonic_time() - t0;
        g_test_message("line %d (%s): on the VMClock page after %" PRId64
                       " us", i, i <= 5 ? "woken" : "a watch round", took);
        if (i <= 5) {
            g_assert_cmpint(took, <, 200000);
            g_assert_cmpuint(qom_get_u64(qts, "pvc", "vmclock-wakes"), >,
                             wakes);
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
    watch_until(qts, qom_get_u64(qts, "pvc", "pages-replaced") > 0);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "pages-replaced"), ==, 1);
    wait_status(qts, "pvc", "valid");
    wait_vmc_status(qts, 2, &v);
    /*
     * The round that showed the new pages started a thread on them; a
     * line written before it first looked waits for the next round.  Once
     * it has served a wake it waits on the new pages: lines with wakes
     * (and no more rounds) until one is served, within 3 s.
     */
    wake_until_served(qts, th, mult0 + 6000, &v);
    wakes = qom_get_u64(qts, "pvc", "vmclock-wakes");
    t0 = g_get_monotonic_time();
    helper_new_line(th, mult0 + 7000, true);
    wait_vmc_rewrite(qts, &v, 3000, false, &w);
    g_test_message("new pages: a line on the VMClock page after %" PRId64
                   " us", g_get_monotonic_time() - t0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 200000);
    g_assert_cmpuint(qom_get_u64(qts, "pvc", "vmclock-wakes"), >, wakes);
    g_assert_cmpfloat(fabs(vmc_period_ns(&w) / ldexp(mult0 + 7000, -24) - 1),
                      <, 1 / 1e9);
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
    /* no wake: the next watch round sees it, here half a second late */
    g_usleep(500 * 1000);
    watch_round(qts);
    wait_vmc_rewrite(qts, &v, 0, false, &w);
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
        wait_vmc_rewrite(qts, &w, 2100, true, &x);
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
    g_autofree char *st = NULL;
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
    wait_loaded(to, "paused");
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
    watch_until(qts, (vmc_read(qts, &b), b.generation != a.generation));
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
    watch_until(qts, (vmc_read(qts, &b), b.generation != first &&
                      b.generation != a.generation));
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

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

    add_bad_shift_tests(true);

    return g_test_run();
}
