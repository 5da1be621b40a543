/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one validator per structure (pvclock-pages-calc.h), rule by rule:
 * a sealed, valid page of each kind passes; each word that feeds
 * arithmetic, moved out of its range alone (the page sealed again, so
 * that only that rule can fire), is refused with PVCP_BAD_RANGE; the
 * identity, publication, check words and status give their own bits.
 * The live descriptors the device writes (vvar_live_desc(), every known
 * kernel layout) pass.  QEMU, libpvclock and the driver refuse what
 * these refuse because they call them; test-oracle checks libpvclock's
 * results against an independent statement of the same rules.
 */
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "pvclock-pages/pvclock-vvar.h"
#include "pvclock-pages/pvclock-pages-calc.h"
#include "tap.h"

static struct pvcp_host_page page;

/* A published page `index`, as the helper writes it. */
static void good_page(unsigned index)
{
    memset(&page, 0, sizeof(page));
    page.magic = PVCP_HOST_MAGIC;
    page.abi_major = PVCP_ABI_MAJOR;
    page.abi_minor = PVCP_ABI_MINOR;
    page.page_index = index;
    page.counter_mode = (index & PVCP_PAGE_SCALED) ? PVCP_COUNTER_RAW_NS
                                                   : PVCP_COUNTER_TSC;
    page.flags = PVCP_HOST_F_VALID;
    page.hres.mult = 1u << 24;
    page.hres.shift = 24;
    page.hres.max_cycles = 1ull << 40;
    page.raw = page.hres;
    pvcp_page_seal(&page);
}

static unsigned check(unsigned index)
{
    pvcp_page_seal(&page);
    return pvcp_host_page_check(&page, index);
}

static void host_rules(void)
{
    for (unsigned i = 0; i < PVCP_HOST_PAGES; i++) {
        good_page(i);
        tap_ok(check(i) == 0, "host page %u: a valid page passes", i);
        tap_ok(check(i ^ 1) == PVCP_BAD_MAGIC,
               "host page %u: read as page %u: bad index", i, i ^ 1);
    }

    for (unsigned s = 63; s < 256; s++) {
        unsigned want = s <= 63 ? 0 : PVCP_BAD_RANGE;
        int ok = 1;

        good_page(0);
        page.hres.shift = s;
        ok &= check(0) == want;
        good_page(0);
        page.raw.shift = s;
        ok &= check(0) == want;
        if (s == 63 || s == 64 || s == 127 || s == 255) {
            tap_ok(ok, "line shift %u: %s", s, want ? "refused" : "accepted");
        }
    }

    good_page(0);
    page.counter_mode = PVCP_COUNTER_RAW_NS + 1;
    tap_ok(check(0) == PVCP_BAD_RANGE, "counter_mode past RAW_NS refused");
    good_page(0);
    page.counter_mode = PVCP_COUNTER_RAW_NS;
    tap_ok(check(0) == PVCP_BAD_RANGE, "page 0 counting raw ns refused");
    good_page(2);
    page.counter_mode = PVCP_COUNTER_TSC;
    tap_ok(check(2) == PVCP_BAD_RANGE, "page 2 counting the TSC refused");

    for (int s = -128; s <= 127; s++) {
        good_page(0);
        page.counter_mode = PVCP_COUNTER_TSC_KVMCLOCK;
        page.kvmclock.tsc_shift = (int8_t)s;
        if (s == -128 || s == -64 || s == -63 || s == 0 || s == 63 ||
            s == 64 || s == 127) {
            unsigned want = s >= -63 && s <= 63 ? 0 : PVCP_BAD_RANGE;

            tap_ok(check(0) == want, "kvmclock tsc_shift %d: %s", s,
                   want ? "refused" : "accepted");
        }
    }
    /* the same shift without the kvmclock stage feeds nothing */
    good_page(0);
    page.kvmclock.tsc_shift = 100;
    tap_ok(check(0) == 0, "kvmclock stage unused: its shift not judged");

    good_page(0);
    page.flags |= PVCP_HOST_F_SIMULATED;
    page.sim.mult = 1;
    page.sim.frac_bits = 63;
    page.sim.flags = PVCP_XFORM_F_VALID;
    tap_ok(check(0) == 0, "simulated host, frac_bits 63: accepted");
    page.sim.frac_bits = 64;
    tap_ok(check(0) == PVCP_BAD_RANGE, "simulated host, frac_bits 64: "
           "refused");
    page.sim.frac_bits = 0;
    page.sim.flags = 0;
    tap_ok(check(0) == PVCP_BAD_RANGE, "simulated host, transform not "
           "valid: refused");
    /* a guest reader applies no sim (NULL): the rule is not its */
    tap_ok(pvcp_host_words_check(0, page.counter_mode, page.flags,
                                 page.hres.shift, page.raw.shift,
                                 &page.kvmclock, NULL, NULL, 1) == 0,
           "simulated host, read through an offset page: sim not judged");
    tap_ok(pvcp_host_direct_check(page.flags) == PVCP_BAD_INDIRECT,
           "simulated host, read on the host: refused (%s)",
           pvcp_bad_why(PVCP_BAD_INDIRECT));
    good_page(0);
    tap_ok(pvcp_host_direct_check(page.flags) == 0,
           "a real host's page, read on the host: accepted");

    static const struct { int32_t leap; uint32_t duration; unsigned want; }
    smears[] = {
        { 0, 0, 0 }, { 1, 86401, 0 }, { -1, 86399, 0 },
        { 1, 86400, PVCP_BAD_RANGE }, { -1, 0, PVCP_BAD_RANGE },
        { 2, 86402, PVCP_BAD_RANGE }, { -2, 86398, PVCP_BAD_RANGE },
        { 0x7fffffff, 0, PVCP_BAD_RANGE },
    };
    for (unsigned k = 0; k < sizeof(smears) / sizeof(smears[0]); k++) {
        for (unsigned i = 0; i < PVCP_HOST_PAGES; i++) {
            unsigned want = (i & PVCP_PAGE_SMEARED) ? smears[k].want : 0;

            good_page(i);
            page.smear.leap = smears[k].leap;
            page.smear.duration_s = smears[k].duration;
            tap_ok(check(i) == want, "page %u, smear leap %d over %u s: %s",
                   i, smears[k].leap, smears[k].duration,
                   want ? "refused" : "accepted");
        }
    }

    good_page(0);
    page.counter_mode = PVCP_COUNTER_NONE;
    tap_ok(check(0) == PVCP_BAD_UNPUBLISHED, "counter_mode NONE: "
           "unpublished");
    page.hres.shift = 64;
    tap_ok(check(0) == (PVCP_BAD_UNPUBLISHED | PVCP_BAD_RANGE),
           "unpublished and out of range: both said");
    good_page(0);
    page.flags = 0;
    tap_ok(check(0) == PVCP_BAD_UNPUBLISHED, "not VALID: unpublished");

    good_page(0);
    page.hres_base[PVCP_HRES_TAI].sec++;        /* not sealed again */
    tap_ok(pvcp_host_page_check(&page, 0) == PVCP_BAD_CHECK,
           "a word changed behind the check words: damaged");
    good_page(0);
    page.magic++;
    tap_ok(check(0) == PVCP_BAD_MAGIC, "bad magic");
    good_page(0);
    page.abi_major++;
    tap_ok(check(0) == PVCP_BAD_VERSION, "unknown ABI major");
    tap_ok(!strcmp(pvcp_bad_why(PVCP_BAD_RANGE | PVCP_BAD_MAGIC),
                   pvcp_bad_why(PVCP_BAD_MAGIC)),
           "the reason given is the first as readers rank them");
}

/*
 * Offset pages of writers before ABI 1.3: the transform they had at
 * 0x028, unscaled (host = guest + offset, what readers of such pages
 * used to compute with), and ref_xform zero as they left it: refused
 * as a version, the first reason given; with a valid ref_xform too.
 * From 1.3 on, any minor.  op: a valid page of domain 1.
 */
static void old_writers(struct pvcp_offset_page *op)
{
    static const struct pvcp_xform legacy = {
        .mult = 1, .flags = PVCP_XFORM_F_VALID, .offset = -5000ull,
    };
    static const uint16_t newer[] = { 7, 8, 0xffff };
    struct pvcp_ref_xform ref = op->ref_xform[PVCP_DOMAIN_SCALED];
    unsigned bad;

    memcpy((char *)op + 0x028, &legacy, sizeof(legacy));
    memcpy((char *)op + 0x028 + sizeof(legacy), &legacy, sizeof(legacy));
    for (uint16_t minor = 3; minor < 7; minor++) {
        /* 1.3-1.6: a simulated host's sim left to the reader */
        op->abi_minor = minor;
        tap_ok(pvcp_offset_page_check(op, PVCP_DOMAIN_SCALED) ==
               PVCP_BAD_VERSION, "offset page of ABI 1.%u: refused, its "
               "transform may leave a stage to the reader", minor);
    }
    for (uint16_t minor = 0; minor < 3; minor++) {
        op->abi_minor = minor;
        memset(op->ref_xform, 0, sizeof(op->ref_xform));
        bad = pvcp_offset_page_check(op, PVCP_DOMAIN_UNSCALED);
        tap_ok(bad == (PVCP_BAD_VERSION | PVCP_BAD_RANGE) &&
               !strcmp(pvcp_bad_why(bad), pvcp_bad_why(PVCP_BAD_VERSION)),
               "offset page of ABI 1.%u with its unscaled transform: "
               "refused: %s", minor, pvcp_bad_why(bad));
        op->ref_xform[PVCP_DOMAIN_SCALED] = ref;
        tap_ok(pvcp_offset_page_check(op, PVCP_DOMAIN_SCALED) ==
               PVCP_BAD_VERSION, "offset page of ABI 1.%u: refused with "
               "a valid ref_xform too", minor);
    }
    for (size_t i = 0; i < sizeof(newer) / sizeof(newer[0]); i++) {
        op->abi_minor = newer[i];
        tap_ok(pvcp_offset_page_check(op, PVCP_DOMAIN_SCALED) == 0,
               "offset page of ABI 1.%u: accepted", newer[i]);
    }
    op->abi_minor = PVCP_ABI_MINOR;
    memset((char *)op + 0x028, 0, 2 * sizeof(legacy));
}

static void offset_rules(void)
{
    static struct pvcp_offset_page op;
    struct pvcp_ref_xform *x = &op.ref_xform[PVCP_DOMAIN_SCALED];

    memset(&op, 0, sizeof(op));
    op.magic = PVCP_OFFSET_MAGIC;
    op.abi_major = PVCP_ABI_MAJOR;
    op.abi_minor = PVCP_ABI_MINOR;
    op.status = PVCP_STATUS_VALID;
    x->mult = 3;
    x->frac_bits = 64;
    x->flags = PVCP_XFORM_F_VALID | PVCP_XFORM_F_PAGE_COUNTER;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) == 0,
           "offset page: valid, frac_bits 64: accepted");
    x->flags = PVCP_XFORM_F_PAGE_COUNTER;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) == 0,
           "offset page: to the page counter, not for readers before 1.7 "
           "(a simulated host's): accepted");
    x->flags = PVCP_XFORM_F_VALID;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) ==
           PVCP_BAD_RANGE, "offset page: a transform for readers before "
           "1.7 only (not to the page counter): refused");
    x->flags = PVCP_XFORM_F_VALID | PVCP_XFORM_F_PAGE_COUNTER;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_UNSCALED) ==
           PVCP_BAD_RANGE, "offset page: a domain without a relation");
    x->frac_bits = 65;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) ==
           PVCP_BAD_RANGE, "offset page: frac_bits 65 refused");
    x->frac_bits = 0;
    for (uint32_t st = 0; st <= PVCP_STATUS_STALE + 1; st++) {
        unsigned want = st == PVCP_STATUS_VALID || st == PVCP_STATUS_STALE
                        ? 0 : PVCP_BAD_STATUS;

        op.status = st;
        tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) == want,
               "offset page: status %u %s", st,
               want ? "refused" : "accepted");
    }
    op.status = PVCP_STATUS_VALID;
    op.magic++;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) ==
           PVCP_BAD_MAGIC, "offset page: bad magic");
    op.magic--;
    op.abi_major++;
    tap_ok(pvcp_offset_page_check(&op, PVCP_DOMAIN_SCALED) ==
           PVCP_BAD_VERSION, "offset page: unknown ABI major");
    op.abi_major--;
    old_writers(&op);
}

/*
 * Each field the read loads at the descriptor's offsets, at the last
 * offset where all its bytes are inside the page (from the block
 * further into it) and one byte further: accepted, then refused.
 */
static void live_edges(void)
{
    static const struct {
        const char *name;
        size_t off;
        unsigned size;
    } f[] = {
        { "seq", offsetof(struct pvcp_live, seq), 4 },
        { "clock_mode", offsetof(struct pvcp_live, clock_mode), 4 },
        { "cycle_last", offsetof(struct pvcp_live, cycle_last), 8 },
        { "max_cycles", offsetof(struct pvcp_live, max_cycles), 8 },
        { "mult", offsetof(struct pvcp_live, mult), 4 },
        { "shift", offsetof(struct pvcp_live, shift), 4 },
        { "MONOTONIC_RAW's base", offsetof(struct pvcp_live, base) +
                                  PVCP_LIVE_RAW * sizeof(pvcp_u16), 16 },
    };
    struct pvcp_live d;

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        unsigned edge = 0, blk;

        for (unsigned past = 0; past <= 1; past++) {
            pvcp_u16 *field;

            vvar_live_desc(&vvar_layouts[0], &d);
            field = (pvcp_u16 *)((char *)&d + f[i].off);
            blk = d.block[0] > d.block[1] ? d.block[0] : d.block[1];
            *field = PVCP_PAGE_SIZE - blk - f[i].size + past;
            edge |= (pvcp_live_desc_check(&d) == (past ? PVCP_BAD_RANGE : 0))
                    << past;
        }
        tap_ok(edge == 3, "live descriptor: %s ending at the page's end "
               "accepted, a byte further refused", f[i].name);
    }
}

static void live_rules(void)
{
    struct pvcp_live d;
    struct pvcp_live_clock c;

    for (size_t i = 0; i < vvar_layout_count; i++) {
        vvar_live_desc(&vvar_layouts[i], &d);
        tap_ok(pvcp_live_desc_check(&d) == 0,
               "the device's descriptor for layout %s passes",
               vvar_layouts[i].name);
    }
    vvar_live_desc(&vvar_layouts[0], &d);
    d.version++;
    tap_ok(pvcp_live_desc_check(&d) == PVCP_BAD_RANGE,
           "live descriptor: another version refused");
    vvar_live_desc(&vvar_layouts[0], &d);
    d.flags &= ~PVCP_LIVE_F_VALID;
    tap_ok(pvcp_live_desc_check(&d) == PVCP_BAD_RANGE,
           "live descriptor: not valid refused");
    vvar_live_desc(&vvar_layouts[0], &d);
    d.block[1] = PVCP_PAGE_SIZE - 8;
    tap_ok(pvcp_live_desc_check(&d) == PVCP_BAD_RANGE,
           "live descriptor: block 1 past the page refused");
    live_edges();
    vvar_live_desc(&vvar_layouts[0], &d);
    d.base[PVCP_HRES_TAI] = PVCP_PAGE_SIZE;
    pvcp_live_clock_of(&d, PVCP_LIVE_RAW, &c);
    tap_ok(pvcp_live_desc_check(&d) == PVCP_BAD_RANGE &&
           pvcp_live_clock_check(&c, 0) == 0,
           "TAI's base past the page: refused, but not for MONOTONIC_RAW");
    pvcp_live_clock_of(&d, PVCP_HRES_MONOTONIC, &c);
    tap_ok(pvcp_live_clock_check(&c, 1) == PVCP_BAD_RANGE &&
           pvcp_live_clock_check(&c, 0) == 0,
           "... and for a clock only where it reads TAI (a smear)");
    vvar_live_desc(&vvar_layouts[0], &d);
    pvcp_live_clock_of(&d, PVCP_HRES_REALTIME, &c);
    tap_ok(pvcp_live_words_check(&c, c.clock_mode_tsc, 63) == 0 &&
           pvcp_live_words_check(&c, c.clock_mode_tsc, 64) ==
           PVCP_BAD_RANGE &&
           pvcp_live_words_check(&c, c.clock_mode_tsc + 1, 24) ==
           PVCP_BAD_RANGE,
           "live words: shift 0..63, the TSC's clock mode only");
}

int main(void)
{
    host_rules();
    offset_rules();
    live_rules();
    return tap_done();
}
