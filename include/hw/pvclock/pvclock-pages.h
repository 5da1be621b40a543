/*
 * pvclock-pages PCI device: the host's clocks for the guest.
 *
 * BAR0 maps the host helper's four host pages read-only, next to an
 * offset page this device owns (see pvclock-pages-abi.h for the ABI and
 * docs/system/devices/pvclock-pages.rst for the user's view).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVCLOCK_PAGES_H
#define HW_PVCLOCK_PAGES_H

#include "hw/pci/pci_device.h"
#include "qom/object.h"
#include "hw/pvclock/pvclock-pages-abi.h"

#define TYPE_PVCLOCK_PAGES "pvclock-pages"
OBJECT_DECLARE_SIMPLE_TYPE(PvclockPagesState, PVCLOCK_PAGES)

/*
 * How the guest's counter (its TSC) relates to the host's TSC, as the
 * accelerator knows it:  host = ((guest * mult) >> frac_bits) + offset.
 */
typedef struct PvclockCounterRelation {
    uint64_t mult;
    uint32_t frac_bits;
    uint64_t offset;
    uint64_t guest_hz;          /* guest counter frequency, 0 unknown */
    bool exact;                 /* false: the guest must not trust pages */
    const char *why;            /* when !exact: a short reason */
} PvclockCounterRelation;

/*
 * One implementation per accelerator (counter-kvm.c, counter-tcg.c,
 * counter-qtest.c).  get() is called with the BQL held at realize, vm
 * start, reset and once a second (a guest may write its TSC), and must
 * not estimate: it reads what the accelerator applies.
 */
typedef struct PvclockCounterBackend {
    const char *name;
    uint32_t abi_backend;       /* PVCP_BACKEND_* */
    bool (*get)(PvclockPagesState *s, PvclockCounterRelation *rel);
} PvclockCounterBackend;

extern const PvclockCounterBackend pvclock_counter_kvm;
extern const PvclockCounterBackend pvclock_counter_tcg;
extern const PvclockCounterBackend pvclock_counter_qtest;

struct PvclockPagesState {
    PCIDevice parent_obj;

    MemoryRegion bar;           /* 32 KiB; holes read as zero */
    MemoryRegion host_pages;    /* the helper's file, mapped read-only */
    MemoryRegion no_helper;     /* zero stand-in while there is no file */
    MemoryRegion offset_mr;     /* the offset page, device-owned ROM */
    struct pvcp_offset_page *offset_page;
    /* the mapped file, or NULL; only the guest loads from it */
    const struct pvcp_host_page *host;
    int host_fd;                /* the RAM block's fd: QEMU reads this */
    int guard_slot;             /* SIGBUS guard of the mapping, -1 none */
    uint32_t guard_faults_seen;
    bool host_lost;             /* file short: zero pages over the map */
    bool host_ok;               /* whole, with valid headers */
    uint64_t pages_lost;        /* times the file was found short */
    int inotify_fd;             /* -1: the 1 Hz watch only */
    int inotify_wd;

    const PvclockCounterBackend *backend;
    PvclockCounterRelation relation;
    VMChangeStateEntry *vmstate_entry;
    QEMUTimer *watch_timer;     /* 1 Hz, host side: helper and relation */

    /*
     * Migration stream (vmstate "pvclock-pages", version 1): what the
     * destination needs to continue the guest's clocks.  64 bytes plus the
     * PCI device's own state.  Never the host pages.
     */
    uint32_t mig_abi_major;
    uint32_t mig_abi_minor;
    uint64_t mig_generation;
    uint64_t mig_guest_hz;
    uint64_t mig_mono_ns[PVCP_MONO_CLOCKS];   /* guest's, at the stop */
    uint64_t mig_realtime_ns;   /* the source host's REALTIME at the stop */
    uint32_t mig_monotonic;     /* 0 vm, 1 host: must match */
    uint32_t mig_downtime;      /* 0 exclude, 1 include: must match */
    int64_t last_post_load_ns;  /* measured, for management */
    bool helper_stale;
    bool relation_known;

    /* properties */
    char *pages_path;
    char *on_missing;           /* "fail" or "degraded" */
    char *flavour;              /* "unsmeared" or "smeared" */
    char *monotonic;            /* "vm" or "host" */
    char *downtime;             /* "exclude" or "include" */
    bool use_inotify;           /* x-inotify */
    uint32_t monotonic_host;    /* parsed monotonic */
    uint32_t downtime_include;  /* parsed downtime */
    uint64_t qtest_offset;      /* x-qtest-offset: simulated relation */
    uint64_t qtest_scale;       /* x-qtest-scale: 32.32 ratio, 0 none */
};

/*
 * The relation for a guest counter that the accelerator derives from the
 * host's as  guest = ((host * ratio) >> ratio_frac_bits) + acc_offset
 * (KVM's TSC scaling; qtest's simulation of it): the inverse in the ABI's
 * form, host = ((guest * mult) >> frac_bits) + offset, to within two host
 * counts for any counter value below 2^63.
 */
void pvclock_pages_relation_scaled(PvclockCounterRelation *rel,
                                   uint64_t ratio, unsigned ratio_frac_bits,
                                   uint64_t acc_offset);

/* Nominal host counter frequency from host page 0 (0 unknown). */
uint64_t pvclock_pages_host_counter_hz(PvclockPagesState *s);

/* host-file.c: the pages file, read and guarded (see there). */
bool pvclock_host_snapshot(int fd, struct pvcp_host_page *pg, uint64_t *tsc);
int pvclock_guard_add(void *start);
void pvclock_guard_remove(int slot);
uint32_t pvclock_guard_faults(int slot);
bool pvclock_guard_zero(void *start);
bool pvclock_guard_remap(void *start, int fd);
void pvclock_guard_vcpus(void);

#endif /* HW_PVCLOCK_PAGES_H */
