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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "hw/pvclock/pvclock-pages-internal.h"

static void qtest_counter_get(PvclockPagesState *s,
                              PvclockCounterRelation *rel)
{
    uint64_t hz = pvclock_host_tsc_hz(s), lo, hi;

    if (s->qtest_guest_khz) {
        PvclockKvmTsc kt = {
            .host_khz = s->qtest_host_khz ? s->qtest_host_khz : hz / 1000,
            .vcpu_khz = s->qtest_guest_khz,
            .offset = s->qtest_offset,
            .tsc_control = s->qtest_tsc_control,
            .frac_bits = s->qtest_frac_bits,
            .tolerance_ppm = s->qtest_tolerance_ppm,
        };

        pvclock_kvm_tsc_relation(&kt, rel);
        return;
    }
    memset(rel, 0, sizeof(*rel));
    rel->kind = PVCLOCK_REL_LINEAR;
    rel->offset = s->qtest_offset;
    rel->guest_hz = hz;
    rel->why = "qtest: simulated";
    if (s->qtest_scale && s->qtest_scale != 1ull << s->qtest_frac_bits) {
        rel->ratio = s->qtest_scale;
        rel->ratio_frac_bits = s->qtest_frac_bits;
        mulu64(&lo, &hi, hz, s->qtest_scale);
        rel->guest_hz = (hi << (64 - s->qtest_frac_bits)) |
                        (lo >> s->qtest_frac_bits);
    }
}

const PvclockCounterBackend pvclock_counter_qtest = {
    .name = "qtest",
    .abi_backend = PVCP_BACKEND_QTEST,
    .get = qtest_counter_get,
};
