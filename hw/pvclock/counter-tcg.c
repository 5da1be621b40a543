/*
 * pvclock-pages: the guest counter under TCG.
 *
 * x86 TCG computes RDTSC as cpu_get_ticks() (plus env->tsc_offset, which
 * only an SVM nested guest's VMRUN sets, for that L2 guest), and with
 * icount off cpu_get_ticks() is the host TSC plus timers_state's
 * cpu_ticks_offset, which QEMU moves at every stop/cont so the guest's
 * TSC does not run while the VM is stopped.  While it is stopped the
 * offset holds the absolute tick count instead, so the relation is only
 * defined while the ticks run.  cpu_get_ticks() never returns less than
 * it did before: when the offset would take the ticks back (loadvm in
 * the same process restores an older offset), its first call moves the
 * offset up so that the ticks go on from their last value.  So the
 * relation is read after one such call, from the offset as corrected.
 * TCG does not emulate guest writes to IA32_TSC.  Read as QEMU applies
 * it; nothing is estimated.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/seqlock.h"
#include "system/cpu-timers.h"
#include "system/cpu-timers-internal.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "hw/pvclock/pvclock-compat.h"

/* QEMU's tick offset, and whether the ticks run (else it is absolute). */
static bool tcg_ticks_running(int64_t *ticks_offset)
{
    bool enabled;

    cpu_get_ticks();            /* apply its no-going-back correction */
    qemu_spin_lock(&timers_state.vm_clock_lock);
    *ticks_offset = timers_state.cpu_ticks_offset;
    enabled = timers_state.cpu_ticks_enabled;
    qemu_spin_unlock(&timers_state.vm_clock_lock);
    return enabled;
}

static void tcg_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    rel->kind = PVCLOCK_REL_UNKNOWN;
#ifdef HOST_X86_64
    int64_t ticks_offset;

    if (icount_enabled()) {
        rel->why = "TCG with icount: the guest TSC counts instructions";
        return;
    }
    if (!tcg_ticks_running(&ticks_offset)) {
        rel->why = "the VM is stopped: TCG's guest TSC is not running";
        return;
    }
    /* guest = host + ticks_offset */
    rel->kind = PVCLOCK_REL_LINEAR;
    rel->offset = ticks_offset;
    /* the guest TSC runs at the real host TSC's rate */
    rel->guest_hz = pvclock_host_tsc_hz(s);
    rel->why = "TCG: host TSC plus QEMU's tick offset";
#else
    rel->why = "TCG on a non-x86 host: the guest TSC is not a host TSC";
#endif
}

/* While stopped the ticks stand still at cpu_get_ticks(). */
static bool tcg_counter_frozen_at(PvclockPagesState *s, uint64_t *guest)
{
    int64_t ticks_offset;

    if (tcg_ticks_running(&ticks_offset) || icount_enabled()) {
        return false;
    }
    *guest = cpu_get_ticks();
    return true;
}

const PvclockCounterBackend pvclock_counter_tcg = {
    .name = "tcg",
    .abi_backend = PVCP_BACKEND_TCG,
    .get = tcg_counter_get,
    .frozen_at = tcg_counter_frozen_at,
};
