/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The synthetic host's controls.  See control.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>

#include "control.h"
#include "log.h"

int control_reload(struct sim_control *c, struct sim_params *p, char *err,
                   size_t errlen)
{
    struct stat st;
    char buf[4096];
    FILE *f;
    size_t n;

    if (stat(c->path, &st) < 0) {
        snprintf(err, errlen, "simulate control file %s: %s", c->path,
                 strerror(errno));
        return -1;
    }
    if (st.st_mtim.tv_sec == c->mtime.tv_sec &&
        st.st_mtim.tv_nsec == c->mtime.tv_nsec) {
        return 0;
    }
    f = fopen(c->path, "re");
    if (!f) {
        snprintf(err, errlen, "simulate control file %s: %s", c->path,
                 strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (sim_parse(p, buf, err, errlen) < 0) {
        return -1;
    }
    c->mtime = st.st_mtim;
    return 1;
}

int control_start(struct sim_control *c, const char *spec, uint64_t real_hz)
{
    char err[VVAR_ERR_LEN];

    sim_defaults(&c->params);
    if (spec[0] == '@') {
        c->path = spec + 1;
        if (control_reload(c, &c->params, err, sizeof(err)) < 0) {
            helper_log("%s", err);
            return -1;
        }
    } else if (sim_parse(&c->params, spec, err, sizeof(err)) < 0) {
        helper_log("--simulate: %s", err);
        return -1;
    }
    if (sim_start(&c->host, &c->params, real_hz, err, sizeof(err)) < 0) {
        helper_log("--simulate: %s", err);
        return -1;
    }
    return 0;
}

bool control_step(struct sim_control *c, bool verbose)
{
    struct sim_params np = c->params;
    char err[VVAR_ERR_LEN];
    int got = 0, r;

    if (c->path) {
        got = control_reload(c, &np, err, sizeof(err));
    }
    if (got < 0) {
        helper_log("%s (keeping the previous parameters)", err);
        /* do not retry a broken file every round */
        c->mtime.tv_sec = -1;
        got = 0;
    }
    r = sim_update(&c->host, got ? &np : &c->params, vvar_read_tsc(),
                   err, sizeof(err));
    if (r < 0) {
        helper_log("%s (keeping the previous parameters)", err);
        return false;
    }
    if (got) {
        c->params = np;
    }
    if (r > 0 && verbose) {
        helper_log("simulated host changed (%" PRIu64 " changes)",
                   c->host.changes);
    }
    return r > 0;
}
