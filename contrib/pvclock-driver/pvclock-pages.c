// SPDX-License-Identifier: GPL-2.0
/*
 * pvclock-pages: the host's clocks in a guest, mapped write-back.
 *
 * The QEMU device -device pvclock-pages (PCI 1af4:10f0) exposes the host's
 * timekeeping pages and this guest's offset page in BAR0 (layout in
 * pvclock-pages-abi.h).  Through sysfs resource0 a guest gets them only as
 * root, never under lockdown, and uncached (pgprot_device() is UC- on
 * x86), so every load of a clock read is an uncached access.
 *
 * This driver offers each device as /dev/pvclock-pagesN: a read-only
 * mmap of the whole BAR at file offset 0, write-back, for any user the
 * node's mode lets in (0444 by default), and read() of the same bytes.
 *
 * Memory type.  probe() reserves the BAR write-back with memremap(): a
 * PFN map's memory type on x86 is whatever the range is reserved as
 * (track_pfn_insert()), and an unreserved range would be UC-.  MTRRs
 * still win: if the firmware placed the BAR in a range its MTRRs make
 * uncached (SeaBIOS: the 32-bit PCI hole), the reservation becomes UC-
 * and so do the mappings; see docs/driver.md.
 *
 * Disruption interrupt.  When the device has BAR2 (not interrupts=off),
 * probe() takes one vector (MSI-X, else INTx) and enables
 * PVCP_IRQ_DISRUPTION in IER.  The device raises it once per change of
 * the offset page's status or disruption count; each one handled bumps
 * the device's event count and wakes poll().  A file is readable while
 * the count differs from the one it last acknowledged, and every
 * successful read() acknowledges the count as it was just before the
 * read copied the bytes: an event arriving after that point leaves the
 * file readable, so none is lost between a wakeup and its read.
 *
 * Removal.  User mappings are inserted one page at a time by the fault
 * handler, from an address space of the driver's own (not the device
 * node's inode, which differs per devtmpfs mount or mknod), so that
 * remove() can zap every mapping of the device with unmap_mapping_range().
 * Later accesses fault and get SIGBUS; open files get -ENODEV.
 */

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/pseudo_fs.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#define PVCP_KERNEL
#include "pvclock-pages-abi.h"
#include "compat.h"

#define PVCP_NAME		"pvclock-pages"
#define PVCP_MAX_DEVICES	64
#define PVCP_FS_MAGIC		0x50564350	/* "PVCP" */

struct pvcp_dev {
	struct device dev;		/* /sys/class/pvclock-pages/pvclock-pagesN */
	struct cdev cdev;
	struct pci_dev *pdev;
	struct inode *inode;		/* owns the address space of all mappings */
	struct rw_semaphore lock;	/* gone against faults and reads */
	bool gone;			/* the PCI device was removed */
	phys_addr_t start;
	size_t len;
	void *virt;			/* write-back kernel mapping, for read() */
	void __iomem *regs;		/* BAR2, or NULL: no interrupt */
	int irq;
	atomic_t events;		/* disruption interrupts handled */
	wait_queue_head_t wait;		/* poll(): events moved, or gone */
	int minor;
};

/* One open file: the event count it last acknowledged. */
struct pvcp_file {
	struct pvcp_dev *pd;
	int seen;
};

static dev_t pvcp_devt;
static DEFINE_IDA(pvcp_ida);
static struct vfsmount *pvcp_mnt;
static int pvcp_mnt_count;

static int pvcp_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, PVCP_FS_MAGIC) ? 0 : -ENOMEM;
}

/* No .owner: the pinned mount must not hold the module. */
static struct file_system_type pvcp_fs_type = {
	.name = PVCP_NAME,
	.init_fs_context = pvcp_init_fs_context,
	.kill_sb = kill_anon_super,
};

static char *pvcp_devnode(PVCP_DEVNODE_CONST struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0444;
	return NULL;
}

static struct class pvcp_class = {
	.name = PVCP_NAME,
	.devnode = pvcp_devnode,
};

static ssize_t interrupts_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct pvcp_dev *pd = container_of(dev, struct pvcp_dev, dev);

	return sysfs_emit(buf, "%u\n", (unsigned int)atomic_read(&pd->events));
}
static DEVICE_ATTR_RO(interrupts);

static struct attribute *pvcp_attrs[] = {
	&dev_attr_interrupts.attr,
	NULL
};
ATTRIBUTE_GROUPS(pvcp);

static vm_fault_t pvcp_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct pvcp_dev *pd = vma->vm_private_data;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	/* remove() zaps after setting gone: no insert can follow its zap */
	down_read(&pd->lock);
	if (!pd->gone && vmf->pgoff < pd->len >> PAGE_SHIFT)
		ret = vmf_insert_pfn_prot(vma, vmf->address,
					  PHYS_PFN(pd->start) + vmf->pgoff,
					  vma->vm_page_prot);
	up_read(&pd->lock);
	return ret;
}

static const struct vm_operations_struct pvcp_vm_ops = {
	.fault = pvcp_fault,
};

static int pvcp_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct pvcp_file *pf = file->private_data;
	struct pvcp_dev *pd = pf->pd;
	unsigned long pages = vma_pages(vma);

	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (vma->vm_pgoff >= pd->len >> PAGE_SHIFT ||
	    pages > (pd->len >> PAGE_SHIFT) - vma->vm_pgoff)
		return -EINVAL;
	if (READ_ONCE(pd->gone))
		return -ENODEV;
	/* without VM_MAYWRITE, mprotect() cannot add PROT_WRITE later */
	pvcp_vm_flags_mod(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP,
			  VM_MAYWRITE);
	vma->vm_ops = &pvcp_vm_ops;
	vma->vm_private_data = pd;
	return 0;
}

static ssize_t pvcp_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct pvcp_file *pf = file->private_data;
	struct pvcp_dev *pd = pf->pd;
	loff_t pos = *ppos;
	ssize_t ret;
	int events;

	if (pos < 0)
		return -EINVAL;
	events = atomic_read(&pd->events);
	/* the count before the bytes: the device writes, then raises */
	smp_rmb();
	down_read(&pd->lock);
	if (pd->gone) {
		ret = -ENODEV;
	} else if (pos >= pd->len) {
		ret = 0;
	} else {
		count = min_t(size_t, count, pd->len - pos);
		ret = copy_to_user(buf, pd->virt + pos, count) ? -EFAULT : count;
	}
	up_read(&pd->lock);
	if (ret >= 0)
		WRITE_ONCE(pf->seen, events);
	if (ret > 0)
		*ppos = pos + ret;
	return ret;
}

static __poll_t pvcp_poll(struct file *file, poll_table *wait)
{
	struct pvcp_file *pf = file->private_data;
	struct pvcp_dev *pd = pf->pd;

	poll_wait(file, &pd->wait, wait);
	if (READ_ONCE(pd->gone))
		return EPOLLHUP | EPOLLERR;
	if (atomic_read(&pd->events) != READ_ONCE(pf->seen))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

static loff_t pvcp_llseek(struct file *file, loff_t offset, int whence)
{
	struct pvcp_file *pf = file->private_data;

	return fixed_size_llseek(file, offset, whence, pf->pd->len);
}

static int pvcp_open(struct inode *inode, struct file *file)
{
	struct pvcp_dev *pd = container_of(inode->i_cdev, struct pvcp_dev, cdev);
	struct pvcp_file *pf;

	if (READ_ONCE(pd->gone))
		return -ENODEV;
	pf = kzalloc(sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	get_device(&pd->dev);
	pf->pd = pd;
	pf->seen = atomic_read(&pd->events);
	file->private_data = pf;
	/* one address space per device, whichever node was opened */
	file->f_mapping = pd->inode->i_mapping;
	return 0;
}

static int pvcp_release(struct inode *inode, struct file *file)
{
	struct pvcp_file *pf = file->private_data;

	put_device(&pf->pd->dev);
	kfree(pf);
	return 0;
}

static const struct file_operations pvcp_fops = {
	.owner = THIS_MODULE,
	.open = pvcp_open,
	.release = pvcp_release,
	.read = pvcp_read,
	.llseek = pvcp_llseek,
	.mmap = pvcp_mmap,
	.poll = pvcp_poll,
};

static void pvcp_dev_release(struct device *dev)
{
	struct pvcp_dev *pd = container_of(dev, struct pvcp_dev, dev);

	if (pd->inode) {
		iput(pd->inode);
		simple_release_fs(&pvcp_mnt, &pvcp_mnt_count);
	}
	if (pd->minor >= 0)
		ida_free(&pvcp_ida, pd->minor);
	kfree(pd);
}

static int pvcp_map_bar(struct pci_dev *pdev, struct pvcp_dev *pd)
{
	const struct pvcp_offset_page *op;
	int ret;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE ||
	    !PAGE_ALIGNED(pci_resource_start(pdev, 0))) {
		pci_err(pdev, "BAR0 is not a page-aligned memory BAR of at least %u bytes\n",
			PVCP_BAR_OFFSET_PAGE + PVCP_PAGE_SIZE);
		return -ENODEV;
	}
	ret = pci_request_region(pdev, 0, PVCP_NAME);
	if (ret)
		return ret;
	pd->start = pci_resource_start(pdev, 0);
	pd->len = PAGE_ALIGN(pci_resource_len(pdev, 0));
	/* not pci_iomap(): that would reserve the range UC- */
	pd->virt = memremap(pd->start, pd->len, MEMREMAP_WB);
	if (!pd->virt) {
		pci_release_region(pdev, 0);
		return -ENOMEM;
	}
	op = pd->virt + PVCP_BAR_OFFSET_PAGE;
	if (le32_to_cpu(READ_ONCE(op->magic)) != PVCP_OFFSET_MAGIC)
		pci_warn(pdev, "offset page magic %#x, expected %#x\n",
			 le32_to_cpu(READ_ONCE(op->magic)), PVCP_OFFSET_MAGIC);
	else if (le16_to_cpu(READ_ONCE(op->abi_major)) != PVCP_ABI_MAJOR)
		pci_warn(pdev, "ABI major %u, this driver knows %u\n",
			 le16_to_cpu(READ_ONCE(op->abi_major)), PVCP_ABI_MAJOR);
	return 0;
}

static void pvcp_unmap_bar(struct pci_dev *pdev, struct pvcp_dev *pd)
{
	memunmap(pd->virt);
	pci_release_region(pdev, 0);
}

static irqreturn_t pvcp_irq(int irq, void *data)
{
	struct pvcp_dev *pd = data;
	/* reading ISR clears it and lowers INTx */
	u32 isr = ioread32(pd->regs + PVCP_REG_ISR);

	if (!(isr & PVCP_IRQ_DISRUPTION) && !pd->pdev->msix_enabled)
		return IRQ_NONE;	/* INTx: another device on the line */
	atomic_inc(&pd->events);
	wake_up_interruptible(&pd->wait);
	return IRQ_HANDLED;
}

/* BAR2's disruption interrupt, if the device has it (not interrupts=off). */
static int pvcp_setup_irq(struct pci_dev *pdev, struct pvcp_dev *pd)
{
	unsigned long flags = 0;
	int ret;

	if (!(pci_resource_flags(pdev, PVCP_REGS_BAR) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, PVCP_REGS_BAR) < PVCP_REGS_SIZE) {
		pci_info(pdev, "%s: no BAR2 (interrupts=off): no disruption interrupt, poll() reports no events\n",
			 dev_name(&pd->dev));
		return 0;
	}
	ret = pci_request_region(pdev, PVCP_REGS_BAR, PVCP_NAME);
	if (ret)
		return ret;
	/* registers: uncached is right, unlike BAR0 */
	pd->regs = pci_iomap(pdev, PVCP_REGS_BAR, PVCP_REGS_SIZE);
	if (!pd->regs) {
		ret = -ENOMEM;
		goto err_region;
	}
	/* an MSI-X message is a write by the device */
	pci_set_master(pdev);
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX | PCI_IRQ_INTX);
	if (ret < 0)
		goto err_unmap;
	pd->irq = pci_irq_vector(pdev, 0);
	if (!pdev->msix_enabled)
		flags = IRQF_SHARED;
	ret = request_irq(pd->irq, pvcp_irq, flags, dev_name(&pd->dev), pd);
	if (ret)
		goto err_vectors;
	iowrite32(PVCP_IRQ_DISRUPTION, pd->regs + PVCP_REG_IER);
	pci_info(pdev, "%s: disruption interrupt: %s, irq %d\n",
		 dev_name(&pd->dev), pdev->msix_enabled ? "MSI-X" : "INTx",
		 pd->irq);
	return 0;

err_vectors:
	pci_free_irq_vectors(pdev);
err_unmap:
	pci_clear_master(pdev);
	pci_iounmap(pdev, pd->regs);
	pd->regs = NULL;
err_region:
	pci_release_region(pdev, PVCP_REGS_BAR);
	return ret;
}

static void pvcp_free_irq(struct pci_dev *pdev, struct pvcp_dev *pd)
{
	if (!pd->regs)
		return;
	iowrite32(0, pd->regs + PVCP_REG_IER);
	free_irq(pd->irq, pd);
	pci_free_irq_vectors(pdev);
	pci_clear_master(pdev);
	pci_iounmap(pdev, pd->regs);
	pd->regs = NULL;
	pci_release_region(pdev, PVCP_REGS_BAR);
}

static int pvcp_new_inode(struct pvcp_dev *pd)
{
	struct inode *inode;
	int ret;

	ret = simple_pin_fs(&pvcp_fs_type, &pvcp_mnt, &pvcp_mnt_count);
	if (ret)
		return ret;
	inode = alloc_anon_inode(pvcp_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		simple_release_fs(&pvcp_mnt, &pvcp_mnt_count);
		return PTR_ERR(inode);
	}
	pd->inode = inode;
	return 0;
}

static int pvcp_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct pvcp_dev *pd;
	int ret;

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return -ENOMEM;
	pd->pdev = pdev;
	init_rwsem(&pd->lock);
	init_waitqueue_head(&pd->wait);
	device_initialize(&pd->dev);
	pd->dev.class = &pvcp_class;
	pd->dev.groups = pvcp_groups;
	pd->dev.parent = &pdev->dev;
	pd->dev.release = pvcp_dev_release;
	pd->minor = ida_alloc_max(&pvcp_ida, PVCP_MAX_DEVICES - 1, GFP_KERNEL);
	if (pd->minor < 0) {
		ret = pd->minor;
		goto err_put;
	}
	pd->dev.devt = MKDEV(MAJOR(pvcp_devt), pd->minor);
	ret = dev_set_name(&pd->dev, PVCP_NAME "%d", pd->minor);
	if (ret)
		goto err_put;
	ret = pvcp_new_inode(pd);
	if (ret)
		goto err_put;

	ret = pci_enable_device_mem(pdev);
	if (ret)
		goto err_put;
	ret = pvcp_map_bar(pdev, pd);
	if (ret)
		goto err_disable;
	ret = pvcp_setup_irq(pdev, pd);
	if (ret)
		goto err_unmap;

	cdev_init(&pd->cdev, &pvcp_fops);
	pd->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&pd->cdev, &pd->dev);
	if (ret)
		goto err_irq;
	pci_set_drvdata(pdev, pd);
	pci_info(pdev, "%s: BAR0 %pa+%#zx, asked for write-back\n",
		 dev_name(&pd->dev), &pd->start, pd->len);
	/* PAT cannot undo an uncached MTRR; the driver cannot see which won */
	if (pd->start < SZ_4G)
		pci_notice(pdev, "BAR0 is below 4 GiB, where firmware MTRRs usually make it uncached (x86/pat_memtype_list in debugfs says)\n");
	return 0;

err_irq:
	pvcp_free_irq(pdev, pd);
err_unmap:
	pvcp_unmap_bar(pdev, pd);
err_disable:
	pci_disable_device(pdev);
err_put:
	put_device(&pd->dev);
	return ret;
}

static void pvcp_remove(struct pci_dev *pdev)
{
	struct pvcp_dev *pd = pci_get_drvdata(pdev);

	cdev_device_del(&pd->cdev, &pd->dev);
	down_write(&pd->lock);
	pd->gone = true;
	up_write(&pd->lock);
	/* pollers see EPOLLHUP */
	wake_up_interruptible(&pd->wait);
	/* every user mapping, whichever node it came from; faults now SIGBUS */
	unmap_mapping_range(pd->inode->i_mapping, 0, 0, 1);
	pvcp_free_irq(pdev, pd);
	pvcp_unmap_bar(pdev, pd);
	pci_disable_device(pdev);
	pci_info(pdev, "%s: removed\n", dev_name(&pd->dev));
	put_device(&pd->dev);
}

static const struct pci_device_id pvcp_ids[] = {
	{ PCI_DEVICE(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvcp_ids);

static struct pci_driver pvcp_driver = {
	.name = PVCP_NAME,
	.id_table = pvcp_ids,
	.probe = pvcp_probe,
	.remove = pvcp_remove,
};

static int __init pvcp_init(void)
{
	int ret;

	BUILD_BUG_ON(PVCP_BAR_SIZE % PAGE_SIZE);
	ret = alloc_chrdev_region(&pvcp_devt, 0, PVCP_MAX_DEVICES, PVCP_NAME);
	if (ret)
		return ret;
	ret = class_register(&pvcp_class);
	if (ret)
		goto err_chrdev;
	ret = pci_register_driver(&pvcp_driver);
	if (ret)
		goto err_class;
	return 0;

err_class:
	class_unregister(&pvcp_class);
err_chrdev:
	unregister_chrdev_region(pvcp_devt, PVCP_MAX_DEVICES);
	return ret;
}

static void __exit pvcp_exit(void)
{
	pci_unregister_driver(&pvcp_driver);
	class_unregister(&pvcp_class);
	unregister_chrdev_region(pvcp_devt, PVCP_MAX_DEVICES);
	ida_destroy(&pvcp_ida);
}

module_init(pvcp_init);
module_exit(pvcp_exit);

MODULE_DESCRIPTION("pvclock-pages: the host's clocks, mapped write-back for any user");
MODULE_LICENSE("GPL");
