/* SPDX-License-Identifier: (GPL-2.0-or-later WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * pvclock-guest's commands: what a user of the device runs.  The test
 * build has its own table (tests/guest/tools/commands.c).
 */
#include "guest.h"

const struct guest_command *const guest_commands[] = {
    &show_command,
    &serve_command,
    &chrony_command,
    &offset_command,
    &clockbound_command,
    NULL,
};
