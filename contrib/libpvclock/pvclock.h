/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock: read the host's clocks from pvclock-pages.
 *
 * On the host, open the helper's pages file; in a guest, open the
 * pvclock-pages PCI device's BAR: through the pvclock-pages driver's
 * /dev/pvclock-pagesN when it is loaded, else through sysfs.  Then
 * pvclock_gettime() works like clock_gettime() for CLOCK_REALTIME, CLOCK_TAI,
 * CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW and CLOCK_BOOTTIME: no syscall, no
 * allocation, a seqcount retry over shared memory and one RDTSC.
 *
 *     struct pvclock *pc;
 *     struct timespec ts;
 *     int err = pvclock_open_guest(&pc, NULL);     // find the device
 *     if (err == PVCLOCK_OK)
 *         err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
 *     if (err != PVCLOCK_OK)
 *         fprintf(stderr, "pvclock: %s\n", pvclock_strerror(err));
 *     pvclock_close(pc);
 *
 * The handle is opaque: its layout may change between releases without
 * breaking programs linked against libpvclock.so.1.
 */
#ifndef LIBPVCLOCK_H
#define LIBPVCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pvclock-pages/pvclock-pages-abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors.  Every function returns PVCLOCK_OK (0) or one of these. */
enum pvclock_error {
    PVCLOCK_OK = 0,
    PVCLOCK_ENOTMAPPED,     /* handle not opened (or closed) */
    PVCLOCK_EOPEN,          /* open/mmap failed; errno says why */
    PVCLOCK_ENODEV,         /* no pvclock-pages PCI device found */
    PVCLOCK_ESIZE,          /* file or BAR smaller than the ABI needs */
    PVCLOCK_EMAGIC,         /* not a pvclock-pages page (bad magic) */
    PVCLOCK_EVERSION,       /* ABI major this library does not know, or */
                            /* an offset page older than ABI 1.7 */
    PVCLOCK_EUNPUBLISHED,   /* this host page variant is not published */
                            /* (on the host: a simulated host's page) */
    PVCLOCK_EBADPAGE,       /* page contents inconsistent (corrupt?) */
    PVCLOCK_ENOTVALID,      /* device says the pages are not valid now */
    PVCLOCK_EUNRELIABLE,    /* device cannot relate guest and host counter */
    PVCLOCK_ESTALE,         /* helper stopped updating; *ts still filled */
    PVCLOCK_ECLOCK,         /* clock id not provided by pvclock-pages */
    PVCLOCK_EBUSY,          /* a writer kept the seqcount odd too long */
    PVCLOCK_EINVAL,         /* bad argument */
    PVCLOCK_ERRORS
};

/*
 * A reader's handle: opened by pvclock_open_*(), freed by pvclock_close().
 *
 * Time namespaces: a handle adds the time namespace offsets of the
 * process that opened it (/proc/self/timens_offsets, read at open) to
 * MONOTONIC, MONOTONIC_RAW and BOOTTIME, as clock_gettime() does there.
 * A process's time namespace changes only by setns(2), allowed only while
 * it has a single thread, and a child forked after unshare(CLONE_NEWTIME)
 * starts in the new one: open the handle again after either (a handle
 * inherited across such a fork keeps the parent's offsets).
 */
struct pvclock;

#if defined(__GNUC__) && defined(LIBPVCLOCK_BUILD)
#define PVCLOCK_API __attribute__((visibility("default")))
#else
#define PVCLOCK_API
#endif

/*
 * Open the helper's pages (host side; the counter is the TSC): pages_path
 * is pvclock-helper's --socket (the pages memfd is asked for there) or
 * its --pages file.  On success *pc is the handle; on failure NULL, and
 * after PVCLOCK_EOPEN errno says why.
 */
PVCLOCK_API int pvclock_open_host(struct pvclock **pc, const char *pages_path);

/*
 * Ask pvclock-helper --socket at socket_path for its pages: a read-only
 * descriptor of the sealed memfd (header, seals checked), or -1 with
 * errno set: ETIMEDOUT if no answer came within timeout_ms, EPROTO if
 * the answer was not pvclock-helper's, EPERM if the memfd is not sealed
 * against shrinking and growing.  For programs that hand it on (to a
 * QEMU started with the descriptor, as memory-backend-file's
 * mem-path=/proc/self/fd/N).
 */
PVCLOCK_API int pvclock_pages_fd(const char *socket_path, int timeout_ms);

/*
 * Open the device's BAR (guest side).  path is the driver's
 * /dev/pvclock-pagesN, a sysfs resource0 file or a BAR image; NULL
 * finds the first pvclock-pages device as pvclock_find_device() does
 * (pvclock_mapping() then says which way).  As pvclock_open_host()
 * otherwise.
 */
PVCLOCK_API int pvclock_open_guest(struct pvclock **pc, const char *path);

/*
 * Pages the caller has mapped itself (a BAR image, pages it copied, a
 * test's own memory): host, the PVCP_HOST_PAGES host pages in order;
 * offset, the offset page (NULL: a host reader); live, the live page
 * (NULL: none).  The memory must stay mapped until pvclock_close(),
 * which does not unmap it.
 */
struct pvclock_memory {
    const void *host;
    const void *offset;
    const void *live;
};
PVCLOCK_API int pvclock_open_memory(struct pvclock **pc,
                                    const struct pvclock_memory *mem);

/*
 * The path to map the first pvclock-pages device (1af4:10f0) through:
 * /dev/pvclock-pagesN when the pvclock-pages driver has bound it, its
 * sysfs resource0 otherwise.  PVCLOCK_OK, PVCLOCK_ENODEV, or
 * PVCLOCK_EINVAL if path is too short.
 */
PVCLOCK_API int pvclock_find_device(char *path, size_t len);

/*
 * The sysfs path of BAR `bar` of the index'th PCI device with these
 * IDs (0 the first, in directory order): PVCLOCK_OK, PVCLOCK_ENODEV, or
 * PVCLOCK_EINVAL if path is too short.  pvclock_find_device() is
 * pvclock_find_pci(PVCP_PCI_VENDOR_ID, PVCP_PCI_DEVICE_ID, 0, 0, ...).
 */
PVCLOCK_API int pvclock_find_pci(unsigned vendor, unsigned device,
                                 unsigned index, unsigned bar, char *path,
                                 size_t len);

/*
 * What a handle's pages came through.  A guest wants PVCLOCK_MAP_DEVICE;
 * PVCLOCK_MAP_SYSFS works for root only, is refused under kernel
 * lockdown and is mapped uncached, which pvclock_mapping_note() says in
 * words for a tool to print.
 */
enum pvclock_mapping {
    PVCLOCK_MAP_MEMORY,     /* pvclock_open_memory(): the caller's */
    PVCLOCK_MAP_FILE,       /* a pages file, the helper's memfd, an image */
    PVCLOCK_MAP_SYSFS,      /* the BAR through sysfs resource0 */
    PVCLOCK_MAP_DEVICE,     /* the BAR through /dev/pvclock-pagesN */
};
/* PVCLOCK_MAP_*, or -1 for a NULL handle. */
PVCLOCK_API int pvclock_mapping(const struct pvclock *pc);
/* What a mapping costs, in one line ("" when nothing), for messages. */
PVCLOCK_API const char *pvclock_mapping_note(int mapping);

/* Free the handle (and unmap what the library mapped); NULL is a no-op. */
PVCLOCK_API void pvclock_close(struct pvclock *pc);

/*
 * Choose a host page (PVCP_PAGE_*); -1, the default: the one the device
 * recommends, or page 0 on the host.
 */
PVCLOCK_API int pvclock_select_page(struct pvclock *pc, int page);

/*
 * Read the live page when it can answer (on, the default) or only the
 * helper's pages (off): for tools that compare the two.
 */
PVCLOCK_API int pvclock_use_live(struct pvclock *pc, int on);

/*
 * The clocks pvclock-pages provides, for tools that go through them
 * all: pvclock_clock(i) for i in 0..PVCLOCK_CLOCKS-1 is CLOCK_REALTIME,
 * CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW and CLOCK_BOOTTIME
 * (-1 past them), pvclock_clock_name() their names without "CLOCK_"
 * ("REALTIME", ...; NULL for other ids).
 */
#define PVCLOCK_CLOCKS 5
PVCLOCK_API clockid_t pvclock_clock(int i);
PVCLOCK_API const char *pvclock_clock_name(clockid_t clk);

/* clock_gettime() for the clocks pvclock-pages provides. */
PVCLOCK_API int pvclock_gettime(const struct pvclock *pc, clockid_t clk,
                                struct timespec *ts);

/*
 * The same at a given counter value (the guest's TSC in a guest, the
 * host's TSC on the host) instead of a fresh RDTSC: for tests and for
 * timestamping counter values read elsewhere.
 */
PVCLOCK_API int pvclock_gettime_at(const struct pvclock *pc, clockid_t clk,
                                   uint64_t counter, struct timespec *ts);

/*
 * Error bounds around a reading, as TrueTime and ClockBound give them:
 * now is the reading (pvclock_gettime()'s value, from the helper's
 * pages), and the clock's true value lies in [earliest, latest],
 * now +- error_ns.  What "true" is:
 *   - REALTIME and TAI: UTC and TAI as the host's NTP daemon states its
 *     own maximum error (adjtimex maxerror, grown by the kernel's 500 ppm
 *     since the helper sampled it, once a second), plus the term below.
 *     A host whose clock is unsynchronised (STA_UNSYNC) gives no bound:
 *     error_ns UINT64_MAX, sync PVCLOCK_SYNC_UNSYNCED.  On a smeared
 *     page the bound is the host's error, not the smear's own departure
 *     from UTC around a leap second.
 *   - MONOTONIC, BOOTTIME, MONOTONIC_RAW: the host's own clock.
 * For every clock: 1 ns of rounding, and max_drift_ppb (0: the default,
 * PVCLOCK_DRIFT_PPB_DEFAULT, the most an NTP daemon slews a clock) times
 * the time since the helper last proved it was watching the host's
 * clock (its heartbeat), for a change of the host's rate the pages may
 * not show yet.  While the helper runs that is at most its heartbeat
 * interval; once it has stopped (PVCLOCK_ESTALE, sync
 * PVCLOCK_SYNC_STALE, *b still filled in) the bound keeps growing.
 * Errors as pvclock_gettime(); the device's not-valid and unreliable
 * states give no bound at all.
 */
enum pvclock_sync {
    PVCLOCK_SYNC_OK,        /* bounded, the helper current */
    PVCLOCK_SYNC_UNSYNCED,  /* the host says its clock is not synchronised */
    PVCLOCK_SYNC_STALE,     /* the helper stopped: the bound grows with age */
};
struct pvclock_bounds {
    struct timespec earliest;
    struct timespec now;
    struct timespec latest;
    uint64_t error_ns;      /* UINT64_MAX: no bound */
    uint32_t sync;          /* PVCLOCK_SYNC_* */
    uint32_t reserved;
};
#define PVCLOCK_DRIFT_PPB_DEFAULT   500000u     /* 500 ppm */
PVCLOCK_API int pvclock_gettime_bounds(const struct pvclock *pc, clockid_t clk,
                                       uint32_t max_drift_ppb,
                                       struct pvclock_bounds *b);
/* The same at a given counter value, as pvclock_gettime_at(). */
PVCLOCK_API int pvclock_gettime_bounds_at(const struct pvclock *pc,
                                          clockid_t clk, uint64_t counter,
                                          uint32_t max_drift_ppb,
                                          struct pvclock_bounds *b);

/*
 * The pages behind a handle, for tools that print them: host page
 * `page`, the offset page (NULL on the host) and the live page (NULL if
 * none).  Read them under their seq, as the ABI header says.
 */
PVCLOCK_API const volatile struct pvcp_host_page *
pvclock_host_page(const struct pvclock *pc, int page);
PVCLOCK_API const volatile struct pvcp_offset_page *
pvclock_offset_page(const struct pvclock *pc);
PVCLOCK_API const volatile void *pvclock_live_page(const struct pvclock *pc);

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
PVCLOCK_API int pvclock_get_info(const struct pvclock *pc,
                                 struct pvclock_info *info);

/*
 * Does a read of clk now come from the live page, the host kernel's own
 * timekeeping data (ABI 1.4), rather than the helper's pages?  1 yes,
 * 0 no (no live page, not for this clock or page, the host left the
 * TSC), or a negative error.
 */
PVCLOCK_API int pvclock_live_in_use(const struct pvclock *pc, clockid_t clk);

/* A counter read ordered like the host vDSO's (LFENCE; RDTSC). */
PVCLOCK_API uint64_t pvclock_read_counter(void);

PVCLOCK_API const char *pvclock_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBPVCLOCK_H */
