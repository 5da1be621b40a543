/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest --clock: which clock serve answers with and offset
 * measures.  "device" is the host's CLOCK_REALTIME through the device
 * (libpvclock), "system" the guest kernel's own CLOCK_REALTIME, and a
 * path such as /dev/ptp0 a PTP hardware clock, read as a dynamic POSIX
 * clock (clock_gettime() of FD_TO_CLOCKID(fd)): the pvclock-pages
 * driver's PHC, or any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest.h"

/* include/linux/posix-timers.h: a dynamic clock's id from its fd */
#define FD_TO_CLOCKID(fd)   ((~(clockid_t)(fd) << 3) | 3)

int guest_clock_open(const char *spec, struct guest_clock *gc)
{
    struct timespec ts;

    gc->name = spec ? spec : "device";
    gc->fd = -1;
    gc->device = !strcmp(gc->name, "device");
    gc->id = CLOCK_REALTIME;
    if (gc->device || !strcmp(gc->name, "system")) {
        return 0;
    }
    if (gc->name[0] != '/') {
        fprintf(stderr, "pvclock-guest: --clock %s: give device, system or "
                "the path of a PTP clock (/dev/ptpN)\n", gc->name);
        return -1;
    }
    gc->fd = open(gc->name, O_RDONLY | O_CLOEXEC);
    if (gc->fd < 0) {
        fprintf(stderr, "pvclock-guest: --clock %s: %s%s\n", gc->name,
                strerror(errno), errno == EACCES ?
                " (PTP clocks are root's unless udev says otherwise)" : "");
        return -1;
    }
    gc->id = FD_TO_CLOCKID(gc->fd);
    if (clock_gettime(gc->id, &ts) < 0) {
        fprintf(stderr, "pvclock-guest: --clock %s: not a readable PTP "
                "clock: %s\n", gc->name, strerror(errno));
        guest_clock_close(gc);
        return -1;
    }
    return 0;
}

int guest_clock_read(struct pvclock *pc, const struct guest_clock *gc,
                     struct timespec *ts)
{
    if (gc->device) {
        return pvclock_gettime(pc, CLOCK_REALTIME, ts);
    }
    return clock_gettime(gc->id, ts) < 0 ? PVCLOCK_ECLOCK : PVCLOCK_OK;
}

void guest_clock_close(struct guest_clock *gc)
{
    if (gc->fd >= 0) {
        close(gc->fd);
    }
    gc->fd = -1;
}

/* One try; a PVCLOCK_* error if a reading failed. */
static int clock_try(struct pvclock *pc, const struct guest_clock *gc,
                     struct guest_clock_sample *s)
{
    struct timespec a, b;
    int64_t na, nb, nc;
    uint64_t t1, t2;
    int e1, e2, ec;

    t1 = pvclock_read_counter();
    ec = guest_clock_read(pc, gc, &s->clock);
    t2 = pvclock_read_counter();
    e1 = pvclock_gettime_at(pc, CLOCK_REALTIME, t1, &a);
    e2 = pvclock_gettime_at(pc, CLOCK_REALTIME, t2, &b);
    if ((e1 && e1 != PVCLOCK_ESTALE) || (e2 && e2 != PVCLOCK_ESTALE) || ec) {
        return ec ? ec : e1 ? e1 : e2;
    }
    na = guest_ts_ns(&a);
    nb = guest_ts_ns(&b);
    nc = guest_ts_ns(&s->clock);
    s->offset = nc - (na + (nb - na) / 2);
    s->bracket = nb - na;
    s->outside = nc < na || nc > nb;
    return PVCLOCK_OK;
}

int guest_clock_sample(struct pvclock *pc, const struct guest_clock *gc,
                       struct guest_clock_sample *s)
{
    struct guest_clock_sample t;
    int err = PVCLOCK_OK, got = 0, outside = 0;

    for (int i = 0; i < GUEST_CLOCK_TRIES; i++) {
        int e = clock_try(pc, gc, &t);

        if (e) {
            err = e;
            continue;
        }
        outside += t.outside;
        if (!got++ || t.bracket < s->bracket) {
            *s = t;
        }
    }
    s->outside = outside;       /* every try counts, not only the best */
    return got ? PVCLOCK_OK : err;
}
