/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd's service protocol, the parts the helper needs.  See systemd.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "systemd.h"

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3

int sd_notify_fd(const char *msg, int fd)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
    struct msghdr mh = {
        .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1,
    };
    ssize_t sent;
    int sock;

    if (!path || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(sa.sun_path)) {
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (path[0] == '@') {
        sa.sun_path[0] = 0;     /* an abstract socket */
    }
    mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                 strlen(path));
    if (fd >= 0) {
        struct cmsghdr *c;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        return -1;
    }
    sent = sendmsg(sock, &mh, MSG_NOSIGNAL);
    close(sock);
    return sent == (ssize_t)iov.iov_len ? 0 : -1;
}

int sd_listen_fd_named(const char *name)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    size_t len = strlen(name);
    long n;
    int found = -1;

    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid()) {
        return -1;
    }
    n = strtol(fds, NULL, 10);
    for (long i = 0; i < n && i < 1024; i++) {
        int fd = LISTEN_FDS_START + (int)i;

        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (found < 0 && names && !strncmp(names, name, len) &&
            (names[len] == ':' || names[len] == 0)) {
            found = fd;
        }
        if (names) {
            names = strchr(names, ':');
            names = names ? names + 1 : NULL;
        }
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return found;
}
