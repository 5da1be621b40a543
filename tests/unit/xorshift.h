/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xorshift64*, the unit tests' random numbers: fast, reproducible from a
 * seed (PVCLOCK_SEED where a test takes one), and good enough to spread
 * values over a state space.  *state must not be 0.
 */
#ifndef PVCLOCK_XORSHIFT_H
#define PVCLOCK_XORSHIFT_H

#include <stdint.h>

static inline uint64_t xorshift64s(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

#endif
