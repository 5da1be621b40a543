/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Print the host TSC (ordered after earlier instructions), for tests. */
#include <inttypes.h>
#include <stdio.h>

int main(void)
{
    uint32_t lo, hi;

    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    printf("%" PRIu64 "\n", ((uint64_t)hi << 32) | lo);
    return 0;
}
