/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest-test shm-exchange: the guest side of the stamp exchange
 * through an ivshmem device (shm-exchange.h; the host side is
 * pvclock-shm-exchange), until the host says stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"
#include "shm-exchange.h"

/* The ivshmem-plain device's shared memory (1af4:1110, BAR 2). */
#define IVSHMEM_VENDOR_ID   0x1af4
#define IVSHMEM_DEVICE_ID   0x1110
#define IVSHMEM_SHM_BAR     2

static volatile struct xchg_area *map_ivshmem(char *path, size_t len)
{
    void *map = MAP_FAILED;
    int fd;

    if (pvclock_find_pci(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, 0,
                         IVSHMEM_SHM_BAR, path, len) != PVCLOCK_OK) {
        path[0] = 0;
        return NULL;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        map = mmap(NULL, XCHG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
    }
    return map == MAP_FAILED ? NULL : map;
}

/* Exchange until the host says stop; the guest's counts in *me. */
static void exchange(struct pvclock *pc, volatile struct xchg_area *x,
                     struct xchg_side *me)
{
    while (__atomic_load_n(&x->state, __ATOMIC_ACQUIRE) != XCHG_STOP) {
        int64_t seen = __atomic_load_n(&x->host.stamp, __ATOMIC_ACQUIRE);
        struct timespec ts;

        if (pvclock_gettime(pc, CLOCK_REALTIME, &ts) != PVCLOCK_OK) {
            me->errors++;
            continue;
        }
        xchg_record(me, &x->guest.stamp, seen, guest_ts_ns(&ts));
    }
}

static int shm_exchange_run(struct pvclock *pc, const struct guest_opts *o)
{
    volatile struct xchg_area *x;
    struct xchg_side me = { 0 };
    char path[512];

    (void)o;
    x = map_ivshmem(path, sizeof(path));
    if (!x) {
        fprintf(stderr, "pvclock-guest: no ivshmem-plain device (1af4:1110) "
                "to exchange stamps through%s%s\n", path[0] ? ": " : "",
                path[0] ? strerror(errno) : "");
        return 1;
    }
    if (x->magic != XCHG_MAGIC) {
        fprintf(stderr, "pvclock-guest: ivshmem area not prepared by "
                "pvclock-shm-exchange (magic 0x%08x)\n", x->magic);
        return 1;
    }
    printf("pvclock-guest: live page %s\n",
           pvclock_live_in_use(pc, CLOCK_REALTIME) == 1 ? "in use"
                                                         : "not in use");
    __atomic_store_n(&x->state, XCHG_GUEST_READY, __ATOMIC_RELEASE);
    printf("pvclock-guest: ready\n");
    fflush(stdout);
    exchange(pc, x, &me);
    x->guest.exchanges = me.exchanges;
    x->guest.violations = me.violations;
    x->guest.worst_ns = me.worst_ns;
    x->guest.errors = me.errors;
    __atomic_store_n(&x->state, XCHG_GUEST_DONE, __ATOMIC_RELEASE);
    printf("pvclock-guest: shm-exchange %llu exchanges, %llu violations "
           "(worst %lld ns), %llu errors\n",
           (unsigned long long)me.exchanges,
           (unsigned long long)me.violations, (long long)me.worst_ns,
           (unsigned long long)me.errors);
    return me.violations || me.errors ? 1 : 0;
}

const struct guest_command shm_exchange_command = {
    .name = "shm-exchange",
    .usage = "",
    .help =
"shm-exchange: exchange REALTIME stamps with pvclock-shm-exchange on the\n"
"  host through an ivshmem-plain device (1af4:1110) until it says stop\n",
    .run = shm_exchange_run,
};
