/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-pages: the handoff of the pages memfd over pvclock-helper's
 * unix socket (struct pvcp_handoff in the ABI header), both ends, once:
 * the helper sends one message, the header with the descriptor; QEMU's
 * device and libpvclock receive it.  What a receiver then requires of
 * the header and the descriptor (ABI version, size, seals) is its own
 * to check and to report.
 */
#ifndef PVCLOCK_HANDOFF_H
#define PVCLOCK_HANDOFF_H

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hw/pvclock/pvclock-pages-abi.h"

/* Control space for one descriptor, aligned as a cmsghdr must be. */
union pvcp_handoff_ctl {
    struct cmsghdr hdr;
    char buf[CMSG_SPACE(sizeof(int))];
};

static inline void pvcp_handoff_msghdr(struct msghdr *mh, struct iovec *iov,
                                       struct pvcp_handoff *msg,
                                       union pvcp_handoff_ctl *ctl)
{
    iov->iov_base = msg;
    iov->iov_len = sizeof(*msg);
    memset(mh, 0, sizeof(*mh));
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;
    mh->msg_control = ctl->buf;
    mh->msg_controllen = sizeof(ctl->buf);
}

/* The helper's side: this header and descriptor fd, without blocking. */
static inline int pvcp_handoff_send(int conn, int fd)
{
    struct pvcp_handoff msg = {
        .magic = PVCP_HANDOFF_MAGIC,
        .abi_major = PVCP_ABI_MAJOR,
        .abi_minor = PVCP_ABI_MINOR,
        .size = PVCP_FILE_SIZE,
    };
    union pvcp_handoff_ctl ctl;
    struct cmsghdr *c;
    struct msghdr mh;
    struct iovec iov;

    memset(&ctl, 0, sizeof(ctl));
    pvcp_handoff_msghdr(&mh, &iov, &msg, &ctl);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(conn, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) ==
           (ssize_t)sizeof(msg) ? 0 : -1;
}

/* CLOCK_MONOTONIC in ms, for a bounded wait. */
static inline int64_t pvcp_handoff_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * poll() for up to timeout_ms in all: a signal (EINTR) does not cut the
 * wait short, it goes on for what is left.
 */
static inline int pvcp_handoff_wait(struct pollfd *pfd, int timeout_ms)
{
    int64_t end = pvcp_handoff_now_ms() + timeout_ms, left;
    int r;

    for (;;) {
        r = poll(pfd, 1, timeout_ms);
        if (r >= 0 || errno != EINTR) {
            return r;
        }
        left = end - pvcp_handoff_now_ms();
        if (left <= 0) {
            return 0;
        }
        timeout_ms = (int)left;
    }
}

/*
 * A receiver's side: wait at most timeout_ms for the message, then take
 * it.  Returns the descriptor with *msg filled in, or a negative errno:
 * -ETIMEDOUT (no answer), -EPROTO (not one whole header with one
 * descriptor: not pvclock-helper, or a truncated message) or recvmsg()'s
 * own error.  The descriptor is close-on-exec.
 */
static inline int pvcp_handoff_receive(int sock, int timeout_ms,
                                       struct pvcp_handoff *msg)
{
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    union pvcp_handoff_ctl ctl;
    struct cmsghdr *c;
    struct msghdr mh;
    struct iovec iov;
    ssize_t got;
    int fd = -1;

    if (pvcp_handoff_wait(&pfd, timeout_ms) != 1) {
        return -ETIMEDOUT;
    }
    pvcp_handoff_msghdr(&mh, &iov, msg, &ctl);
    got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (got < 0) {
        return -errno;
    }
    c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    if (got != (ssize_t)sizeof(*msg) || fd < 0 ||
        (mh.msg_flags & MSG_CTRUNC)) {
        if (fd >= 0) {
            close(fd);
        }
        return -EPROTO;
    }
    return fd;
}

#endif /* PVCLOCK_HANDOFF_H */
