/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Leap second schedule.  See leap.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

#include "leap.h"

#define NTP_TO_UNIX 2208988800ull

int leap_list_parse(struct leap_list *l, const char *text, char *err,
                    size_t errlen)
{
    const char *p = text;
    int lineno = 0;

    memset(l, 0, sizeof(*l));
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];

        lineno++;
        if (len >= sizeof(line)) {
            snprintf(err, errlen, "line %d is too long", lineno);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (eol ? 1 : 0);

        if (!strncmp(line, "#@", 2)) {
            unsigned long long ntp;

            if (sscanf(line + 2, "%llu", &ntp) != 1 || ntp < NTP_TO_UNIX) {
                snprintf(err, errlen, "line %d: bad expiry", lineno);
                return -1;
            }
            l->expires = ntp - NTP_TO_UNIX;
        } else if (line[0] != '#' && line[0] != 0) {
            unsigned long long ntp;
            int tai;
            char extra;

            if (sscanf(line, "%llu %d %c", &ntp, &tai, &extra) < 2 ||
                ntp < NTP_TO_UNIX || tai < 0 || tai > 1000) {
                snprintf(err, errlen, "line %d: expected \"NTP-seconds "
                         "TAI-offset\"", lineno);
                return -1;
            }
            if (l->n == LEAP_MAX_ENTRIES) {
                snprintf(err, errlen, "more than %d entries",
                         LEAP_MAX_ENTRIES);
                return -1;
            }
            if (l->n && (ntp - NTP_TO_UNIX <= l->utc[l->n - 1] ||
                         abs(tai - l->tai[l->n - 1]) != 1)) {
                snprintf(err, errlen, "line %d: entries must be in time "
                         "order and one second apart in TAI - UTC", lineno);
                return -1;
            }
            l->utc[l->n] = ntp - NTP_TO_UNIX;
            l->tai[l->n] = tai;
            l->n++;
        }
    }
    if (!l->n) {
        snprintf(err, errlen, "no entries");
        return -1;
    }
    return 0;
}

int leap_list_load(struct leap_list *l, const char *path, char *err,
                   size_t errlen)
{
    char buf[16384], msg[128];
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n == sizeof(buf) - 1) {
        snprintf(err, errlen, "%s: larger than a leap-seconds.list", path);
        return -1;
    }
    if (leap_list_parse(l, buf, msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "%s: %s", path, msg);
        return -1;
    }
    return 0;
}

/* The leap in the list whose window is current or next within a day. */
static int from_list(const struct leap_list *l, const struct host_ntp *ntp,
                     uint64_t now, struct leap_event *ev)
{
    for (size_t i = 1; l && i < l->n; i++) {
        uint64_t at = l->utc[i];

        if (now + 86400 < at - 43200 || now >= at + 43200) {
            continue;
        }
        /* only when the host's TAI offset agrees with the list */
        if (ntp->tai != (now < at ? l->tai[i - 1] : l->tai[i])) {
            return 0;
        }
        ev->leap = l->tai[i] - l->tai[i - 1];
        ev->tai_before = l->tai[i - 1];
        ev->utc = at;
        ev->start_tai = derive_noon_before_tai(ev);
        return 1;
    }
    return 0;
}

int leap_schedule(const struct leap_list *l, const struct host_ntp *ntp,
                  uint64_t now, struct leap_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (l && l->n && ntp->tai > 0 && from_list(l, ntp, now, ev)) {
        return 1;
    }
    if (ntp->status & (STA_INS | STA_DEL)) {
        /* the kernel applies it at the end of the current UTC day */
        ev->leap = (ntp->status & STA_INS) ? 1 : -1;
        ev->tai_before = ntp->tai;
        ev->utc = (now / 86400 + 1) * 86400;
        ev->start_tai = derive_noon_before_tai(ev);
        return 1;
    }
    return 0;
}

enum leap_tai_source leap_tai_offset(const struct leap_list *l,
                                     int32_t kernel_tai, uint64_t now,
                                     int32_t *tai)
{
    size_t i;

    if (kernel_tai != 0) {
        *tai = kernel_tai;
        return LEAP_TAI_KERNEL;
    }
    if (!l || !l->n || !l->expires || now > l->expires || now < l->utc[0]) {
        return LEAP_TAI_UNKNOWN;
    }
    for (i = l->n; i-- > 0;) {
        if (now >= l->utc[i]) {
            *tai = l->tai[i];
            return LEAP_TAI_LIST;
        }
    }
    return LEAP_TAI_UNKNOWN;
}
