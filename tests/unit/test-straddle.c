/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest read that straddles a live migration.  The guest is paused
 * while QEMU switches hosts, so from the guest's side the whole BAR
 * (host pages and offset page) changes at once between two of its loads.
 * Here a thread does the same to guest readers: it swaps the mapping of
 * the BAR between two images with mmap(MAP_FIXED), host A's and host
 * B's.  Both images carry the same seq values (two hosts' seqs can be
 * equal by chance) and give different times at the counter the readers
 * use; each is valid on its own (check words sealed).  Every time a
 * reader returns must be A's or B's, never a mix, and never an error.
 *
 * The offset page's generation is what tells the reader: it grows at
 * every migration, so here at every swap.  Run a second time with one
 * generation for both, which a real migration never produces, the
 * readers see the straddles as mixed times or refused pages (check
 * words), which shows the test can fail.
 *
 * Then the same with the live page (ABI 1.4): each image carries a
 * kernel timekeeping page in the datastore layout at BAR 0x5000, with
 * the same kernel seq on both hosts, and a valid descriptor; its host
 * page 0 is an hour off, so a read that fell back to it shows too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-vvar.h"
#include "bar-image.h"
#include "race.h"
#include "tap.h"

#define COUNTER  5000000ull

static struct pvclock *pc;
static char *bar;                   /* the BAR the readers see */
static int fd[2];
static int grow;                /* bump the generation at every swap */
static int live;                /* the images carry a live page */
static int64_t expect[2];
static _Atomic int stop;
static _Atomic long reads, mixed, errors, swaps;

/*
 * Host x's image: 1 ns per cycle, REALTIME 1700000000 + x s at
 * cycle_last; the guest counter is the host's plus x * 1000.
 */
static void make_image(struct bar_image *img, int x, uint64_t generation)
{
    bar_image_init(img);
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        img->host[i].seq = 40;  /* the same on both hosts */
    }
    img->host[0].counter_mode = PVCP_COUNTER_TSC;
    img->host[0].flags = PVCP_HOST_F_VALID;
    img->host[0].hres.cycle_last = 1000000 + x * 777;
    img->host[0].hres.max_cycles = 1ull << 40;
    img->host[0].hres.mult = 1u << 23;
    img->host[0].hres.shift = 23;
    img->host[0].hres_base[PVCP_HRES_REALTIME].sec = 1700000000 + x;
    img->host[0].hres_base[PVCP_HRES_REALTIME].nsec_shifted =
        (uint64_t)(100 + x * 333) << 23;
    img->host[0].raw = img->host[0].hres;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pvcp_page_seal(&img->host[i]);
    }
    if (live) {
        struct pvcp_live *d = &img->offset.live;
        uint8_t *blk;

        vvar_live_desc(&vvar_layouts[0], d);
        blk = img->zero + d->block[0];
        *(uint32_t *)(blk + d->seq) = 80;       /* the same on both */
        *(int32_t *)(blk + d->clock_mode) = d->clock_mode_tsc;
        *(uint64_t *)(blk + d->cycle_last) = img->host[0].hres.cycle_last;
        *(uint64_t *)(blk + d->max_cycles) = img->host[0].hres.max_cycles;
        *(uint32_t *)(blk + d->mult) = img->host[0].hres.mult;
        *(uint32_t *)(blk + d->shift) = img->host[0].hres.shift;
        *(uint64_t *)(blk + d->base[PVCP_HRES_REALTIME]) =
            img->host[0].hres_base[PVCP_HRES_REALTIME].sec;
        *(uint64_t *)(blk + d->base[PVCP_HRES_REALTIME] + 8) =
            img->host[0].hres_base[PVCP_HRES_REALTIME].nsec_shifted;
        /* the helper's copy an hour off: a fallback to it shows */
        img->host[0].hres_base[PVCP_HRES_REALTIME].sec += 3600;
        pvcp_page_seal(&img->host[0]);
    }
    img->offset.seq = 12;       /* the same on both hosts */
    img->offset.status = PVCP_STATUS_VALID;
    img->offset.generation = generation;
    bar_image_offset(img, (uint64_t)x * 1000);
    /* what a reader of this image alone returns at COUNTER */
    expect[x] = (1700000000ll + x) * 1000000000ll + 100 + x * 333 +
                (int64_t)(COUNTER + x * 1000 - (1000000 + x * 777));
}

/*
 * Migrate back and forth.  As after a real migration, the destination's
 * generation is above anything the guest saw before (with grow): the
 * image about to be mapped is not mapped now, so it is written first.
 */
static void *swapper(void *arg)
{
    uint64_t gen = 100;
    int x = 0;

    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        x ^= 1;
        gen++;
        if (grow && pwrite(fd[x], &gen, sizeof(gen),
                           offsetof(struct bar_image, offset.generation)) !=
            sizeof(gen)) {
            abort();
        }
        if (mmap(bar, PVCP_BAR_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
                 fd[x], 0) != bar) {
            abort();
        }
        atomic_fetch_add_explicit(&swaps, 1, memory_order_relaxed);
    }
    return NULL;
}

static void *reader(void *arg)
{
    long r = 0, m = 0, e = 0;

    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct timespec ts;
        int64_t ns;

        if (pvclock_gettime_at(pc, CLOCK_REALTIME, COUNTER, &ts)) {
            e++;
            continue;
        }
        r++;
        ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
        if (ns != expect[0] && ns != expect[1]) {
            m++;
        }
    }
    atomic_fetch_add(&reads, r);
    atomic_fetch_add(&mixed, m);
    atomic_fetch_add(&errors, e);
    return NULL;
}

/*
 * Swap hosts under two readers for `seconds`; the generation grows at
 * every swap or, if !grows, stays the same on both.
 */
static void straddle(const char *dir, int grows, int seconds)
{
    static struct bar_image img;
    struct pvclock_memory mem;
    char path[2][256];

    for (int x = 0; x < 2; x++) {
        snprintf(path[x], sizeof(path[x]), "%s/host%c", dir, 'A' + x);
        make_image(&img, x, 7);
        fd[x] = open(path[x], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd[x] < 0 || write(fd[x], &img, sizeof(img)) != sizeof(img)) {
            abort();
        }
    }
    /* the test maps the BAR itself, to map the other host over it */
    bar = mmap(NULL, PVCP_BAR_SIZE, PROT_READ, MAP_SHARED, fd[0], 0);
    mem.host = bar;
    mem.offset = bar + PVCP_BAR_OFFSET_PAGE;
    mem.live = bar + PVCP_BAR_LIVE_PAGE;
    if (bar == MAP_FAILED || pvclock_open_memory(&pc, &mem) != PVCLOCK_OK) {
        abort();
    }
    grow = grows;
    atomic_store(&reads, 0);
    atomic_store(&mixed, 0);
    atomic_store(&errors, 0);
    atomic_store(&swaps, 0);
    race_threads(swapper, reader, 2, seconds, &stop);
    pvclock_close(pc);
    munmap(bar, PVCP_BAR_SIZE);
    for (int x = 0; x < 2; x++) {
        close(fd[x]);
        unlink(path[x]);
    }
}

int main(void)
{
    char dir[] = "/tmp/pvclock-test-straddle-XXXXXX";
    const char *env = getenv("PVCLOCK_STRADDLE_SECONDS");
    int seconds = env ? atoi(env) : 2;

    if (!mkdtemp(dir)) {
        return 2;
    }
    straddle(dir, 1, seconds);
    tap_ok(atomic_load(&mixed) == 0 && atomic_load(&errors) == 0 &&
           atomic_load(&swaps) > 1000,
           "hosts swapped under the readers %ld times: %ld reads, each "
           "host A's or host B's time, %ld mixed, %ld errors",
           atomic_load(&swaps), atomic_load(&reads), atomic_load(&mixed),
           atomic_load(&errors));

    straddle(dir, 0, seconds);
    tap_ok(atomic_load(&mixed) + atomic_load(&errors) > 0,
           "with equal generations (never after a real migration) the "
           "straddles show: %ld refused, %ld mixed in %ld reads, %ld swaps",
           atomic_load(&errors), atomic_load(&mixed), atomic_load(&reads),
           atomic_load(&swaps));

    live = 1;
    straddle(dir, 1, seconds);
    tap_ok(atomic_load(&mixed) == 0 && atomic_load(&errors) == 0 &&
           atomic_load(&swaps) > 1000,
           "live page: hosts swapped under the readers %ld times: %ld reads, "
           "each host A's or B's live time, %ld mixed or from the helper's "
           "copy, %ld errors", atomic_load(&swaps), atomic_load(&reads),
           atomic_load(&mixed), atomic_load(&errors));
    straddle(dir, 0, seconds);
    tap_ok(atomic_load(&mixed) + atomic_load(&errors) > 0,
           "live page, equal generations: the straddles show (%ld refused, "
           "%ld mixed in %ld reads)", atomic_load(&errors),
           atomic_load(&mixed), atomic_load(&reads));
    rmdir(dir);
    return tap_done();
}
