/*
 * pvclock-pages: the device's parts, in the order the glue calls them.
 *
 * A part is a capability in a file of its own, with its hooks, its
 * properties and its vmstate subsection (PvclockPart); the PCI glue
 * (pvclock-pages.c) walks this table at each of its events.  One line
 * per part, naming its file: adding a capability is adding its file and
 * its line here (scripts/make-patches.sh, which writes the series one
 * capability per patch, keeps the lines whose file a patch has).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pvclock/pvclock-pages-internal.h"

const PvclockPart *const pvclock_parts[] = {
    &pvclock_part_migration,    /* part: migration.c */
    &pvclock_part_irq,          /* part: irq.c */
    &pvclock_part_live,         /* part: live-page.c */
    &pvclock_part_vmclock,      /* part: vmclock.c */
    NULL
};
