/*
 * pvclock-pages: a simulated guest counter for the qtest accelerator,
 * so that qtests drive every path of the offset page without a CPU.
 * The "host counter" is the real host TSC; the guest counter follows it
 * as a KVM guest's TSC would:
 *
 *   x-qtest-guest-khz set   KVM's rules (relation.c) for a guest asking
 *                           that rate on a host of x-qtest-host-khz, with
 *                           or without x-qtest-tsc-control, ratio format
 *                           x-qtest-frac-bits, x-qtest-tolerance-ppm
 *   x-qtest-scale set       that raw ratio (2^x-qtest-frac-bits is 1),
 *                           as the hardware applies it
 *   neither                 unscaled
 *
 * plus x-qtest-offset in every case.  tests/qtest computes the guest's
 * counter from the same knobs with its own model of KVM.
 *
 * x-qtest-watch=N runs N rounds of the device's 1 Hz watch at once.
 * Under qtest the watch runs on the virtual clock, which clock_step
 * moves but which stands still while the VM is stopped; the watch of a
 * real accelerator runs on host time, stopped or not, and this is how a
 * qtest shows what it does to a stopped VM (a paused migration
 * destination).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "system/qtest.h"
#include "qom/object.h"
#include "hw/pvclock/pvclock-pages-internal.h"

static void qtest_counter_get(PvclockPagesState *s,
                              PvclockCounterRelation *rel)
{
    const PvclockQtestKnobs *k = &s->qtest;
    uint64_t hz = pvclock_host_tsc_hz(s), lo, hi;

    if (k->guest_khz) {
        PvclockKvmTsc kt = {
            .host_khz = k->host_khz ? k->host_khz : hz / 1000,
            .vcpu_khz = k->guest_khz,
            .offset = k->offset,
            .tsc_control = k->tsc_control,
            .frac_bits = k->frac_bits,
            .tolerance_ppm = k->tolerance_ppm,
        };

        pvclock_kvm_tsc_relation(&kt, rel);
        return;
    }
    memset(rel, 0, sizeof(*rel));
    rel->kind = PVCLOCK_REL_LINEAR;
    rel->offset = k->offset;
    rel->guest_hz = hz;
    rel->why = "qtest: simulated";
    if (k->scale && k->scale != 1ull << k->frac_bits) {
        rel->ratio = k->scale;
        rel->ratio_frac_bits = k->frac_bits;
        mulu64(&lo, &hi, hz, k->scale);
        rel->guest_hz = (hi << (64 - k->frac_bits)) |
                        (lo >> k->frac_bits);
    }
}

const PvclockCounterBackend pvclock_counter_qtest = {
    .name = "qtest",
    .abi_backend = PVCP_BACKEND_QTEST,
    .get = qtest_counter_get,
};

/* The knobs, settable at run time as an accelerator's relation changes */
static const struct {
    const char *name;
    size_t offset;
    const char *desc;
} qtest_knobs[] = {
    { "x-qtest-offset", offsetof(PvclockQtestKnobs, offset),
      "qtest: the guest counter's offset, guest = f(host) + offset" },
    { "x-qtest-scale", offsetof(PvclockQtestKnobs, scale),
      "qtest: a raw scaling ratio, guest = host * scale / "
      "2^x-qtest-frac-bits + offset (0: none)" },
    { "x-qtest-frac-bits", offsetof(PvclockQtestKnobs, frac_bits),
      "qtest: the ratio's fraction bits, 32 (AMD) or 48 (Intel)" },
    { "x-qtest-guest-khz", offsetof(PvclockQtestKnobs, guest_khz),
      "qtest: a guest TSC rate asked of a simulated KVM (0: none)" },
    { "x-qtest-host-khz", offsetof(PvclockQtestKnobs, host_khz),
      "qtest: the simulated KVM host's TSC rate (0: the pages')" },
    { "x-qtest-tsc-control", offsetof(PvclockQtestKnobs, tsc_control),
      "qtest: 1 if the simulated KVM host has TSC scaling" },
    { "x-qtest-tolerance-ppm", offsetof(PvclockQtestKnobs, tolerance_ppm),
      "qtest: the simulated KVM's tsc_tolerance_ppm" },
};

static PvclockQtestKnobs *knobs_of(Object *obj)
{
    return &PVCLOCK_PAGES(obj)->qtest;
}

static void qtest_knob_get(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    uint64_t value = *(uint64_t *)((char *)knobs_of(obj) +
                                   (uintptr_t)opaque);

    visit_type_uint64(v, name, &value, errp);
}

static void qtest_knob_set(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    PvclockQtestKnobs *k = knobs_of(obj);
    uint64_t *field = (uint64_t *)((char *)k + (uintptr_t)opaque);
    uint64_t value, old = *field;

    if (!visit_type_uint64(v, name, &value, errp)) {
        return;
    }
    *field = value;
    if (k->frac_bits != 32 && k->frac_bits != 48) {
        error_setg(errp, "property 'x-qtest-frac-bits' is %" PRIu64 "; "
                   "allowed values: 32 (AMD), 48 (Intel)", k->frac_bits);
        *field = old;
        return;
    }
    if (k->guest_khz > UINT32_MAX || k->host_khz > UINT32_MAX) {
        error_setg(errp, "property '%s' is %" PRIu64 " kHz; KVM takes rates "
                   "below 2^32 kHz", name, value);
        *field = old;
        return;
    }
    if (k->changed) {
        k->changed(k->opaque);
    }
}

/* x-qtest-watch=N: N watch rounds now, under the qtest accelerator */
static void qtest_watch_set(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    PvclockQtestKnobs *k = knobs_of(obj);
    uint64_t rounds;

    if (!visit_type_uint64(v, name, &rounds, errp)) {
        return;
    }
    if (!qtest_enabled()) {
        error_setg(errp, "property '%s' is for the qtest accelerator "
                   "only; the watch of a real accelerator runs on its "
                   "own", name);
        return;
    }
    if (rounds > 100) {
        error_setg(errp, "property '%s' is %" PRIu64 "; at most 100 "
                   "rounds at once", name, rounds);
        return;
    }
    for (uint64_t i = 0; i < rounds; i++) {
        k->watch(k->opaque);
    }
}

void pvclock_counter_qtest_init(Object *obj, PvclockQtestKnobs *k,
                                void (*changed)(void *opaque),
                                void (*watch)(void *opaque), void *opaque)
{
    k->frac_bits = 32;
    k->tsc_control = 1;
    k->tolerance_ppm = 250;
    k->changed = changed;
    k->watch = watch;
    k->opaque = opaque;
    object_property_add(obj, "x-qtest-watch", "uint64", NULL,
                        qtest_watch_set, NULL, NULL);
    object_property_set_description(obj, "x-qtest-watch",
                                    "qtest: run this many rounds of the "
                                    "1 Hz watch now, the VM stopped or not");
    for (size_t i = 0; i < ARRAY_SIZE(qtest_knobs); i++) {
        object_property_add(obj, qtest_knobs[i].name, "uint64",
                            qtest_knob_get, qtest_knob_set, NULL,
                            (void *)(uintptr_t)qtest_knobs[i].offset);
        object_property_set_description(obj, qtest_knobs[i].name,
                                        qtest_knobs[i].desc);
    }
}
