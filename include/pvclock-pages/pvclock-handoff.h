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

#include "pvclock-pages/pvclock-pages-abi.h"

/*
 * Control space, aligned as a cmsghdr must be: the sender's one
 * descriptor, and on the receiver's side room for a second, so that a
 * peer sending two is told apart from one sending one.  The kernel
 * installs in the receiver only the descriptors that fit and drops the
 * rest (with MSG_CTRUNC); every one installed is the receiver's to close.
 */
#define PVCP_HANDOFF_CTL_FDS 2

union pvcp_handoff_ctl {
    struct cmsghdr hdr;
    char buf[CMSG_SPACE(sizeof(int) * PVCP_HANDOFF_CTL_FDS)];
};

static inline void pvcp_handoff_msghdr(struct msghdr *mh, struct iovec *iov,
                                       struct pvcp_handoff *msg,
                                       union pvcp_handoff_ctl *ctl,
                                       size_t ctl_len)
{
    iov->iov_base = msg;
    iov->iov_len = sizeof(*msg);
    memset(mh, 0, sizeof(*mh));
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;
    mh->msg_control = ctl->buf;
    mh->msg_controllen = ctl_len;
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
    pvcp_handoff_msghdr(&mh, &iov, &msg, &ctl, CMSG_SPACE(sizeof(int)));
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
 * Every descriptor the message brought: the first is kept in *fd, the
 * others closed at once.  Returns how many there were.
 */
static inline int pvcp_handoff_take_fds(struct msghdr *mh, int *fd)
{
    struct cmsghdr *c;
    size_t i, count;
    int n = 0, one;

    *fd = -1;
    for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < count; i++) {
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (n++ == 0) {
                *fd = one;
            } else {
                close(one);
            }
        }
    }
    return n;
}

/*
 * A receiver's side: wait at most timeout_ms for the message, then take
 * it.  Returns the descriptor with *msg filled in, or a negative errno:
 *   -ETIMEDOUT     no answer
 *   -ECONNREFUSED  closed without a message: a helper refusing a user
 *                  that holds too many descriptors it has not received
 *   -EPROTO        not one whole header: not pvclock-helper, or cut short
 *   -EBADMSG       a header but no descriptor
 *   -E2BIG         more than one descriptor
 *   -EMSGSIZE      more control data than fits (MSG_CTRUNC): more
 *                  descriptors than the one expected, or other messages
 * or recvmsg()'s own error (pvcp_handoff_strerror() says which).  Any
 * descriptor the peer sent is closed unless it is the one returned, so
 * that a peer cannot fill the receiver's descriptor table however often
 * it is asked.  The descriptor is close-on-exec.
 */
static inline int pvcp_handoff_receive(int sock, int timeout_ms,
                                       struct pvcp_handoff *msg)
{
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    union pvcp_handoff_ctl ctl;
    struct msghdr mh;
    struct iovec iov;
    ssize_t got;
    int fd, n, err = 0;

    if (pvcp_handoff_wait(&pfd, timeout_ms) != 1) {
        return -ETIMEDOUT;
    }
    pvcp_handoff_msghdr(&mh, &iov, msg, &ctl, sizeof(ctl.buf));
    got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (got < 0) {
        return -errno;
    }
    n = pvcp_handoff_take_fds(&mh, &fd);
    if (got == 0 && n == 0) {
        err = -ECONNREFUSED;
    } else if (got != (ssize_t)sizeof(*msg)) {
        err = -EPROTO;
    } else if (mh.msg_flags & MSG_CTRUNC) {
        err = -EMSGSIZE;
    } else if (n == 0) {
        err = -EBADMSG;
    } else if (n > 1) {
        err = -E2BIG;
    }
    if (err && fd >= 0) {
        close(fd);
    }
    return err ? err : fd;
}

/* What pvcp_handoff_receive()'s error err means, as the end of a sentence. */
static inline const char *pvcp_handoff_strerror(int err)
{
    switch (err) {
    case -ETIMEDOUT:
        return "did not answer in time";
    case -ECONNREFUSED:
        return "closed the connection without a message (a pvclock-helper "
               "refuses a user holding too many descriptors it has not "
               "received; see its log)";
    case -EPROTO:
        return "sent no whole pvclock-helper header";
    case -EBADMSG:
        return "sent a header but no descriptor";
    case -E2BIG:
        return "sent more than one descriptor (all closed)";
    case -EMSGSIZE:
        return "sent more control data than one descriptor (truncated, "
               "all closed)";
    default:
        return strerror(-err);
    }
}

#endif /* PVCLOCK_HANDOFF_H */
