/*
 * pvclock-pages: a simulated guest counter for the qtest accelerator,
 * so that qtests can drive the offset page without a CPU: the guest
 * counter is the host counter (scaled by x-qtest-scale / 2^32 if set,
 * as KVM scales a guest TSC) plus the x-qtest-offset property.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pvclock/pvclock-pages.h"

static bool qtest_counter_get(PvclockPagesState *s,
                              PvclockCounterRelation *rel)
{
    uint64_t hz = pvclock_pages_host_counter_hz(s);

    if (s->qtest_scale && s->qtest_scale != 1ull << 32) {
        /* as KVM scales a guest TSC, with 32 fractional bits (AMD) */
        pvclock_pages_relation_scaled(rel, s->qtest_scale, 32,
                                      s->qtest_offset);
        rel->guest_hz = (uint64_t)(((__uint128_t)hz * s->qtest_scale) >> 32);
    } else {
        rel->mult = 1;
        rel->frac_bits = 0;
        rel->offset = -s->qtest_offset;
        rel->guest_hz = hz;
    }
    rel->exact = true;
    return true;
}

const PvclockCounterBackend pvclock_counter_qtest = {
    .name = "qtest",
    .abi_backend = PVCP_BACKEND_QTEST,
    .get = qtest_counter_get,
};
