/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's poll loop: publish what is due, wait (the pacer, or a
 * plain sleep for a synthetic host), take the host's next lines; until
 * SIGTERM, SIGINT or SIGHUP, or after one round with --once.  Pages that
 * another process damaged are repaired at the start of every round.
 */
#ifndef PVCLOCK_HELPER_LOOP_H
#define PVCLOCK_HELPER_LOOP_H

#include "helper.h"

/*
 * Run over h, set up by main() and publish_start().  Returns the exit
 * status: 0 when stopped or done, 2 if the host's clock data became
 * unusable.  h's pages and socket stay open for the caller to close.
 */
int loop_run(struct helper *h);

#endif /* PVCLOCK_HELPER_LOOP_H */
