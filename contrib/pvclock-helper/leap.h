/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the helper learns about leap seconds: the host kernel (adjtimex
 * STA_INS/STA_DEL, armed by the host's NTP daemon on the last day) and
 * the IERS list that tzdata ships (leap-seconds.list).
 */
#ifndef PVCLOCK_HELPER_LEAP_H
#define PVCLOCK_HELPER_LEAP_H

#include <stddef.h>
#include <stdint.h>

#include "derive.h"

#define LEAP_DEFAULT_LIST   "/usr/share/zoneinfo/leap-seconds.list"
#define LEAP_MAX_ENTRIES    64

struct leap_list {
    size_t n;
    uint64_t utc[LEAP_MAX_ENTRIES];     /* from this UTC second ... */
    int32_t tai[LEAP_MAX_ENTRIES];      /* ... TAI - UTC is this */
    uint64_t expires;                   /* UTC second, 0 unknown */
};

/*
 * Parse a leap-seconds.list (NTP-epoch seconds and TAI - UTC per line,
 * "#@" expiry).  Returns 0, or -1 with err naming the line at fault.
 */
int leap_list_parse(struct leap_list *l, const char *text, char *err,
                    size_t errlen);
int leap_list_load(struct leap_list *l, const char *path, char *err,
                   size_t errlen);

/*
 * The leap second to smear around at UTC second now, if any: one whose
 * smear window (noon before to noon after) contains now or starts within
 * the next 24 h.  The kernel's armed flag is used when the kernel keeps
 * TAI (tai > 0) or when there is no list; the list is used only when the
 * kernel's TAI offset agrees with it, so that the smear ends where the
 * host's own REALTIME lands.  Returns 1 and fills ev (start_tai: noon
 * before; the caller moves it to "now" if it learns of the leap late, so
 * the smeared clock never jumps), or 0.
 */
int leap_schedule(const struct leap_list *l, const struct host_ntp *ntp,
                  uint64_t now, struct leap_event *ev);

/* Where the helper's TAI - UTC comes from (leap_tai_offset()). */
enum leap_tai_source {
    LEAP_TAI_UNKNOWN,       /* the kernel's is 0 and no usable list */
    LEAP_TAI_KERNEL,        /* an NTP daemon set the kernel's */
    LEAP_TAI_LIST,          /* the kernel's is 0; the list says */
};

/*
 * TAI - UTC at UTC second now as this host knows it: the kernel's
 * (kernel_tai) when it is not 0, since 0 is never TAI - UTC and means
 * that nothing set it; else l's (NULL: no list) if l has an expiry, now
 * is before it and at or after l's first entry.  An expired list cannot
 * say whether a leap second came after it.  Fills *tai for a known one.
 */
enum leap_tai_source leap_tai_offset(const struct leap_list *l,
                                     int32_t kernel_tai, uint64_t now,
                                     int32_t *tai);

#endif /* PVCLOCK_HELPER_LEAP_H */
