/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The helper's own uses of the kernel's vDSO data, beside the reading
 * it shares with the device (pvclock-pages/pvclock-vvar.h).  See vvar.h.
 */
#include <string.h>

#include "vvar.h"

uint32_t vvar_peek_seq(const struct vvar_source *src)
{
    return vvar_ld32(src->vvar + src->layout->data_offset, 0);
}

static void st32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void st64(uint8_t *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put_block(uint8_t *blk, bool has_max, uint32_t seq,
                      int32_t mode, const struct pvcp_line *line,
                      const int *clk, const struct pvcp_base *base, int n)
{
    size_t bases;

    st32(blk, 0, seq);
    st32(blk, 4, (uint32_t)mode);
    st64(blk, 0x08, line->cycle_last);
    if (has_max) {
        st64(blk, 0x10, line->max_cycles);
        st64(blk, 0x18, UINT64_MAX);
        st32(blk, 0x20, line->mult);
        st32(blk, 0x24, line->shift);
        bases = 0x28;
    } else {
        st64(blk, 0x10, UINT64_MAX);
        st32(blk, 0x18, line->mult);
        st32(blk, 0x1c, line->shift);
        bases = 0x20;
    }
    for (int i = 0; i < n; i++) {
        st64(blk, bases + 16 * clk[i], base[i].sec);
        st64(blk, bases + 16 * clk[i] + 8, base[i].nsec_shifted);
    }
}

void vvar_put_snapshot(const struct vvar_layout *l, uint8_t *vvar_page,
                       uint8_t *pvclock_page, const struct host_snapshot *s)
{
    static const int hres_clk[PVCP_HRES_CLOCKS + 2] = {
        VVAR_CLOCK_REALTIME, VVAR_CLOCK_MONOTONIC, VVAR_CLOCK_BOOTTIME,
        VVAR_CLOCK_TAI, VVAR_CLOCK_REALTIME_COARSE,
        VVAR_CLOCK_MONOTONIC_COARSE,
    };
    static const int raw_clk = VVAR_CLOCK_MONOTONIC_RAW;
    struct pvcp_base bases[PVCP_HRES_CLOCKS + 2];

    memcpy(bases, s->hres_base, sizeof(s->hres_base));
    memcpy(bases + PVCP_HRES_CLOCKS, s->coarse, sizeof(s->coarse));
    put_block(vvar_page + l->data_offset, l->max_cycles, s->seq,
              s->clock_mode, &s->hres, hres_clk, bases,
              PVCP_HRES_CLOCKS + 2);
    put_block(vvar_page + l->data_offset + l->stride, l->max_cycles, s->seq,
              s->clock_mode, &s->raw, &raw_clk, &s->raw_base, 1);
    if (pvclock_page) {
        st32(pvclock_page, VVAR_PVTI_VERSION, 2);
        st64(pvclock_page, VVAR_PVTI_TSC_TIMESTAMP, s->kvmclock.tsc_timestamp);
        st64(pvclock_page, VVAR_PVTI_SYSTEM_TIME, s->kvmclock.system_time);
        st32(pvclock_page, VVAR_PVTI_MUL, s->kvmclock.tsc_to_system_mul);
        pvclock_page[VVAR_PVTI_SHIFT] = (uint8_t)s->kvmclock.tsc_shift;
        pvclock_page[VVAR_PVTI_FLAGS] = VVAR_PVTI_TSC_STABLE;
    }
}

uint64_t vvar_counter_hz(const struct host_snapshot *snap)
{
    if (snap->counter_mode == PVCP_COUNTER_TSC_KVMCLOCK) {
        /* ns per tick = mul / 2^32 * 2^shift */
        const struct pvcp_kvmclock *k = &snap->kvmclock;
        pvcp_u128 num = (pvcp_u128)PVCP_NSEC_PER_SEC << 32;

        if (!k->tsc_to_system_mul) {
            return 0;
        }
        if (k->tsc_shift >= 0) {
            return (uint64_t)(num / ((pvcp_u128)k->tsc_to_system_mul <<
                                     k->tsc_shift));
        }
        return (uint64_t)((num << -k->tsc_shift) / k->tsc_to_system_mul);
    }
    /* cycles per ns = 2^shift / mult (the raw clock is never adjusted) */
    return (uint64_t)(((pvcp_u128)PVCP_NSEC_PER_SEC << snap->raw.shift) /
                      snap->raw.mult);
}

