/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's own uses of the kernel's vDSO data.  Detection,
 * validation and the reading of clock blocks are shared with the
 * device's live page: pvclock-pages/pvclock-vvar.h.
 */
#ifndef PVCLOCK_HELPER_VVAR_H
#define PVCLOCK_HELPER_VVAR_H

#include <stdint.h>

#include "pvclock-pages/pvclock-vvar.h"

/* The kernel's seqcount now: it changes at every update of the data. */
uint32_t vvar_peek_seq(const struct vvar_source *src);

/* Nominal counter frequency implied by a snapshot, Hz (0 unknown). */
uint64_t vvar_counter_hz(const struct host_snapshot *snap);

/*
 * The inverse of vvar_snapshot(): write a snapshot in a layout, as the
 * kernel would (for tests that run the kernel's own vDSO code on
 * synthesised data).  pvclock_page may be NULL.
 */
void vvar_put_snapshot(const struct vvar_layout *l, uint8_t *vvar_page,
                       uint8_t *pvclock_page, const struct host_snapshot *s);

#endif /* PVCLOCK_HELPER_VVAR_H */
