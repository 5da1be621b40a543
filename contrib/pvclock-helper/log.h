/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's log: one line on stderr per event, prefixed with the
 * program's name (systemd's journal adds the time and the PID).
 */
#ifndef PVCLOCK_HELPER_LOG_H
#define PVCLOCK_HELPER_LOG_H

__attribute__((format(printf, 1, 2)))
void helper_log(const char *fmt, ...);

#endif /* PVCLOCK_HELPER_LOG_H */
