/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qemu/osdep.h, for the files the standalone build
 * shares with QEMU's tree (hw/pvclock/vvar.c).  In QEMU's tree the real
 * one comes first in every file; here it is the C library headers those
 * files rely on.
 */
#ifndef PVCLOCK_COMPAT_QEMU_OSDEP_H
#define PVCLOCK_COMPAT_QEMU_OSDEP_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#endif /* PVCLOCK_COMPAT_QEMU_OSDEP_H */
