/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest chrony: feed chronyd as a SOCK reference clock.
 *
 * chronyd's SOCK reference clock protocol (see the refclock directive in
 * chrony.conf(5)): datagrams to the socket chronyd created, each the
 * system time of a measurement and the offset true - system in seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest.h"

struct chrony_sock_sample {
    struct timeval tv;
    double offset;
    int pulse;
    int leap;                   /* 0 normal, 1 insert, 2 delete */
    int pad;
    int magic;                  /* "SOCK" */
};
#define CHRONY_SOCK_MAGIC 0x534f434b

#define CHRONY_TRIES 5

/*
 * One measurement; a PVCLOCK_* error if pvclock did not read.  The
 * system clock is read between two counter reads and the device gives
 * the host's time at each: the bracket is the system clock's own read,
 * not two reads of the BAR.  Of CHRONY_TRIES such reads in a row the
 * narrowest bracket is used: the first after a sleep is slow under TCG
 * (cold TLB and code), and slow before the system clock's own counter
 * read, which puts that read late in its bracket.
 */
static int chrony_sample(struct pvclock *pc, struct chrony_sock_sample *smp)
{
    struct timespec a, b, sys, s;
    struct pvclock_info info;
    uint64_t t1 = 0, t2 = 0;
    int e1, e2;
    int64_t mid;

    for (int i = 0; i < CHRONY_TRIES; i++) {
        uint64_t u1 = pvclock_read_counter(), u2;

        clock_gettime(CLOCK_REALTIME, &s);
        u2 = pvclock_read_counter();
        if (i == 0 || u2 - u1 < t2 - t1) {
            t1 = u1;
            t2 = u2;
            sys = s;
        }
    }
    e1 = pvclock_gettime_at(pc, CLOCK_REALTIME, t1, &a);
    e2 = pvclock_gettime_at(pc, CLOCK_REALTIME, t2, &b);
    if ((e1 && e1 != PVCLOCK_ESTALE) || (e2 && e2 != PVCLOCK_ESTALE)) {
        return e1 ? e1 : e2;
    }
    mid = guest_ts_ns(&a) / 2 + guest_ts_ns(&b) / 2;
    memset(smp, 0, sizeof(*smp));
    smp->tv.tv_sec = sys.tv_sec;
    smp->tv.tv_usec = sys.tv_nsec / 1000;
    /*
     * true - system at the system clock's read, in full: chronyd puts it
     * at tv, under a microsecond earlier, where it differs from this by
     * the clock's rate error times that (picoseconds).  Taken against
     * the truncated tv instead, it would pull the guest's clock half a
     * microsecond ahead on average.
     */
    smp->offset = (double)(mid - guest_ts_ns(&sys)) / 1e9;
    smp->leap = 0;
    if (pvclock_get_info(pc, &info) == PVCLOCK_OK) {
        smp->leap = (info.host_flags & PVCP_HOST_F_LEAP_INS) ? 1 :
                    (info.host_flags & PVCP_HOST_F_LEAP_DEL) ? 2 : 0;
    }
    smp->magic = CHRONY_SOCK_MAGIC;
    return PVCLOCK_OK;
}

static int chrony_run(struct pvclock *pc, const struct guest_opts *o)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *path = o->socket;
    unsigned long long errors = 0;
    int fd;

    if (!path || strlen(path) >= sizeof(sa.sun_path) || o->interval_ms < 10) {
        fprintf(stderr, "pvclock-guest: chrony needs --socket PATH (the "
                "path of chrony.conf's 'refclock SOCK PATH') and "
                "--interval-ms >= 10\n");
        return 2;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("pvclock-guest: socket");
        return 1;
    }
    printf("pvclock-guest: feeding chronyd at %s every %ld ms\n", path,
           o->interval_ms);
    fflush(stdout);
    for (;;) {
        struct chrony_sock_sample smp;
        int err = chrony_sample(pc, &smp);

        /* no sample beats a wrong one: chronyd will coast */
        if (err && errors++ % 60 == 0) {
            fprintf(stderr, "pvclock-guest: no sample: %s\n",
                    pvclock_strerror(err));
        }
        if (!err && sendto(fd, &smp, sizeof(smp), 0, (struct sockaddr *)&sa,
                           sizeof(sa)) < 0 && errors++ % 60 == 0) {
            fprintf(stderr, "pvclock-guest: send to %s: %s (is chronyd "
                    "running with 'refclock SOCK %s'?)\n", path,
                    strerror(errno), path);
        }
        usleep((useconds_t)o->interval_ms * 1000);
    }
    return 0;
}

const struct guest_command chrony_command = {
    .name = "chrony",
    .usage = "--socket PATH [--interval-ms N]",
    .help =
"chrony: feed chronyd as its SOCK reference clock\n"
"  --socket PATH    chrony.conf's 'refclock SOCK PATH'\n"
"  --interval-ms N  one sample every N ms (default 1000)\n",
    .run = chrony_run,
};
