/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real pvclock-helper at its default settings keeps the line it
 * publishes young: on a host whose clock runs steadily the kernel's line
 * never changes slope, and a line kept from the helper's start would put
 * every reader's arithmetic on the long path (a division by 10^9 once
 * its nanoseconds pass two seconds, the 128-bit product once the delta
 * passes max_cycles).  For 3 s, every 100 ms, the age of page 0's line
 * (the TSC now against its cycle_last, in ns along the line) must stay
 * under 1 s: the rebase bound (0.5 s) plus a poll (50 ms) plus slack for
 * a loaded machine.  A helper without the rebase fails (2.96 s measured).
 *
 *   test-line-age [HELPER-BINARY]   (default: the one built)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "pvclock-pages/pvclock-pages-cpu.h"
#include "pvclock-pages/pvclock-vvar.h"
#include "tap.h"

#define SAMPLES         30
#define SAMPLE_US       100000
#define AGE_LIMIT_NS    1000000000ull

/* ns along page 0's REALTIME line from its cycle_last to the TSC now */
static int line_age_ns(const volatile struct pvcp_host_page *p,
                       uint64_t *age)
{
    struct pvcp_line l;
    uint32_t seq;
    uint64_t tsc;

    do {
        seq = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
        l.cycle_last = p->hres.cycle_last;
        l.mult = p->hres.mult;
        l.shift = p->hres.shift;
        tsc = vvar_read_tsc();
        pvcp_rmb();
    } while ((seq & 1) || p->seq != seq);
    if (p->counter_mode != PVCP_COUNTER_TSC || l.shift > 63) {
        return -1;              /* kvm-clock or simulated: not this test */
    }
    *age = pvcp_mul_add_shr((tsc & PVCP_S64_MAX) - l.cycle_last, l.mult, 0,
                            l.shift);
    return 0;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : HELPER_PATH;
    char dir[] = "/tmp/pvclock-line-age-XXXXXX", pages[128];
    uint64_t age, oldest = 0;
    struct pvclock *pc = NULL;
    int err = -1, bad = 0;
    pid_t helper;

    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return tap_done();
    }
    snprintf(pages, sizeof(pages), "%s/pages", dir);
    helper = fork();
    if (helper == 0) {
        execl(bin, bin, "--pages", pages, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 50 && err; i++) {
        usleep(100000);
        err = pvclock_open_host(&pc, pages);
    }
    tap_ok(err == PVCLOCK_OK, "helper at its defaults publishes (%s)",
           pvclock_strerror(err));
    if (err == PVCLOCK_OK &&
        line_age_ns(pvclock_host_page(pc, 0), &age) < 0) {
        tap_skip("page 0's line stays young",
                 "page 0 does not count the TSC directly (kvm-clock host)");
        err = -1;
    }
    for (int i = 0; err == PVCLOCK_OK && i < SAMPLES; i++) {
        usleep(SAMPLE_US);
        if (line_age_ns(pvclock_host_page(pc, 0), &age) < 0) {
            bad++;
            continue;
        }
        oldest = age > oldest ? age : oldest;
    }
    if (err == PVCLOCK_OK) {
        tap_ok(!bad && oldest < AGE_LIMIT_NS,
               "page 0's line stays young: oldest %.3f s in %.1f s of "
               "samples (limit %.1f s)", oldest / 1e9,
               SAMPLES * SAMPLE_US / 1e6, AGE_LIMIT_NS / 1e9);
    }
    pvclock_close(pc);
    kill(helper, SIGTERM);
    waitpid(helper, NULL, 0);
    unlink(pages);
    rmdir(dir);
    return tap_done();
}
