/*
 * pvclock-pages: the guest counter under KVM.
 *
 * KVM runs the guest TSC as floor(host TSC * ratio / 2^frac) + offset
 * and reports the offset through the KVM_VCPU_TSC_OFFSET vCPU attribute
 * (Linux 5.16+) and the rates through KVM_GET_TSC_KHZ (the vCPU's: the
 * rate the guest was given; the VM's: the host's).  The ratio itself is
 * not reported: relation.c recomputes it with KVM's own rules, the
 * tolerance within which KVM does not scale at all and the catch-up mode
 * it falls back to without hardware scaling.
 *
 * vCPU ioctls run in the vCPU's own thread (run_on_cpu()): from the main
 * loop they would wait for the vCPU mutex, which KVM_RUN holds for as
 * long as the vCPU sits in the kernel.  Each read is one exit per vCPU,
 * so the device reads only on events (VM start, after a reset, hot-plug).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-pages-cpu.h"

#ifdef CONFIG_KVM
#include <linux/kvm.h>

/* KVM's TSC scaling ratio format: 48 fraction bits on VMX, 32 on SVM. */
static unsigned kvm_counter_ratio_frac_bits(void)
{
    switch (pvcp_cpu_vendor()) {
    case PVCP_CPU_INTEL:
        return 48;
    case PVCP_CPU_AMD:
        return 32;
    default:
        return 0;
    }
}

/* kvm.tsc_tolerance_ppm, 250 unless the administrator changed it. */
static uint32_t kvm_counter_tolerance_ppm(void)
{
    g_autofree char *text = NULL;
    uint64_t v;

    if (!g_file_get_contents("/sys/module/kvm/parameters/tsc_tolerance_ppm",
                             &text, NULL, NULL) ||
        qemu_strtou64(g_strstrip(text), NULL, 10, &v) || v > 1000000) {
        return 250;
    }
    return v;
}

typedef struct KvmVcpuTsc {
    uint64_t offset;
    int64_t khz;
    bool have_offset;
} KvmVcpuTsc;

/* In the vCPU's thread: its TSC offset and frequency. */
static void kvm_counter_read_vcpu(CPUState *cs, run_on_cpu_data data)
{
    KvmVcpuTsc *t = data.host_ptr;
    struct kvm_device_attr attr = {
        .group = KVM_VCPU_TSC_CTRL,
        .attr = KVM_VCPU_TSC_OFFSET,
        .addr = (uintptr_t)&t->offset,
    };

    t->have_offset = kvm_vcpu_ioctl(cs, KVM_GET_DEVICE_ATTR, &attr) == 0;
    t->khz = kvm_vcpu_ioctl(cs, KVM_GET_TSC_KHZ);
}

static void kvm_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    PvclockKvmTsc kt = { 0 };
    bool first = true;
    int64_t host_khz;
    CPUState *cs;

    rel->kind = PVCLOCK_REL_UNKNOWN;
    rel->flags = PVCP_RELATION_F_TSC_WRITES_UNSEEN;
    CPU_FOREACH(cs) {
        KvmVcpuTsc t = { 0 };

        run_on_cpu(cs, kvm_counter_read_vcpu, RUN_ON_CPU_HOST_PTR(&t));
        if (!t.have_offset) {
            rel->why = "KVM does not report the vCPU TSC offset "
                       "(KVM_VCPU_TSC_OFFSET needs Linux 5.16 or later)";
            return;
        }
        if (t.khz <= 0 || t.khz > UINT32_MAX) {
            rel->why = "KVM does not report the guest TSC frequency";
            return;
        }
        if (first) {
            kt.offset = t.offset;
            kt.vcpu_khz = t.khz;
            first = false;
        } else if (t.offset != kt.offset || t.khz != kt.vcpu_khz) {
            rel->why = "vCPUs have different TSC offsets or frequencies";
            return;
        }
    }
    /* the VM's KVM_GET_TSC_KHZ: the host's rate (KVM_CAP_VM_TSC_CONTROL) */
    host_khz = kvm_vm_ioctl(kvm_state, KVM_GET_TSC_KHZ);
    if (host_khz <= 0 || host_khz > UINT32_MAX) {
        rel->why = "KVM does not report the host TSC frequency "
                   "(KVM_CAP_VM_TSC_CONTROL, Linux 6.0 or later)";
        return;
    }
    kt.host_khz = host_khz;
    kt.tsc_control = kvm_check_extension(kvm_state, KVM_CAP_TSC_CONTROL) > 0;
    kt.frac_bits = kvm_counter_ratio_frac_bits();
    kt.tolerance_ppm = kvm_counter_tolerance_ppm();
    pvclock_kvm_tsc_relation(&kt, rel);
}
#else
static void kvm_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    rel->kind = PVCLOCK_REL_UNKNOWN;
    rel->why = "QEMU built without KVM";
}
#endif

const PvclockCounterBackend pvclock_counter_kvm = {
    .name = "kvm",
    .abi_backend = PVCP_BACKEND_KVM,
    /* a reset writes IA32_TSC (kvm_put_msrs(), KVM_PUT_RESET_STATE) */
    .reset_writes_counter = true,
    .get = kvm_counter_get,
};
