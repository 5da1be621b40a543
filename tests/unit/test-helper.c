/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's library code over synthesised data: vvar layouts (each
 * known kernel generation, a time namespace page, unsupported clock
 * modes) and the pages file (in place, locked, seq only on real change).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pages.h"
#include "vvar.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"

static void put32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, 4);
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, 8);
}

/* Write one kernel clock block in the given layout. */
static void put_block(uint8_t *blk, bool has_max, uint32_t seq, int32_t mode,
                      uint64_t cycle_last, uint32_t mult, uint32_t shift,
                      uint64_t sec_base)
{
    size_t bases;

    put32(blk, 0, seq);
    put32(blk, 4, (uint32_t)mode);
    put64(blk, 8, cycle_last);
    if (has_max) {
        put64(blk, 0x10, 0x1234567);
        put64(blk, 0x18, ~0ull);
        put32(blk, 0x20, mult);
        put32(blk, 0x24, shift);
        bases = 0x28;
    } else {
        put64(blk, 0x10, ~0ull);
        put32(blk, 0x18, mult);
        put32(blk, 0x1c, shift);
        bases = 0x20;
    }
    for (int clk = 0; clk < 12; clk++) {
        put64(blk, bases + 16 * clk, sec_base + clk);
        put64(blk, bases + 16 * clk + 8, (uint64_t)clk << shift);
    }
}

static void test_layouts(void)
{
    for (size_t i = 0; i < vvar_layout_count; i++) {
        const struct vvar_layout *l = &vvar_layouts[i];
        static uint8_t page[2 * PVCP_PAGE_SIZE];
        struct vvar_source src = {
            .vvar = page, .vvar_len = sizeof(page), .layout = l,
        };
        struct host_snapshot s;
        char err[VVAR_ERR_LEN] = "";
        int ret;

        memset(page, 0, sizeof(page));
        put_block(page + l->data_offset, l->max_cycles, 42,
                  VVAR_CLOCKMODE_TSC, 777, 3000, 10, 1000);
        put_block(page + l->data_offset + l->stride, l->max_cycles, 42,
                  VVAR_CLOCKMODE_TSC, 778, 3001, 11, 2000);
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret == 0 && s.seq == 42 && s.counter_mode == PVCP_COUNTER_TSC
               && s.hres.cycle_last == 777 && s.hres.mult == 3000 &&
               s.hres.shift == 10 && s.raw.cycle_last == 778 &&
               s.raw.mult == 3001 && s.raw.shift == 11,
               "layout %s: lines read (%s)", l->name, err);
        tap_ok(s.hres_base[PVCP_HRES_REALTIME].sec == 1000 &&
               s.hres_base[PVCP_HRES_MONOTONIC].sec == 1001 &&
               s.hres_base[PVCP_HRES_BOOTTIME].sec == 1007 &&
               s.hres_base[PVCP_HRES_TAI].sec == 1011 &&
               s.hres_base[PVCP_HRES_TAI].nsec_shifted == 11ull << 10 &&
               s.raw_base.sec == 2004 &&
               s.raw_base.nsec_shifted == 4ull << 11,
               "layout %s: bases of REALTIME, MONOTONIC, BOOTTIME, TAI, "
               "MONOTONIC_RAW", l->name);
        tap_ok(l->max_cycles ? (s.hres.max_cycles == 0x1234567 &&
                                !(s.flags & PVCP_HOST_F_MUL_WRAPS))
                             : (s.hres.max_cycles == (1ull << 62) - 1 &&
                                (s.flags & PVCP_HOST_F_MUL_WRAPS)),
               "layout %s: overflow protection %s", l->name,
               l->max_cycles ? "read from the kernel" : "emulated as wrap");

        /* A time namespace page: seq 1, mode TIMENS, forever. */
        put_block(page + l->data_offset, l->max_cycles, 1,
                  VVAR_CLOCKMODE_TIMENS, 0, 1, 1, 0);
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret < 0 && strstr(err, "time namespace"),
               "layout %s: timens page refused: %s", l->name, err);

        put_block(page + l->data_offset, l->max_cycles, 2,
                  VVAR_CLOCKMODE_NONE, 0, 1, 1, 0);
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret < 0 && strstr(err, "clock_mode NONE"),
               "layout %s: clocksource without vDSO refused: %s", l->name,
               err);

        put_block(page + l->data_offset, l->max_cycles, 2,
                  VVAR_CLOCKMODE_HVCLOCK, 0, 1, 1, 0);
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret < 0 && strstr(err, "HVCLOCK"),
               "layout %s: Hyper-V clocksource named: %s", l->name, err);

        /* kvm-clock: the pvclock page must be stable. */
        put_block(page + l->data_offset, l->max_cycles, 2,
                  VVAR_CLOCKMODE_PVCLOCK, 0, 1, 1, 0);
        put32(page + PVCP_PAGE_SIZE, 0, 4);         /* version */
        put64(page + PVCP_PAGE_SIZE, 8, 12345);     /* tsc_timestamp */
        put64(page + PVCP_PAGE_SIZE, 16, 999);      /* system_time */
        put32(page + PVCP_PAGE_SIZE, 24, 1u << 31); /* mul */
        page[PVCP_PAGE_SIZE + 28] = (uint8_t)-1;    /* shift */
        page[PVCP_PAGE_SIZE + 29] = 0;              /* flags: not stable */
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret < 0 && strstr(err, "STABLE"),
               "layout %s: unstable kvm-clock refused: %s", l->name, err);
        page[PVCP_PAGE_SIZE + 29] = 1;
        ret = vvar_snapshot(&src, &s, err);
        tap_ok(ret == 0 && s.counter_mode == PVCP_COUNTER_TSC_KVMCLOCK &&
               s.kvmclock.tsc_timestamp == 12345 &&
               s.kvmclock.system_time == 999 && s.kvmclock.tsc_shift == -1,
               "layout %s: kvm-clock stage composed", l->name);
    }
}

/*
 * Layout detection over this kernel's own data rewritten in each known
 * layout, with the rest of the vvar page zero, as a 6.1 or 6.12 kernel
 * leaves offset 0 where the 6.15+ layout keeps its data: the right layout
 * must be found, whatever the layouts tried before it read.  Only a layout
 * identified by the coarse clocks may then report a host's clock mode.
 */
static void test_detection(void)
{
    static uint8_t img[2 * PVCP_PAGE_SIZE];
    struct vvar_source live, src;
    struct host_snapshot snap;
    char err[VVAR_ERR_LEN] = "";

    if (vvar_open(&live, err) < 0) {
        tap_skip("layout detection over this kernel's data rewritten in "
                 "each layout", err);
        return;
    }
    for (size_t i = 0; i < vvar_layout_count; i++) {
        const struct vvar_layout *l = &vvar_layouts[i];
        int ret;

        memset(img, 0, sizeof(img));
        if (vvar_read_validated(&live, &snap, err) < 0) {
            tap_ok(0, "live snapshot: %s", err);
            continue;
        }
        snap.seq &= ~1u;
        vvar_put_snapshot(l, img, NULL, &snap);
        memset(&src, 0, sizeof(src));
        src.vvar = img;
        src.vvar_len = sizeof(img);
        ret = vvar_detect(&src, err);
        tap_ok(ret == 0 && src.layout == l,
               "layout %s: detected among zeros of the other layouts "
               "(got %s%s%s)", l->name, src.layout ? src.layout->name : "none",
               ret ? ": " : "", ret ? err : "");

        /* the same kernel words with clock mode NONE: a fact of the host */
        put32(img + l->data_offset, 4, VVAR_CLOCKMODE_NONE);
        put32(img + l->data_offset + l->stride, 4, VVAR_CLOCKMODE_NONE);
        src.layout = l;
        tap_ok(vvar_layout_identified(&src), "layout %s: identified by its "
               "coarse clocks", l->name);
        ret = vvar_detect(&src, err);
        tap_ok(ret < 0 && strstr(err, "clock_mode NONE") &&
               strstr(err, l->name),
               "layout %s, clock mode NONE: reported as the host's: %s",
               l->name, err);
    }

    /* nothing anywhere: no layout may speak for the host */
    memset(img, 0, sizeof(img));
    memset(&src, 0, sizeof(src));
    src.vvar = img;
    src.vvar_len = sizeof(img);
    tap_ok(vvar_detect(&src, err) < 0 && strstr(err, "not recognised"),
           "a zero vvar page: layout not recognised: %.120s", err);
}

static void set_bases(struct host_snapshot *s, uint64_t sec, uint64_t nsec)
{
    for (int i = 0; i < PVCP_HRES_CLOCKS; i++) {
        s->hres_base[i].sec = sec;
        s->hres_base[i].nsec_shifted = nsec;
    }
    s->raw_base = s->hres_base[0];
}

/*
 * A snapshot of a line of 1.5 ns per cycle (mult 3, shift 1) at cycle
 * 1000, every clock at 5.999999999 s, and its page.
 */
static void first_line(struct host_snapshot *snap, struct pvcp_host_page *page)
{
    memset(snap, 0, sizeof(*snap));
    snap->counter_mode = PVCP_COUNTER_TSC;
    snap->hres.cycle_last = 1000;
    snap->hres.max_cycles = 1ull << 40;
    snap->hres.mult = 3;
    snap->hres.shift = 1;
    snap->raw = snap->hres;
    set_bases(snap, 5, 999999999ull << 1);
    memset(page, 0, sizeof(*page));
    pages_fill_from_snapshot(page, snap, 2000000000);
}

/*
 * The same line `cycles` later: cycle_last moved, the bases set to sec and
 * nsec_shifted (the caller's arithmetic), and the page of it.
 */
static void line_moved(struct host_snapshot *snap, uint64_t cycles,
                       uint64_t sec, uint64_t nsec_shifted,
                       struct pvcp_host_page *page)
{
    snap->hres.cycle_last += cycles;
    snap->raw.cycle_last += cycles;
    set_bases(snap, sec, nsec_shifted);
    memset(page, 0, sizeof(*page));
    pages_fill_from_snapshot(page, snap, 2000000000);
}

/* A FUTEX_WAIT on a page's seq, as QEMU's vmclock=on waits (300 ms). */
struct seq_waiter {
    pthread_t thread;
    volatile uint32_t *seq;
    uint32_t val;
    int err;                    /* 0: woken, ETIMEDOUT: not, or EAGAIN */
};

static void *seq_wait_thread(void *opaque)
{
    struct seq_waiter *w = opaque;
    struct timespec limit = { 0, 300000000 };

    w->err = syscall(SYS_futex, w->seq, FUTEX_WAIT, w->val, &limit, NULL,
                     0) == 0 ? 0 : errno;
    return NULL;
}

/* Start a waiter on page p's seq; give it time to be asleep in the kernel. */
static void seq_waiter_start(struct seq_waiter *w,
                             volatile struct pvcp_host_page *p)
{
    w->seq = &p->seq;
    w->val = p->seq;
    pthread_create(&w->thread, NULL, seq_wait_thread, w);
    usleep(50000);
}

/*
 * The same line, its bases PAGES_REBASE_NS or more behind: written again
 * (readers' deltas stay short), but not a change, and no waiter woken.
 */
static void test_rebase(void)
{
    char path[] = "/tmp/pvclock-test-rebase-XXXXXX";
    char err[256];
    struct pages_file pf;
    struct host_snapshot snap;
    struct pvcp_host_page page, later;
    struct seq_waiter w;
    uint32_t seq0;
    int fd = mkstemp(path);

    close(fd);
    unlink(path);
    if (pages_open(&pf, path, err, sizeof(err)) < 0) {
        tap_ok(0, "pages file for the rebase (%s)", err);
        return;
    }
    /* 0.5 s is 333333334 cycles */
    first_line(&snap, &page);
    pages_publish(&pf, 0, &page);

    /* 333333332 cycles on: 499999998 ns, just short of the bound */
    line_moved(&snap, 333333332, 6, 499999997ull << 1, &later);
    seq0 = pf.page[0]->seq;
    tap_ok(pages_same_mapping(&page, &later) &&
           !pages_due(&pf, 0, &later) && !pages_publish(&pf, 0, &later) &&
           pf.page[0]->seq == seq0,
           "bases 499999998 ns behind on the same line: not written");

    /* 2 cycles more: 3 ns, 500000001 ns behind */
    line_moved(&snap, 2, 6, 500000000ull << 1, &later);
    seq_waiter_start(&w, pf.page[0]);
    tap_ok(pages_same_mapping(&page, &later) && pages_due(&pf, 0, &later) &&
           !pages_publish(&pf, 0, &later) && pf.page[0]->seq == seq0 + 2 &&
           pf.page[0]->hres.cycle_last == snap.hres.cycle_last &&
           pf.page[0]->hres_base[0].sec == 6 &&
           pf.page[0]->check[0] ==
           pvcp_check_clock(0, PVCP_COUNTER_TSC, page.flags, &later.hres,
                            &later.hres_base[0], 0),
           "500000001 ns behind: rebased (seq + 2, the new bases sealed), "
           "not reported as a change");
    pthread_join(w.thread, NULL);
    tap_ok(w.err == ETIMEDOUT, "a rebase wakes no FUTEX_WAIT on seq (%s)",
           strerror(w.err));
    tap_ok(!pages_due(&pf, 0, &later), "the rebased page is current");

    later.hres.mult = 4;
    seq_waiter_start(&w, pf.page[0]);
    tap_ok(pages_publish(&pf, 0, &later), "a new slope is a change");
    pthread_join(w.thread, NULL);
    tap_ok(w.err == 0, "a new line wakes the waiters (%s)",
           w.err ? strerror(w.err) : "woken");
    pages_close(&pf);
    unlink(path);
}

static void test_pages_file(void)
{
    char dir[] = "/tmp/pvclock-test-helper-XXXXXX";
    char path[256], err[256];
    struct pages_file pf, pf2;
    struct host_snapshot snap;
    struct pvcp_host_page page, moved;
    struct stat st1, st2;
    uint32_t seq0;

    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/sub/dir/pages", dir);
    tap_ok(pages_open(&pf, path, err, sizeof(err)) == 0,
           "pages file and its directories created (%s)", err);
    stat(path, &st1);
    tap_ok(st1.st_size == PVCP_FILE_SIZE, "pages file is %d bytes",
           PVCP_FILE_SIZE);
    tap_ok(pf.page[2]->magic == PVCP_HOST_MAGIC &&
           pf.page[2]->page_index == 2 &&
           pf.page[2]->counter_mode == PVCP_COUNTER_NONE,
           "fresh pages carry headers and are unpublished");
    tap_ok(pages_open(&pf2, path, err, sizeof(err)) < 0 &&
           strstr(err, "locked by another pvclock-helper"),
           "a second helper on the same file is refused: %s", err);

    first_line(&snap, &page);
    seq0 = pf.page[0]->seq;
    tap_ok(pages_publish(&pf, 0, &page) && pf.page[0]->seq == seq0 + 2,
           "first publication bumps seq by two");

    /*
     * The same line 10 cycles later: 10 * 3 = 30 shifted units, which
     * carries into the next second.  Not a change.
     */
    line_moved(&snap, 10, 6, 28, &moved);
    seq0 = pf.page[0]->seq;
    tap_ok(pages_same_mapping(&page, &moved) &&
           !pages_publish(&pf, 0, &moved) && pf.page[0]->seq == seq0,
           "bases moved along the same line: no publication, no seq bump");

    moved.hres.mult = 4;
    tap_ok(!pages_same_mapping(&page, &moved) &&
           pages_publish(&pf, 0, &moved) && pf.page[0]->seq == seq0 + 2,
           "a new slope is published");
    moved.hres.mult = 3;
    moved.hres_base[0].nsec_shifted += 2;
    tap_ok(!pages_same_mapping(&page, &moved),
           "a stepped base is a new mapping");

    pf.page[2]->helper_pid = 1234;      /* as a helper before 1.3 wrote */
    pages_set_epoch(&pf, 7);
    pages_heartbeat(&pf, (uint64_t[4]){ 555, 555, 555, 555 }, 666,
                    (uint64_t[4]){ 777, 777, 777, 777 }, 1000);
    tap_ok(pf.page[3]->helper_epoch == 7 && pf.page[1]->heartbeat_counter ==
           555 && pf.page[0]->stale_after == 777,
           "epoch and heartbeat reach every page");
    tap_ok(pf.page[0]->helper_pid == 0 && pf.page[2]->helper_pid == 0,
           "no page tells guests the helper's PID");
    seq0 = pf.page[0]->seq;
    pages_heartbeat(&pf, (uint64_t[4]){ 556, 556, 556, 556 }, 667,
                    (uint64_t[4]){ 777, 777, 777, 777 }, 1000);
    tap_ok(pf.page[0]->seq == seq0, "heartbeats do not bump seq");
    pages_close(&pf);

    /* Restart: same inode, seq continues, published data kept. */
    tap_ok(pages_open(&pf, path, err, sizeof(err)) == 0, "reopen");
    stat(path, &st2);
    tap_ok(st1.st_ino == st2.st_ino, "restart keeps the file's inode");
    tap_ok(pf.page[0]->seq == seq0 && pf.page[0]->helper_epoch == 7,
           "restart keeps seq and the previous epoch");
    pages_close(&pf);

    /* A scribbled page gets a fresh header on open. */
    {
        int fd = open(path, O_WRONLY);
        uint32_t junk = 0xdeadbeef;

        (void)!pwrite(fd, &junk, 4, PVCP_BAR_HOST_PAGE(1));
        close(fd);
    }
    tap_ok(pages_open(&pf, path, err, sizeof(err)) == 0 &&
           pf.page[1]->magic == PVCP_HOST_MAGIC &&
           pf.page[1]->counter_mode == PVCP_COUNTER_NONE,
           "a corrupt page header is rewritten unpublished");
    pages_close(&pf);

    snprintf(path, sizeof(path), "%s/sub", dir);
    tap_ok(pages_open(&pf, path, err, sizeof(err)) < 0 && strstr(err, path),
           "a directory as pages file: %s", err);

    snprintf(path, sizeof(path), "rm -rf %s", dir);
    (void)!system(path);
}

int main(void)
{
    test_layouts();
    test_detection();
    test_pages_file();
    test_rebase();
    return tap_done();
}
