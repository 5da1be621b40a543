/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest: the error names every command uses.
 */
#include "guest.h"

const char *guest_err_name(int err)
{
    static const char *const names[PVCLOCK_ERRORS] = {
        "ok", "ENOTMAPPED", "EOPEN", "ENODEV", "ESIZE", "EMAGIC",
        "EVERSION", "EUNPUBLISHED", "EBADPAGE", "ENOTVALID",
        "EUNRELIABLE", "ESTALE", "ECLOCK", "EBUSY", "EINVAL",
    };

    return err >= 0 && err < PVCLOCK_ERRORS ? names[err] : "EUNKNOWN";
}

int64_t guest_ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}
