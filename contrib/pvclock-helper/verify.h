/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checking a published pages file against this host's clock_gettime():
 * what a running helper publishes, read back through libpvclock the way
 * every reader reads it.  For administrators (pvclock-helper --verify)
 * and for the tests that run the helper inside guests booted with real
 * kernels of each vDSO layout family.
 */
#ifndef PVCLOCK_HELPER_VERIFY_H
#define PVCLOCK_HELPER_VERIFY_H

#include <stdio.h>

/*
 * For each of the five clocks and each unscaled host page (0 and 1),
 * rounds times: clock_gettime(), the TSC, clock_gettime() again; the
 * library's time at that TSC must lie between the two readings.  Prints
 * one line per clock and page to out.  Returns 0 if every reading lay
 * inside its bracket, 1 if any did not or the library refused a read,
 * 2 if the file cannot be opened as pages.
 */
int verify_pages(const char *path, long rounds, FILE *out);

#endif /* PVCLOCK_HELPER_VERIFY_H */
