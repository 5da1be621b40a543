/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reader library over synthesised pages: arithmetic cases the host
 * vDSO defines (fast path, negative motion, overflow, kvmclock stage),
 * the guest transform and timens offsets, and every error it reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "bar-image.h"
#include "tap.h"

static void init_image(struct bar_image *img)
{
    bar_image_init(img);
    /* Page 0: 1 ns per cycle (mult 2^23, shift 23), like kvm-clock. */
    img->host[0].counter_mode = PVCP_COUNTER_TSC;
    img->host[0].flags = PVCP_HOST_F_VALID;
    img->host[0].counter_hz = 1000000000;
    img->host[0].hres.cycle_last = 1000000;
    img->host[0].hres.max_cycles = 1ull << 40;
    img->host[0].hres.mult = 1u << 23;
    img->host[0].hres.shift = 23;
    img->host[0].hres_base[PVCP_HRES_REALTIME].sec = 1700000000;
    img->host[0].hres_base[PVCP_HRES_REALTIME].nsec_shifted = 500ull << 23;
    img->host[0].hres_base[PVCP_HRES_MONOTONIC].sec = 100;
    img->host[0].hres_base[PVCP_HRES_BOOTTIME].sec = 150;
    img->host[0].hres_base[PVCP_HRES_TAI].sec = 1700000037;
    img->host[0].raw = img->host[0].hres;
    img->host[0].raw_base.sec = 99;
    img->host[0].raw_base.nsec_shifted = 999999999ull << 23;

    img->offset.status = PVCP_STATUS_VALID;
    img->offset.generation = 1;
    bar_image_offset(img, 0);
}

static char tmpl[] = "/tmp/pvclock-test-reader-XXXXXX";

/* The transform offset pages before ABI 1.3 had at 0x028, unscaled. */
#define LEGACY_XFORM_AT 0x028
static const struct pvcp_xform legacy = {
    .mult = 1, .flags = PVCP_XFORM_F_VALID, .offset = -5000ull,
};

static void write_raw(const void *buf, size_t len, off_t at, int flags)
{
    int fd = open(tmpl, O_WRONLY | flags);

    if (fd < 0 || pwrite(fd, buf, len, at) != (ssize_t)len) {
        perror("write image");
        exit(2);
    }
    close(fd);
}

/* As the helper publishes: every host page with its check words. */
static void write_image(const struct bar_image *img, size_t len)
{
    static struct bar_image sealed;

    sealed = *img;
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        pvcp_page_seal(&sealed.host[i]);
    }
    write_raw(&sealed, len, 0, O_TRUNC);
}

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void test_host_fast_path(struct bar_image *img)
{
    struct pvclock *pc;
    struct timespec ts;
    int err;

    init_image(img);
    write_image(img, PVCP_FILE_SIZE);
    err = pvclock_open_host(&pc, tmpl);
    tap_ok(err == PVCLOCK_OK, "open host pages file (%s)",
           pvclock_strerror(err));

    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + 1500, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000000 && ts.tv_nsec == 2000,
           "REALTIME = base + 1500 cycles at 1 ns/cycle (%lld.%09ld)",
           (long long)ts.tv_sec, ts.tv_nsec);
    err = pvclock_gettime_at(pc, CLOCK_MONOTONIC_RAW, 1000000 + 1, &ts);
    tap_ok(err == 0 && ts.tv_sec == 100 && ts.tv_nsec == 0,
           "MONOTONIC_RAW carries nanoseconds into seconds");
    err = pvclock_gettime_at(pc, CLOCK_TAI, 1000000, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000037 && ts.tv_nsec == 0,
           "TAI uses its own base");
    err = pvclock_gettime_at(pc, CLOCK_BOOTTIME, 1000000 + 7, &ts);
    tap_ok(err == 0 && ts.tv_sec == 150 && ts.tv_nsec == 7,
           "BOOTTIME uses its own base");

    /*
     * A counter just behind cycle_last: a read at it is the time at it,
     * the line taken back (the ABI's rule for a read at a counter), not
     * the base the vDSO's "now" clamps to (unit/at-before).
     */
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 - 3, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000000 && ts.tv_nsec == 497,
           "counter 3 cycles behind cycle_last reads the base - 3 ns "
           "(%lld.%09ld)", (long long)ts.tv_sec, ts.tv_nsec);

    err = pvclock_gettime_at(pc, CLOCK_PROCESS_CPUTIME_ID, 0, &ts);
    tap_ok(err == PVCLOCK_ECLOCK, "CPU-time clocks are refused");

    pvclock_select_page(pc, 1);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == PVCLOCK_EUNPUBLISHED, "unpublished page: %s",
           pvclock_strerror(err));
    pvclock_close(pc);
    pc = NULL;              /* what a closed (or never opened) handle is */
    err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
    tap_ok(err == PVCLOCK_ENOTMAPPED, "closed handle: %s",
           pvclock_strerror(err));
}

static void test_overflow_paths(struct bar_image *img)
{
    struct pvclock *pc;
    struct timespec ts;
    /* mult 3 << 30, shift 31: 1.5 ns per cycle; product overflows 2^64 */
    uint64_t delta = (1ull << 40) + 12345;
    unsigned __int128 exact;
    int err;

    init_image(img);
    img->host[0].hres.mult = 3u << 30;
    img->host[0].hres.shift = 31;
    img->host[0].hres.max_cycles = 1ull << 32;
    img->host[0].hres_base[PVCP_HRES_REALTIME].nsec_shifted = 0;
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);

    exact = ((unsigned __int128)delta * (3u << 30)) >> 31;
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + delta, &ts);
    tap_ok(err == 0 && (unsigned __int128)(ns_of(&ts) -
                                           1700000000ll * 1000000000ll) ==
           exact, "delta beyond max_cycles takes the exact 128-bit path");

    pvclock_close(pc);
    img->host[0].flags |= PVCP_HOST_F_MUL_WRAPS;
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + delta, &ts);
    tap_ok(err == 0 && (uint64_t)(ns_of(&ts) - 1700000000ll * 1000000000ll)
           == ((delta * (3ull << 30)) >> 31),
           "hosts without overflow protection: the 64-bit product wraps");
    pvclock_close(pc);
}

static void test_kvmclock_stage(struct bar_image *img)
{
    struct pvcp_kvmclock kc = {
        .tsc_timestamp = 1000, .system_time = 5000,
        .tsc_to_system_mul = 1u << 31, .tsc_shift = 1,
    };
    struct pvclock *pc;
    struct timespec ts;
    int err;

    /* shift +1 then * 0.5: one ns per TSC tick */
    tap_ok(pvcp_kvmclock_cycles(&kc, 1000 + 777) == 5777,
           "kvmclock: shift before the 32.32 multiply");
    kc.tsc_shift = -2;
    kc.tsc_to_system_mul = 0xffffffffu;
    tap_ok(pvcp_kvmclock_cycles(&kc, 1000 + 4000) == 5000 + 999,
           "kvmclock: negative shift truncates the TSC delta first");
    kc.tsc_shift = 0;
    kc.tsc_to_system_mul = 1u << 31;
    tap_ok(pvcp_kvmclock_cycles(&kc, 0) ==
           ((5000 + (uint64_t)(((unsigned __int128)(0 - 1000ull) << 31) >>
                               32)) & PVCP_S64_MAX),
           "kvmclock: TSC before tsc_timestamp wraps and masks to S64_MAX");

    init_image(img);
    img->host[0].counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
    img->host[0].kvmclock.tsc_timestamp = 0;
    img->host[0].kvmclock.system_time = 1000000;
    img->host[0].kvmclock.tsc_to_system_mul = 1u << 31;  /* 2 GHz TSC */
    img->host[0].kvmclock.tsc_shift = 0;
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 4000, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000000 && ts.tv_nsec == 2500,
           "kvm-clock host: TSC -> kvmclock ns -> REALTIME");
    pvclock_close(pc);
}

/*
 * A simulated host (ABI 1.7): the offset page's transform maps to the
 * page counter with the page's sim composed in, so a guest reads the
 * same time whatever sim says (it never applies it); the host path
 * cannot read such a page (its counter is not the TSC) and says so.
 * Offset pages of 1.3-1.6, whose transform left sim to the reader, are
 * refused.
 */
static void test_simulated_host(struct bar_image *img)
{
    struct pvclock *pc = NULL;
    struct timespec a = { -1, 0 }, b = { -1, 0 };
    int err, err2;

    init_image(img);
    bar_image_offset(img, 0);
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &a);
    img->host[0].flags |= PVCP_HOST_F_SIMULATED;
    img->host[0].sim = (struct pvcp_xform){
        .mult = 5153960755ull, .frac_bits = 32,
        .flags = PVCP_XFORM_F_VALID, .offset = 12345,
    };
    pvcp_page_seal(&img->host[0]);
    img->offset.ref_xform[0].flags = PVCP_XFORM_F_PAGE_COUNTER;
    write_image(img, sizeof(*img));
    err2 = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &b);
    tap_ok(!err && !err2 && a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec,
           "simulated host: the guest reads the page counter through the "
           "offset page's transform, never sim (%s)", pvclock_strerror(err2));
    pvclock_close(pc);
    pc = NULL;

    for (uint16_t minor = 3; minor < 7; minor++) {
        img->offset.abi_minor = minor;
        img->offset.ref_xform[0].flags |= PVCP_XFORM_F_VALID;
        write_image(img, sizeof(*img));
        err = pvclock_open_guest(&pc, tmpl);
        tap_ok(err == PVCLOCK_EVERSION && !pc, "ABI 1.%u offset page (its "
               "transform leaves a simulated host's sim to the reader): "
               "open refuses it: %s", minor, pvclock_strerror(err));
        pvclock_close(pc);
        pc = NULL;
    }
    img->offset.abi_minor = PVCP_ABI_MINOR;

    write_image(img, PVCP_FILE_SIZE);
    err = pvclock_open_host(&pc, tmpl);
    b.tv_sec = -1;
    err2 = err ? err : pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &b);
    tap_ok(err2 == PVCLOCK_EUNPUBLISHED && b.tv_sec == -1,
           "simulated host read on the host: refused: %s",
           pvclock_strerror(err2));
    pvclock_close(pc);
}

static void test_guest_offset_page(struct bar_image *img)
{
    struct pvclock *pc;
    struct pvclock_info info;
    struct timespec ts;
    int err;

    init_image(img);
    bar_image_offset(img, (uint64_t)-5000);     /* guest runs ahead */
    img->offset.mono_offset[PVCP_MONO_MONOTONIC].sec = 10;
    img->offset.mono_offset[PVCP_MONO_MONOTONIC].nsec = 999999999;
    img->offset.mono_offset[PVCP_MONO_RAW].sec = -50;
    write_image(img, sizeof(*img));
    err = pvclock_open_guest(&pc, tmpl);
    tap_ok(err == 0, "open a BAR image as a guest (%s)",
           pvclock_strerror(err));

    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + 5000 + 10, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000000 && ts.tv_nsec == 510,
           "guest counter minus the offset is the host counter");
    err = pvclock_gettime_at(pc, CLOCK_MONOTONIC, 1000000 + 5000 + 1, &ts);
    tap_ok(err == 0 && ts.tv_sec == 111 && ts.tv_nsec == 0,
           "MONOTONIC gets the timens offset, normalised");
    err = pvclock_gettime_at(pc, CLOCK_MONOTONIC_RAW, 1000000 + 5000 + 1,
                             &ts);
    tap_ok(err == 0 && ts.tv_sec == 50 && ts.tv_nsec == 0,
           "MONOTONIC_RAW gets its own (negative) offset");
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + 5000, &ts);
    tap_ok(err == 0 && ts.tv_sec == 1700000000 && ts.tv_nsec == 500,
           "REALTIME gets no timens offset");
    err = pvclock_get_info(pc, &info);
    tap_ok(err == 0 && info.generation == 1 &&
           info.status == PVCP_STATUS_VALID, "info reports generation 1");
    pvclock_close(pc);

    /* A scaled transform: the host runs 1.5x the guest (mult 3 << 31). */
    memset(&img->offset.ref_xform[0], 0, sizeof(img->offset.ref_xform[0]));
    img->offset.ref_xform[0].mult = 3ull << 31;
    img->offset.ref_xform[0].frac_bits = 32;
    img->offset.ref_xform[0].flags = PVCP_XFORM_F_PAGE_COUNTER;
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == 0 && ts.tv_nsec == 500 + 500000,
           "scaled transform: host = guest * 1.5");
    pvclock_close(pc);

    /*
     * Through a reference point, with the fraction there and a guest
     * counter before it: host = 1000000 + floor((d * 1.5 + 0.25)), d =
     * guest - 1000, and d negative rounds down too.
     */
    img->offset.ref_xform[0].guest_ref = 1000;
    img->offset.ref_xform[0].host_ref = 2000000;
    img->offset.ref_xform[0].frac_ref = 1ull << 30;         /* 0.25 */
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000 + 3, &ts);
    tap_ok(err == 0 && ts.tv_nsec == 500 + 1000000 + 4, "reference point: 3 "
           "guest counts after it are 4 host counts (4.75, floored)");
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000 - 3, &ts);
    tap_ok(err == 0 && ts.tv_nsec == 500 + 1000000 - 5,
           "reference point: 3 guest counts before it are -5 host counts "
           "(-4.25, floored), ts %ld.%09ld", (long)ts.tv_sec, ts.tv_nsec);
    img->offset.ref_xform[0].frac_bits = 65;
    write_image(img, sizeof(*img));
    pvclock_close(pc);
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000, &ts);
    tap_ok(err == PVCLOCK_EBADPAGE, "frac_bits beyond 64 refused: %s",
           pvclock_strerror(err));
    pvclock_close(pc);

    /*
     * An offset page of a writer before ABI 1.3 (an older QEMU, which a
     * guest also meets after a migration to one), with the unscaled
     * transform those writers put at 0x028 (host = guest + offset, which
     * readers of such pages used to compute with): an unsupported
     * version, at open and at every read of a handle opened on a newer
     * page; no time.
     */
    bar_image_offset(img, (uint64_t)-5000);
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    memset(img->offset.ref_xform, 0, sizeof(img->offset.ref_xform));
    memcpy((char *)&img->offset + LEGACY_XFORM_AT, &legacy, sizeof(legacy));
    for (uint16_t minor = 0; minor < 3; minor++) {
        struct pvclock *pc2 = NULL;
        int err2;

        img->offset.abi_minor = minor;
        write_image(img, sizeof(*img));
        ts.tv_sec = -1;
        err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000 + 5000 + 10,
                                 &ts);
        tap_ok(err == PVCLOCK_EVERSION && ts.tv_sec == -1,
               "ABI 1.%u offset page with an unscaled legacy transform: "
               "a read refuses it: %s", minor, pvclock_strerror(err));
        err2 = pvclock_open_guest(&pc2, tmpl);
        tap_ok(err2 == PVCLOCK_EVERSION && !pc2,
               "ABI 1.%u offset page: open refuses it: %s", minor,
               pvclock_strerror(err2));
        pvclock_close(pc2);
    }
    pvclock_close(pc);
    memset((char *)&img->offset + LEGACY_XFORM_AT, 0, sizeof(legacy));
    img->offset.abi_minor = PVCP_ABI_MINOR;

    bar_image_offset(img, 0);
    img->offset.status = PVCP_STATUS_UNRELIABLE;
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == PVCLOCK_EUNRELIABLE, "unreliable status: %s",
           pvclock_strerror(err));
    pvclock_close(pc);

    img->offset.status = PVCP_STATUS_INVALID;
    write_image(img, sizeof(*img));
    pvclock_open_guest(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == PVCLOCK_ENOTVALID, "invalid status: %s",
           pvclock_strerror(err));
    pvclock_close(pc);
}

static void test_errors(struct bar_image *img)
{
    struct pvclock *pc;
    struct timespec ts = { 0, 0 };
    int err;

    err = pvclock_open_host(&pc, "/nonexistent/pvclock/pages");
    tap_ok(err == PVCLOCK_EOPEN && errno == ENOENT,
           "missing file: %s (errno %d)", pvclock_strerror(err), errno);

    init_image(img);
    write_image(img, 100);
    err = pvclock_open_host(&pc, tmpl);
    tap_ok(err == PVCLOCK_ESIZE, "short file: %s", pvclock_strerror(err));

    init_image(img);
    img->host[3].magic = 0;
    write_image(img, PVCP_FILE_SIZE);
    err = pvclock_open_host(&pc, tmpl);
    tap_ok(err == PVCLOCK_EMAGIC, "bad magic in page 3: %s",
           pvclock_strerror(err));

    init_image(img);
    img->host[0].abi_major = 2;
    write_image(img, PVCP_FILE_SIZE);
    err = pvclock_open_host(&pc, tmpl);
    tap_ok(err == PVCLOCK_EVERSION, "ABI 2.x: %s", pvclock_strerror(err));

    init_image(img);
    img->host[0].abi_minor = 7;   /* newer minor: fine */
    img->host[0].hres.shift = 64;
    write_image(img, PVCP_FILE_SIZE);
    err = pvclock_open_host(&pc, tmpl);
    tap_ok(err == PVCLOCK_OK, "newer ABI minor is accepted");
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1, &ts);
    tap_ok(err == PVCLOCK_EBADPAGE, "shift 64 is refused: %s",
           pvclock_strerror(err));
    pvclock_close(pc);

    init_image(img);
    img->host[0].heartbeat_counter = 1000;
    img->host[0].stale_after = 500;
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == PVCLOCK_ESTALE && ts.tv_sec == 1700000000,
           "heartbeat too old: stale, time still filled");
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1400, &ts);
    tap_ok(err == PVCLOCK_OK, "within stale_after of the heartbeat: ok");
    pvclock_close(pc);

    init_image(img);
    img->host[0].seq = 3;   /* a writer that never finishes */
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);
    {
        struct timespec t0, t1;
        int64_t took;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        took = (t1.tv_sec - t0.tv_sec) * 1000000000ll + t1.tv_nsec -
               t0.tv_nsec;
        /* the library gives up after 100 ms; the margin is for load */
        tap_ok(err == PVCLOCK_EBUSY && took < 300000000,
               "seq stuck odd (a writer died mid-write): %s after %.3f ms "
               "(bound 100 ms)", pvclock_strerror(err), took / 1e6);
    }
    pvclock_close(pc);

    /*
     * Damage that keeps the header and an even seq: the check words
     * refuse what they cover, and only that.
     */
    init_image(img);
    write_image(img, PVCP_FILE_SIZE);
    pvclock_open_host(&pc, tmpl);
    {
        uint64_t sec = 1800000000;
        unsigned char junk[0x80];     /* hres, its bases, raw, raw_base */

        write_raw(&sec, sizeof(sec), offsetof(struct pvcp_host_page,
                  hres_base[PVCP_HRES_REALTIME].sec), 0);
        err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
        tap_ok(err == PVCLOCK_EBADPAGE, "REALTIME base scribbled, check "
               "words not: %s", pvclock_strerror(err));
        err = pvclock_gettime_at(pc, CLOCK_MONOTONIC, 1000000, &ts);
        tap_ok(err == PVCLOCK_EBADPAGE, "the same page's MONOTONIC, read "
               "on the general path (check_aux covers every base): %s",
               pvclock_strerror(err));
        err = pvclock_gettime(pc, CLOCK_MONOTONIC, &ts);
        tap_ok(err == PVCLOCK_OK, "the fast path checks only what it "
               "reads: MONOTONIC's words are intact, so it is computed");

        for (size_t i = 0; i < sizeof(junk); i++) {
            junk[i] = (unsigned char)(i * 37 + 11);
        }
        write_raw(junk, sizeof(junk), offsetof(struct pvcp_host_page, hres),
                  0);
        for (int c = 0; c < 5; c++) {
            static const clockid_t ids[] = {
                CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
                CLOCK_BOOTTIME, CLOCK_TAI
            };

            err = pvclock_gettime(pc, ids[c], &ts);
            tap_ok(err == PVCLOCK_EBADPAGE, "line and bases overwritten: "
                   "clock %d refused, fast path too: %s", (int)ids[c],
                   pvclock_strerror(err));
        }
    }
    pvclock_close(pc);

    init_image(img);
    img->host[0].abi_minor = 1;     /* an ABI 1.1 helper: no check words */
    write_raw(img, PVCP_FILE_SIZE, 0, O_TRUNC);
    pvclock_open_host(&pc, tmpl);
    err = pvclock_gettime_at(pc, CLOCK_REALTIME, 1000000, &ts);
    tap_ok(err == PVCLOCK_OK, "ABI 1.1 page without check words: read");
    pvclock_close(pc);

    tap_ok(strcmp(pvclock_strerror(-1), "unknown pvclock error") == 0 &&
           strcmp(pvclock_strerror(PVCLOCK_ERRORS), "unknown pvclock error")
           == 0, "strerror of out-of-range codes");
}

int main(void)
{
    struct bar_image *img = calloc(1, sizeof(*img));
    int fd = mkstemp(tmpl);

    if (fd < 0 || !img) {
        perror("setup");
        return 2;
    }
    close(fd);
    test_host_fast_path(img);
    test_overflow_paths(img);
    test_kvmclock_stage(img);
    test_guest_offset_page(img);
    test_simulated_host(img);
    test_errors(img);
    unlink(tmpl);
    free(img);
    return tap_done();
}
