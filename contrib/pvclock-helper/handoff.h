/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handing the pages memfd over (pvclock-helper --socket): a unix socket
 * where every client that connects gets a read-only descriptor of it,
 * with a struct pvcp_handoff header (the ABI header says the protocol).
 * A thread answers, so clients wait for no poll round of the helper and
 * an idle helper makes no extra syscalls.  The client side is
 * libpvclock's pvclock_pages_fd() (and the QEMU device's own).
 */
#ifndef PVCLOCK_HELPER_HANDOFF_H
#define PVCLOCK_HELPER_HANDOFF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct handoff {
    int listen_fd;
    int ro_fd;                  /* what clients get: the memfd, read-only */
    char *path;
    pthread_t thread;
    bool running;
    volatile uint64_t served;   /* clients answered */
};

/*
 * Listen on path (replacing a stale socket there, refusing one that
 * another helper answers on) and serve memfd.  The socket is mode 0666:
 * what it hands out is read-only and the same for everyone.
 */
int handoff_start(struct handoff *h, const char *path, int memfd, char *err,
                  size_t errlen);
void handoff_stop(struct handoff *h);

/*
 * The memfd this service stored before a restart (systemd passes it back
 * under the name "pvclock-pages"), or -1.
 */
int handoff_take_stored(void);
/* Store memfd with systemd, replacing what was stored (if under systemd). */
void handoff_store(int memfd);

#endif /* PVCLOCK_HELPER_HANDOFF_H */
