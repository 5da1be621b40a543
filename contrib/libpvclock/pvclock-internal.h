/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * libpvclock's handle, private to the library: programs see only
 * struct pvclock's name, so this can change without an ABI break.
 */
#ifndef LIBPVCLOCK_INTERNAL_H
#define LIBPVCLOCK_INTERNAL_H

#include "pvclock.h"
#include "pvclock-pages/pvclock-pages-cpu.h"
#include "pvclock-pages/pvclock-pages-calc.h"

struct pvclock {
    const volatile struct pvcp_host_page *host[PVCP_HOST_PAGES];
    const volatile struct pvcp_offset_page *offset; /* NULL on the host */
    const volatile unsigned char *live;     /* the BAR's live page, or NULL */
    void *map;              /* what the library mapped, NULL if the caller's */
    size_t map_len;
    int page;               /* host page chosen, -1: the recommended one */
    int use_live;           /* read the live page when it can answer */
    int mapping;            /* PVCLOCK_MAP_*: what the pages came through */
    /* the opener's time namespace offsets, per PVCP_MONO_* (open.c) */
    struct pvcp_timens_offset timens[PVCP_MONO_CLOCKS];
};

/* What an error bound needs beside a reading (read.c for bound.c). */
struct pvclock_bound_words {
    uint64_t age;           /* host counter since the last heartbeat */
    uint64_t counter_hz;    /* of the page read (0: unknown) */
    uint64_t maxerror_ns;   /* the host's adjtimex maxerror */
    uint64_t host_flags;    /* PVCP_HOST_F_* (UNSYNC: STA_UNSYNC) */
    uint32_t counter_mode;  /* PVCP_COUNTER_* of the page read */
};
int pvclock_read_bounded(const struct pvclock *pc, clockid_t clk, int at,
                         uint64_t counter, struct pvcp_time *t,
                         struct pvclock_bound_words *bw);

/* How this CPU orders a counter read; set once, when the library loads. */
extern enum pvcp_counter_order pvclock_counter_order;

#endif /* LIBPVCLOCK_INTERNAL_H */
