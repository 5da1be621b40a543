/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A BAR image for reader tests: four host pages, the offset page and the
 * three zero pages, as the device presents them to a guest.
 */
#ifndef PVCLOCK_TEST_BAR_IMAGE_H
#define PVCLOCK_TEST_BAR_IMAGE_H

#include <string.h>

#include "pvclock-pages/pvclock-pages-abi.h"

struct bar_image {
    struct pvcp_host_page host[PVCP_HOST_PAGES];
    struct pvcp_offset_page offset;
    uint8_t zero[3 * PVCP_PAGE_SIZE];
};

/* Zero img, then give every page its header; nothing is published. */
static inline void bar_image_init(struct bar_image *img)
{
    memset(img, 0, sizeof(*img));
    for (int i = 0; i < PVCP_HOST_PAGES; i++) {
        img->host[i].magic = PVCP_HOST_MAGIC;
        img->host[i].abi_major = PVCP_ABI_MAJOR;
        img->host[i].abi_minor = PVCP_ABI_MINOR;
        img->host[i].page_index = (uint32_t)i;
    }
    img->offset.magic = PVCP_OFFSET_MAGIC;
    img->offset.abi_major = PVCP_ABI_MAJOR;
    img->offset.abi_minor = PVCP_ABI_MINOR;
}

/*
 * The offset page's transforms as the device writes an unscaled relation,
 * host = guest + host_minus_guest.
 */
static inline void bar_image_offset(struct bar_image *img,
                                    uint64_t host_minus_guest)
{
    for (int d = 0; d < PVCP_DOMAINS; d++) {
        struct pvcp_ref_xform *x = &img->offset.ref_xform[d];

        memset(x, 0, sizeof(*x));
        x->host_ref = host_minus_guest;
        x->mult = 1;
        x->flags = PVCP_XFORM_F_VALID | PVCP_XFORM_F_PAGE_COUNTER;
    }
}

#endif /* PVCLOCK_TEST_BAR_IMAGE_H */
