/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The stamp exchange between a host program and a guest program through
 * shared memory (QEMU's ivshmem-plain over a host file): each side loads
 * the other's last CLOCK_REALTIME stamp, then reads its own clock (the
 * host's clock_gettime(), the guest's pvclock_gettime()) and must never
 * get less; then publishes its reading.  Invariant 2 across the VM
 * boundary.
 */
#ifndef PVCLOCK_SHM_EXCHANGE_H
#define PVCLOCK_SHM_EXCHANGE_H

#include <stdint.h>

#define XCHG_MAGIC      0x47484358u     /* "XCHG" */
#define XCHG_SIZE       (1u << 20)      /* the ivshmem BAR, a power of 2 */

enum xchg_state {
    XCHG_IDLE = 0,
    XCHG_GUEST_READY,       /* guest: mapped, looping */
    XCHG_STOP,              /* host: finish and report */
    XCHG_GUEST_DONE,        /* guest: counts below are final */
};

struct xchg_side {
    int64_t stamp;          /* last reading, ns since the epoch */
    uint64_t exchanges;     /* readings taken */
    uint64_t violations;    /* readings smaller than the other's stamp */
    int64_t worst_ns;       /* largest (other's stamp - own reading) */
    uint64_t errors;        /* clock read failures */
    uint64_t pad[3];        /* one cache line per side */
};

struct xchg_area {
    uint32_t magic;
    uint32_t state;         /* enum xchg_state */
    uint64_t pad0[7];
    struct xchg_side host;
    struct xchg_side guest;
};

/*
 * One round on one side: `now` was read after loading the other side's
 * stamp `seen`.  Count it (a violation if smaller) and publish it as
 * this side's stamp.
 */
static inline void xchg_record(struct xchg_side *me,
                               volatile int64_t *own_stamp,
                               int64_t seen, int64_t now)
{
    if (now < seen) {
        me->violations++;
        if (seen - now > me->worst_ns) {
            me->worst_ns = seen - now;
        }
    }
    __atomic_store_n(own_stamp, now, __ATOMIC_RELEASE);
    me->exchanges++;
}

#endif /* PVCLOCK_SHM_EXCHANGE_H */
