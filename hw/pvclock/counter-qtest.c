/*
 * pvclock-pages: a simulated guest counter for the qtest accelerator,
 * so that qtests can drive the offset page without a CPU: the guest
 * counter is the host counter plus the x-qtest-offset property.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pvclock/pvclock-pages.h"

static bool qtest_counter_get(PvclockPagesState *s,
                              PvclockCounterRelation *rel)
{
    rel->mult = 1;
    rel->frac_bits = 0;
    rel->offset = -s->qtest_offset;
    rel->guest_hz = pvclock_pages_host_counter_hz(s);
    rel->exact = true;
    return true;
}

const PvclockCounterBackend pvclock_counter_qtest = {
    .name = "qtest",
    .abi_backend = PVCP_BACKEND_QTEST,
    .get = qtest_counter_get,
};
