/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest-test: pvclock-guest (contrib/pvclock-guest/) with the
 * commands only tests need, built into the test guest's initramfs:
 *   hammer        serve while a thread writes all over the BAR
 *   shm-exchange  the guest side of pvclock-shm-exchange's stamp exchange
 *   timens        libpvclock inside a time namespace (timens.c)
 *   clockbound-check  a ClockBound client from the protocol
 *                 (clockbound-check.c)
 *   clockbound    the writer, with PVCLOCK_CLOCKBOUND_BREAK's broken
 *                 variants (built with PVCLOCK_GUEST_TEST)
 */
#include "guest.h"

extern const struct guest_command hammer_command;
extern const struct guest_command shm_exchange_command;
extern const struct guest_command timens_command;
extern const struct guest_command clockbound_check_command;
extern const struct guest_command clockbound_command;

const struct guest_command *const guest_commands[] = {
    &hammer_command,
    &shm_exchange_command,
    &timens_command,
    &clockbound_check_command,
    &clockbound_command,
    NULL,
};
