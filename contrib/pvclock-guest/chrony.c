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

/*
 * One measurement; a PVCLOCK_* error if pvclock did not read: the system
 * clock against the host's time from the device, bracketed by counter
 * reads, not by two reads of the BAR (guest_clock_sample()).
 */
static int chrony_sample(struct pvclock *pc, struct chrony_sock_sample *smp)
{
    const struct guest_clock sys = {
        .name = "system", .id = CLOCK_REALTIME, .fd = -1,
    };
    struct guest_clock_sample cs;
    struct pvclock_info info;
    int err = guest_clock_sample(pc, &sys, &cs);

    if (err) {
        return err;
    }
    memset(smp, 0, sizeof(*smp));
    smp->tv.tv_sec = cs.clock.tv_sec;
    smp->tv.tv_usec = cs.clock.tv_nsec / 1000;
    /*
     * true - system at the system clock's read, in full: chronyd puts it
     * at tv, under a microsecond earlier, where it differs from this by
     * the clock's rate error times that (picoseconds).  Taken against
     * the truncated tv instead, it would pull the guest's clock half a
     * microsecond ahead on average.
     */
    smp->offset = (double)-cs.offset / 1e9;
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
