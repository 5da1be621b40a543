/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A host's REALTIME or TAI read on the host from page 0 of a pages file,
 * a simulated host's included (the helper's --simulate): its counter is
 * the page's sim of the TSC, which guests never apply (the device
 * composes it into their offset page's transform, ABI 1.7) and which
 * libpvclock's host path refuses.  For the test tools that compare a
 * guest with a simulated host: pvclock-exchange --host-pages, and
 * tests/migration through ctypes (libpvclock-host-page.so).
 */
#ifndef PVCLOCK_HOST_PAGE_H
#define PVCLOCK_HOST_PAGE_H

#include <stdint.h>

#include "pvclock-pages/pvclock-pages-abi.h"

/* Page 0 of the pages file at path, mapped read-only; NULL on failure. */
const volatile struct pvcp_host_page *host_page_map(const char *path);

/*
 * Page 0 of the pages behind descriptor fd (a helper's memfd), mapped
 * read-only; fd is closed; NULL on failure (also for fd < 0).
 */
const volatile struct pvcp_host_page *host_page_map_fd(int fd);

/*
 * REALTIME (tai 0) or TAI in ns now: 0, the page's PVCP_BAD_* (its
 * validator refused it), or -1 (its seq stayed odd).
 */
int host_page_ns(const volatile struct pvcp_host_page *p, int tai,
                 int64_t *ns);

#endif
