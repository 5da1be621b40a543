/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The handoff receiver (pvcp_handoff_receive(), which QEMU's device and
 * libpvclock's pvclock_pages_fd() share) against a peer that is not
 * pvclock-helper (issue 32, finding 4).  The peer on the socket sends
 * the helper's header with 0, 1, 2, 3 or 8 descriptors, or one
 * descriptor with a header cut short.  Only the one-descriptor message
 * is taken; every other is refused with its own errno, and the
 * receiver's descriptor table (/proc/self/fd) is the same size after as
 * before: whatever the peer sent was closed.  QEMU's watch asks once a
 * second while the pages are missing, so a leak here is a leak a peer
 * can repeat until EMFILE.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-abi.h"
#include "tap.h"

#define ROUNDS  10              /* receives per case */
#define MAX_FDS 8

/* Descriptors open in this process now. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d) {
        perror("/proc/self/fd");
        exit(2);
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1;               /* not the directory's own */
}

/* What pvclock-helper hands out: a memfd of the pages' size, sealed. */
static int sealed_memfd(void)
{
    int fd = memfd_create("pvclock-test-pages", MFD_CLOEXEC |
                          MFD_ALLOW_SEALING);

    if (fd < 0 || ftruncate(fd, PVCP_FILE_SIZE) ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
        perror("memfd");
        exit(2);
    }
    return fd;
}

/*
 * The peer, in a child process (so that its descriptors are not the
 * receiver's): accept one connection, send the header (bytes of it)
 * with nfds copies of a sealed memfd, wait for the receiver to hang up.
 * With bytes 0 it closes at once, as the helper refuses a client.
 */
static void peer(int lfd, int nfds, size_t bytes)
{
    struct pvcp_handoff msg = {
        .magic = PVCP_HANDOFF_MAGIC,
        .abi_major = PVCP_ABI_MAJOR,
        .abi_minor = PVCP_ABI_MINOR,
        .size = PVCP_FILE_SIZE,
    };
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    } ctl;
    struct iovec iov = { &msg, bytes };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    int conn = accept(lfd, NULL, NULL), mem = sealed_memfd(), fds[MAX_FDS];
    char c;

    if (conn >= 0 && !bytes) {
        close(conn);            /* a helper's refusal: no message at all */
        _exit(0);
    }
    memset(&ctl, 0, sizeof(ctl));
    if (nfds) {
        for (int i = 0; i < nfds; i++) {
            fds[i] = mem;
        }
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        ctl.hdr.cmsg_level = SOL_SOCKET;
        ctl.hdr.cmsg_type = SCM_RIGHTS;
        ctl.hdr.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(&ctl.hdr), fds, sizeof(int) * nfds);
    }
    if (conn < 0 || sendmsg(conn, &mh, MSG_NOSIGNAL) != (ssize_t)bytes) {
        perror("peer sendmsg");
        _exit(2);
    }
    while (read(conn, &c, 1) > 0) {
    }
    _exit(0);
}

/*
 * ROUNDS receives from a peer sending nfds descriptors with bytes of the
 * header.  Returns how many descriptors the receiver has more than
 * before, with the last errno in *err (0: a descriptor was taken each
 * time, and closed here).
 */
static int receive_from(const char *path, int lfd, int nfds, size_t bytes,
                        int *err)
{
    int before = open_fds();

    *err = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pid_t pid = fork();
        int fd, status;

        if (pid == 0) {
            peer(lfd, nfds, bytes);
        }
        fd = pvclock_pages_fd(path, 2000);
        *err = fd < 0 ? errno : 0;
        if (fd >= 0) {
            close(fd);
        }
        waitpid(pid, &status, 0);
    }
    return open_fds() - before;
}

int main(void)
{
    static const struct {
        int nfds;
        size_t bytes;
        int err;
        const char *what;
    } cases[] = {
        { 0, sizeof(struct pvcp_handoff), EBADMSG, "no descriptor" },
        { 1, sizeof(struct pvcp_handoff), 0, "one descriptor (taken)" },
        { 2, sizeof(struct pvcp_handoff), E2BIG, "two descriptors" },
        { 3, sizeof(struct pvcp_handoff), EMSGSIZE,
          "three descriptors (control message truncated)" },
        { MAX_FDS, sizeof(struct pvcp_handoff), EMSGSIZE,
          "eight descriptors (control message truncated)" },
        { 1, 8, EPROTO, "one descriptor, header cut short" },
        { 0, 0, ECONNREFUSED, "closed without a message (a refusal)" },
    };
    char path[] = "/tmp/pvclock-test-handoff-fds-XXXXXX";
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lfd, tmp = mkstemp(path);

    if (tmp < 0) {
        perror("mkstemp");
        return 2;
    }
    close(tmp);
    unlink(path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(lfd, 8)) {
        perror("listen");
        return 2;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int err, leaked = receive_from(path, lfd, cases[i].nfds,
                                       cases[i].bytes, &err);

        tap_ok(leaked == 0 && err == cases[i].err,
               "%s, %d times: %d descriptors left open (0), errno %d %s "
               "(%d %s)", cases[i].what, ROUNDS, leaked, err,
               err ? strerror(err) : "", cases[i].err,
               cases[i].err ? strerror(cases[i].err) : "");
    }
    close(lfd);
    unlink(path);
    return tap_done();
}
