/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The smallest libpvclock program: print the host's CLOCK_REALTIME.
 * In a guest with -device pvclock-pages it reads the device's BAR; on a
 * host, give it the helper's pages file:
 *
 *   cc example.c $(pkg-config --cflags --libs libpvclock) -o example
 *   ./example                       # in a guest
 *   ./example /run/pvclock/pages    # on the host
 */
#include <stdio.h>
#include <time.h>

#include <pvclock.h>

int main(int argc, char **argv)
{
    struct pvclock *pc;
    struct timespec ts;
    int err = argc > 1 ? pvclock_open_host(&pc, argv[1])
                       : pvclock_open_guest(&pc, NULL);

    if (err == PVCLOCK_OK) {
        err = pvclock_gettime(pc, CLOCK_REALTIME, &ts);
    }
    if (err != PVCLOCK_OK && err != PVCLOCK_ESTALE) {
        fprintf(stderr, "example: %s\n", pvclock_strerror(err));
        return 1;
    }
    printf("host CLOCK_REALTIME %lld.%09ld%s\n", (long long)ts.tv_sec,
           ts.tv_nsec, err == PVCLOCK_ESTALE ? " (stale)" : "");
    pvclock_close(pc);
    return 0;
}
