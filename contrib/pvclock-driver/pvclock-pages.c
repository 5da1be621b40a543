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
 * mmap of the BAR's memory at file offset 0, write-back, for any user
 * the node's mode lets in (0444 by default), and read() of the same
 * bytes.  The BAR's memory is the host pages and the offset page (0 to
 * 0x5000), and the live page (0x5000) while the offset page says the
 * device has one mapped; the rest is MMIO, where every access is a VM
 * exit into the VMM under its big lock, so no user may reach it: mmap()
 * there fails with EINVAL, read() there returns 0 bytes.
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
 * PTP clock.  Each device also registers a PHC, /dev/ptpN (a child of
 * the PCI device in sysfs, clock_name "pvclock-pages"), whose time is the
 * host's CLOCK_REALTIME through the device, or its CLOCK_TAI with the
 * module parameter tai=1: the offset page's recommended counter domain,
 * unsmeared, read from the guest TSC exactly as libpvclock reads it.  It
 * offers gettimex64 (the system time read right before and after the
 * TSC) and, on kernels whose crosststamp interface names clocksources by
 * ID (6.9 and later), getcrosststamp against the guest's TSC clocksource.
 * It cannot be set or steered.  See docs/driver.md for why REALTIME.
 *
 * The guest's own clock.  With the module parameter set_clock (on by
 * default), a work item steps the guest kernel's CLOCK_REALTIME to the
 * host's, with do_settimeofday64(), at probe and after each disruption
 * interrupt whose disruption count differs from the one last acted on:
 * a migration, a snapshot restore, a helper restart or a host step
 * leaves the guest's clock wherever its stopped or restored counter put
 * it.  Only a page with status VALID is followed (never a stale one), the
 * time read by the PHC's own path, and differences under set_clock_min_ns
 * are left alone.  Nothing periodic: an NTP daemon keeps the clock
 * between disruptions.  See docs/driver.md for chronyd beside it.
 *
 * Removal.  User mappings are inserted one page at a time by the fault
 * handler, from an address space of the driver's own (not the device
 * node's inode, which differs per devtmpfs mount or mknod), so that
 * remove() can zap every mapping of the device with unmap_mapping_range().
 * Later accesses fault and get SIGBUS; open files get -ENODEV.  No file
 * operation sleeps on user memory while holding the lock remove() takes:
 * read() copies the bytes to a kernel buffer under it and to the user
 * after, so a reader whose buffer faults for ever (userfaultfd, FUSE)
 * cannot hold up the removal, nor take the lock inside the mmap lock
 * against the fault handler's order.
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
#include <linux/ptp_clock_kernel.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <asm/tsc.h>

#define PVCP_KERNEL
#include "pvclock-pages-abi.h"
#include "pvclock-pages-calc.h"
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
	struct work_struct live_work;	/* zap the live page if now a hole */
	struct work_struct clock_work;	/* step the guest's clock */
	u64 clock_count;		/* disruption count last acted on */
	bool clock_seen;		/* clock_count is set (probe's step done) */
	wait_queue_head_t wait;		/* poll(): events moved, or gone */
	int minor;
	struct ptp_clock_info ptp_info;
	struct ptp_clock *ptp;		/* NULL: no PHC */
	struct pvcp_phc_snap *phc_snap;	/* copies of the pages: PHC, clock_work */
	spinlock_t phc_lock;		/* guards phc_snap */
};

/* One open file: the event count it last acknowledged. */
struct pvcp_file {
	struct pvcp_dev *pd;
	int seen;
};

/*
 * On by default: a guest that was paused, restored or moved is wrong by
 * the pause or the snapshot's age until something sets it, and the
 * device knows the host's time exactly the moment it resumes.  Off for
 * a guest whose clock must follow something other than this host.
 */
static bool set_clock = true;
module_param(set_clock, bool, 0644);
MODULE_PARM_DESC(set_clock, "step the guest's CLOCK_REALTIME to the host's at probe and at each disruption (default on)");

/*
 * chronyd on the PHC keeps the guest within tens of ns of the host; a
 * disruption that left the clock alone (a helper restart) must not
 * replace that by a step's own error.  1 us is above both.
 */
static uint set_clock_min_ns = 1000;
module_param(set_clock_min_ns, uint, 0644);
MODULE_PARM_DESC(set_clock_min_ns, "leave the guest's clock alone when it is within this many ns of the host's (default 1000)");

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

/* The most of the BAR that can be memory: up to the end of the live page. */
#define PVCP_MEM_MAX		(PVCP_BAR_LIVE_PAGE + PVCP_PAGE_SIZE)

/*
 * How many bytes from the start of BAR0 are memory now: the live page
 * only while the offset page says the device maps one (MAPPED, or VALID
 * from devices older than that flag).  Under pd->lock, not gone.
 */
static size_t pvcp_mem_len(struct pvcp_dev *pd)
{
	const struct pvcp_offset_page *op = pd->virt + PVCP_BAR_OFFSET_PAGE;
	u32 flags = le32_to_cpu(READ_ONCE(op->live.flags));
	size_t len = PVCP_BAR_LIVE_PAGE;

	if (flags & (PVCP_LIVE_F_VALID | PVCP_LIVE_F_MAPPED))
		len = PVCP_MEM_MAX;
	return min(len, pd->len);
}

/*
 * After a disruption (a migration to a host whose QEMU has no live page):
 * if page 5 became a hole, take it out of every mapping; the next access
 * faults and gets SIGBUS.  Write-locked, so no fault that saw it memory
 * inserts after the zap.
 */
static void pvcp_live_work(struct work_struct *work)
{
	struct pvcp_dev *pd = container_of(work, struct pvcp_dev, live_work);

	down_write(&pd->lock);
	if (!pd->gone && pvcp_mem_len(pd) <= PVCP_BAR_LIVE_PAGE)
		unmap_mapping_range(pd->inode->i_mapping, PVCP_BAR_LIVE_PAGE,
				    PVCP_PAGE_SIZE, 1);
	up_write(&pd->lock);
}

static vm_fault_t pvcp_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct pvcp_dev *pd = vma->vm_private_data;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	/* remove() zaps after setting gone: no insert can follow its zap */
	down_read(&pd->lock);
	if (!pd->gone && vmf->pgoff < pvcp_mem_len(pd) >> PAGE_SHIFT)
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
	unsigned long pages = vma_pages(vma), mem;
	int ret = 0;

	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	down_read(&pd->lock);
	if (pd->gone) {
		ret = -ENODEV;
	} else {
		/* only memory: an MMIO hole would be a VM exit per access */
		mem = pvcp_mem_len(pd) >> PAGE_SHIFT;
		if (vma->vm_pgoff >= mem || pages > mem - vma->vm_pgoff)
			ret = -EINVAL;
	}
	up_read(&pd->lock);
	if (ret)
		return ret;
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
	void *bounce;
	ssize_t ret;
	size_t mem;
	int events;

	if (pos < 0)
		return -EINVAL;
	count = min_t(size_t, count, PVCP_MEM_MAX);
	bounce = kvmalloc(max_t(size_t, count, 1), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	events = atomic_read(&pd->events);
	/* the count before the bytes: the device writes, then raises */
	smp_rmb();
	down_read(&pd->lock);
	if (pd->gone) {
		ret = -ENODEV;
	} else {
		mem = pvcp_mem_len(pd);
		ret = pos < mem ? min_t(size_t, count, mem - pos) : 0;
		if (ret > 0)
			memcpy(bounce, pd->virt + pos, ret);
	}
	up_read(&pd->lock);
	/* the user's buffer may fault for ever: never under the lock */
	if (ret > 0 && copy_to_user(buf, bounce, ret))
		ret = -EFAULT;
	kvfree(bounce);
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

	return fixed_size_llseek(file, offset, whence,
				 min_t(size_t, pf->pd->len, PVCP_MEM_MAX));
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
	kfree(pd->phc_snap);
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
	else if (le16_to_cpu(READ_ONCE(op->abi_minor)) < PVCP_OFFSET_MINOR_MIN)
		pci_warn(pdev, "offset page of ABI 1.%u, before 1.%u: its device is too old to read the host's time from\n",
			 le16_to_cpu(READ_ONCE(op->abi_minor)),
			 PVCP_OFFSET_MINOR_MIN);
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
	schedule_work(&pd->live_work);
	if (READ_ONCE(set_clock))
		schedule_work(&pd->clock_work);
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

static bool tai;
module_param(tai, bool, 0444);
MODULE_PARM_DESC(tai, "the PHC keeps the host's CLOCK_TAI instead of CLOCK_REALTIME (chrony: refclock PHC ... tai)");

/*
 * A PHC read's copies of the two pages.  Only their seq-protected heads
 * are copied (the offset page to the end of the live descriptor, the
 * host page to the end of its check words): every field the checks and
 * the arithmetic use lies there.  One per device, under phc_lock.
 */
#define PVCP_OFFSET_HEAD	offsetof(struct pvcp_offset_page, reserved)
#define PVCP_HOST_HEAD		offsetof(struct pvcp_host_page, reserved2)
#define PVCP_SEQ_TRIES		10000

struct pvcp_phc_snap {
	struct pvcp_offset_page op;
	struct pvcp_host_page hp;
	u32 page;			/* host page index: 0 or 2 */
	u64 tsc;
};

static bool pvcp_seq_begin(const u32 *seqp, u32 *seq)
{
	*seq = READ_ONCE(*seqp);
	/* the seq before what it guards; the writer orders them the other way */
	smp_rmb();
	return !(*seq & 1);
}

/*
 * The protocol of pvclock-pages-abi.h, steps 1-5: both seqs, the counter
 * between the system time stamps of sts, both heads copied, every seq and
 * the generation again.  With SYS, the guest's CLOCK_REALTIME in ns
 * halfway between two reads right around the counter's.  Returns 0 or
 * -EBUSY if a page never settles.
 */
static int pvcp_phc_snapshot(struct pvcp_dev *pd, struct pvcp_phc_snap *s,
			     struct ptp_system_timestamp *sts, s64 *sys)
{
	const struct pvcp_offset_page *op = pd->virt + PVCP_BAR_OFFSET_PAGE;
	const struct pvcp_host_page *hp;
	unsigned long flags;
	u32 oseq, hseq, rec;
	s64 pre = 0, post = 0;
	u64 gen;
	int tries;

	for (tries = 0; tries < PVCP_SEQ_TRIES; tries++, cpu_relax()) {
		if (!pvcp_seq_begin(&op->seq, &oseq))
			continue;
		gen = READ_ONCE(op->generation);
		rec = READ_ONCE(op->recommended_page);
		/* the recommended domain, never its smeared page */
		s->page = rec < PVCP_HOST_PAGES ? rec & PVCP_PAGE_SCALED : 0;
		hp = pd->virt + PVCP_BAR_HOST_PAGE(s->page);
		if (!pvcp_seq_begin(&hp->seq, &hseq))
			continue;
		/* nothing between the system time stamps and the counter */
		local_irq_save(flags);
		if (sys)
			pre = ktime_get_real_ns();
		ptp_read_system_prets(sts);
		s->tsc = rdtsc_ordered();
		ptp_read_system_postts(sts);
		if (sys)
			post = ktime_get_real_ns();
		local_irq_restore(flags);
		if (sys)
			*sys = pre + (post - pre) / 2;
		memcpy(&s->op, op, PVCP_OFFSET_HEAD);
		memcpy(&s->hp, hp, PVCP_HOST_HEAD);
		/* the copies before the seqs are read again */
		smp_rmb();
		if (READ_ONCE(hp->seq) == hseq && READ_ONCE(op->seq) == oseq &&
		    READ_ONCE(op->generation) == gen && s->op.generation == gen)
			return 0;
	}
	return -EBUSY;
}

/* The page's counter domain, PVCP_DOMAIN_*. */
static unsigned int pvcp_phc_domain(const struct pvcp_phc_snap *s)
{
	return s->page & PVCP_PAGE_SCALED ? PVCP_DOMAIN_SCALED :
					    PVCP_DOMAIN_UNSCALED;
}

/*
 * Why the copied pages cannot give a time, or NULL if they can: the
 * validators of pvclock-pages-calc.h, the offset page's first.
 */
static const char *pvcp_phc_refusal(const struct pvcp_phc_snap *s,
				    const char **page)
{
	unsigned int bad;

	*page = "offset page";
	bad = pvcp_offset_page_check(&s->op, pvcp_phc_domain(s));
	if (!bad) {
		*page = "host page";
		bad = pvcp_host_page_check(&s->hp, s->page);
	}
	return bad ? pvcp_bad_why(bad) : NULL;
}

/* What a read of the host's time found besides the time. */
struct pvcp_read_info {
	s64 sys_ns;			/* the guest's REALTIME at that TSC read */
	u32 status;			/* the offset page's PVCP_STATUS_* */
	u64 disruptions;		/* generation + the host page's */
	bool unsync;			/* the host's clock is not synchronised */
};

/*
 * The host's clock CLOCK (PVCP_HRES_*) at one guest TSC reading, that
 * reading in *tsc.  Step 6 of the protocol, on the copies, with
 * pvclock-pages-calc.h's arithmetic: guest TSC to host counter, the
 * simulated host's counter or the kvmclock stage where the page says so,
 * the line.  A stale page (the helper stopped) still gives the last line
 * the host published, as libpvclock's reads do; *info says which it was.
 * WHO prefixes the rate-limited complaints.
 */
static int pvcp_host_read(struct pvcp_dev *pd, unsigned int clock,
			  struct timespec64 *ts, u64 *tsc,
			  struct ptp_system_timestamp *sts,
			  struct pvcp_read_info *info, const char *who)
{
	struct pvcp_phc_snap *s = pd->phc_snap;
	const struct pvcp_host_page *hp = &s->hp;
	const char *why = NULL, *page = NULL;
	struct pvcp_time t;
	u64 host;
	int ret;

	spin_lock(&pd->phc_lock);
	ret = pvcp_phc_snapshot(pd, s, sts, info ? &info->sys_ns : NULL);
	if (!ret)
		why = pvcp_phc_refusal(s, &page);
	if (!ret && !why) {
		host = pvcp_ref_xform_apply(&s->op.ref_xform[pvcp_phc_domain(s)],
					    s->tsc);
		t = pvcp_clock_at(&hp->hres, &hp->hres_base[clock], hp->flags,
				  pvcp_host_cycles(hp->counter_mode,
						   &hp->kvmclock, host));
		ts->tv_sec = (time64_t)t.sec;
		ts->tv_nsec = (long)t.nsec;
		*tsc = s->tsc;
		if (info) {
			info->status = s->op.status;
			info->disruptions = s->op.generation + hp->disruptions;
			info->unsync = hp->flags & PVCP_HOST_F_UNSYNC;
		}
	}
	spin_unlock(&pd->phc_lock);
	if (ret) {
		dev_warn_ratelimited(&pd->dev, "%s: the pages never settled (a seq odd or changing)\n",
				     who);
		return ret;
	}
	if (why) {
		dev_warn_ratelimited(&pd->dev, "%s: no time: %s: %s\n", who, page,
				     why);
		return -EIO;
	}
	return 0;
}

/* The PHC's time: the host's REALTIME, or TAI with tai=1. */
static int pvcp_phc_read(struct pvcp_dev *pd, struct timespec64 *ts, u64 *tsc,
			 struct ptp_system_timestamp *sts)
{
	return pvcp_host_read(pd, tai ? PVCP_HRES_TAI : PVCP_HRES_REALTIME,
			      ts, tsc, sts, NULL, "PHC");
}

/* One step of the guest's clock by DELTA ns: 0 or do_settimeofday64()'s error. */
static int pvcp_clock_step(s64 delta)
{
	struct timespec64 now;

	ktime_get_real_ts64(&now);
	now = ns_to_timespec64(timespec64_to_ns(&now) + delta);
	return do_settimeofday64(&now);
}

/* A step and then at most this many more, each after a fresh look */
#define PVCP_STEP_TRIES		3

/*
 * Step the guest's CLOCK_REALTIME to the host's REALTIME (the guest
 * kernel keeps UTC there, whatever tai= gives the PHC), at probe and when
 * the disruption count moved since the last time.  Only from a page the
 * device vouches for now (VALID: not stale, not unreliable); the host's
 * own sync state does not matter, the guest follows its host.  The
 * offset is taken at one TSC read against the system time right around
 * it (two reads with only that one between them) and applied to the
 * system time read just before do_settimeofday64(), which must be called
 * where it may sleep: whatever preempts this work between the two (at a
 * resume every timer that expired while stopped, and an NTP daemon, wake
 * at once) is lost to the step.  So the offset is looked at again after
 * each step, and stepped again while it is over set_clock_min_ns, at most
 * PVCP_STEP_TRIES times; the log line gives what was left.  Work items do
 * not run concurrently with themselves: clock_count needs no lock.
 */
static void pvcp_clock_work(struct work_struct *work)
{
	struct pvcp_dev *pd = container_of(work, struct pvcp_dev, clock_work);
	s64 min_ns = READ_ONCE(set_clock_min_ns), delta, total = 0;
	struct pvcp_read_info info;
	struct timespec64 host;
	int steps, ret;
	u64 tsc;

	for (steps = 0; ; steps++) {
		if (!READ_ONCE(set_clock) ||
		    pvcp_host_read(pd, PVCP_HRES_REALTIME, &host, &tsc, NULL,
				   &info, "clock"))
			return;
		if (info.status != PVCP_STATUS_VALID) {
			dev_info_ratelimited(&pd->dev, "clock: not stepped: the device's status is %u, not valid (disruption count %llu)\n",
					     info.status, info.disruptions);
			return;
		}
		if (!steps) {
			if (pd->clock_seen && info.disruptions == pd->clock_count)
				return;
			pd->clock_seen = true;
			pd->clock_count = info.disruptions;
		}
		delta = timespec64_to_ns(&host) - info.sys_ns;
		if (abs(delta) < min_ns || steps > PVCP_STEP_TRIES)
			break;
		ret = pvcp_clock_step(delta);
		if (ret) {
			dev_warn_ratelimited(&pd->dev, "clock: step by %+lld ns refused (%d)\n",
					     delta, ret);
			return;
		}
		total += delta;
	}
	if (!steps) {
		dev_info_ratelimited(&pd->dev, "clock: %+lld ns from the host's, not stepped (disruption count %llu)\n",
				     delta, info.disruptions);
		return;
	}
	dev_info_ratelimited(&pd->dev, "clock: stepped by %+lld ns to the host's CLOCK_REALTIME in %d step%s, now %+lld ns from it (disruption count %llu%s)\n",
			     total, steps, steps > 1 ? "s" : "", delta,
			     info.disruptions,
			     info.unsync ? ", host unsynchronised" : "");
}

static struct pvcp_dev *pvcp_of_ptp(struct ptp_clock_info *info)
{
	return container_of(info, struct pvcp_dev, ptp_info);
}

static int pvcp_ptp_gettimex(struct ptp_clock_info *info,
			     struct timespec64 *ts,
			     struct ptp_system_timestamp *sts)
{
	u64 tsc;

	return pvcp_phc_read(pvcp_of_ptp(info), ts, &tsc, sts);
}

#ifdef PVCP_HAVE_CS_ID
static int pvcp_ptp_device_time(ktime_t *device_time,
				struct system_counterval_t *sc, void *ctx)
{
	struct timespec64 ts;
	u64 tsc;
	int ret = pvcp_phc_read(ctx, &ts, &tsc, NULL);

	if (ret)
		return ret;
	*device_time = timespec64_to_ktime(ts);
	sc->cycles = tsc;
	sc->cs_id = CSID_X86_TSC;
	return 0;
}

/* -ENODEV from the timekeeping core when the clocksource is not the TSC */
static int pvcp_ptp_getcrosststamp(struct ptp_clock_info *info,
				   struct system_device_crosststamp *xt)
{
	return get_device_system_crosststamp(pvcp_ptp_device_time,
					     pvcp_of_ptp(info), NULL, xt);
}
#endif

/* The PHC is the host's clock: nothing in the guest may steer it. */
static int pvcp_ptp_adjfine(struct ptp_clock_info *info, long scaled_ppm)
{
	return -EOPNOTSUPP;
}

static int pvcp_ptp_adjtime(struct ptp_clock_info *info, s64 delta)
{
	return -EOPNOTSUPP;
}

static int pvcp_ptp_settime(struct ptp_clock_info *info,
			    const struct timespec64 *ts)
{
	return -EOPNOTSUPP;
}

static int pvcp_ptp_enable(struct ptp_clock_info *info,
			   struct ptp_clock_request *rq, int on)
{
	return -EOPNOTSUPP;
}

static const struct ptp_clock_info pvcp_ptp_info = {
	.owner = THIS_MODULE,
	.name = PVCP_NAME,
	.max_adj = 0,
	.adjfine = pvcp_ptp_adjfine,
	.adjtime = pvcp_ptp_adjtime,
	.gettimex64 = pvcp_ptp_gettimex,
	.settime64 = pvcp_ptp_settime,
	.enable = pvcp_ptp_enable,
#ifdef PVCP_HAVE_CS_ID
	.getcrosststamp = pvcp_ptp_getcrosststamp,
#endif
};

/* The PHC; without one (no PTP support in the kernel) the node still works. */
static void pvcp_setup_phc(struct pci_dev *pdev, struct pvcp_dev *pd)
{
	struct ptp_clock *ptp;

	pd->ptp_info = pvcp_ptp_info;
	ptp = ptp_clock_register(&pd->ptp_info, &pdev->dev);
	if (IS_ERR_OR_NULL(ptp)) {
		pci_warn(pdev, "%s: no PTP clock (%ld)\n", dev_name(&pd->dev),
			 PTR_ERR_OR_ZERO(ptp) ? PTR_ERR(ptp) : -EOPNOTSUPP);
		return;
	}
	pd->ptp = ptp;
	pci_info(pdev, "%s: PTP clock ptp%d: the host's %s%s\n",
		 dev_name(&pd->dev), ptp_clock_index(ptp),
		 tai ? "CLOCK_TAI" : "CLOCK_REALTIME",
		 pvcp_ptp_info.getcrosststamp ? ", cross-timestamps against the TSC" : "");
}

static void pvcp_free_phc(struct pvcp_dev *pd)
{
	if (pd->ptp)
		ptp_clock_unregister(pd->ptp);
	pd->ptp = NULL;
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
	INIT_WORK(&pd->live_work, pvcp_live_work);
	INIT_WORK(&pd->clock_work, pvcp_clock_work);
	spin_lock_init(&pd->phc_lock);
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
	/* before the interrupt, whose clock_work reads the pages through it */
	pd->phc_snap = kzalloc(sizeof(*pd->phc_snap), GFP_KERNEL);
	if (!pd->phc_snap) {
		ret = -ENOMEM;
		goto err_put;
	}

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
	pvcp_setup_phc(pdev, pd);
	pci_info(pdev, "%s: BAR0 %pa+%#zx, asked for write-back\n",
		 dev_name(&pd->dev), &pd->start, pd->len);
	/* PAT cannot undo an uncached MTRR; the driver cannot see which won */
	if (pd->start < SZ_4G)
		pci_notice(pdev, "BAR0 is below 4 GiB, where firmware MTRRs usually make it uncached (x86/pat_memtype_list in debugfs says)\n");
	/* the guest's clock as the host's now, interrupt or not */
	if (set_clock)
		schedule_work(&pd->clock_work);
	return 0;

err_irq:
	pvcp_free_irq(pdev, pd);
	cancel_work_sync(&pd->live_work);
	cancel_work_sync(&pd->clock_work);
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

	/* no PHC read is in flight once it is unregistered */
	pvcp_free_phc(pd);
	cdev_device_del(&pd->cdev, &pd->dev);
	down_write(&pd->lock);
	pd->gone = true;
	up_write(&pd->lock);
	/* pollers see EPOLLHUP */
	wake_up_interruptible(&pd->wait);
	/* every user mapping, whichever node it came from; faults now SIGBUS */
	unmap_mapping_range(pd->inode->i_mapping, 0, 0, 1);
	pvcp_free_irq(pdev, pd);
	/* no interrupt schedules them again */
	cancel_work_sync(&pd->live_work);
	cancel_work_sync(&pd->clock_work);
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

MODULE_DESCRIPTION("pvclock-pages: the host's clocks, mapped write-back for any user, and as a PTP clock");
MODULE_LICENSE("GPL");
