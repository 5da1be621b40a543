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

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "handoff.h"
#include "pages.h"
#include "systemd.h"
#include "hw/pvclock/pvclock-handoff.h"

#define STORE_NAME "pvclock-pages"

static void *serve(void *opaque)
{
    struct handoff *h = opaque;

    for (;;) {
        int conn = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (errno != EINTR && errno != ECONNABORTED) {
                    usleep(10000);      /* out of something: not a spin */
                }
                continue;
            }
            break;                      /* handoff_stop() shut it down */
        }
        if (pvcp_handoff_send(conn, h->ro_fd) == 0) {
            __atomic_add_fetch(&h->served, 1, __ATOMIC_RELAXED);
        }
        close(conn);
    }
    return NULL;
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
