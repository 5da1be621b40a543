/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leap second the smeared pages follow
 * (contrib/pvclock-helper/leaptrack.c): taken when the kernel or the
 * list announces it, from now if learnt after its window opened, kept to
 * noon after the leap whatever the kernel's flags say, resumed from the
 * pages after a restart; the list's loading and expiry, with the
 * lines the helper logs; and the TAI - UTC the pages call known.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

#include "leaptrack.h"
#include "stderr-capture.h"
#include "tap.h"

#define LEAP_UTC    UINT64_C(1893456000)    /* 2030-01-01T00:00:00Z */
#define NTP_TO_UNIX UINT64_C(2208988800)

static char dir[] = "/tmp/pvclock-test-leaptrack-XXXXXX";

/* leaptrack_update() at UTC second utc, TAI second tai; stderr returned. */
static const char *update(struct leap_tracker *t, int32_t tai_offset,
                          uint32_t status, uint64_t utc, uint64_t tai)
{
    struct host_ntp ntp = { .tai = tai_offset, .status = status };

    capture_begin();
    leaptrack_update(t, &ntp, tai, utc);
    return capture_end();
}

static bool is_event(const struct leap_event *ev, int32_t leap,
                     int32_t tai_before, uint64_t utc, uint64_t start_tai)
{
    return ev->leap == leap && ev->tai_before == tai_before &&
           ev->utc == utc && ev->start_tai == start_tai;
}

static void test_kernel_announces(void)
{
    struct leap_tracker t = { 0 };
    uint64_t now = LEAP_UTC - 3600, noon_after = LEAP_UTC + 43200 + 38;
    const char *log;
    char want[256];

    log = update(&t, 37, STA_INS, now, now + 37);
    snprintf(want, sizeof(want), "pvclock-helper: leap second +1 at UTC %"
             PRIu64 ": smearing from TAI %" PRIu64 " to %" PRIu64 "\n",
             LEAP_UTC, now + 37, noon_after);
    tap_ok(is_event(&t.active, 1, 37, LEAP_UTC, now + 37) &&
           !strcmp(log, want),
           "armed an hour before midnight: smeared from now, not from noon");

    log = update(&t, 37, STA_INS, now + 10, now + 47);
    tap_ok(is_event(&t.active, 1, 37, LEAP_UTC, now + 37) && !log[0],
           "known already: kept as it was, silently");

    log = update(&t, 38, 0, LEAP_UTC + 100, LEAP_UTC + 138);
    tap_ok(t.active.leap == 1 && !log[0],
           "after the leap the kernel forgets it: kept to noon after");

    log = update(&t, 38, 0, LEAP_UTC + 43200, noon_after);
    tap_ok(!t.active.leap &&
           !strcmp(log, "pvclock-helper: leap second smear finished\n"),
           "at noon after: dropped, logged");
}

static void test_in_time(void)
{
    struct leap_tracker t = { 0 };
    uint64_t now = LEAP_UTC - 86400 + 600;
    uint64_t noon_before = LEAP_UTC - 43200 + 37;
    const char *log;

    log = update(&t, 37, STA_DEL, now, now + 37);
    tap_ok(is_event(&t.active, -1, 37, LEAP_UTC, noon_before) &&
           strstr(log, "leap second -1 at UTC"),
           "armed before the window: smeared from noon before");

    memset(&t, 0, sizeof(t));
    log = update(&t, 37, STA_INS, LEAP_UTC - 10, LEAP_UTC + 43200 + 38);
    tap_ok(!t.active.leap && !log[0],
           "learnt when its window would already be over: not taken");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static const char *load(struct leap_tracker *t, const char *path)
{
    memset(t, 0, sizeof(*t));
    capture_begin();
    leaptrack_load(t, path);
    return capture_end();
}

static void test_list(void)
{
    struct leap_tracker t;
    char good[128], bad[128], text[256], want[512];
    const char *log;
    uint64_t expires = LEAP_UTC + 365 * 86400;

    snprintf(good, sizeof(good), "%s/good.list", dir);
    snprintf(bad, sizeof(bad), "%s/bad.list", dir);
    snprintf(text, sizeof(text), "#@ %" PRIu64 "\n3692217600 37\n%" PRIu64
             " 38\n", expires + NTP_TO_UNIX, LEAP_UTC + NTP_TO_UNIX);
    write_file(good, text);
    write_file(bad, "garbage\n");

    log = load(&t, NULL);
    tap_ok(!t.have_list && !log[0], "--leap-file none: no list, silently");
    log = load(&t, bad);
    snprintf(want, sizeof(want), "pvclock-helper: leap second list not "
             "used: %s: line 1: expected \"NTP-seconds TAI-offset\"\n", bad);
    tap_ok(!t.have_list && !strcmp(log, want), "a corrupt list: named, "
           "not used");
    log = load(&t, dir);
    tap_ok(!t.have_list && strstr(log, "leap second list not used: "),
           "a list that cannot be read: named, not used");

    log = load(&t, good);
    tap_ok(t.have_list && t.list.n == 2 && !log[0], "a good list: loaded");
    log = update(&t, 37, 0, LEAP_UTC - 3600, LEAP_UTC - 3563);
    tap_ok(is_event(&t.active, 1, 37, LEAP_UTC, LEAP_UTC - 3563) && log[0],
           "the list announces a leap the kernel has not armed");

    capture_begin();
    leaptrack_check_expiry(&t, expires);
    log = capture_end();
    tap_ok(!log[0], "not expired at its expiry second: silent");
    capture_begin();
    leaptrack_check_expiry(&t, expires + 1);
    log = capture_end();
    snprintf(want, sizeof(want), "pvclock-helper: leap second list %s "
             "expired at UTC %" PRIu64 "; leap seconds after it are known "
             "only if the host's NTP daemon arms the kernel (update "
             "tzdata)\n", good, expires);
    tap_ok(!strcmp(log, want), "expired: one line saying what to do");
    unlink(good);
    unlink(bad);
}

/*
 * TAI - UTC as the pages publish it: the kernel's when an NTP daemon set
 * it, else the leap second list's for now if the list has not expired,
 * else unknown, and derive_ntp() flags each so.  The kernel's 0 is never
 * taken for the offset: CLOCK_TAI is then UTC.
 */
static void test_known_tai(void)
{
    struct leap_list l;
    struct pvcp_host_page page;
    struct host_ntp ntp = { 0 };
    uint64_t now = LEAP_UTC - 86400, expires = LEAP_UTC + 365 * 86400;
    char text[256], err[128];
    int32_t tai = -1;
    enum leap_tai_source src;

    snprintf(text, sizeof(text), "#@ %" PRIu64 "\n3644697600 36\n"
             "3692217600 37\n", expires + NTP_TO_UNIX);
    if (leap_list_parse(&l, text, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    src = leap_tai_offset(&l, 0, now, &tai);
    tap_ok(src == LEAP_TAI_LIST && tai == 37,
           "kernel 0, a current list: 37 s, from the list (%d)", tai);
    tai = -1;
    tap_ok(leap_tai_offset(NULL, 0, now, &tai) == LEAP_TAI_UNKNOWN &&
           tai == -1, "kernel 0, no list: unknown");
    tap_ok(leap_tai_offset(&l, 37, now, &tai) == LEAP_TAI_KERNEL &&
           tai == 37, "kernel 37: 37 s, the kernel's");
    tap_ok(leap_tai_offset(NULL, 37, now, &tai) == LEAP_TAI_KERNEL &&
           tai == 37, "kernel 37, no list: 37 s, the kernel's");
    tap_ok(leap_tai_offset(&l, 36, now, &tai) == LEAP_TAI_KERNEL &&
           tai == 36, "the kernel's wins over the list (36 s set by NTP)");
    tap_ok(leap_tai_offset(&l, 0, expires, &tai) == LEAP_TAI_LIST &&
           leap_tai_offset(&l, 0, expires + 1, &tai) == LEAP_TAI_UNKNOWN,
           "kernel 0, the list at its expiry: known; a second after: "
           "unknown (a leap may have come after it)");
    tap_ok(leap_tai_offset(&l, 0, 1483228800 - 1, &tai) == LEAP_TAI_LIST &&
           tai == 36 && leap_tai_offset(&l, 0, 1483228800, &tai) ==
           LEAP_TAI_LIST && tai == 37,
           "the entry in force at now: 36 s before 2017, 37 s from 2017");
    tap_ok(leap_tai_offset(&l, 0, 1435708799, &tai) == LEAP_TAI_UNKNOWN,
           "before the list's first entry: unknown");
    l.expires = 0;
    tap_ok(leap_tai_offset(&l, 0, now, &tai) == LEAP_TAI_UNKNOWN,
           "a list without an expiry: unknown");

    memset(&page, 0, sizeof(page));
    ntp.known_tai = 37;
    ntp.tai_source = LEAP_TAI_LIST;
    derive_ntp(&page, &ntp);
    tap_ok(page.tai_offset == 0 && page.known_tai_offset == 37 &&
           (page.flags & (PVCP_HOST_F_TAI_KNOWN | PVCP_HOST_F_TAI_FROM_LIST))
           == (PVCP_HOST_F_TAI_KNOWN | PVCP_HOST_F_TAI_FROM_LIST),
           "the page: kernel's 0, known 37 from the list (flags 0x%" PRIx64
           ")", (uint64_t)page.flags);
    ntp = (struct host_ntp) { .tai = 37, .known_tai = 37,
                              .tai_source = LEAP_TAI_KERNEL };
    derive_ntp(&page, &ntp);
    tap_ok(page.tai_offset == 37 && page.known_tai_offset == 37 &&
           (page.flags & PVCP_HOST_F_TAI_KNOWN) &&
           !(page.flags & PVCP_HOST_F_TAI_FROM_LIST),
           "the page: kernel's 37, known 37, not from the list");
    ntp = (struct host_ntp) { 0 };
    derive_ntp(&page, &ntp);
    tap_ok(page.tai_offset == 0 && page.known_tai_offset == 0 &&
           !(page.flags & (PVCP_HOST_F_TAI_KNOWN |
                           PVCP_HOST_F_TAI_FROM_LIST)),
           "the page: unknown, both flags clear");
}

/* A restart finds the smear derive_smear() wrote and carries on with it. */
static void test_resume(void)
{
    static const struct leap_event events[] = {
        { 1, 37, LEAP_UTC, LEAP_UTC - 3563 },
        { -1, 37, LEAP_UTC, LEAP_UTC - 43200 + 37 },
    };
    struct pvcp_host_page page;
    struct leap_tracker t;

    for (size_t i = 0; i < 2; i++) {
        const struct leap_event *ev = &events[i];

        memset(&page, 0, sizeof(page));
        page.counter_mode = PVCP_COUNTER_TSC;
        derive_smear(&page, ev);
        memset(&t, 0, sizeof(t));
        leaptrack_resume(&t, &page);
        tap_ok(is_event(&t.active, ev->leap, ev->tai_before, ev->utc,
                        ev->start_tai),
               "leap %+d smeared from TAI %" PRIu64 ": resumed exactly",
               ev->leap, ev->start_tai);
    }
    page.counter_mode = PVCP_COUNTER_NONE;
    memset(&t, 0, sizeof(t));
    leaptrack_resume(&t, &page);
    tap_ok(!t.active.leap, "an unpublished page: nothing resumed");
    memset(&page, 0, sizeof(page));
    page.counter_mode = PVCP_COUNTER_TSC;
    leaptrack_resume(&t, &page);
    tap_ok(!t.active.leap, "a page without a smear: nothing resumed");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    test_kernel_announces();
    test_in_time();
    test_list();
    test_resume();
    test_known_tai();
    rmdir(dir);
    return tap_done();
}
