/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stress tests' scaffolding: one writer thread against reader threads
 * for a while.
 */
#ifndef PVCLOCK_TEST_RACE_H
#define PVCLOCK_TEST_RACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define RACE_MAX_READERS 8

/*
 * Run writer and n readers (at most RACE_MAX_READERS) for `seconds`;
 * then set *stop, which the threads poll, and join them all.
 */
static inline void race_threads(void *(*writer)(void *),
                                void *(*reader)(void *), int n,
                                int seconds, _Atomic int *stop)
{
    pthread_t w, r[RACE_MAX_READERS];

    if (n > RACE_MAX_READERS) {
        abort();
    }
    atomic_store(stop, 0);
    pthread_create(&w, NULL, writer, NULL);
    for (int i = 0; i < n; i++) {
        pthread_create(&r[i], NULL, reader, NULL);
    }
    sleep(seconds);
    atomic_store(stop, 1);
    pthread_join(w, NULL);
    for (int i = 0; i < n; i++) {
        pthread_join(r[i], NULL);
    }
}

#endif /* PVCLOCK_TEST_RACE_H */
