/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two pieces of systemd's service protocol the helper speaks, by hand
 * (no libsystemd): sd_notify(3) messages, with a file descriptor for the
 * service's file descriptor store, and sd_listen_fds_with_names(3) to take
 * stored descriptors back after a restart.
 */
#ifndef PVCLOCK_HELPER_SYSTEMD_H
#define PVCLOCK_HELPER_SYSTEMD_H

/*
 * Send msg to $NOTIFY_SOCKET, with fd attached if fd >= 0 (for
 * "FDSTORE=1").  Returns 0 if sent, -1 if not (no systemd, or it failed).
 */
int sd_notify_fd(const char *msg, int fd);

/*
 * The descriptor systemd passed to this process under the name, or -1.
 * The passed descriptors are marked close-on-exec and the LISTEN_*
 * variables unset, so that nothing this process starts takes them.
 */
int sd_listen_fd_named(const char *name);

#endif /* PVCLOCK_HELPER_SYSTEMD_H */
