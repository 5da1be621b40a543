/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handing the pages memfd over (pvclock-helper --socket): a unix socket
 * where every client that connects gets a read-only descriptor of it,
 * with a struct pvcp_handoff header (the ABI header says the protocol).
 * A thread answers, so clients wait for no poll round of the helper and
 * an idle helper makes no extra syscalls.  The client side is
 * libpvclock's pvclock_pages_fd() (and the QEMU device's own).
 *
 * A descriptor sent and not yet received stays charged to the helper's
 * user against its RLIMIT_NOFILE (the kernel's unix_inflight) until the
 * client reads it or closes its socket; nothing the helper does after
 * the send releases it, closing its end included.  Past the limit every
 * send fails (ETOOMANYREFS).  So the helper keeps each connection it
 * answered, shut down for writing, until the kernel says the message
 * left (SIOCOUTQ 0: received, or dropped with the client's socket), and
 * bounds what is outstanding: HANDOFF_PER_UID per client user
 * (SO_PEERCRED), handoff.max_pending in all.  A user over its bound gets
 * a refusal (the connection closed without a message); other users are
 * served as before.
 */
#ifndef PVCLOCK_HELPER_HANDOFF_H
#define PVCLOCK_HELPER_HANDOFF_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Descriptors one client user may hold unreceived before it is refused. */
#define HANDOFF_PER_UID         64
/* Descriptors the helper keeps for itself out of RLIMIT_NOFILE. */
#define HANDOFF_RESERVE_FDS     64
/* Outstanding handoffs in all, whatever the limit (each costs 2 of it). */
#define HANDOFF_MAX_PENDING     4096

/* A connection answered whose message the client has not taken yet. */
struct handoff_pending {
    int conn;
    uid_t uid;
    bool hup;                   /* client shut down but holds it: no poll */
};

struct handoff {
    int listen_fd;
    int ro_fd;                  /* what clients get: the memfd, read-only */
    char *path;
    pthread_t thread;
    bool running;
    volatile uint64_t served;   /* clients answered */
    volatile uint64_t refused;  /* clients over their bound */
    struct handoff_pending *pending;
    size_t npending;
    size_t max_pending;         /* from RLIMIT_NOFILE at start */
    struct pollfd *pfd;         /* the thread's poll set */
    int64_t refusal_logged_s;   /* CLOCK_MONOTONIC s of the last log */
};

/*
 * Listen on path (replacing a stale socket there, refusing one that
 * another helper answers on) and serve memfd.  The socket is mode 0666:
 * what it hands out is read-only and the same for everyone, and the
 * bounds above keep one user from starving the others.
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
