/*
 * pvclock-pages PCI device: the host's clocks for the guest.
 *
 * BAR0 maps the host helper's four host pages read-only, next to an
 * offset page this device owns (see pvclock-pages-abi.h for the ABI and
 * docs/system/devices/pvclock-pages.rst for the user's view).  The
 * device's state is private to hw/pvclock/.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVCLOCK_PAGES_H
#define HW_PVCLOCK_PAGES_H

#include "qom/object.h"

#define TYPE_PVCLOCK_PAGES "pvclock-pages"
OBJECT_DECLARE_SIMPLE_TYPE(PvclockPagesState, PVCLOCK_PAGES)

#endif /* HW_PVCLOCK_PAGES_H */
