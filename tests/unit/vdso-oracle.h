/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running kernel's own vDSO as a test oracle.
 *
 * The vDSO finds its data at fixed offsets below its code.  A private
 * copy of the code, placed above fake data pages at the same offsets,
 * computes clock_gettime() from whatever data the test writes there, so
 * the library can be compared bit for bit with the kernel's arithmetic
 * on any input.  The clocksource counter is made exact by using the
 * kvm-clock path with a zero multiplier: the vDSO then reads
 * "system_time" as its counter value.
 */
#ifndef PVCLOCK_VDSO_ORACLE_H
#define PVCLOCK_VDSO_ORACLE_H

#include <time.h>

#include "pvclock-pages/pvclock-vvar.h"

struct vdso_oracle {
    uint8_t *region;
    size_t region_len;
    uint8_t *vvar;          /* fake [vvar] page 0 */
    uint8_t *pvclock;       /* fake kvm-clock page */
    const struct vvar_layout *layout;
    int (*gettime)(clockid_t clk, struct timespec *ts);
};

/* Build the oracle next to a live, validated vvar source. */
int vdso_oracle_init(struct vdso_oracle *o, const struct vvar_source *live,
                     char *err, size_t errlen);

/*
 * clock_gettime() by the kernel's vDSO code over snapshot s.  The
 * snapshot's kvmclock stage is used as given (counter_mode must be
 * PVCP_COUNTER_TSC_KVMCLOCK).
 */
int vdso_oracle_gettime(struct vdso_oracle *o, const struct host_snapshot *s,
                        clockid_t clk, struct timespec *ts);

void vdso_oracle_fini(struct vdso_oracle *o);

#endif /* PVCLOCK_VDSO_ORACLE_H */
