/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * line-writer PAGES N HZ: write a new line into host page 0 of the pages
 * file PAGES N times, HZ times a second, as pvclock-helper publishes one
 * (seq odd, the slope moved by one unit of mult, check words resealed,
 * seq even, FUTEX_WAKE on seq), then print the CPU it spent (ns) and
 * the CLOCK_MONOTONIC ns of the last write's wake.  For
 * bench/vmclock-cost.sh: every write obliges each vmclock=on device on
 * those pages to rewrite its VMClock page, and nothing else changes.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pvclock-pages/pvclock-pages-abi.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-pages-cpu.h"

int main(int argc, char **argv)
{
    struct pvcp_host_page *p, copy;
    struct timespec gap, a, b, last = { 0, 0 };
    long n, hz;
    int fd;

    if (argc != 4 || (n = atol(argv[2])) <= 0 || (hz = atol(argv[3])) <= 0) {
        fprintf(stderr, "usage: line-writer PAGES N HZ\n");
        return 2;
    }
    fd = open(argv[1], O_RDWR | O_CLOEXEC);
    p = fd < 0 ? MAP_FAILED : mmap(NULL, PVCP_FILE_SIZE, PROT_READ |
                                   PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror(argv[1]);
        return 1;
    }
    gap.tv_sec = 0;
    gap.tv_nsec = 1000000000L / hz;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < n; i++) {
        copy = p[0];
        copy.hres.mult ^= 1;
        pvcp_page_seal(&copy);
        __atomic_store_n(&p[0].seq, p[0].seq + 1, __ATOMIC_RELAXED);
        pvcp_wmb();
        p[0].hres = copy.hres;
        memcpy(p[0].check, copy.check, sizeof(copy.check));
        p[0].check_aux = copy.check_aux;
        pvcp_wmb();
        __atomic_store_n(&p[0].seq, p[0].seq + 1, __ATOMIC_RELAXED);
        clock_gettime(CLOCK_MONOTONIC, &last);
        syscall(SYS_futex, &p[0].seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        nanosleep(&gap, NULL);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("%.0f %.0f\n", (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec),
           last.tv_sec * 1e9 + last.tv_nsec);
    return 0;
}
