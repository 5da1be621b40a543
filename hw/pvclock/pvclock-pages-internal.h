/*
 * pvclock-pages: what the device's files share; not API.
 *
 * The files in layers, highest first; a file calls only functions of
 * its own layer or of those below (tests/unit/layers.py checks it):
 *
 *   pvclock-pages.c  PCI glue, properties, status for management; the
 *                    watch timer and the fan-out (pvclock_pages_publish():
 *                    the offset page, then the parts)
 *   parts.c          the parts the glue calls at its events (PvclockPart),
 *                    one line each: migration, interrupt, live page,
 *                    VMClock
 *   migration.c      sample at the stop, apply at the start, vmstate
 *   irq.c            the disruption interrupt (BAR2, MSI-X or INTx)
 *   vmclock.c        vmclock=on: QEMU's VMClock page, filled
 *   offset-page.c    the offset page, its only writer: what the guest is
 *                    shown, and when
 *   counter-*.c      one counter backend per accelerator
 *   relation.c       accelerator relation -> ABI transforms; KVM's rules
 *   host-pages.c     host page reads, checks and staleness: reports what
 *                    changed to the watch, never writes the offset page
 *   live-page.c      the host kernel's own timekeeping page in the BAR,
 *                    found and checked by pvclock-pages/pvclock-vvar.h
 *                    (header-only, shared with the helper)
 *   host-source.c    pages= and memdev=: the backend the pages come
 *                    from; the BAR's read-only views of host memory
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVCLOCK_PAGES_INTERNAL_H
#define HW_PVCLOCK_PAGES_INTERNAL_H

#include "qemu/timer.h"
#include "hw/pci/pci_device.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "system/hostmem.h"
#include "hw/pvclock/pvclock-pages.h"
#include "pvclock-pages/pvclock-pages-abi.h"

/*
 * The ABI's arithmetic (pvclock-pages-calc.h, include after this) uses
 * unsigned __int128 only where the host has it, 32-bit halves otherwise.
 */
#ifdef CONFIG_INT128
#define PVCP_HAVE_INT128 1
#else
#define PVCP_HAVE_INT128 0
#endif

#define PVCLOCK_PAGES_DEFAULT_PATH "/run/pvclock/pages.sock"

struct vvar_source;
struct VmclockState;

/* The watch timer: missing, damaged, replaced or stale pages. */
#define PVCLOCK_PAGES_WATCH_MS 1000

/* ---- relation.c ------------------------------------------------------ */

/* What the device knows about how the guest counter follows the host's. */
typedef enum PvclockRelationKind {
    PVCLOCK_REL_UNKNOWN,        /* not read, or the accelerator cannot say */
    PVCLOCK_REL_LINEAR,         /* exactly the line below */
    PVCLOCK_REL_NONLINEAR,      /* known to follow no line (KVM catch-up) */
} PvclockRelationKind;

/*
 * The relation as the accelerator applies it:
 *   guest = floor(host * ratio / 2^ratio_frac_bits) + offset  (mod 2^64)
 * with ratio 0 for the unscaled case, guest = host + offset.
 */
typedef struct PvclockCounterRelation {
    PvclockRelationKind kind;
    uint64_t ratio;
    unsigned ratio_frac_bits;
    uint64_t offset;
    uint64_t guest_hz;          /* the guest counter's rate, 0 unknown */
    uint32_t flags;             /* PVCP_RELATION_F_* */
    const char *why;            /* how it was found, or why it is unknown */
} PvclockCounterRelation;

/* What KVM reports about a guest's TSC (the qtest backend simulates it). */
typedef struct PvclockKvmTsc {
    uint32_t host_khz;          /* VM ioctl KVM_GET_TSC_KHZ */
    uint32_t vcpu_khz;          /* vCPU ioctl KVM_GET_TSC_KHZ */
    uint64_t offset;            /* KVM_VCPU_TSC_OFFSET */
    bool tsc_control;           /* KVM_CAP_TSC_CONTROL: hardware scaling */
    unsigned frac_bits;         /* ratio format: 48 VMX, 32 SVM, 0 unknown */
    uint32_t tolerance_ppm;     /* kvm.tsc_tolerance_ppm */
} PvclockKvmTsc;

/* The relation KVM applies (kvm_set_tsc_khz() and kvm_scale_tsc()). */
void pvclock_kvm_tsc_relation(const PvclockKvmTsc *t,
                              PvclockCounterRelation *rel);

/* The offset page's transforms for rel, referenced at host count host_ref. */
bool pvclock_relation_xform(const PvclockCounterRelation *rel,
                            uint64_t host_ref, struct pvcp_ref_xform *x);
/* The guest counter at host TSC h by rel (floor, as the hardware). */
uint64_t pvclock_relation_guest_at(const PvclockCounterRelation *rel,
                                   uint64_t h);
bool pvclock_relation_raw_xform(const PvclockCounterRelation *rel,
                                uint64_t host_ref,
                                const struct pvcp_host_page *h,
                                struct pvcp_ref_xform *x);
/* x (guest counter -> host TSC) composed with a simulated host's sim. */
bool pvclock_relation_compose_sim(const struct pvcp_ref_xform *x,
                                  const struct pvcp_xform *sim,
                                  struct pvcp_ref_xform *out);

/* ---- the device's state ------------------------------------------ */

/*
 * Where the device is in the VM's life; the offset page's status and
 * contents follow from it (offset-page.c):
 *
 *   WAITING   realized or reset, the relation not read yet: the CPUs'
 *             TSC state is put in place after realize and after reset,
 *             so it is read when the VM starts (or right after a reset
 *             of a running VM, from a bottom half).  Status invalid.
 *   RUNNING   the relation was read at the last event.
 *   STOPPED   the VM is stopped: the guest's clocks were sampled at the
 *             stop; the page stays as it was.
 *   INCOMING  migration state loaded: the source's sample is applied and
 *             the relation read when the VM starts.  Status invalid.
 */
typedef enum PvclockPhase {
    PVCLOCK_PHASE_WAITING,
    PVCLOCK_PHASE_RUNNING,
    PVCLOCK_PHASE_STOPPED,
    PVCLOCK_PHASE_INCOMING,
} PvclockPhase;

/*
 * The guest's clocks at a VM stop (or as a migration brought them): at
 * the guest counter value where the counter stood still (frozen, TCG),
 * or when the stop handler ran.  Its fields are in the order the
 * migration stream carries them (migration.c).
 */
typedef struct PvclockClockSample {
    uint64_t mono_ns[PVCP_MONO_CLOCKS];     /* the guest's */
    uint64_t realtime_ns;                   /* the host's REALTIME */
    uint64_t disruptions;                   /* generation + the host's */
    uint64_t guest_counter;
    uint8_t frozen;                         /* guest_counter stood still */
    bool valid;                             /* not in the stream */
} PvclockClockSample;


/*
 * The qtest accelerator's simulated relation, its x-qtest-* properties
 * (counter-qtest.c, which owns them): settable at run time, and each
 * change is told to the device through changed(), which reads the
 * relation again.
 */
typedef struct PvclockQtestKnobs {
    uint64_t offset;            /* x-qtest-offset */
    uint64_t scale;             /* x-qtest-scale: a raw ratio, 0 none */
    uint64_t frac_bits;         /* x-qtest-frac-bits: 32 or 48 */
    uint64_t guest_khz;         /* x-qtest-guest-khz: KVM's rules */
    uint64_t host_khz;          /* x-qtest-host-khz */
    uint64_t tsc_control;       /* x-qtest-tsc-control */
    uint64_t tolerance_ppm;     /* x-qtest-tolerance-ppm */
    void (*changed)(void *opaque);
    void (*watch)(void *opaque);    /* x-qtest-watch: one watch round */
    void *opaque;
} PvclockQtestKnobs;

/*
 * The device's state is one small struct per concern, each written by
 * its own file only (tests/unit/layers.py checks it); another file asks
 * the owner through a function.  Properties are qdev's to set.
 */

/* The live page (live-page.c). */
typedef struct PvclockLivePage {
    bool enabled;               /* property live-page */
    bool mapped;                /* QEMU's vDSO data page is in the BAR */
    MemoryRegion mr;
    struct pvcp_live desc;      /* what the offset page says when usable */
    char *why;                  /* the layout, or why there is none */
    struct vvar_source *src;    /* where the kernel's words are */
    const char *refused;        /* why page 0 rules it out, NULL: no */
    const struct PvclockLiveOps *ops;   /* set at realize, NULL: no part */
} PvclockLivePage;

/* The host pages (host-pages.c). */
typedef struct PvclockHostPages {
    HostMemoryBackend *memdev;  /* property memdev, or NULL */
    HostMemoryBackend *source;  /* shown in the BAR: memdev or pages='s */
    bool own_source;            /* made for pages= (a child of ours) */
    dev_t source_dev;           /* what source maps, to see a new one */
    ino_t source_ino;
    const struct pvcp_host_page *pages;     /* source's mapping */
    bool ok;                    /* valid headers and page 0 */
    bool stale;                 /* the helper stopped updating page 0 */
    int64_t busy_since;         /* page 0's seq odd since, 0 not */
    uint64_t replaced;          /* new pages behind pages= */
    MemoryRegion alias[2];      /* the source, read-only; two for a swap */
    HostMemoryBackend *alias_source[2];     /* referenced while in use */
    bool alias_used[2];
    int alias_cur;              /* the one in the BAR if source != NULL */
} PvclockHostPages;

/* The relation as the offset page uses it (offset-page.c). */
typedef struct PvclockRelationState {
    PvclockCounterRelation relation;
    uint64_t host_ref;          /* host TSC the transforms refer to */
    struct pvcp_ref_xform xform[PVCP_DOMAINS];
    struct pvcp_line raw;       /* page 0's raw line xform[SCALED] used */
    uint32_t raw_mode;          /* and its counter_mode */
    bool due;                   /* read the relation at the next chance */
    uint64_t reads;             /* reads from the accelerator */
    int64_t read_ns;            /* QEMU_CLOCK_REALTIME of the last */
} PvclockRelationState;

/* What the offset page shows the guest, and when (offset-page.c). */
typedef struct PvclockOffsetState {
    PvclockPhase phase;
    struct pvcp_timens_offset mono_offset[PVCP_MONO_CLOCKS];
    uint32_t recommended_page;
    uint64_t generation_floor;  /* generation must reach this */
    uint64_t disruption_floor;  /* generation + host's must reach this */
    uint64_t last_host_dis;     /* page 0's disruptions, last read */
    uint64_t published_dis;     /* the guest's disruption count and */
    uint32_t published_status;  /* status, as publish() last said */
    struct pvcp_xform sim;      /* page 0's, last read (flags 0: none) */
} PvclockOffsetState;

/*
 * Migration (migration.c): sampled at stop, applied at start, and the
 * stream: 64 bytes plus the PCI device's own state.
 */
typedef struct PvclockMigState {
    PvclockClockSample stop_sample;
    PvclockClockSample incoming;
    bool incoming_downtime_ok;  /* its REALTIME may give a downtime */
    int64_t stopped_at_ns;      /* QEMU_CLOCK_REALTIME of the stop */
    int64_t last_post_load_ns;  /* measured, for management */
    int64_t last_downtime_ns;   /* stop to start, as seen here */
    /* on the wire, in this order */
    uint32_t abi_major;
    uint32_t abi_minor;
    uint64_t generation;
    uint64_t guest_hz;
    PvclockClockSample sample;  /* the guest's at the stop; subsection */
    uint32_t monotonic;         /* 0 vm, 1 host: must match */
    uint32_t downtime;          /* 0 exclude, 1 include: must match */
} PvclockMigState;

/* The disruption interrupt (irq.c). */
typedef struct PvclockIrqState {
    bool enabled;               /* property interrupts */
    MemoryRegion regs;          /* BAR2: ISR, IER, count, MSI-X */
    QEMUBH *bh;                 /* the check; NULL with interrupts=off */
    uint32_t isr;
    uint32_t ier;
    uint64_t count;             /* raised, all time (migrated) */
    uint64_t seen_dis;          /* what the last check saw */
    uint32_t seen_status;
} PvclockIrqState;

/* vmclock=on (vmclock.c). */
typedef struct PvclockVmclockLink {
    bool enabled;               /* property vmclock */
    struct VmclockState *dev;   /* our child, QEMU's device */
    Object *pm;                 /* the ACPI PM device that takes the GPE */
    bool restored;              /* loadvm: bump the generation counter */
    unsigned announce;          /* PvclockVmclockAnnounce */
    uint64_t seen_dis;          /* disruption count the marker follows */
    bool tai_unknown;           /* said once: the host knows no TAI - UTC */
    QEMUBH *bh;                 /* the rewrite, from the waiting thread */
    QEMUTimer *catchup;         /* a rewrite once a slower line met */
    Error *unplug_blocker;
    QemuThread thread;
    bool quit;                  /* asks the thread to end */
    bool done;                  /* the thread is out of its loop */
    const struct pvcp_host_page *seq_map;   /* the thread's own */
    HostMemoryBackend *wait_source;         /* what it maps */
    uint64_t updates;           /* rewrites, all time */
    uint64_t wakes;             /* the thread's hand-overs */
    uint64_t notifies;          /* GPEs raised */
    uint64_t last_update_ns;    /* get_clock(): CLOCK_MONOTONIC */
} PvclockVmclockLink;

/* The device: the glue's own fields (pvclock-pages.c), then each part. */
struct PvclockPagesState {
    PCIDevice parent_obj;

    MemoryRegion bar;           /* 32 KiB; holes read as zero */
    MemoryRegion no_helper;     /* zero stand-in while there are no pages */
    MemoryRegion offset_mr;     /* the offset page, device-owned ROM */
    struct pvcp_offset_page *offset_page;
    const struct PvclockCounterBackend *backend;
    QEMUTimer *watch_timer;     /* 1 Hz, host side only */
    QEMUBH *reset_bh;           /* reads the relation after a reset */
    VMChangeStateEntry *vmstate_entry;

    /* properties (the enums: pvclock-pages.c) */
    char *pages_path;
    int on_missing;             /* PvclockOnMissing */
    int flavour;                /* PvclockFlavour */
    int monotonic;              /* PvclockMonotonic */
    int downtime;               /* PvclockDowntime */
    int counter_backend;        /* x-counter-backend: PvclockBackendChoice */
    /* the qtest backend's simulated accelerator (counter-qtest.c) */
    PvclockQtestKnobs qtest;

    PvclockLivePage live;
    PvclockHostPages host;
    PvclockRelationState rel;
    PvclockOffsetState off;
    PvclockMigState mig;
    PvclockIrqState irq;
    PvclockVmclockLink vmc;
};

/* ---- counter-*.c ------------------------------------------------------ */

/*
 * One per accelerator.  get() reads what the accelerator applies, never
 * an estimate; it is called with the BQL held on events only (VM start,
 * after a reset, hot-plug, a qtest knob), never periodically: under KVM
 * each call is one exit per vCPU.
 */
struct PvclockCounterBackend {
    const char *name;
    uint32_t abi_backend;       /* PVCP_BACKEND_* */
    bool reset_writes_counter;  /* a reset puts a new guest TSC in place */
    void (*get)(PvclockPagesState *s, PvclockCounterRelation *rel);
    /*
     * While the VM is stopped, the value at which the guest counter
     * stands still, if it does (TCG); NULL or false: it runs on (KVM).
     */
    bool (*frozen_at)(PvclockPagesState *s, uint64_t *guest);
};
typedef struct PvclockCounterBackend PvclockCounterBackend;

extern const PvclockCounterBackend pvclock_counter_kvm;
extern const PvclockCounterBackend pvclock_counter_tcg;
extern const PvclockCounterBackend pvclock_counter_qtest;
/*
 * the x-qtest-* properties of obj over k, with their defaults: changed()
 * when a knob moved, watch() for each round x-qtest-watch asks for
 */
void pvclock_counter_qtest_init(Object *obj, PvclockQtestKnobs *k,
                                void (*changed)(void *opaque),
                                void (*watch)(void *opaque), void *opaque);

/* ---- host-pages.c ------------------------------------------------------ */

/* A consistent copy of host page 0. */
bool pvclock_host_page0(PvclockPagesState *s, struct pvcp_host_page *pg,
                        uint64_t *tsc);

/* The host's clocks now from page 0 (ns; mono as PVCP_MONO_*). */
bool pvclock_host_now(PvclockPagesState *s, uint64_t mono[PVCP_MONO_CLOCKS],
                      uint64_t *realtime, uint64_t *disruptions);
/* ... or at host counter *tsc (a little in the past, say). */
bool pvclock_host_at(PvclockPagesState *s, const uint64_t *tsc,
                     uint64_t mono[PVCP_MONO_CLOCKS], uint64_t *realtime,
                     uint64_t *disruptions);

/*
 * Page h's clocksource cycles at host TSC tsc: a simulated host's sim
 * stage, then the kvmclock stage where the page has one.
 */
uint64_t pvclock_page_cycles(const struct pvcp_host_page *h, uint64_t tsc);

/* The host TSC's own rate from page 0 (a simulated host's undone), Hz. */
uint64_t pvclock_host_tsc_hz(PvclockPagesState *s);

/* At instance_init: nothing in the BAR's view yet. */
void pvclock_host_init(PvclockPagesState *s);

/* Is the helper still updating page 0? */
bool pvclock_host_stale(PvclockPagesState *s);

/* Page 0's disruptions as last written, whether or not it is usable. */
bool pvclock_host_disruptions(PvclockPagesState *s, uint64_t *dis);

/* Check be's pages and show them in the BAR (own: made for pages=). */
bool pvclock_host_attach(PvclockPagesState *s, HostMemoryBackend *be,
                         bool own, Error **errp);
/* Make a backend for pages= and attach it. */
bool pvclock_host_open(PvclockPagesState *s, Error **errp);
void pvclock_host_close(PvclockPagesState *s);

/* Pages checked and mapped in the BAR's spare view, to be shown. */
typedef struct PvclockHostSwap {
    HostMemoryBackend *be;      /* NULL: nothing to show */
    bool own;                   /* made for pages= */
    HostMemoryBackend *old;     /* what they replace, NULL: zero pages */
    bool old_own;
    uint64_t tsc;               /* host counter when they were found */
    char *what;                 /* for messages */
} PvclockHostSwap;
/* Show them in the BAR, in a memory transaction (a seq write, if old). */
void pvclock_host_swap(PvclockPagesState *s, const PvclockHostSwap *sw);
/* ... after its commit: let the old go, check the new. */
void pvclock_host_swapped(PvclockPagesState *s, PvclockHostSwap *sw);

/* What a watch round found on the host side. */
typedef struct PvclockHostReport {
    const char *why;            /* what changed, or "watch" */
    PvclockHostSwap swap;       /* other pages to show instead */
} PvclockHostReport;
/* Map pages that appeared, or get replacements ready (r->swap). */
void pvclock_host_look(PvclockPagesState *s, PvclockHostReport *r);
/* Then: damaged, valid again, stale, live again (r->why)? */
void pvclock_host_recheck(PvclockPagesState *s, PvclockHostReport *r);

/* host-source.c: pages= opened (checked, never blocking), and wrapped. */
int pvclock_source_open(PvclockPagesState *s, Error **errp);
HostMemoryBackend *pvclock_source_backend(PvclockPagesState *s, int fd,
                                          Error **errp);
/* What the pages come from, for messages: pages= or memdev='s id. */
const char *pvclock_source_name(PvclockPagesState *s);
/* A view of host memory (ptr) for the BAR that refuses every write. */
void pvclock_readonly_host_init(MemoryRegion *mr, Object *owner,
                                const char *name, uint64_t size, void *ptr);

/*
 * How long the device waits for a helper's write to finish: briefly on
 * the periodic and management paths (a busy read changes nothing), as
 * long as libpvclock does (100 ms) where a clock value is needed now
 * (the VM's stop and start, migration).
 */
#define PVCLOCK_SNAP_SHORT_NS   (1 * SCALE_MS)
#define PVCLOCK_SNAP_LONG_NS    (100 * SCALE_MS)

/* ---- live-page.c ------------------------------------------------------ */

/*
 * The live page is a part (pvclock_part_live): a device may be built
 * without it.  The layers above ask it through these, which its realize
 * sets in s->live.ops; without it, there is no live page.
 */
typedef struct PvclockLiveOps {
    bool (*usable)(PvclockPagesState *s, const char **why);
    bool (*overlay)(PvclockPagesState *s, struct pvcp_host_page *h);
    void (*judge)(PvclockPagesState *s, const struct pvcp_host_page *pg);
} PvclockLiveOps;

/* May the offset page point guests at it now (why not, if not)? */
static inline bool pvclock_live_usable(PvclockPagesState *s,
                                       const char **why)
{
    *why = NULL;
    return s->live.ops && s->live.ops->usable(s, why);
}

/*
 * While guests read the live page, the device's own clock samples (VM
 * stop, migration) come from it too: h (a copy of host page 0) gets the
 * kernel's lines and bases.  False, h untouched, otherwise.
 */
static inline bool pvclock_live_overlay(PvclockPagesState *s,
                                        struct pvcp_host_page *h)
{
    return s->live.ops && s->live.ops->overlay(s, h);
}

/*
 * Keep why this copy of host page 0 rules the live page out (another
 * host's clocks: simulated, not the TSC, a second or more off; NULL pg:
 * no usable pages), or that it does not.
 */
static inline void pvclock_live_judge(PvclockPagesState *s,
                                      const struct pvcp_host_page *pg)
{
    if (s->live.ops) {
        s->live.ops->judge(s, pg);
    }
}

/* ---- offset-page.c ------------------------------------------------------ */

void pvclock_offset_page_init(PvclockPagesState *s, bool smeared,
                              bool mono_host);

/* Read the accelerator's relation now (the VM runs); publish() later. */
void pvclock_offset_page_fetch_relation(PvclockPagesState *s);

/* The relation is no longer known (reset, incoming): until read again. */
void pvclock_offset_page_forget_relation(PvclockPagesState *s,
                                         const char *why);

/*
 * Make the offset page say what the device knows now: status from the
 * host pages and the relation, the transforms, the offsets.  Anything
 * that differs from what the guest sees bumps generation, in the same
 * seq write; nothing changed, nothing is written.  True if the guest's
 * disruption count or the status differ from what the last call saw
 * (the interrupt's business: pvclock_pages_publish()).
 */
bool pvclock_offset_page_publish(PvclockPagesState *s, const char *why);

/* What the accelerator applies may have changed: read it again. */
void pvclock_offset_page_relation_changed(PvclockPagesState *s);

/* Where the VM is now (migration.c and the glue tell). */
void pvclock_offset_page_set_phase(PvclockPagesState *s, PvclockPhase phase);

/*
 * A migration's state loaded: the generation and the disruption count
 * reach at least these from now on; the phase is INCOMING.
 */
void pvclock_offset_page_incoming(PvclockPagesState *s,
                                  uint64_t generation_floor,
                                  uint64_t disruption_floor);

/* Show sw's pages instead of the ones in the BAR, in one seq write. */
void pvclock_offset_page_replace_host(PvclockPagesState *s,
                                      const PvclockHostSwap *sw);

/* Set the monotonic offsets so the guest's clocks read mono_ns now. */
void pvclock_offset_page_set_mono(PvclockPagesState *s,
                                  const uint64_t mono_ns[PVCP_MONO_CLOCKS],
                                  const uint64_t host_ns[PVCP_MONO_CLOCKS]);

/*
 * The guest's disruption count, the one statement of it: a generation
 * plus the host page 0 disruptions it rests on (pvclock_disruption_
 * count(), also for a generation about to be published); for the offset
 * page's generation, with host_dis a read the caller just made, or for
 * pvclock_guest_disruptions() the last the device saw (0 without
 * pages).  What the interrupt, VMClock's marker and the migration
 * stream carry.
 */
uint64_t pvclock_disruption_count(uint64_t generation, uint64_t host_dis);
uint64_t pvclock_guest_disruptions_at(PvclockPagesState *s,
                                      uint64_t host_dis);
uint64_t pvclock_guest_disruptions(PvclockPagesState *s);

const char *pvclock_status_name(uint32_t status);

/* ---- pvclock-pages.c: the glue ------------------------------------- */

/* Publish the offset page, then tell the parts (the interrupt, VMClock). */
void pvclock_pages_publish(PvclockPagesState *s, const char *why);

/* migration.c: incoming state is loaded; tell the parts. */
void pvclock_pages_loaded(PvclockPagesState *s);

/*
 * A part: a capability of the device in a file of its own (migration,
 * the interrupt, VMClock), which the glue calls through this table of
 * hooks at its events.  Each hook may be NULL.  Its properties and its
 * vmstate subsection come with it: without the part, the device has
 * neither.  The glue calls the parts in the order of pvclock_parts[]
 * (parts.c), and exit in the reverse order.
 */
typedef struct PvclockPart {
    const char *name;
    /* qdev properties of the part, and how many */
    const Property *props;
    size_t nprops;
    /* class_init: descriptions, read-only status properties */
    void (*class_init)(ObjectClass *klass);
    /* instance_init: read-only counters */
    void (*instance_init)(Object *obj);
    /* realize, after BAR0: false and errp fail the device's realize */
    bool (*realize)(PvclockPagesState *s, Error **errp);
    /* unrealize, or a failed realize: undo what realize did, if it did */
    void (*exit)(PvclockPagesState *s);
    void (*reset)(PvclockPagesState *s);
    /*
     * The offset page was published; changed: the guest's disruption
     * count or the status may have moved (a VM start says so always).
     */
    void (*published)(PvclockPagesState *s, bool changed, const char *why);
    /* a round of the 1 Hz watch, after its publish */
    void (*watch)(PvclockPagesState *s);
    /* the VM stops while running (the phase is still RUNNING) */
    void (*vm_stop)(PvclockPagesState *s);
    /* the VM starts: the relation was just read, the phase not set yet */
    void (*vm_start)(PvclockPagesState *s);
    /* incoming state loaded (migration.c's post_load) */
    void (*loaded)(PvclockPagesState *s);
    /* the part's subsection of the device's migration stream */
    const VMStateDescription *vmsd;
} PvclockPart;

/* The parts, in order, NULL-terminated (parts.c: one line per part). */
extern const PvclockPart *const pvclock_parts[];
extern const PvclockPart pvclock_part_migration;
extern const PvclockPart pvclock_part_irq;
extern const PvclockPart pvclock_part_live;
extern const PvclockPart pvclock_part_vmclock;

/* A read-only status counter of the device: qom-get NAME gives *field. */
typedef struct PvclockCounterProp {
    const char *name;
    uint64_t *field;
    const char *desc;
} PvclockCounterProp;

/* Add the n counters c to obj (each part's instance_init, the glue's). */
static inline void pvclock_add_counters(Object *obj,
                                        const PvclockCounterProp *c,
                                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        object_property_add_uint64_ptr(obj, c[i].name, c[i].field,
                                       OBJ_PROP_FLAG_READ);
        object_property_set_description(obj, c[i].name, c[i].desc);
    }
}

/* the enum properties' names */

typedef enum PvclockOnMissing {
    PVCLOCK_ON_MISSING_FAIL,
    PVCLOCK_ON_MISSING_DEGRADED,
} PvclockOnMissing;

typedef enum PvclockFlavour {
    PVCLOCK_FLAVOUR_UNSMEARED,
    PVCLOCK_FLAVOUR_SMEARED,
} PvclockFlavour;

typedef enum PvclockMonotonic {
    PVCLOCK_MONOTONIC_VM,
    PVCLOCK_MONOTONIC_HOST,
} PvclockMonotonic;

typedef enum PvclockDowntime {
    PVCLOCK_DOWNTIME_EXCLUDE,
    PVCLOCK_DOWNTIME_INCLUDE,
} PvclockDowntime;

typedef enum PvclockBackendChoice {
    PVCLOCK_BACKEND_AUTO,       /* the accelerator's: kvm or tcg */
    PVCLOCK_BACKEND_CHOICE_KVM,
    PVCLOCK_BACKEND_CHOICE_TCG,
    PVCLOCK_BACKEND_CHOICE_QTEST,
} PvclockBackendChoice;

#endif /* HW_PVCLOCK_PAGES_INTERNAL_H */
