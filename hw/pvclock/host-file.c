/*
 * pvclock-pages: living with a pages file that another process owns.
 *
 * The device maps pvclock-helper's file into the guest's BAR.  Whoever
 * may write that file may also truncate it, and a load from a mapped page
 * past the end of a file raises SIGBUS.  Unhandled, that kills QEMU: the
 * main loop thread and TCG vCPU threads block SIGBUS, and the kernel
 * turns a blocked synchronous SIGBUS into the default action.  So:
 *
 * - QEMU's own threads never load from the mapping: the device reads the
 *   host page with pread(), bracketed by reads of its seq
 *   (pvclock_host_snapshot), which fails cleanly on a short file;
 * - a guest load (a vCPU thread) that hits a truncated page is caught by
 *   a SIGBUS handler that covers the mapped ranges only: it maps zero
 *   pages over the range, so the load restarts and reads zeros, which no
 *   reader accepts (magic 0); any other SIGBUS goes to the handler that
 *   was there before (QEMU's, for memory errors);
 * - TCG vCPU threads get SIGBUS unblocked so the handler can run (a KVM
 *   vCPU thread already has it unblocked, but KVM does not deliver a
 *   guest's fault on a truncated file as a signal: KVM_RUN fails, which
 *   stops the VM; see docs/reliability.md).
 *
 * The device's watch (a 1 Hz timer and an inotify watch on the file)
 * also swaps in zero pages as soon as it sees the file short, and maps
 * the file back when it is whole and valid again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "hw/pvclock/pvclock-pages-internal.h"

#include <sys/mman.h>

#define GUARD_SLOTS 64

/* Read from the signal handler: plain words, set and read atomically. */
static struct {
    char *start;                /* a mapped pages file, or NULL */
    uint32_t faults;            /* loads the handler turned into zeros */
} guard[GUARD_SLOTS];

static struct sigaction guard_next;     /* the handler before ours */
static bool guard_installed;

bool pvclock_guard_zero(void *start)
{
    return mmap(start, PVCP_FILE_SIZE, PROT_READ,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == start;
}

bool pvclock_guard_remap(void *start, int fd)
{
    return mmap(start, PVCP_FILE_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
                fd, 0) == start;
}

/* Async-signal-safe: atomics, mmap(), sigaction(), raise(). */
static void guard_sigbus(int sig, siginfo_t *info, void *ctx)
{
    char *addr = info->si_addr;
    struct sigaction dfl;

    for (int i = 0; i < GUARD_SLOTS; i++) {
        char *start = qatomic_read(&guard[i].start);

        if (start && addr >= start && addr < start + PVCP_FILE_SIZE &&
            pvclock_guard_zero(start)) {
            qatomic_inc(&guard[i].faults);
            return;             /* the load restarts and reads zeros */
        }
    }
    if (guard_next.sa_flags & SA_SIGINFO) {
        guard_next.sa_sigaction(sig, info, ctx);
        return;
    }
    if (guard_next.sa_handler != SIG_DFL &&
        guard_next.sa_handler != SIG_IGN) {
        guard_next.sa_handler(sig);
        return;
    }
    /* nobody wanted it: die of it, as without us */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, NULL);
    raise(SIGBUS);
}

int pvclock_guard_add(void *start)
{
    if (!guard_installed) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = guard_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &guard_next) < 0) {
            return -1;
        }
        guard_installed = true;
    }
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (!qatomic_read(&guard[i].start)) {
            qatomic_set(&guard[i].faults, 0);
            qatomic_set(&guard[i].start, (char *)start);
            return i;
        }
    }
    return -1;
}

void pvclock_guard_remove(int slot)
{
    if (slot >= 0) {
        qatomic_set(&guard[slot].start, NULL);
    }
}

uint32_t pvclock_guard_faults(int slot)
{
    return slot >= 0 ? qatomic_read(&guard[slot].faults) : 0;
}

static void unblock_sigbus(CPUState *cpu, run_on_cpu_data data)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void pvclock_guard_vcpus(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        async_run_on_cpu(cpu, unblock_sigbus, RUN_ON_CPU_NULL);
    }
}

/*
 * A consistent copy of host page 0 through the file, bracketed by reads
 * of its seq.  A helper holds seq odd for well under a microsecond
 * unless it is preempted mid-write; one that died there holds it for
 * good.  Give up after wait_ns (with the BQL held) and say, in *busy,
 * whether it was only that: the seq never settled.
 */
bool pvclock_host_snapshot(int fd, struct pvcp_host_page *pg, uint64_t *tsc,
                           int64_t wait_ns, bool *busy)
{
    const size_t len = offsetof(struct pvcp_host_page, reserved4);
    const off_t seq_at = offsetof(struct pvcp_host_page, seq);
    int64_t deadline = get_clock() + wait_ns;
    uint32_t seq, seq2;

    if (busy) {
        *busy = false;
    }
    do {
        if (pread(fd, &seq, sizeof(seq), seq_at) != sizeof(seq)) {
            return false;
        }
        if (seq & 1) {
            g_usleep(10);       /* the helper is writing: let it */
            continue;
        }
        if (pread(fd, pg, len, 0) != len) {
            return false;
        }
        if (tsc) {
            *tsc = cpu_get_host_ticks();
        }
        if (pread(fd, &seq2, sizeof(seq2), seq_at) != sizeof(seq2)) {
            return false;
        }
        if (le32_to_cpu(pg->seq) == seq && seq2 == seq) {
            return true;
        }
    } while (get_clock() < deadline);
    if (busy) {
        *busy = true;
    }
    return false;
}
