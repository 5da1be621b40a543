/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's pages file: creating it, and publishing host pages into it
 * with the seqcount write protocol of the ABI.
 */
#ifndef PVCLOCK_HELPER_PAGES_H
#define PVCLOCK_HELPER_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "vvar.h"

struct pages_file {
    int fd;
    char *path;                 /* or memfd:pvclock-pages */
    volatile struct pvcp_host_page *page[PVCP_HOST_PAGES];
    void *map;
};

/*
 * Open (creating it and its directory if needed) and lock the pages file;
 * it keeps its inode, so QEMU processes that mapped it see every update.
 * Pages that carry no valid header are initialised unpublished.
 */
int pages_open(struct pages_file *pf, const char *path, char *err,
               size_t errlen);
/*
 * The pages in a memfd sealed against shrinking and growing (the
 * --socket mode): a new one if fd < 0, else fd, a memfd kept from an
 * earlier run (systemd's file descriptor store), checked first.  pf owns
 * fd from here on, also on failure.
 */
int pages_open_memfd(struct pages_file *pf, int fd, char *err,
                     size_t errlen);
/* Create path's missing parent directories (mode 0755). */
int pages_mkdir_parents(const char *path);
/* Is fd a pages memfd: sealed so, of the pages' size? */
int pages_check_memfd(int fd, char *err, size_t errlen);
void pages_close(struct pages_file *pf);

/*
 * Put back what another process broke: a truncated file (grown back to
 * zeros by a SIGBUS handler when the helper next touched it) or a page
 * header that is not ours.  Broken pages get a fresh unpublished header;
 * returns true if anything was repaired, and then everything must be
 * published again (contents, heartbeat, epoch).
 */
bool pages_repair(struct pages_file *pf);

/* Fill a host page's seq-protected part from a snapshot. */
void pages_fill_from_snapshot(struct pvcp_host_page *dst,
                              const struct host_snapshot *snap,
                              uint64_t counter_hz);

/*
 * True if two pages give the same time for every counter value, i.e. the
 * newer one only moved its bases along the same lines.  Publishing such
 * a page would only make readers retry, until the published bases fall
 * PAGES_REBASE_NS behind (pages_due()).
 */
bool pages_same_mapping(const struct pvcp_host_page *a,
                        const struct pvcp_host_page *b);

/* True if page n is published with the same mapping as src. */
bool pages_is_current(struct pages_file *pf, int n,
                      const struct pvcp_host_page *src);

/*
 * How far behind a published line's bases may fall before the same line
 * is written again with src's (a rebase).  A reader's delta then stays
 * under about half a second plus the poll, and its arithmetic on the
 * short path the vDSO takes: one 64-bit product and no division.  A line
 * left from the helper's start makes every read take the 128-bit product
 * after minutes and divide by 10^9 after two seconds, which cost readers
 * 10 to 20 % (docs/benchmarks.md, bench/METHODS.md).
 */
#define PAGES_REBASE_NS 500000000ull

/*
 * Does page n need src written: a new mapping, or the same one with bases
 * PAGES_REBASE_NS or more behind src's?
 */
bool pages_due(struct pages_file *pf, int n,
               const struct pvcp_host_page *src);

/*
 * Publish src's seq-protected part into page n (seq odd, write, seq even)
 * if pages_due().  Returns true if the mapping changed; a rebase writes
 * and returns false, and wakes no FUTEX_WAIT on seq (waiters act on new
 * lines, and a rebase is not one).
 */
bool pages_publish(struct pages_file *pf, int n,
                   const struct pvcp_host_page *src);

/* Mark page n unpublished (counter_mode NONE). */
void pages_unpublish(struct pages_file *pf, int n);

/*
 * Rewrite the liveness fields of every page (no seq bump): counter[i] is
 * now in page i's counter domain, stale_after[i] the staleness bound in
 * the same unit.
 */
void pages_heartbeat(struct pages_file *pf,
                     const uint64_t counter[PVCP_HOST_PAGES],
                     uint64_t mono_ns,
                     const uint64_t stale_after[PVCP_HOST_PAGES],
                     uint32_t interval_ms);

/*
 * Set helper_epoch on every page (at start); helper_pid is left 0 (the
 * pages are guest-visible: the helper's PID is in its log and systemd's).
 */
void pages_set_epoch(struct pages_file *pf, uint64_t epoch);

#endif /* PVCLOCK_HELPER_PAGES_H */
