/*
 * pvclock-pages: the host pages, as the device reads and checks them.
 *
 * The pages come from a memory backend (host-source.c) whose mapping the
 * BAR shows read-only.  The device reads page 0 from the same mapping
 * with the seqcount protocol: the helper's memfd cannot be made short,
 * and a plain file must not be (memory-backend-file's rule).  Each round
 * of the device's watch (1 Hz, pvclock-pages.c) asks here what changed:
 * pages that appear, are damaged, stop being updated, or are replaced
 * (another file at the path, or a helper that started over with a new
 * memfd).  This file reads and reports; replacement pages are shown by
 * the offset page's writer, in its seq write (offset-page.c).  None of
 * this touches a vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/error-report.h"
#include "qemu/host-utils.h"
#include "qemu/int128.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "system/hostmem.h"
#include "hw/pvclock/pvclock-pages-internal.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "trace.h"

/*
 * A consistent copy of host page p, bracketed by reads of its seq.  A
 * helper holds seq odd for well under a microsecond unless it is
 * preempted mid-write; one that died there holds it for good.  Give up
 * after wait_ns (with the BQL held) and say, in *busy, whether it was
 * only that: the seq never settled.
 */
static bool host_snapshot(const struct pvcp_host_page *p,
                          struct pvcp_host_page *pg, uint64_t *tsc,
                          int64_t wait_ns, bool *busy)
{
    const size_t len = offsetof(struct pvcp_host_page, reserved4);
    int64_t deadline = get_clock() + wait_ns;
    uint32_t seq;

    if (busy) {
        *busy = false;
    }
    do {
        seq = qatomic_load_acquire(&p->seq);
        if (seq & 1) {
            g_usleep(10);       /* the helper is writing: let it */
            continue;
        }
        memcpy(pg, p, len);
        if (tsc) {
            *tsc = cpu_get_host_ticks();
        }
        smp_rmb();              /* the copy before the second seq read */
        if (qatomic_read(&p->seq) == seq && le32_to_cpu(pg->seq) == seq) {
            return true;
        }
    } while (get_clock() < deadline);
    if (busy) {
        *busy = true;
    }
    return false;
}

/*
 * Is every word of this copy of host page 0 that feeds the device's
 * arithmetic in range (pvcp_host_page_check(), the one validator the
 * readers call too), published or not?  Beyond the ABI's ranges a shift
 * is undefined in C, 1e9 << shift in vmclock.c's 128-bit TAI overflows
 * (a loop that never ends, a division by zero) and 1 << frac_bits in
 * the TSC frequency wraps.  Every copy of page 0 the device computes
 * with passes this first (host_page0_wait(), page_usable()); a page
 * that does not is damaged (check_host(): status no-helper).
 */
static bool page_in_range(const struct pvcp_host_page *h)
{
    return !(pvcp_host_page_check(h, 0) & PVCP_BAD_RANGE);
}

static bool host_page0_wait(PvclockPagesState *s, struct pvcp_host_page *pg,
                            uint64_t *tsc, int64_t wait_ns)
{
    return s->host.pages && s->host.ok &&
           host_snapshot(s->host.pages, pg, tsc, wait_ns, NULL) &&
           page_in_range(pg);
}

bool pvclock_host_page0(PvclockPagesState *s, struct pvcp_host_page *pg,
                        uint64_t *tsc)
{
    return host_page0_wait(s, pg, tsc, PVCLOCK_SNAP_SHORT_NS);
}

bool pvclock_host_disruptions(PvclockPagesState *s, uint64_t *dis)
{
    struct pvcp_host_page pg;

    if (!s->host.pages ||
        !host_snapshot(s->host.pages, &pg, NULL, PVCLOCK_SNAP_SHORT_NS, NULL)) {
        return false;
    }
    *dis = pg.disruptions;
    return true;
}

/* Can this copy of host page 0 give host clocks at all? */
static bool page_usable(const struct pvcp_host_page *h)
{
    return !pvcp_host_page_check(h, 0);
}

/*
 * A host clock at host TSC tsc, from a usable copy of host page 0 (never
 * clock_gettime(): a simulated host's clocks are only in its pages).
 * Readers clamp a counter behind the line's cycle_last to its base, as
 * the vDSO does; the device also asks for clocks a little in the past
 * (the counter at which TCG stopped the guest's TSC), so behind the line
 * it extrapolates exactly instead: pvcp_clock_at_given(), the ABI's rule
 * for a read at a given counter.
 */
uint64_t pvclock_page_cycles(const struct pvcp_host_page *h, uint64_t tsc)
{
    if (h->flags & PVCP_HOST_F_SIMULATED) {
        tsc = pvcp_xform_apply(&h->sim, tsc);
    }
    return pvcp_host_cycles(h->counter_mode, &h->kvmclock, tsc);
}

static uint64_t host_clock(const struct pvcp_host_page *h, int hres_index,
                           bool raw, uint64_t tsc)
{
    const struct pvcp_line *line = raw ? &h->raw : &h->hres;
    const struct pvcp_base *base = raw ? &h->raw_base
                                       : &h->hres_base[hres_index];
    struct pvcp_time t = pvcp_clock_at_given(line, base, h->flags,
                                             pvclock_page_cycles(h, tsc));

    return t.sec * NANOSECONDS_PER_SECOND + t.nsec;
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
    /* the clocks guests read: the kernel's own while the live page is */
    pvclock_live_overlay(s, &h);
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
 * Does the mapping hold pvclock-pages: each host page with our magic,
 * index and ABI major?  Readers also check each page at every read; this
 * catches a wrong source early and clearly.
 */
static bool check_headers(const char *what, const void *map, Error **errp)
{
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        const struct pvcp_host_page *h = (const void *)((const char *)map +
                                                   PVCP_BAR_HOST_PAGE(i));
        uint32_t magic = le32_to_cpu(qatomic_read(&h->magic));
        uint16_t major = le16_to_cpu(qatomic_read(&h->abi_major));
        unsigned bad = pvcp_host_ident_check(
            magic, major, le32_to_cpu(qatomic_read(&h->page_index)), i);

        if (bad & PVCP_BAD_MAGIC) {
            error_setg(errp, "%s has no pvclock-pages header in page %d "
                       "(magic 0x%08x): not written by pvclock-helper, or "
                       "corrupt", what, i, magic);
            return false;
        }
        if (bad & PVCP_BAD_VERSION) {
            error_setg(errp, "%s has ABI version %u.%u, this QEMU supports "
                       "%u.x: run a pvclock-helper that matches this QEMU",
                       what, major, le16_to_cpu(qatomic_read(&h->abi_minor)),
                       PVCP_ABI_MAJOR);
            return false;
        }
    }
    return true;
}

static void source_identity(HostMemoryBackend *be, dev_t *dev, ino_t *ino)
{
    int fd = memory_region_get_fd(host_memory_backend_get_memory(be));
    struct stat st;

    *dev = 0;
    *ino = 0;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        *dev = st.st_dev;
        *ino = st.st_ino;
    }
}

static const char *check_host(PvclockPagesState *s);

/*
 * Check backend be's pages and map them in the BAR's spare view, not
 * shown yet: sw says what pvclock_host_swap() shows and what it
 * replaces.  own: the device made it (pages=) and unparents it when
 * done with it, or at once if the pages are refused.
 */
static bool host_prepare(PvclockPagesState *s, HostMemoryBackend *be,
                         bool own, PvclockHostSwap *sw, Error **errp)
{
    MemoryRegion *mr = host_memory_backend_get_memory(be);
    g_autofree char *what = NULL;
    MemoryRegion *alias;
    int next = s->host.alias_cur == 0 ? 1 : 0;
    uint64_t tsc = cpu_get_host_ticks();

    what = g_strdup_printf(s->host.memdev ? "memdev '%s' (property 'memdev')"
                                          : "pages '%s' (property 'pages')",
                           pvclock_source_name(s));
    if (s->host.memdev && host_memory_backend_is_mapped(be)) {
        error_setg(errp, "%s is already in use", what);
        return false;
    }
    if (!memory_region_is_ram(mr) || memory_region_size(mr) < PVCP_FILE_SIZE ||
        !memory_region_get_ram_ptr(mr)) {
        error_setg(errp, "%s must be RAM of at least %d bytes", what,
                   PVCP_FILE_SIZE);
        goto fail;
    }
    if (!check_headers(what, memory_region_get_ram_ptr(mr), errp)) {
        goto fail;
    }
    host_memory_backend_set_mapped(be, true);
    /* the guest never writes the host pages, under any accelerator */
    memory_region_set_readonly(mr, true);

    alias = &s->host.alias[next];
    if (s->host.alias_used[next]) {
        object_unparent(OBJECT(alias));     /* out of the BAR since a swap */
        object_unref(OBJECT(s->host.alias_source[next]));
    }
    /* the backend's mapping lives as long as this view of it */
    pvclock_readonly_host_init(alias, OBJECT(s), "pvclock-pages-host",
                               PVCP_FILE_SIZE, memory_region_get_ram_ptr(mr));
    s->host.alias_source[next] = be;
    object_ref(OBJECT(be));
    s->host.alias_used[next] = true;
    *sw = (PvclockHostSwap) {
        .be = be,
        .own = own,
        .old = s->host.source,
        .old_own = s->host.own_source,
        .tsc = tsc,
        .what = g_steal_pointer(&what),
    };
    return true;

fail:
    if (own) {
        object_unparent(OBJECT(be));
    }
    return false;
}

void pvclock_host_swap(PvclockPagesState *s, const PvclockHostSwap *sw)
{
    int next = s->host.alias_cur == 0 ? 1 : 0;

    if (sw->old) {
        memory_region_del_subregion(&s->bar, &s->host.alias[s->host.alias_cur]);
    } else if (memory_region_is_mapped(&s->no_helper)) {
        memory_region_del_subregion(&s->bar, &s->no_helper);
    }
    memory_region_add_subregion(&s->bar, PVCP_BAR_HOST_PAGE(0),
                                &s->host.alias[next]);
    s->host.alias_cur = next;
    s->host.source = sw->be;
    s->host.own_source = sw->own;
    s->host.pages =
        memory_region_get_ram_ptr(host_memory_backend_get_memory(sw->be));
    s->host.ok = true;
    s->host.busy_since = 0;
}

void pvclock_host_swapped(PvclockPagesState *s, PvclockHostSwap *sw)
{
    source_identity(sw->be, &s->host.source_dev, &s->host.source_ino);
    if (sw->old) {
        host_memory_backend_set_mapped(sw->old, false);
        if (sw->old_own) {
            object_unparent(OBJECT(sw->old));   /* freed once no view uses it */
        }
        s->host.replaced++;
        trace_pvclock_pages_host_replaced(sw->what);
    }
    check_host(s);              /* damaged from the start: say so at once */
    s->host.stale = pvclock_host_stale(s);
    trace_pvclock_pages_helper_mapped(sw->what);
    g_free(sw->what);
    sw->what = NULL;
}

/*
 * Show backend be in the BAR in place of the zero pages, read-only to
 * the guest, in one memory transaction.  Pages that replace others are
 * shown by the offset page's writer instead (pvclock_host_look()).
 */
bool pvclock_host_attach(PvclockPagesState *s, HostMemoryBackend *be,
                         bool own, Error **errp)
{
    PvclockHostSwap sw;

    assert(!s->host.source);
    if (!host_prepare(s, be, own, &sw, errp)) {
        return false;
    }
    memory_region_transaction_begin();
    pvclock_host_swap(s, &sw);
    memory_region_transaction_commit();
    pvclock_host_swapped(s, &sw);
    return true;
}

/* fd (from pvclock_source_open()) as a backend shown in the BAR. */
static bool attach_fd(PvclockPagesState *s, int fd, Error **errp)
{
    HostMemoryBackend *be = pvclock_source_backend(s, fd, errp);

    return be && pvclock_host_attach(s, be, true, errp);
}

/* pages= now, as a backend shown in the BAR. */
bool pvclock_host_open(PvclockPagesState *s, Error **errp)
{
    int fd = pvclock_source_open(s, errp);

    return fd >= 0 && attach_fd(s, fd, errp);
}

/*
 * Are the mapped pages still valid?  Returns a reason if that changed.
 * A write in progress gives no verdict, unless the seq stays odd across
 * watch rounds (a helper that died mid-write).
 */
static const char *check_host(PvclockPagesState *s)
{
    struct pvcp_host_page pg;
    bool ok, busy;

    ok = check_headers("pages", s->host.pages, NULL) &&
         host_snapshot(s->host.pages, &pg, NULL, PVCLOCK_SNAP_SHORT_NS,
                       &busy) &&
         !(pvcp_host_page_check(&pg, 0) & PVCP_BAD_DAMAGED);
    if (!ok && busy && s->host.ok) {
        if (!s->host.busy_since) {
            s->host.busy_since = get_clock();
        }
        if (get_clock() - s->host.busy_since < NANOSECONDS_PER_SECOND) {
            return NULL;
        }
    } else if (ok) {
        s->host.busy_since = 0;
    }
    if (ok != s->host.ok) {
        s->host.ok = ok;
        return ok ? "pages valid again" : "pages corrupt";
    }
    return NULL;
}

void pvclock_host_recheck(PvclockPagesState *s, PvclockHostReport *r)
{
    const char *changed = s->host.pages ? check_host(s) : NULL;

    if (s->host.pages) {
        bool stale = pvclock_host_stale(s);

        if (stale != s->host.stale) {
            trace_pvclock_pages_helper_stale(stale);
            s->host.stale = stale;
            changed = stale ? "helper stale" : "helper live again";
        }
    }
    if (changed) {
        r->why = changed;
    }
}

/*
 * Other pages behind pages= than the ones shown: another file at the
 * path (looked at every round, a stat()), or, once the pages shown are
 * stale or unusable, a helper on the socket that started over with a new
 * memfd.  Get the new ones ready to be shown instead.
 */
static bool follow(PvclockPagesState *s, PvclockHostSwap *sw)
{
    HostMemoryBackend *be;
    struct stat st;
    int fd;

    if (s->host.memdev || stat(s->pages_path, &st) < 0) {
        return false;
    }
    if (S_ISSOCK(st.st_mode) ? s->host.ok && !s->host.stale
                             : st.st_dev == s->host.source_dev &&
                               st.st_ino == s->host.source_ino) {
        return false;
    }
    fd = pvclock_source_open(s, NULL);
    if (fd < 0) {
        return false;
    }
    if (fstat(fd, &st) == 0 && st.st_dev == s->host.source_dev &&
        st.st_ino == s->host.source_ino) {
        close(fd);              /* the same pages: the helper is back */
        return false;
    }
    /* not (yet) usable: keep the old */
    be = pvclock_source_backend(s, fd, NULL);
    return be && host_prepare(s, be, true, sw, NULL);
}

void pvclock_host_look(PvclockPagesState *s, PvclockHostReport *r)
{
    *r = (PvclockHostReport) { .why = "watch" };
    if (!s->host.pages) {
        Error *err = NULL;

        if (pvclock_host_open(s, &err)) {
            r->why = "pages appeared";
        }
        error_free(err);
    } else if (follow(s, &r->swap)) {
        r->why = "pages replaced";
    }
}

void pvclock_host_init(PvclockPagesState *s)
{
    s->host.alias_cur = -1;
}

void pvclock_host_close(PvclockPagesState *s)
{
    memory_region_transaction_begin();
    if (s->host.source) {
        memory_region_del_subregion(&s->bar, &s->host.alias[s->host.alias_cur]);
        host_memory_backend_set_mapped(s->host.source, false);
    } else if (memory_region_is_mapped(&s->no_helper)) {
        memory_region_del_subregion(&s->bar, &s->no_helper);
    }
    memory_region_transaction_commit();
    s->host.source = NULL;
    s->host.pages = NULL;
}
