/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the helper's reading of the kernel's vvar pages, for
 * every known layout, over arbitrary bytes, and the pages it would derive
 * from what it read.  It must not crash, hang or trap.
 */
#include <stdint.h>
#include <string.h>

#include "derive.h"
#include "pages.h"
#include "vvar.h"

static uint8_t vvar[4 * 4096] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[VVAR_ERR_LEN];

    memset(vvar, 0, sizeof(vvar));
    memcpy(vvar, data, size < sizeof(vvar) ? size : sizeof(vvar));
    for (size_t i = 0; i < vvar_layout_count; i++) {
        struct vvar_source src = {
            .vvar = vvar,
            .vvar_len = sizeof(vvar),
            .vclock = size > 0 && (data[0] & 2) ? vvar + 2 * 4096 : NULL,
            .layout = &vvar_layouts[i],
        };
        struct host_snapshot snap;
        struct pvcp_host_page p0, p1, p2;
        struct leap_event ev = { 1, 37, 1483228800, 1483185637 };

        if (vvar_snapshot(&src, &snap, err) < 0) {
            continue;
        }
        memset(&p0, 0, sizeof(p0));
        pages_fill_from_snapshot(&p0, &snap, vvar_counter_hz(&snap));
        p1 = p0;
        derive_smear(&p1, &ev);
        if (p0.counter_mode != PVCP_COUNTER_NONE && p0.raw.shift <= 63 &&
            p0.hres.shift <= 63) {
            derive_scaled(&p2, &p0, NULL, derive_raw_ns(&p0, 123456789));
        }
        (void)pages_same_mapping(&p0, &p1);
    }
    return 0;
}
