/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: read the host's clocks from pvclock-pages.
 *
 * On the host, open the helper's pages file; in a guest, open the
 * pvclock-pages PCI device's BAR through sysfs.  Then pvclock_gettime()
 * works like clock_gettime() for CLOCK_REALTIME, CLOCK_TAI,
 * CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW and CLOCK_BOOTTIME: no syscall, no
 * allocation, a seqcount retry over shared memory and one RDTSC.
 *
 *     struct pvclock pc;
 *     struct timespec ts;
 *     int err = pvclock_open_guest(&pc, NULL);     // find the device
 *     if (err == PVCLOCK_OK)
 *         err = pvclock_gettime(&pc, CLOCK_REALTIME, &ts);
 *     if (err != PVCLOCK_OK)
 *         fprintf(stderr, "pvclock: %s\n", pvclock_strerror(err));
 */
#ifndef LIBPVCLOCK_H
#define LIBPVCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hw/pvclock/pvclock-pages-abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors.  Every function returns PVCLOCK_OK (0) or one of these. */
enum pvclock_error {
    PVCLOCK_OK = 0,
    PVCLOCK_ENOTMAPPED,     /* handle not opened (or closed) */
    PVCLOCK_EOPEN,          /* open/mmap failed; see pvclock.saved_errno */
    PVCLOCK_ENODEV,         /* no pvclock-pages PCI device found */
    PVCLOCK_ESIZE,          /* file or BAR smaller than the ABI needs */
    PVCLOCK_EMAGIC,         /* not a pvclock-pages page (bad magic) */
    PVCLOCK_EVERSION,       /* ABI major version this library does not know */
    PVCLOCK_EUNPUBLISHED,   /* this host page variant is not published */
    PVCLOCK_EBADPAGE,       /* page contents inconsistent (corrupt?) */
    PVCLOCK_ENOTVALID,      /* device says the pages are not valid now */
    PVCLOCK_EUNRELIABLE,    /* device cannot relate guest and host counter */
    PVCLOCK_ESTALE,         /* helper stopped updating; *ts still filled */
    PVCLOCK_ECLOCK,         /* clock id not provided by pvclock-pages */
    PVCLOCK_EBUSY,          /* a writer kept the seqcount odd too long */
    PVCLOCK_EINVAL,         /* bad argument */
    PVCLOCK_ERRORS
};

struct pvclock {
    const volatile struct pvcp_host_page *host[PVCP_HOST_PAGES];
    const volatile struct pvcp_offset_page *offset; /* NULL on the host */
    void *map;
    size_t map_len;
    int page;               /* host page in use, PVCP_PAGE_* */
    int saved_errno;        /* errno of the failure behind PVCLOCK_EOPEN */
    /* the BAR's live page (ABI 1.4), NULL on the host */
    const volatile unsigned char *live;
};

/*
 * Open the helper's pages (host side; the counter is the TSC): pages_path
 * is pvclock-helper's --socket (the pages memfd is asked for there) or
 * its --pages file.
 */
int pvclock_open_host(struct pvclock *pc, const char *pages_path);

/*
 * Ask pvclock-helper --socket at socket_path for its pages: a read-only
 * descriptor of the sealed memfd (header, seals checked), or -1 with
 * errno set: ETIMEDOUT if no answer came within timeout_ms, EPROTO if
 * the answer was not pvclock-helper's, EPERM if the memfd is not sealed
 * against shrinking and growing.  For programs that hand it on (to a
 * QEMU started with the descriptor, as memory-backend-file's
 * mem-path=/proc/self/fd/N).
 */
int pvclock_pages_fd(const char *socket_path, int timeout_ms);

/*
 * Open the device's BAR (guest side).  resource_path is a sysfs
 * resource0 file; NULL finds the first pvclock-pages device.
 */
int pvclock_open_guest(struct pvclock *pc, const char *resource_path);

/* Find the first device's resource0 path (1af4:10f0) in sysfs. */
int pvclock_find_device(char *path, size_t len);

void pvclock_close(struct pvclock *pc);

/*
 * Choose a host page (PVCP_PAGE_*); by default the one the device
 * recommends, or page 0 on the host.
 */
int pvclock_select_page(struct pvclock *pc, int page);

/* clock_gettime() for the clocks pvclock-pages provides. */
int pvclock_gettime(const struct pvclock *pc, clockid_t clk,
                    struct timespec *ts);

/*
 * The same at a given counter value (the guest's TSC in a guest, the
 * host's TSC on the host) instead of a fresh RDTSC: for tests and for
 * timestamping counter values read elsewhere.
 */
int pvclock_gettime_at(const struct pvclock *pc, clockid_t clk,
                       uint64_t counter, struct timespec *ts);

/* Snapshot of the status for tools: generation, status, helper epoch. */
struct pvclock_info {
    uint64_t generation;    /* disruptions: the offset page's generation
                               (0 on the host) + the host page's count */
    uint32_t status;        /* PVCP_STATUS_* (VALID on the host) */
    uint32_t backend;       /* PVCP_BACKEND_* */
    uint32_t counter_mode;  /* PVCP_COUNTER_* of the page in use */
    uint32_t page;          /* host page in use */
    uint64_t host_flags;    /* PVCP_HOST_F_* */
    uint64_t helper_epoch;
    uint64_t guest_counter_hz;
    uint64_t host_counter_hz;
};
int pvclock_get_info(const struct pvclock *pc, struct pvclock_info *info);

/*
 * Does a read of clk now come from the live page, the host kernel's own
 * timekeeping data (ABI 1.4), rather than the helper's pages?  1 yes,
 * 0 no (no live page, not for this clock or page, the host left the
 * TSC), or a negative error.
 */
int pvclock_live_in_use(const struct pvclock *pc, clockid_t clk);

/* A counter read ordered like the host vDSO's (LFENCE; RDTSC). */
uint64_t pvclock_read_counter(void);

const char *pvclock_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBPVCLOCK_H */
