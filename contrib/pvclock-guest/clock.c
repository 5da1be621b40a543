/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest --clock: which clock serve answers with and offset
 * measures.  "device" is the host's CLOCK_REALTIME through the device
 * (libpvclock), "system" the guest kernel's own CLOCK_REALTIME, and a
 * path such as /dev/ptp0 a PTP hardware clock, read as a dynamic POSIX
 * clock (clock_gettime() of FD_TO_CLOCKID(fd)): the pvclock-pages
 * driver's PHC, or any other.  /dev/vmclockN is a VMClock page (Linux's
 * ptp_vmclock), mapped and read as its ABI says: UTC from the page's
 * line and TAI offset at this guest's TSC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"

/* include/linux/posix-timers.h: a dynamic clock's id from its fd */
#define FD_TO_CLOCKID(fd)   ((~(clockid_t)(fd) << 3) | 3)

/*
 * The VMClock ABI (Linux's include/uapi/linux/vmclock-abi.h, version
 * 1), the part a reader of the time needs; offsets in bytes.
 */
#define VMC_SIZE            4096
#define VMC_MAGIC           0x4b4c4356u     /* "VCLK" at 0x00 */
#define VMC_OFF_COUNTER_ID  0x0a            /* u8: 1 x86 TSC */
#define VMC_OFF_TIME_TYPE   0x0b            /* u8: 0 UTC, 1 TAI */
#define VMC_OFF_SEQ         0x0c            /* u32, odd while written */
#define VMC_OFF_FLAGS       0x18            /* u64 */
#define VMC_OFF_STATUS      0x22            /* u8: 4 unreliable */
#define VMC_OFF_TAI_OFFSET  0x24            /* s16, UTC - TAI as Linux uses */
#define VMC_OFF_SHIFT       0x27            /* u8 */
#define VMC_OFF_COUNTER     0x28            /* u64 */
#define VMC_OFF_PERIOD      0x30            /* u64, 2^-(64 + shift) s */
#define VMC_OFF_TIME_SEC    0x48            /* u64 */
#define VMC_OFF_TIME_FRAC   0x50            /* u64, 2^-64 s */
#define VMC_COUNTER_X86_TSC 1
#define VMC_TIME_UTC        0
#define VMC_TIME_TAI        1
#define VMC_STATUS_UNRELIABLE   4
#define VMC_F_TAI_OFFSET_VALID  (1ull << 0)

#define VMC_LD(p, off, type) \
    (*(const volatile type *)((const volatile char *)(p) + (off)))

/* UTC from the page at this TSC read, under its seq_count. */
static int vmclock_read(const volatile void *p, struct timespec *ts)
{
    for (int tries = 0; tries < 1000000; tries++) {
        uint32_t seq = VMC_LD(p, VMC_OFF_SEQ, uint32_t);
        uint64_t c, period, sec, frac, flags;
        uint8_t shift, type, status, id;
        int16_t tai;
        unsigned __int128 t;

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        id = VMC_LD(p, VMC_OFF_COUNTER_ID, uint8_t);
        type = VMC_LD(p, VMC_OFF_TIME_TYPE, uint8_t);
        flags = VMC_LD(p, VMC_OFF_FLAGS, uint64_t);
        status = VMC_LD(p, VMC_OFF_STATUS, uint8_t);
        tai = VMC_LD(p, VMC_OFF_TAI_OFFSET, int16_t);
        shift = VMC_LD(p, VMC_OFF_SHIFT, uint8_t);
        c = VMC_LD(p, VMC_OFF_COUNTER, uint64_t);
        period = VMC_LD(p, VMC_OFF_PERIOD, uint64_t);
        sec = VMC_LD(p, VMC_OFF_TIME_SEC, uint64_t);
        frac = VMC_LD(p, VMC_OFF_TIME_FRAC, uint64_t);
        c = pvclock_read_counter() - c;     /* ordered, as RDTSC must be */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if ((seq & 1) || VMC_LD(p, VMC_OFF_SEQ, uint32_t) != seq) {
            continue;
        }
        if (id != VMC_COUNTER_X86_TSC || status == VMC_STATUS_UNRELIABLE ||
            shift > 63 ||
            (type == VMC_TIME_TAI && !(flags & VMC_F_TAI_OFFSET_VALID)) ||
            (type != VMC_TIME_TAI && type != VMC_TIME_UTC)) {
            return PVCLOCK_ECLOCK;
        }
        t = ((unsigned __int128)c * period >> shift) + frac;
        sec += (uint64_t)(t >> 64);
        if (type == VMC_TIME_TAI) {
            sec += (uint64_t)(int64_t)tai;
        }
        ts->tv_sec = (time_t)sec;
        ts->tv_nsec = (long)(((t & UINT64_MAX) * 1000000000u) >> 64);
        return PVCLOCK_OK;
    }
    return PVCLOCK_ECLOCK;          /* the writer never finished */
}

static int vmclock_open(struct guest_clock *gc)
{
    void *m = mmap(NULL, VMC_SIZE, PROT_READ, MAP_SHARED, gc->fd, 0);
    struct timespec ts;

    if (m == MAP_FAILED) {
        fprintf(stderr, "pvclock-guest: --clock %s: cannot map it: %s\n",
                gc->name, strerror(errno));
        return -1;
    }
    if (VMC_LD(m, 0, uint32_t) != VMC_MAGIC) {
        fprintf(stderr, "pvclock-guest: --clock %s: not a VMClock page\n",
                gc->name);
        munmap(m, VMC_SIZE);
        return -1;
    }
    if (vmclock_read(m, &ts) != PVCLOCK_OK) {
        fprintf(stderr, "pvclock-guest: --clock %s: the page gives no "
                "usable time (counter_id %u, time_type %u, clock_status %u)"
                "\n", gc->name, VMC_LD(m, VMC_OFF_COUNTER_ID, uint8_t),
                VMC_LD(m, VMC_OFF_TIME_TYPE, uint8_t),
                VMC_LD(m, VMC_OFF_STATUS, uint8_t));
        munmap(m, VMC_SIZE);
        return -1;
    }
    gc->vmclock = m;
    return 0;
}

int guest_clock_open(const char *spec, struct guest_clock *gc)
{
    struct timespec ts;

    gc->name = spec ? spec : "device";
    gc->fd = -1;
    gc->vmclock = NULL;
    gc->device = !strcmp(gc->name, "device");
    gc->id = CLOCK_REALTIME;
    if (gc->device || !strcmp(gc->name, "system")) {
        return 0;
    }
    if (gc->name[0] != '/') {
        fprintf(stderr, "pvclock-guest: --clock %s: give device, system or "
                "the path of a PTP clock (/dev/ptpN) or of a VMClock page "
                "(/dev/vmclockN)\n", gc->name);
        return -1;
    }
    gc->fd = open(gc->name, O_RDONLY | O_CLOEXEC);
    if (gc->fd < 0) {
        fprintf(stderr, "pvclock-guest: --clock %s: %s%s\n", gc->name,
                strerror(errno), errno == EACCES ?
                " (PTP clocks are root's unless udev says otherwise)" : "");
        return -1;
    }
    if (!strncmp(gc->name, "/dev/vmclock", 12)) {
        if (vmclock_open(gc) < 0) {
            guest_clock_close(gc);
            return -1;
        }
        return 0;
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
    if (gc->vmclock) {
        return vmclock_read(gc->vmclock, ts);
    }
    return clock_gettime(gc->id, ts) < 0 ? PVCLOCK_ECLOCK : PVCLOCK_OK;
}

void guest_clock_close(struct guest_clock *gc)
{
    if (gc->vmclock) {
        munmap((void *)gc->vmclock, VMC_SIZE);
        gc->vmclock = NULL;
    }
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
    s->excursion = nc < na ? na - nc : nc > nb ? nc - nb : 0;
    s->outside = s->excursion > 0;
    return PVCLOCK_OK;
}

int guest_clock_sample(struct pvclock *pc, const struct guest_clock *gc,
                       struct guest_clock_sample *s)
{
    struct guest_clock_sample t;
    int err = PVCLOCK_OK, got = 0, outside = 0;
    int64_t excursion = 0;

    for (int i = 0; i < GUEST_CLOCK_TRIES; i++) {
        int e = clock_try(pc, gc, &t);

        if (e) {
            err = e;
            continue;
        }
        outside += t.outside;
        excursion = t.excursion > excursion ? t.excursion : excursion;
        if (!got++ || t.bracket < s->bracket) {
            *s = t;
        }
    }
    s->outside = outside;       /* every try counts, not only the best */
    s->excursion = excursion;
    return got ? PVCLOCK_OK : err;
}
