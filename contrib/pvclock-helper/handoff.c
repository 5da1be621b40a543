/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handing the pages memfd over.  See handoff.h.
 */
#define _GNU_SOURCE             /* accept4() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "handoff.h"
#include "log.h"
#include "pages.h"
#include "systemd.h"
#include "pvclock-pages/pvclock-handoff.h"

#define STORE_NAME "pvclock-pages"

/*
 * Has the client taken (or dropped) pending handoff i?  The message's
 * buffer is charged to the helper's socket until then (SIOCOUTQ), and
 * with it the descriptor to the helper's user.
 */
static bool settled(const struct handoff_pending *p)
{
    int unsent;

    return ioctl(p->conn, SIOCOUTQ, &unsent) < 0 || unsent == 0;
}

static void drop_pending(struct handoff *h, size_t i)
{
    close(h->pending[i].conn);
    h->pending[i] = h->pending[--h->npending];
}

/* Forget every handoff whose client has taken or dropped its message. */
static void reap(struct handoff *h)
{
    size_t i = 0;

    while (i < h->npending) {
        if (settled(&h->pending[i])) {
            drop_pending(h, i);
        } else {
            i++;
        }
    }
}

static size_t pending_of(const struct handoff *h, uid_t uid)
{
    size_t i, n = 0;

    for (i = 0; i < h->npending; i++) {
        n += h->pending[i].uid == uid;
    }
    return n;
}

/* A client over its bound: close without a message, log now and then. */
static void refuse(struct handoff *h, int conn, uid_t uid, bool all)
{
    struct timespec now;

    close(conn);
    __atomic_add_fetch(&h->refused, 1, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - h->refusal_logged_s >= 10 || !h->refusal_logged_s) {
        h->refusal_logged_s = now.tv_sec;
        if (all) {
            helper_log("refusing a client of uid %u: %zu descriptors sent "
                       "are not received yet, the most this helper keeps "
                       "outstanding (raise LimitNOFILE=)", (unsigned)uid,
                       h->npending);
        } else {
            helper_log("refusing a client of uid %u: that user holds %d "
                       "descriptors sent and not received (clients that "
                       "connect and do not read)", (unsigned)uid,
                       HANDOFF_PER_UID);
        }
    }
}

/* Answer one client, or refuse it if its user (or everyone) is over. */
static void answer(struct handoff *h, int conn)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    bool all;

    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        close(conn);
        return;
    }
    reap(h);
    all = h->npending >= h->max_pending;
    if (all || pending_of(h, cred.uid) >= HANDOFF_PER_UID) {
        refuse(h, conn, cred.uid, all);
        return;
    }
    if (pvcp_handoff_send(conn, h->ro_fd) < 0) {
        close(conn);
        return;
    }
    __atomic_add_fetch(&h->served, 1, __ATOMIC_RELAXED);
    /* the client sees the end after the message, as before */
    shutdown(conn, SHUT_WR);
    h->pending[h->npending++] = (struct handoff_pending) {
        .conn = conn, .uid = cred.uid,
    };
}

/*
 * The poll set: the listening socket, then each pending connection
 * (events 0: POLLHUP when the client is gone) unless it hung up already.
 * Returns how many entries.
 */
static nfds_t poll_set(struct handoff *h)
{
    nfds_t n = 1;
    size_t i;

    h->pfd[0] = (struct pollfd) { .fd = h->listen_fd, .events = POLLIN };
    for (i = 0; i < h->npending; i++) {
        if (!h->pending[i].hup) {
            h->pfd[n++] = (struct pollfd) { .fd = h->pending[i].conn };
        }
    }
    return n;
}

/* Pending connections whose client closed: released now, not at the next. */
static void hung_up(struct handoff *h, nfds_t n)
{
    size_t i;
    nfds_t k;

    for (k = 1; k < n; k++) {
        if (!h->pfd[k].revents) {
            continue;
        }
        for (i = 0; i < h->npending; i++) {
            if (h->pending[i].conn == h->pfd[k].fd) {
                break;
            }
        }
        if (i == h->npending) {
            continue;
        }
        if (settled(&h->pending[i])) {
            drop_pending(h, i);
        } else {
            /* shut down but still holding it: counted, not polled */
            h->pending[i].hup = true;
        }
    }
}

static void *serve(void *opaque)
{
    struct handoff *h = opaque;

    for (;;) {
        nfds_t n = poll_set(h);
        int conn;

        if (poll(h->pfd, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        hung_up(h, n);
        if (!h->pfd[0].revents) {
            continue;
        }
        conn = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN ||
                errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                if (errno == EMFILE || errno == ENFILE ||
                    errno == ENOBUFS || errno == ENOMEM) {
                    reap(h);
                    usleep(10000);      /* out of something: not a spin */
                }
                continue;
            }
            break;                      /* handoff_stop() shut it down */
        }
        answer(h, conn);
    }
    return NULL;
}

/*
 * How many handoffs may be outstanding: each holds a descriptor of the
 * helper's (the connection) and one in flight, both against
 * RLIMIT_NOFILE.
 */
static size_t max_pending(void)
{
    struct rlimit rl;
    rlim_t room;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        return HANDOFF_MAX_PENDING;
    }
    room = rl.rlim_cur > 2 * HANDOFF_RESERVE_FDS ?
           (rl.rlim_cur - HANDOFF_RESERVE_FDS) / 2 : HANDOFF_RESERVE_FDS / 2;
    return room < HANDOFF_MAX_PENDING ? (size_t)room : HANDOFF_MAX_PENDING;
}

/* Is a helper answering on path?  (Then it is not a stale socket.) */
static bool answered(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool yes;

    if (fd < 0) {
        return false;
    }
    yes = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return yes;
}

int handoff_start(struct handoff *h, const char *path, int memfd, char *err,
                  size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char self[64];
    struct stat st;

    memset(h, 0, sizeof(*h));
    h->listen_fd = h->ro_fd = -1;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path %s is longer than %zu bytes",
                 path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    /*
     * Clients get a read-only open of the memfd: they can map it shared
     * and read-only, not write it (docs/security.md says what that does
     * and does not stop).
     */
    snprintf(self, sizeof(self), "/proc/self/fd/%d", memfd);
    h->ro_fd = open(self, O_RDONLY | O_CLOEXEC);
    if (h->ro_fd < 0) {
        snprintf(err, errlen, "cannot open the pages memfd read-only "
                 "through %s: %s (is /proc mounted?)", self,
                 strerror(errno));
        return -1;
    }
    if (pages_mkdir_parents(path) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s",
                 path, strerror(errno));
        goto fail;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket: choose "
                     "another --socket path", path);
            goto fail;
        }
        if (answered(&sa)) {
            snprintf(err, errlen, "another pvclock-helper serves %s: only "
                     "one helper may publish there", path);
            goto fail;
        }
        unlink(path);           /* left by a helper that died */
    }
    h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->listen_fd < 0 ||
        bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0666) < 0 || listen(h->listen_fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path,
                 strerror(errno));
        goto fail;
    }
    h->path = strdup(path);
    h->max_pending = max_pending();
    h->pending = calloc(h->max_pending, sizeof(*h->pending));
    h->pfd = calloc(h->max_pending + 1, sizeof(*h->pfd));
    if (!h->pending || !h->pfd) {
        snprintf(err, errlen, "out of memory for %zu connections",
                 h->max_pending);
        goto fail;
    }
    if (pthread_create(&h->thread, NULL, serve, h) != 0) {
        snprintf(err, errlen, "cannot start the thread that serves %s",
                 path);
        goto fail;
    }
    h->running = true;
    return 0;

fail:
    handoff_stop(h);
    return -1;
}

void handoff_stop(struct handoff *h)
{
    if (h->running) {
        /* wakes accept() with EINVAL */
        shutdown(h->listen_fd, SHUT_RDWR);
        pthread_join(h->thread, NULL);
        h->running = false;
    }
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
        if (h->path) {
            unlink(h->path);
        }
    }
    if (h->ro_fd >= 0) {
        close(h->ro_fd);
    }
    while (h->npending) {
        drop_pending(h, 0);
    }
    free(h->pending);
    free(h->pfd);
    free(h->path);
    memset(h, 0, sizeof(*h));
    h->listen_fd = h->ro_fd = -1;
}

int handoff_take_stored(void)
{
    return sd_listen_fd_named(STORE_NAME);
}

void handoff_store(int memfd)
{
    /* one memfd under the name: a new one replaces what was kept */
    sd_notify_fd("FDSTOREREMOVE=1\nFDNAME=" STORE_NAME, -1);
    sd_notify_fd("FDSTORE=1\nFDNAME=" STORE_NAME, memfd);
}
