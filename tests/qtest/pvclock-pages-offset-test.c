/*
 * QTest for the pvclock-pages PCI device: the offset page: its fields,
 * the guest-to-host relation of each accelerator model (the qtest
 * counter, a simulated KVM), a relation change, a reset, two instances,
 * hot-plug.
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/pvclock-pages/offset-page", test_offset_page);
    qtest_add_func("/pvclock-pages/hotplug-unplug", test_hotplug_unplug);
    qtest_add_func("/pvclock-pages/flavour-and-monotonic",
                   test_flavour_and_monotonic);
    qtest_add_func("/pvclock-pages/relation-change-and-reset",
                   test_relation_change_and_reset);
    qtest_add_func("/pvclock-pages/two-instances", test_two_instances);
    qtest_add_func("/pvclock-pages/relation-property",
                   test_relation_property);
    qtest_add_func("/pvclock-pages/kvm-model", test_kvm_model);
    qtest_add_func("/pvclock-pages/scaled-domain", test_scaled_domain);

    return g_test_run();
}
