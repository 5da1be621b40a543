/*
 * pvclock-pages: what the machine's ACPI table builder calls (one hook
 * line in hw/i386/acpi-build.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVCLOCK_PAGES_ACPI_H
#define HW_PVCLOCK_PAGES_ACPI_H

#include "hw/acpi/bios-linker-loader.h"

/*
 * With a pvclock-pages device whose vmclock=on, add an SSDT whose
 * \_GPE._E00 notifies the VMClock device (its page changed); else
 * nothing.
 */
void pvclock_pages_build_acpi(GArray *table_offsets, GArray *table_data,
                              BIOSLinker *linker, const char *oem_id);

#endif /* HW_PVCLOCK_PAGES_ACPI_H */
