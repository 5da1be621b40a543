/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Seqcount stress: a writer republishes a host page as fast as it can
 * while reader threads read it through the library.  Every version k of
 * the page gives REALTIME = k s + k ns at the fixed counter the readers
 * use, with seconds and nanoseconds in different words of the page, so a
 * torn read (fields of two versions) shows as seconds != nanoseconds.
 *
 * Built twice: normally it uses the helper's writer and must see no torn
 * read; with -DBROKEN_WRITER it writes the same fields without the
 * seqcount, and must catch torn reads on a page without check words (an
 * ABI 1.1 writer), which shows the test can fail.  On a page with check
 * words (ABI 1.2) the same broken writer, updating the checks last, gets
 * its torn versions refused (errors) instead of read.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pages.h"
#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "race.h"
#include "tap.h"

#define COUNTER  1000000ull

static struct pages_file pf;
static struct pvclock *pc;
static _Atomic int stop;
static _Atomic long torn, reads, errors;
#ifdef BROKEN_WRITER
static _Atomic int seal_too;    /* the broken writer also updates checks */
#endif
static _Atomic unsigned long versions;

static void fill(struct pvcp_host_page *p, uint64_t k)
{
    memset(p, 0, sizeof(*p));
    p->counter_mode = PVCP_COUNTER_TSC;
    p->flags = PVCP_HOST_F_VALID;
    p->hres.cycle_last = p->raw.cycle_last = COUNTER;
    p->hres.max_cycles = p->raw.max_cycles = 1ull << 40;
    p->hres.mult = p->raw.mult = 1;
    p->hres.shift = p->raw.shift = 0;
    p->hres_base[PVCP_HRES_REALTIME].sec = k;
    p->hres_base[PVCP_HRES_REALTIME].nsec_shifted = k % 1000000000;
}

static void *writer(void *arg)
{
#ifndef BROKEN_WRITER
    struct pvcp_host_page p;
#endif
    uint64_t k = 1;

    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        k++;
#ifdef BROKEN_WRITER
        {
            volatile struct pvcp_host_page *h = pf.page[0];

            /* the same stores, no seqcount around them */
            h->hres_base[PVCP_HRES_REALTIME].sec = k;
            for (volatile int spin = 0; spin < 20; spin++) {
            }
            h->hres_base[PVCP_HRES_REALTIME].nsec_shifted = k % 1000000000;
            if (atomic_load_explicit(&seal_too, memory_order_relaxed)) {
                struct pvcp_host_page v;

                fill(&v, k);
                pvcp_page_seal(&v);
                h->check[PVCP_HRES_REALTIME] = v.check[PVCP_HRES_REALTIME];
                h->check_aux = v.check_aux;
            }
        }
#else
        fill(&p, k);
        pages_publish(&pf, 0, &p);
#endif
        atomic_fetch_add_explicit(&versions, 1, memory_order_relaxed);
    }
    return NULL;
}

static void *reader(void *arg)
{
    long t = 0, r = 0, e = 0;

    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct timespec ts;
        int err = pvclock_gettime_at(pc, CLOCK_REALTIME, COUNTER, &ts);

        if (err && err != PVCLOCK_ESTALE) {
            e++;
            continue;
        }
        r++;
        if ((uint64_t)ts.tv_sec % 1000000000 != (uint64_t)ts.tv_nsec) {
            t++;
        }
    }
    atomic_fetch_add(&torn, t);
    atomic_fetch_add(&reads, r);
    atomic_fetch_add(&errors, e);
    return NULL;
}

/* Let the writer and two readers race for `seconds`. */
static void race(int seconds)
{
    atomic_store(&torn, 0);
    atomic_store(&reads, 0);
    atomic_store(&errors, 0);
    atomic_store(&versions, 0);
    race_threads(writer, reader, 2, seconds, &stop);
}

int main(void)
{
    char dir[] = "/tmp/pvclock-test-seqlock-XXXXXX", path[128], err[256];
    const char *env = getenv("PVCLOCK_SEQLOCK_SECONDS");
    int seconds = env ? atoi(env) : 2;
    struct pvcp_host_page p;

    if (!mkdtemp(dir)) {
        return 2;
    }
    snprintf(path, sizeof(path), "%s/pages", dir);
    if (pages_open(&pf, path, err, sizeof(err)) < 0) {
        tap_ok(0, "pages file: %s", err);
        return tap_done();
    }
    fill(&p, 1);
    pages_publish(&pf, 0, &p);
    tap_ok(pvclock_open_host(&pc, path) == PVCLOCK_OK, "library opens %s",
           path);
#ifdef BROKEN_WRITER
    pf.page[0]->abi_minor = 1;  /* no check words: the seqcount alone */
    race(seconds);
    tap_ok(atomic_load(&torn) > 0, "a writer without the seqcount is caught: "
           "%ld torn reads in %ld (%lu versions written)",
           atomic_load(&torn), atomic_load(&reads), atomic_load(&versions));
    pf.page[0]->abi_minor = PVCP_ABI_MINOR;
    atomic_store(&seal_too, 1);
    race(seconds);
    tap_ok(atomic_load(&torn) == 0 && atomic_load(&errors) > 0,
           "with check words the same writer's torn versions are refused: "
           "%ld torn, %ld refused, %ld read (%lu versions written)",
           atomic_load(&torn), atomic_load(&errors), atomic_load(&reads),
           atomic_load(&versions));
#else
    race(seconds);
    tap_ok(atomic_load(&torn) == 0 && atomic_load(&errors) == 0,
           "no torn read: %ld reads of %lu versions, %ld torn, %ld errors",
           atomic_load(&reads), atomic_load(&versions), atomic_load(&torn),
           atomic_load(&errors));
#endif
    pvclock_close(pc);
    pages_close(&pf);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
