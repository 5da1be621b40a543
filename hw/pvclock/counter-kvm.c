/*
 * pvclock-pages: the guest counter under KVM.
 *
 * KVM runs the guest TSC as host TSC (scaled by the hardware ratio when
 * the guest frequency differs) plus a per-vCPU offset, and reports the
 * offset through the KVM_VCPU_TSC_OFFSET vCPU attribute (Linux 5.16+).
 * Without scaling the relation is exact; with scaling it is KVM's ratio,
 * recomputed as KVM computes it and inverted, to within two host counts.
 *
 * vCPU ioctls run in the vCPU's own thread (run_on_cpu()): from the main
 * loop they would wait for the vCPU mutex, which KVM_RUN holds for as
 * long as the vCPU sits in the kernel, halted or waiting for a SIPI, so
 * the main loop would stall for as long as the guest idles.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "hw/pvclock/pvclock-pages.h"

#ifdef CONFIG_KVM
#include <linux/kvm.h>

/* KVM's TSC scaling ratio format: 48 fraction bits on VMX, 32 on SVM. */
static unsigned kvm_counter_ratio_frac_bits(void)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
    if (b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e) {
        return 48;      /* GenuineIntel */
    }
    if ((b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) ||
        (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975)) {
        return 32;      /* AuthenticAMD, HygonGenuine */
    }
    return 0;
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

static bool kvm_counter_get(PvclockPagesState *s, PvclockCounterRelation *rel)
{
    uint64_t offset = 0;
    int64_t khz = 0, host_khz;
    bool first = true;
    CPUState *cs;

    CPU_FOREACH(cs) {
        KvmVcpuTsc t = { 0 };
        uint64_t off;
        int64_t vkhz;

        run_on_cpu(cs, kvm_counter_read_vcpu, RUN_ON_CPU_HOST_PTR(&t));
        if (!t.have_offset) {
            rel->why = "KVM does not report the vCPU TSC offset "
                       "(KVM_VCPU_TSC_OFFSET needs Linux 5.16 or later)";
            return false;
        }
        off = t.offset;
        vkhz = t.khz;
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
    rel->guest_hz = (uint64_t)khz * 1000;
    rel->exact = true;
    if (host_khz > 0 && host_khz != khz) {
        /*
         * Scaled: KVM runs guest = ((host * ratio) >> frac) + offset with
         * ratio = (2^frac * guest_khz) / host_khz (kvm_set_tsc_khz()),
         * frac 48 on Intel, 32 on AMD.  Recompute it as KVM does and
         * invert it: within two host counts, not exact.
         */
        unsigned frac = kvm_counter_ratio_frac_bits();
        uint64_t ratio;

        if (!frac) {
            rel->why = "guest TSC is scaled on a CPU whose KVM scaling "
                       "format is unknown";
            rel->exact = false;
            return false;
        }
        ratio = (uint64_t)((((__uint128_t)1 << frac) * (uint64_t)khz) /
                           (uint64_t)host_khz);
        pvclock_pages_relation_scaled(rel, ratio, frac, offset);
        return true;
    }

    rel->mult = 1;
    rel->frac_bits = 0;
    rel->offset = -offset;
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
