/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ABI arithmetic's 128-bit helpers without unsigned __int128 (as a
 * 32-bit host builds them: this file is compiled with PVCP_HAVE_INT128 0)
 * against the same products in __int128, over random and edge operands
 * and every shift 0..64.  (Dropping the carry of the added term, or the
 * sign correction, makes it fail: tried by hand.)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define PVCP_HAVE_INT128 0
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    /* xorshift64*, with edge values mixed in */
    static const uint64_t edge[] = {
        0, 1, 2, 0xffffffffull, 0x100000000ull, 0x7fffffffffffffffull,
        0x8000000000000000ull, 0xffffffffffffffffull, 0xfffffffffffffffeull,
        0x00000000ffffffffull << 16,
    };

    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    if ((rng & 7) == 0) {
        return edge[(rng >> 8) % (sizeof(edge) / sizeof(edge[0]))];
    }
    /* random widths too: small multipliers are the common case */
    return (rng * 0x2545f4914f6cdd1dull) >> (rng >> 58);
}

static uint64_t ref_u(uint64_t a, uint64_t b, uint64_t c, unsigned s)
{
    unsigned __int128 p = (unsigned __int128)a * b + c;

    return (uint64_t)(s >= 64 ? p >> 64 : p >> s);
}

static uint64_t ref_s(int64_t d, uint64_t b, uint64_t c, unsigned s)
{
    __int128 p = (__int128)d * (__int128)b + (__int128)c;

    return (uint64_t)(p >> s);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    long bad_u = 0, bad_s = 0;

    for (long i = 0; i < n; i++) {
        uint64_t a = next(), b = next(), c = next();
        unsigned s = (unsigned)(next() % 65);

        if (pvcp_mul_add_shr(a, b, c, s) != ref_u(a, b, c, s)) {
            if (bad_u++ < 3) {
                tap_diag("u: a %" PRIx64 " b %" PRIx64 " c %" PRIx64 " s %u",
                     a, b, c, s);
            }
        }
        if (pvcp_smul_add_shr((int64_t)a, b, c, s) !=
            ref_s((int64_t)a, b, c, s)) {
            if (bad_s++ < 3) {
                tap_diag("s: d %" PRId64 " b %" PRIx64 " c %" PRIx64 " s %u",
                     (int64_t)a, b, c, s);
            }
        }
    }
    tap_ok(bad_u == 0, "unsigned (a*b+c)>>s without __int128: %ld of %ld differ",
       bad_u, n);
    tap_ok(bad_s == 0, "signed (d*b+c)>>s without __int128: %ld of %ld differ",
       bad_s, n);
    return tap_done();
}
