/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Steering the synthetic host of --simulate: its parameters come from
 * the option itself (key=value,...) or from a control file (@FILE) that
 * tests and the migration harness rewrite while the helper runs; the
 * helper re-reads the file after each wait when its mtime has changed.
 */
#ifndef PVCLOCK_HELPER_CONTROL_H
#define PVCLOCK_HELPER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sim.h"

struct sim_control {
    struct sim_host host;
    struct sim_params params;   /* the parameters in force */
    const char *path;           /* --simulate @FILE, or NULL */
    struct timespec mtime;      /* path's when it last parsed */
};

/*
 * Read c->path if its mtime is not the one last parsed, over the
 * parameters in p.  Returns 1 with p updated, 0 if the file is
 * unchanged, -1 with err naming the file or the parameter at fault
 * (p may then be half-updated).
 */
int control_reload(struct sim_control *c, struct sim_params *p, char *err,
                   size_t errlen);

/*
 * Start the synthetic host from --simulate's SPEC; real_hz is this
 * host's TSC frequency.  Returns 0, or -1 once the error is logged
 * (a usage error: exit status 1).
 */
int control_start(struct sim_control *c, const char *spec, uint64_t real_hz);

/*
 * After each wait: take a changed control file and move the synthetic
 * host on to now (its leap second included).  A file or parameter that
 * cannot apply is logged and the previous parameters stay.  Returns true
 * if the synthetic host's lines changed.
 */
bool control_step(struct sim_control *c, bool verbose);

#endif /* PVCLOCK_HELPER_CONTROL_H */
