/*
 * pvclock-pages: the guest counter under TCG.
 *
 * x86 TCG computes RDTSC as cpu_get_ticks() + env->tsc_offset, and with
 * icount off cpu_get_ticks() is the host TSC plus timers_state's
 * cpu_ticks_offset, which QEMU moves at every stop/cont so the guest's
 * TSC does not run while the VM is stopped.  Both terms are read here
 * as QEMU applies them; nothing is estimated.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/seqlock.h"
#include "hw/core/cpu.h"
#include "system/cpu-timers.h"
#include "system/cpu-timers-internal.h"
#include "cpu.h"
#include "hw/pvclock/pvclock-pages.h"

static bool tcg_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
#ifdef HOST_X86_64
    uint64_t tsc_offset = 0;
    int64_t ticks_offset;
    bool first = true;
    CPUState *cs;

    if (icount_enabled()) {
        rel->why = "TCG with icount: the guest TSC counts instructions";
        return false;
    }
    CPU_FOREACH(cs) {
        uint64_t off = X86_CPU(cs)->env.tsc_offset;

        if (first) {
            tsc_offset = off;
            first = false;
        } else if (off != tsc_offset) {
            rel->why = "vCPUs have different TSC offsets";
            return false;
        }
    }

    qemu_spin_lock(&timers_state.vm_clock_lock);
    ticks_offset = timers_state.cpu_ticks_offset;
    qemu_spin_unlock(&timers_state.vm_clock_lock);

    /* guest = host + ticks_offset + tsc_offset, so host = guest - both */
    rel->mult = 1;
    rel->frac_bits = 0;
    rel->offset = -((uint64_t)ticks_offset + tsc_offset);
    rel->guest_hz = pvclock_pages_host_counter_hz(s);
    rel->exact = true;
    return true;
#else
    rel->why = "TCG on a non-x86 host: the guest TSC is not a host TSC";
    return false;
#endif
}

const PvclockCounterBackend pvclock_counter_tcg = {
    .name = "tcg",
    .abi_backend = PVCP_BACKEND_TCG,
    /* A guest WRMSR to IA32_TSC changes env->tsc_offset: the 1 Hz watch. */
    .get = tcg_counter_get,
};
