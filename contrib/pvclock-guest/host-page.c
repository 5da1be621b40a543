/* SPDX-License-Identifier: GPL-2.0-or-later */
/* See host-page.h. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include "pvclock-pages/pvclock-pages-calc.h"
#include "host-page.h"

const volatile struct pvcp_host_page *host_page_map_fd(int fd)
{
    void *map;

    if (fd < 0) {
        return NULL;
    }
    map = mmap(NULL, PVCP_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    return map == MAP_FAILED ? NULL : map;
}

const volatile struct pvcp_host_page *host_page_map(const char *path)
{
    return host_page_map_fd(open(path, O_RDONLY | O_CLOEXEC));
}

int host_page_ns(const volatile struct pvcp_host_page *p, int tai,
                 int64_t *ns)
{
    int idx = tai ? PVCP_HRES_TAI : PVCP_HRES_REALTIME;
    struct pvcp_host_page c;
    struct pvcp_time t;
    uint64_t counter;
    uint32_t seq;
    unsigned bad;

    for (long tries = 0; tries < 1000000; tries++) {
        seq = p->seq;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(&c, (const void *)p, sizeof(c));
        _mm_lfence();
        counter = __rdtsc();            /* ordered as the vDSO's */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if ((seq & 1) || p->seq != seq) {
            continue;
        }
        /* the validator with sim: this reader applies it */
        bad = pvcp_host_page_check(&c, 0);
        if (bad) {
            return (int)bad;
        }
        if (c.flags & PVCP_HOST_F_SIMULATED) {
            counter = pvcp_xform_apply(&c.sim, counter);
        }
        t = pvcp_clock_at(&c.hres, &c.hres_base[idx], c.flags,
                          pvcp_host_cycles(c.counter_mode, &c.kvmclock,
                                           counter));
        *ns = (int64_t)(t.sec * PVCP_NSEC_PER_SEC + t.nsec);
        return 0;
    }
    return -1;
}
