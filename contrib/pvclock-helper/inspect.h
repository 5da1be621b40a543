/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Human-readable dump of a pages file (pvclock-helper --inspect).
 */
#ifndef PVCLOCK_HELPER_INSPECT_H
#define PVCLOCK_HELPER_INSPECT_H

#include <stdio.h>

/* Print every host page and the clocks it gives now; 0 or -1. */
int inspect_pages(const char *path, FILE *out);

#endif /* PVCLOCK_HELPER_INSPECT_H */
