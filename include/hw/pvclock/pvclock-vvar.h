/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the host kernel's vDSO timekeeping data (the [vvar] mapping).
 *
 * The layout of that data is kernel-internal and has changed over time,
 * so nothing here trusts a layout: each known one is tried, and one is
 * used only after the times computed from it bracket clock_gettime() for
 * every clock.  The functions take plain memory so unit tests can feed
 * captured or synthesised pages.  Shared by pvclock-helper and the
 * device's live page (hw/pvclock/live-page.c).
 */
#ifndef HW_PVCLOCK_VVAR_H
#define HW_PVCLOCK_VVAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvclock-pages/pvclock-pages-abi.h"

/* Linux's enum vdso_clock_mode on x86. */
#define VVAR_CLOCKMODE_NONE     0
#define VVAR_CLOCKMODE_TSC      1
#define VVAR_CLOCKMODE_PVCLOCK  2
#define VVAR_CLOCKMODE_HVCLOCK  3
#define VVAR_CLOCKMODE_TIMENS   0x7fffffff

/* Where one kernel generation keeps struct vdso_data / vdso_clock. */
struct vvar_layout {
    const char *name;
    size_t data_offset;     /* clock block 0 (CS_HRES_COARSE) in [vvar] */
    size_t stride;          /* distance to clock block 1 (CS_RAW) */
    bool max_cycles;        /* has the overflow-protection field */
    /* the pvclock page in [vvar] when there is no [vvar_vclock] */
    size_t vclock_offset;
    uint16_t abi_layout;    /* PVCP_LIVE_LAYOUT_* */
};

extern const struct vvar_layout vvar_layouts[];
extern const size_t vvar_layout_count;

/* The kernel's data as one consistent copy, in ABI terms. */
struct host_snapshot {
    uint32_t seq;           /* kernel seqcount the copy was taken at */
    int32_t clock_mode;     /* VVAR_CLOCKMODE_* */
    uint32_t counter_mode;  /* PVCP_COUNTER_* */
    uint64_t flags;         /* PVCP_HOST_F_MUL_WRAPS */
    struct pvcp_kvmclock kvmclock;
    struct pvcp_line hres;
    struct pvcp_base hres_base[PVCP_HRES_CLOCKS];
    struct pvcp_line raw;
    struct pvcp_base raw_base;
    /* CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE: nsec not shifted */
    struct pvcp_base coarse[2];
};

struct vvar_source {
    const uint8_t *vvar;   /* first [vvar] page */
    size_t vvar_len;
    const uint8_t *vclock; /* pvclock page, or NULL */
    const struct vvar_layout *layout;
};

/* Error text buffer size the functions below expect. */
#define VVAR_ERR_LEN 256

/* Find [vvar] (and [vvar_vclock]) in this process's maps. */
int vvar_find_mappings(struct vvar_source *src, char *err);

/*
 * Copy the data through a given layout.  Returns 0, or -1 with err set
 * (timens page, unsupported clock mode, implausible values).
 */
int vvar_snapshot(const struct vvar_source *src, struct host_snapshot *snap,
                  char *err);

/*
 * Check a snapshot against the live clock_gettime(): for each clock the
 * time computed at a counter read between two clock_gettime() calls must
 * lie between them.  Returns 0 on success, 1 if the kernel updated its
 * data meanwhile (take a new snapshot), -1 on a mismatch (err set).
 */
int vvar_validate(const struct host_snapshot *snap, char *err);

/*
 * Try each known layout over src->vvar and keep the first that
 * validates.  A failure speaks for the host (clock_mode NONE, Hyper-V,
 * a time namespace) only when it comes from a layout identified as this
 * kernel's (vvar_layout_identified()); otherwise err names every layout
 * tried and why it failed.
 */
int vvar_detect(struct vvar_source *src, char *err);

/* vvar_find_mappings(), then vvar_detect(). */
int vvar_open(struct vvar_source *src, char *err);

/*
 * Does src->layout find this kernel's coarse clocks (which the kernel
 * keeps up to date in every clock mode) where it expects them?
 */
bool vvar_layout_identified(const struct vvar_source *src);

/*
 * A snapshot that passed vvar_validate(), retrying while the kernel
 * updates its data underneath (the bracket only holds for the data in
 * force during both clock_gettime() calls).
 */
int vvar_read_validated(const struct vvar_source *src,
                        struct host_snapshot *snap, char *err);

/*
 * The inverse of vvar_snapshot(): write a snapshot in a layout, as the
 * kernel would (for tests that run the kernel's own vDSO code on
 * synthesised data).  pvclock_page may be NULL.
 */
void vvar_put_snapshot(const struct vvar_layout *l, uint8_t *vvar_page,
                       uint8_t *pvclock_page, const struct host_snapshot *s);

/* The host counter (TSC) read like the vDSO reads it. */
uint64_t vvar_read_tsc(void);

/* The kernel's seqcount now: it changes at every update of the data. */
uint32_t vvar_peek_seq(const struct vvar_source *src);

/*
 * The live page's descriptor for a layout: where its words are in the
 * first [vvar] page (valid, version PVCP_LIVE_VERSION).
 */
void vvar_live_desc(const struct vvar_layout *l, struct pvcp_live *d);

/* Nominal counter frequency implied by a snapshot, Hz (0 unknown). */
uint64_t vvar_counter_hz(const struct host_snapshot *snap);

#endif /* HW_PVCLOCK_VVAR_H */
