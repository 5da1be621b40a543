/*
 * pvclock-pages: the guest counter under KVM.
 *
 * KVM runs the guest TSC as host TSC (scaled by the hardware ratio when
 * the guest frequency differs) plus a per-vCPU offset, and reports the
 * offset through the KVM_VCPU_TSC_OFFSET vCPU attribute (Linux 5.16+).
 * Without scaling the relation is exact.  Scaled guests are reported
 * unreliable until the inverse ratio is implemented.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "hw/pvclock/pvclock-pages.h"

#ifdef CONFIG_KVM
#include <linux/kvm.h>

static bool kvm_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    uint64_t offset = 0;
    int64_t khz = 0, host_khz;
    bool first = true;
    CPUState *cs;

    CPU_FOREACH(cs) {
        uint64_t off;
        struct kvm_device_attr attr = {
            .group = KVM_VCPU_TSC_CTRL,
            .attr = KVM_VCPU_TSC_OFFSET,
            .addr = (uintptr_t)&off,
        };
        int64_t vkhz;

        if (kvm_vcpu_ioctl(cs, KVM_GET_DEVICE_ATTR, &attr) < 0) {
            rel->why = "KVM does not report the vCPU TSC offset "
                       "(KVM_VCPU_TSC_OFFSET needs Linux 5.16 or later)";
            return false;
        }
        vkhz = kvm_vcpu_ioctl(cs, KVM_GET_TSC_KHZ);
        if (vkhz <= 0) {
            rel->why = "KVM does not report the guest TSC frequency";
            return false;
        }
        if (first) {
            offset = off;
            khz = vkhz;
            first = false;
        } else if (off != offset || vkhz != khz) {
            rel->why = "vCPUs have different TSC offsets or frequencies";
            return false;
        }
    }

    /* VM-wide KVM_GET_TSC_KHZ: the host's rate (KVM_CAP_VM_TSC_CONTROL). */
    host_khz = kvm_vm_ioctl(kvm_state, KVM_GET_TSC_KHZ);
    if (host_khz > 0 && host_khz != khz) {
        rel->why = "guest TSC is scaled to another frequency; scaled "
                   "relations are not supported yet";
        return false;
    }

    rel->mult = 1;
    rel->frac_bits = 0;
    rel->offset = -offset;
    rel->guest_hz = (uint64_t)khz * 1000;
    rel->exact = true;
    return true;
}
#else
static bool kvm_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    rel->why = "QEMU built without KVM";
    return false;
}
#endif

const PvclockCounterBackend pvclock_counter_kvm = {
    .name = "kvm",
    .abi_backend = PVCP_BACKEND_KVM,
    .get = kvm_counter_get,
};
