/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * What pvclock-guest's commands share: the parsed options, the command
 * table main() dispatches on, the five clocks and the error names of the
 * serial protocol.
 *
 * The program is built twice from these files: pvclock-guest, with the
 * commands users run (commands.c), and the test build
 * pvclock-guest-test, whose table (tests/guest/tools/commands.c) adds
 * what only tests need: the BAR hammer and the shared-memory exchange.
 */
#ifndef PVCLOCK_GUEST_H
#define PVCLOCK_GUEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pvclock.h"

/* Options, given before or after the command. */
struct guest_opts {
    const char *resource;       /* --resource: the BAR, NULL to find it */
    const char *tty;            /* --tty: serve's serial line */
    const char *socket;         /* --socket: chronyd's SOCK refclock */
    long interval_ms;           /* --interval-ms: chrony's sample period */
    int watch;                  /* --watch: serve with the clock watcher */
    const char *clock;          /* --clock: device, system or a PHC path */
    long seconds;               /* --seconds: how long offset measures */
    const char *shm;            /* --shm: clockbound's segment */
    long check_ms;              /* --check-ms: clockbound without a driver */
    const char *vmclock;        /* --vmclock: clockbound's marker source */
    int set_clock;              /* --set-clock: clockbound steps the clock */
};

/*
 * A --clock (clock.c): the device's REALTIME, the system's, a PHC, or
 * a VMClock page (/dev/vmclockN of Linux's ptp_vmclock, read through
 * its mapping and turned into UTC with the page's TAI offset).
 */
struct guest_clock {
    const char *name;           /* "device", "system" or the path */
    int device;                 /* read through the device (libpvclock) */
    clockid_t id;               /* otherwise: CLOCK_REALTIME or the PHC's */
    int fd;                     /* the PHC's, or -1 */
    const volatile void *vmclock;   /* the VMClock page, or NULL */
};

/* NULL is "device".  0, or -1 after a message saying what is wrong. */
int guest_clock_open(const char *spec, struct guest_clock *gc);
/* PVCLOCK_OK, the device's error, or PVCLOCK_ECLOCK (clock_gettime failed) */
int guest_clock_read(struct pvclock *pc, const struct guest_clock *gc,
                     struct timespec *ts);
void guest_clock_close(struct guest_clock *gc);

/*
 * A clock against the host's REALTIME: the clock read between two
 * counter reads, the device's time at each (pvclock_gettime_at()), the
 * try with the narrowest bracket of GUEST_CLOCK_TRIES in a row (the
 * first after a sleep is slow under TCG: cold TLB and code).  offset is
 * the clock minus the bracket's midpoint; outside counts every try whose
 * clock lay outside its bracket, not only the best one's.
 */
#define GUEST_CLOCK_TRIES 5

struct guest_clock_sample {
    struct timespec clock;      /* the clock's reading */
    int64_t offset;             /* clock - the bracket's midpoint, ns */
    int64_t bracket;            /* host REALTIME at the second read - first */
    int outside;                /* tries with the clock outside them */
    int64_t excursion;          /* the farthest outside one of them, ns */
};

/* PVCLOCK_OK, or the last try's error if none read. */
int guest_clock_sample(struct pvclock *pc, const struct guest_clock *gc,
                       struct guest_clock_sample *s);

struct guest_command {
    const char *name;
    const char *usage;          /* its usage line, after the name */
    const char *help;           /* what it does and its options */
    int needs_tty;              /* refused without --tty */
    /* exit status: 0 ok, 1 failure, 2 bad usage */
    int (*run)(struct pvclock *pc, const struct guest_opts *o);
};

/* This build's commands, NULL-terminated (commands.c). */
extern const struct guest_command *const guest_commands[];

extern const struct guest_command show_command;
extern const struct guest_command serve_command;
extern const struct guest_command chrony_command;
extern const struct guest_command offset_command;
extern const struct guest_command clockbound_command;

/* PVCLOCK_* as the serial protocol spells it ("ok", "ESTALE", ...). */
const char *guest_err_name(int err);

int64_t guest_ts_ns(const struct timespec *ts);

/* show: status, every clock and every page; 0 if all read. */
int show_run(struct pvclock *pc, const struct guest_opts *o);

/*
 * A thread serve runs beside its answers and counts in the watcher's
 * reply: the test build's BAR hammer (tests/guest/tools/hammer.c).
 */
struct serve_sidekick {
    int (*start)(const struct guest_opts *o);   /* 0, or -1 after a message */
    void (*stop)(void);                 /* join it and print what it did */
    unsigned long long (*count)(void);  /* its work so far */
};

/* The serial line, raw at 115200; -1 after a message (serve.c). */
int serve_open_tty(const char *tty);

/* serve, with a sidekick (NULL: none). */
int serve_with(struct pvclock *pc, const struct guest_opts *o,
               const struct serve_sidekick *sk);

/* The clock watcher of serve --watch (watch.c). */
int watch_start(const struct pvclock *pc);
void watch_summary(char *buf, size_t len);
/* stop it, print its summary; 1 if a clock ever stepped back */
int watch_stop(void);

#endif /* PVCLOCK_GUEST_H */
