/*
 * pvclock-pages: the QEMU interfaces that differ between the versions
 * the project builds against (scripts/lib.sh QEMU_PINS: 10.2, the
 * default, and Debian 13's 10.0).  Keyed on QEMU's own version macros
 * (config-host.h, through qemu/osdep.h); nothing else in hw/pvclock/
 * asks which QEMU it is in.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVCLOCK_COMPAT_H
#define HW_PVCLOCK_COMPAT_H

#define PVCLOCK_QEMU_AT_LEAST(major, minor) \
    (QEMU_VERSION_MAJOR > (major) || \
     (QEMU_VERSION_MAJOR == (major) && QEMU_VERSION_MINOR >= (minor)))

/* TypeInfo.class_init's class_data, const since QEMU 10.1 */
#if PVCLOCK_QEMU_AT_LEAST(10, 1)
typedef const void PvclockClassData;
#else
typedef void PvclockClassData;
#endif

/* icount_enabled(): system/cpu-timers.h up to 10.0, exec/icount.h after */
#if PVCLOCK_QEMU_AT_LEAST(10, 1)
#include "exec/icount.h"
#else
#include "system/cpu-timers.h"
#endif

#endif /* HW_PVCLOCK_COMPAT_H */
