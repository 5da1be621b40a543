/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between the kernels this out-of-tree module is built for.
 * Only this file tests LINUX_VERSION_CODE, so that pvclock-pages.c reads
 * as it would in the tree.
 */
#ifndef PVCP_COMPAT_H
#define PVCP_COMPAT_H

#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/version.h>

/* 6.2 made the class devnode callback take a const struct device */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define PVCP_DEVNODE_CONST
#else
#define PVCP_DEVNODE_CONST const
#endif

/* 6.3 made vm_flags read-only outside the vm_flags_*() helpers */
static inline void pvcp_vm_flags_mod(struct vm_area_struct *vma,
				     vm_flags_t set, vm_flags_t clear)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#else
	vm_flags_mod(vma, set, clear);
#endif
}

/* 6.8 renamed PCI_IRQ_LEGACY to PCI_IRQ_INTX; later kernels drop the old name */
#ifndef PCI_IRQ_INTX
#define PCI_IRQ_INTX PCI_IRQ_LEGACY
#endif

/*
 * 6.9 named the clocksource of a cross-timestamp by ID (CSID_X86_TSC); a
 * module before it would need the TSC's struct clocksource, not exported.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
#define PVCP_HAVE_CS_ID
#endif

#endif
