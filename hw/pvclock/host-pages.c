/*
 * pvclock-pages: the host pages, as the device reads and checks them.
 *
 * The helper's pages file is mapped into the BAR for the guest; QEMU's
 * own threads never load from that mapping (see host-file.c) and read
 * page 0 through the file instead.  A host-side watch (1 Hz, plus
 * inotify) notices a file that appears, turns short, is damaged, is
 * replaced, or stops being updated.  None of this touches a vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/host-utils.h"
#include "qemu/int128.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "hw/pvclock/pvclock-pages-calc.h"
#include "trace.h"

#include <sys/inotify.h>

/* The watch timer: a missing, damaged, replaced or stale pages file. */
#define PVCLOCK_PAGES_WATCH_MS 1000

static bool host_page0_wait(PvclockPagesState *s, struct pvcp_host_page *pg,
                            uint64_t *tsc, int64_t wait_ns)
{
    return s->host && s->host_ok &&
           pvclock_host_snapshot(s->host_fd, pg, tsc, wait_ns, NULL);
}

bool pvclock_host_page0(PvclockPagesState *s, struct pvcp_host_page *pg,
                        uint64_t *tsc)
{
    return host_page0_wait(s, pg, tsc, PVCLOCK_SNAP_SHORT_NS);
}

/* Can this copy of host page 0 give host clocks at all? */
static bool page_usable(const struct pvcp_host_page *h)
{
    return h->magic == PVCP_HOST_MAGIC && pvcp_page_checks_ok(h) &&
           (h->flags & PVCP_HOST_F_VALID) &&
           h->counter_mode != PVCP_COUNTER_NONE &&
           h->counter_mode != PVCP_COUNTER_RAW_NS &&
           h->hres.shift <= 63 && h->raw.shift <= 63 &&
           (!(h->flags & PVCP_HOST_F_SIMULATED) || h->sim.frac_bits <= 63);
}

/*
 * A host clock at host TSC tsc, from a usable copy of host page 0 (never
 * clock_gettime(): a simulated host's clocks are only in its pages).
 * Readers clamp a counter behind the line's cycle_last to its base, as
 * the vDSO does; the device also asks for clocks a little in the past
 * (the counter at which TCG stopped the guest's TSC), so behind the line
 * it extrapolates exactly instead.
 */
static uint64_t host_clock(const struct pvcp_host_page *h, int hres_index,
                           bool raw, uint64_t tsc)
{
    const struct pvcp_line *line = raw ? &h->raw : &h->hres;
    const struct pvcp_base *base = raw ? &h->raw_base
                                       : &h->hres_base[hres_index];
    uint64_t counter = tsc, cycles, lo, hi;
    int64_t delta;
    struct pvcp_time t;
    Int128 ns;

    if (h->flags & PVCP_HOST_F_SIMULATED) {
        counter = pvcp_xform_apply(&h->sim, counter);
    }
    cycles = pvcp_host_cycles(h->counter_mode, &h->kvmclock, counter);
    delta = (int64_t)(cycles - line->cycle_last);
    if (delta >= 0) {
        t = pvcp_clock_at(line, base, h->flags, cycles);
        return t.sec * NANOSECONDS_PER_SECOND + t.nsec;
    }
    muls64(&lo, &hi, delta, line->mult);
    ns = int128_rshift(int128_add(int128_make128(lo, hi),
                                  int128_make64(base->nsec_shifted)),
                       line->shift);
    return base->sec * NANOSECONDS_PER_SECOND + int128_getlo(ns);
}

bool pvclock_host_at(PvclockPagesState *s, const uint64_t *tsc,
                     uint64_t mono[PVCP_MONO_CLOCKS], uint64_t *realtime,
                     uint64_t *disruptions)
{
    struct pvcp_host_page h;
    uint64_t now;

    if (!host_page0_wait(s, &h, &now, PVCLOCK_SNAP_LONG_NS) ||
        !page_usable(&h)) {
        return false;
    }
    if (tsc) {
        now = *tsc;
    }
    mono[PVCP_MONO_MONOTONIC] = host_clock(&h, PVCP_HRES_MONOTONIC, false,
                                           now);
    mono[PVCP_MONO_RAW] = host_clock(&h, 0, true, now);
    mono[PVCP_MONO_BOOTTIME] = host_clock(&h, PVCP_HRES_BOOTTIME, false,
                                          now);
    *realtime = host_clock(&h, PVCP_HRES_REALTIME, false, now);
    if (disruptions) {
        *disruptions = h.disruptions;
    }
    return true;
}

bool pvclock_host_now(PvclockPagesState *s, uint64_t mono[PVCP_MONO_CLOCKS],
                      uint64_t *realtime, uint64_t *disruptions)
{
    return pvclock_host_at(s, NULL, mono, realtime, disruptions);
}

/* a * b / c without losing bits (c may exceed 32 bits, unlike muldiv64) */
static uint64_t muldiv_u64(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t lo, hi;

    mulu64(&lo, &hi, a, b);
    divu128(&lo, &hi, c);
    return hi ? UINT64_MAX : lo;
}

uint64_t pvclock_host_tsc_hz(PvclockPagesState *s)
{
    struct pvcp_host_page pg;

    if (!pvclock_host_page0(s, &pg, NULL) || !pg.counter_hz) {
        return 0;
    }
    if ((pg.flags & PVCP_HOST_F_SIMULATED) && pg.sim.mult) {
        /* the page counts sim.mult / 2^frac_bits simulated per real */
        return muldiv_u64(pg.counter_hz, 1ull << pg.sim.frac_bits,
                          pg.sim.mult);
    }
    return pg.counter_hz;
}

/*
 * Is the helper still updating page 0?  Its heartbeat_ns is the helper's
 * CLOCK_MONOTONIC, the same clock as QEMU_CLOCK_REALTIME on Linux.
 */
bool pvclock_host_stale(PvclockPagesState *s)
{
    struct pvcp_host_page pg;
    uint64_t limit_ns, now;

    if (!pvclock_host_page0(s, &pg, NULL)) {
        return false;
    }
    if (!pg.stale_after || !pg.counter_hz) {
        return false;               /* the helper says: never stale */
    }
    limit_ns = muldiv_u64(pg.stale_after, NANOSECONDS_PER_SECOND,
                          pg.counter_hz);
    now = get_clock();
    return !pg.heartbeat_ns ||
           (now > pg.heartbeat_ns && now - pg.heartbeat_ns > limit_ns);
}

/*
 * Check that fd is a pages file this device can map: big enough, each
 * host page with our magic, index and ABI major.  Readers also check
 * each page at every read; this catches a wrong path early and clearly.
 */
static bool check_file(const char *path, int fd, Error **errp)
{
    struct pvcp_host_page hdr;
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "pages file '%s' (property 'pages')",
                         path);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "pages file '%s' (property 'pages') is not a "
                   "regular file; point pages= at pvclock-helper's file",
                   path);
        return false;
    }
    if (st.st_size < PVCP_FILE_SIZE) {
        error_setg(errp, "pages file '%s' (property 'pages') is %" PRId64
                   " bytes, a pvclock-pages file has %d; is it "
                   "pvclock-helper's file?", path, (int64_t)st.st_size,
                   PVCP_FILE_SIZE);
        return false;
    }
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        if (pread(fd, &hdr, offsetof(struct pvcp_host_page, seq),
                  PVCP_BAR_HOST_PAGE(i)) !=
            offsetof(struct pvcp_host_page, seq)) {
            error_setg_errno(errp, errno, "cannot read pages file '%s' "
                             "(property 'pages')", path);
            return false;
        }
        if (le32_to_cpu(hdr.magic) != PVCP_HOST_MAGIC ||
            le32_to_cpu(hdr.page_index) != (uint32_t)i) {
            error_setg(errp, "pages file '%s' (property 'pages') has no "
                       "pvclock-pages header in page %d (magic 0x%08x): "
                       "not written by pvclock-helper, or corrupt", path, i,
                       le32_to_cpu(hdr.magic));
            return false;
        }
        if (le16_to_cpu(hdr.abi_major) != PVCP_ABI_MAJOR) {
            error_setg(errp, "pages file '%s' (property 'pages') has ABI "
                       "version %u.%u, this QEMU supports %u.x: run a "
                       "pvclock-helper that matches this QEMU", path,
                       le16_to_cpu(hdr.abi_major), le16_to_cpu(hdr.abi_minor),
                       PVCP_ABI_MAJOR);
            return false;
        }
    }
    return true;
}

int pvclock_host_open(PvclockPagesState *s, Error **errp)
{
    int fd;

    if (!s->pages_path || !*s->pages_path) {
        error_setg(errp, "property 'pages' must name pvclock-helper's pages "
                   "file (default " PVCLOCK_PAGES_DEFAULT_PATH ")");
        return -1;
    }
    /*
     * Never block (a FIFO at the path would hang realize, hot-plug and
     * the watch until some writer opened it); check_file() refuses
     * anything but a regular file before reading.
     */
    fd = open(s->pages_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot open pages file '%s' "
                         "(property 'pages'); is pvclock-helper running?",
                         s->pages_path);
        return -1;
    }
    if (!check_file(s->pages_path, fd, errp)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void watch_inotify(PvclockPagesState *s);

/*
 * Map the file read-only and shared over the BAR's host pages: the
 * helper's in-place updates are seen at once, the guest cannot write,
 * and since the RAM block is never registered for migration the host
 * pages are never migrated.  The RAM block owns fd from here on.
 */
bool pvclock_host_map(PvclockPagesState *s, int fd, Error **errp)
{
    if (!memory_region_init_ram_from_fd(&s->host_pages, OBJECT(s),
                                        "pvclock-pages-host", PVCP_FILE_SIZE,
                                        RAM_SHARED | RAM_READONLY |
                                        RAM_READONLY_FD, fd, 0, errp)) {
        close(fd);
        return false;
    }
    memory_region_transaction_begin();
    if (memory_region_is_mapped(&s->no_helper)) {
        memory_region_del_subregion(&s->bar, &s->no_helper);
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                &s->host_pages);
    memory_region_transaction_commit();
    s->host = memory_region_get_ram_ptr(&s->host_pages);
    s->host_fd = memory_region_get_fd(&s->host_pages);
    s->host_ok = true;
    s->guard_slot = pvclock_guard_add((void *)s->host);
    if (s->guard_slot < 0) {
        warn_report("pvclock-pages: cannot guard the mapping of '%s' "
                    "against truncation of the file", s->pages_path);
    }
    watch_inotify(s);
    s->helper_stale = pvclock_host_stale(s);
    trace_pvclock_pages_helper_mapped(s->pages_path);
    return true;
}

/*
 * Is the mapped file still whole and valid?  If it got short, put zero
 * pages over the mapping before a guest load raises SIGBUS (the guard
 * catches the loads that come first); once it is whole and valid again,
 * map it back at the same address, so neither the BAR nor KVM's memory
 * slot changes.  Returns a reason if anything changed.
 */
static const char *check_host(PvclockPagesState *s)
{
    uint32_t faults = pvclock_guard_faults(s->guard_slot);
    bool zeroed = s->host_lost || faults != s->guard_faults_seen;
    struct pvcp_host_page pg;
    struct stat st;
    bool whole, ok, busy;

    whole = fstat(s->host_fd, &st) == 0 && st.st_size >= PVCP_FILE_SIZE;
    s->guard_faults_seen = faults;
    if (!whole) {
        if (!s->host_lost) {
            pvclock_guard_zero((void *)s->host);
            s->host_lost = true;
            s->host_ok = false;
            s->pages_lost++;
            trace_pvclock_pages_host_lost(s->pages_path, faults);
            warn_report("pvclock-pages: pages file '%s' was truncated; the "
                        "guest sees no host pages until pvclock-helper "
                        "restores it", s->pages_path);
            return "pages file truncated";
        }
        return NULL;
    }
    ok = check_file(s->pages_path, s->host_fd, NULL) &&
         pvclock_host_snapshot(s->host_fd, &pg, NULL, PVCLOCK_SNAP_SHORT_NS,
                               &busy) &&
         pvcp_page_checks_ok(&pg);
    if (!ok && busy && s->host_ok) {
        /*
         * A write in progress: no verdict yet, unless the seq stays odd
         * across watch rounds (a helper that died mid-write).
         */
        if (!s->busy_since) {
            s->busy_since = get_clock();
        }
        if (get_clock() - s->busy_since < NANOSECONDS_PER_SECOND) {
            return NULL;
        }
    } else if (ok) {
        s->busy_since = 0;
    }
    if (zeroed) {
        if (!ok) {
            return NULL;
        }
        /* a straddling reader must see seq or generation move */
        pvclock_offset_page_write_begin(s);
        if (!pvclock_guard_remap((void *)s->host, s->host_fd)) {
            pvclock_offset_page_write_end(s);
            return NULL;
        }
        s->offset_page->generation++;
        pvclock_offset_page_write_end(s);
        s->host_lost = false;
        s->host_ok = true;
        trace_pvclock_pages_host_back(s->pages_path);
        return "pages file whole again";
    }
    if (ok != s->host_ok) {
        s->host_ok = ok;
        return ok ? "pages file valid again" : "pages file corrupt";
    }
    return NULL;
}

static void recheck(PvclockPagesState *s, const char *why)
{
    const char *changed = s->host ? check_host(s) : NULL;

    if (s->host) {
        bool stale = pvclock_host_stale(s);

        if (stale != s->helper_stale) {
            trace_pvclock_pages_helper_stale(stale);
            s->helper_stale = stale;
            changed = stale ? "helper stale" : "helper live again";
        }
    }
    pvclock_offset_page_publish(s, changed ? changed : why);
}

/* The file changed size or was written with write(2): look now. */
static void inotify_read(void *opaque)
{
    PvclockPagesState *s = opaque;
    char buf[sizeof(struct inotify_event) + NAME_MAX + 1];

    while (read(s->inotify_fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }
    recheck(s, "pages file changed");
}

static void watch_inotify(PvclockPagesState *s)
{
    if (!s->use_inotify) {
        return;
    }
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify_fd < 0) {
        return;                 /* the 1 Hz watch still notices */
    }
    s->inotify_wd = inotify_add_watch(s->inotify_fd, s->pages_path,
                                      IN_MODIFY | IN_ATTRIB);
    if (s->inotify_wd < 0) {
        close(s->inotify_fd);
        s->inotify_fd = -1;
        return;
    }
    qemu_set_fd_handler(s->inotify_fd, inotify_read, NULL, s);
}

/*
 * Another file at the path than the one mapped: the old one was removed
 * and a helper started over with a new one.  Map the new file over the
 * old at the same address (the guest's BAR and KVM's memory slot stay as
 * they are) and read it from then on.  The RAM block keeps the old fd.
 */
static const char *follow_path(PvclockPagesState *s)
{
    struct pvcp_host_page old;
    struct stat at_path, mapped;
    uint64_t old_disruptions;
    int fd;

    if (stat(s->pages_path, &at_path) < 0 ||
        fstat(s->host_fd, &mapped) < 0 ||
        (at_path.st_dev == mapped.st_dev && at_path.st_ino == mapped.st_ino)) {
        return NULL;
    }
    fd = pvclock_host_open(s, NULL);
    if (fd < 0) {
        return NULL;            /* not (yet) a pages file: keep the old */
    }
    /*
     * A guest's disruption count is generation + the host page's
     * disruptions, and must only grow; the new file counts from its own
     * start.  Step generation past what the old file had counted, in the
     * same seq write window as the swap, so that a reader straddling it
     * retries.
     */
    old_disruptions = pvclock_host_snapshot(s->host_fd, &old, NULL,
                                            PVCLOCK_SNAP_SHORT_NS, NULL) ?
                      old.disruptions : s->last_host_dis;
    pvclock_offset_page_write_begin(s);
    if (!pvclock_guard_remap((void *)s->host, fd)) {
        pvclock_offset_page_write_end(s);
        close(fd);
        return NULL;
    }
    s->offset_page->generation += old_disruptions + 1;
    pvclock_offset_page_write_end(s);
    if (s->host_fd != memory_region_get_fd(&s->host_pages)) {
        close(s->host_fd);
    }
    s->host_fd = fd;
    s->host_lost = false;
    s->host_ok = true;
    s->guard_faults_seen = pvclock_guard_faults(s->guard_slot);
    if (s->inotify_fd >= 0) {
        inotify_rm_watch(s->inotify_fd, s->inotify_wd);
        s->inotify_wd = inotify_add_watch(s->inotify_fd, s->pages_path,
                                          IN_MODIFY | IN_ATTRIB);
    }
    trace_pvclock_pages_host_replaced(s->pages_path);
    return "pages file replaced";
}

static void watch(void *opaque)
{
    PvclockPagesState *s = opaque;
    const char *why = "watch";

    if (!s->host) {
        Error *err = NULL;
        int fd = pvclock_host_open(s, &err);

        if (fd >= 0 && pvclock_host_map(s, fd, &err)) {
            why = "pages file appeared";
        }
        error_free(err);
    } else {
        why = follow_path(s) ?: why;
    }
    recheck(s, why);
    timer_mod(s->watch_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              PVCLOCK_PAGES_WATCH_MS);
}

void pvclock_host_watch_start(PvclockPagesState *s)
{
    s->watch_timer = timer_new_ms(QEMU_CLOCK_REALTIME, watch, s);
    timer_mod(s->watch_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              PVCLOCK_PAGES_WATCH_MS);
}

void pvclock_host_close(PvclockPagesState *s)
{
    if (s->watch_timer) {
        timer_free(s->watch_timer);
        s->watch_timer = NULL;
    }
    if (s->inotify_fd >= 0) {
        qemu_set_fd_handler(s->inotify_fd, NULL, NULL, NULL);
        close(s->inotify_fd);
        s->inotify_fd = -1;
    }
    pvclock_guard_remove(s->guard_slot);
    s->guard_slot = -1;
    if (s->host && s->host_fd != memory_region_get_fd(&s->host_pages)) {
        close(s->host_fd);      /* a replacement file's: ours */
    }
    s->host_fd = -1;
}
