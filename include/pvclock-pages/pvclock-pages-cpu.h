/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-pages: the x86 primitives every reader and writer of the pages
 * needs, defined once: the seqcount barriers and the ordered counter
 * read.  Used by libpvclock, the helper, QEMU's device (pvclock-vvar.h)
 * and the tests.
 */
#ifndef PVCLOCK_PAGES_CPU_H
#define PVCLOCK_PAGES_CPU_H

#include <stdint.h>

/*
 * x86 keeps loads in order with loads and stores with stores, so both
 * sides of a seqcount only have to stop the compiler (as the kernel's
 * smp_rmb()/smp_wmb() there).
 */
#define pvcp_rmb()  __atomic_signal_fence(__ATOMIC_ACQUIRE)
#define pvcp_wmb()  __atomic_signal_fence(__ATOMIC_RELEASE)

/*
 * How a counter read is kept from running before the loads that precede
 * it (the seq load of a read): LFENCE; RDTSC where LFENCE is known to
 * be dispatch serializing (every Intel CPU; AMD and Hygon CPUs that say
 * so in CPUID 0x80000021 EAX bit 2), RDTSCP otherwise, as the kernel's
 * rdtsc_ordered().  Both order the read the same way; LFENCE; RDTSC is
 * the cheaper of the two on the CPUs that allow it (15.0 against
 * 17.1 ns on this project's AMD EPYC, docs/benchmarks.md).
 */
enum pvcp_counter_order {
    PVCP_ORDER_LFENCE = 0,
    PVCP_ORDER_RDTSCP = 1,
};

static inline void pvcp_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b,
                              uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                     : "a"(leaf), "c"(0));
}

/* The CPU's vendor, from CPUID leaf 0 (KVM's scaling format follows it). */
enum pvcp_cpu_vendor {
    PVCP_CPU_OTHER,
    PVCP_CPU_INTEL,
    PVCP_CPU_AMD,           /* AMD and Hygon */
};

static inline enum pvcp_cpu_vendor pvcp_cpu_vendor(void)
{
    uint32_t max, b, c, d;

    pvcp_cpuid(0, &max, &b, &c, &d);
    if (b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e) {
        return PVCP_CPU_INTEL;                  /* GenuineIntel */
    }
    if ((b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) ||
        (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975)) {
        return PVCP_CPU_AMD;                    /* AuthenticAMD, HygonGenuine */
    }
    return PVCP_CPU_OTHER;
}

/* CPUID is slow (a VM exit in a guest): callers detect once and keep it. */
static inline enum pvcp_counter_order pvcp_counter_order_detect(void)
{
    uint32_t ext, a, b, c, d;

    if (pvcp_cpu_vendor() == PVCP_CPU_INTEL) {
        return PVCP_ORDER_LFENCE;   /* LFENCE has always been serializing */
    }
    pvcp_cpuid(0x80000000u, &ext, &b, &c, &d);
    if (ext >= 0x80000021u) {
        pvcp_cpuid(0x80000021u, &a, &b, &c, &d);
        if (a & (1u << 2)) {
            return PVCP_ORDER_LFENCE;
        }
    }
    if (ext >= 0x80000001u) {
        pvcp_cpuid(0x80000001u, &a, &b, &c, &d);
        if (d & (1u << 27)) {
            return PVCP_ORDER_RDTSCP;
        }
    }
    return PVCP_ORDER_LFENCE;   /* nothing better exists */
}

/* The TSC, read no earlier than the loads before it. */
static inline uint64_t pvcp_counter_read(enum pvcp_counter_order order)
{
    /*
     * 64-bit outputs (RDTSC and RDTSCP clear bits 63:32 of RAX and RDX):
     * a 32-bit half spilled and reloaded as part of a 64-bit value would
     * miss store-to-load forwarding, in the read's critical path.
     */
    uint64_t lo, hi;
    uint32_t aux;

    if (__builtin_expect(order == PVCP_ORDER_LFENCE, 1)) {
        __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    } else {
        __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)
                         :: "memory");
    }
    return (hi << 32) | lo;
}

#endif /* PVCLOCK_PAGES_CPU_H */
