/*
 * pvclock-pages: from the accelerator's counter relation to the offset
 * page's transforms, and KVM's rules for the guest TSC.
 *
 * An accelerator runs the guest counter as
 *
 *   guest = floor(host * ratio / 2^F) + offset                 (mod 2^64)
 *
 * (ratio 1 in the unscaled case; KVM's hardware TSC scaling otherwise,
 * F = 48 on VMX and 32 on SVM).  A reader needs the inverse, and it
 * needs it for a wrapped offset too: a KVM guest's TSC starts near 0,
 * so offset is about -host * ratio mod 2^64.  struct pvcp_ref_xform
 * carries it as a line through a reference point that is exact at that
 * point; see pvclock_relation_xform() for why the error stays below one
 * host count everywhere else.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "qemu/int128.h"
#include "hw/pvclock/pvclock-pages-internal.h"

/* The largest ratio KVM accepts: KVM_VMX_TSC_MULTIPLIER_MAX, SVM's. */
static uint64_t kvm_max_ratio(unsigned frac_bits)
{
    return frac_bits == 48 ? UINT64_MAX : (1ull << 40) - 1;
}

/* adjust_tsc_khz(): khz * (10^6 + ppm) / 10^6, truncated. */
static uint64_t kvm_adjust_khz(uint32_t khz, int64_t ppm)
{
    return (uint64_t)khz * (uint64_t)(1000000 + ppm) / 1000000;
}

void pvclock_kvm_tsc_relation(const PvclockKvmTsc *t,
                              PvclockCounterRelation *rel)
{
    uint64_t lo, hi, ratio;

    memset(rel, 0, sizeof(*rel));
    rel->offset = t->offset;
    /* the rate the counter really runs at: the host's unless scaled */
    rel->guest_hz = (uint64_t)t->host_khz * 1000;
    rel->flags = PVCP_RELATION_F_TSC_WRITES_UNSEEN;
    if (!t->vcpu_khz || !t->host_khz) {
        rel->kind = PVCLOCK_REL_UNKNOWN;
        rel->why = "KVM does not report the guest or host TSC frequency";
        return;
    }
    rel->kind = PVCLOCK_REL_LINEAR;

    /*
     * kvm_set_tsc_khz(): a requested rate within tsc_tolerance_ppm of
     * the host's is not scaled at all; the guest runs at the host's rate
     * (and is told the rate it asked for).
     */
    if (t->vcpu_khz >= kvm_adjust_khz(t->host_khz, -(int64_t)t->tolerance_ppm)
        && t->vcpu_khz <= kvm_adjust_khz(t->host_khz, t->tolerance_ppm)) {
        rel->why = "KVM: within tsc_tolerance_ppm, not scaled";
        return;
    }
    /*
     * set_tsc_khz() without hardware scaling: above the host's rate KVM
     * runs catch-up mode (it moves the offset at guest entries), which
     * is no line; below it refuses the rate and leaves the default ratio.
     */
    if (!t->tsc_control) {
        if (t->vcpu_khz > t->host_khz) {
            rel->kind = PVCLOCK_REL_NONLINEAR;
            rel->why = "KVM runs the guest TSC in catch-up mode (faster than "
                       "the host's, no TSC scaling): not a linear function "
                       "of the host TSC";
        } else {
            rel->why = "KVM refused a guest TSC slower than the host's "
                       "without TSC scaling: host rate";
        }
        return;
    }
    if (t->frac_bits != 32 && t->frac_bits != 48) {
        rel->kind = PVCLOCK_REL_UNKNOWN;
        rel->why = "the guest TSC is scaled on a CPU whose KVM scaling "
                   "format is unknown";
        return;
    }
    /* mul_u64_u32_div(1 << frac, user_tsc_khz, tsc_khz), truncated */
    mulu64(&lo, &hi, 1ull << t->frac_bits, t->vcpu_khz);
    divu128(&lo, &hi, t->host_khz);
    ratio = lo;
    if (hi || ratio == 0 || ratio >= kvm_max_ratio(t->frac_bits)) {
        rel->why = "KVM refused the scaling ratio: host rate";
        return;
    }
    if (ratio != 1ull << t->frac_bits) {
        rel->ratio = ratio;
        rel->ratio_frac_bits = t->frac_bits;
        rel->why = "KVM: hardware TSC scaling";
        mulu64(&lo, &hi, rel->guest_hz, ratio);
        rel->guest_hz = (hi << (64 - t->frac_bits)) | (lo >> t->frac_bits);
    }
}

/*
 * The guest counter at host count h, and the fraction floor() dropped,
 * in 2^-F units: guest = floor(h * ratio / 2^F) + offset exactly as the
 * hardware computes it (a 128-bit product, the quotient truncated to 64
 * bits as kvm_scale_tsc() does).
 */
static uint64_t guest_at(const PvclockCounterRelation *rel, uint64_t h,
                         uint64_t *frac)
{
    unsigned f = rel->ratio_frac_bits;
    uint64_t lo, hi;

    if (!rel->ratio) {
        *frac = 0;
        return h + rel->offset;
    }
    mulu64(&lo, &hi, h, rel->ratio);
    *frac = lo & ((1ull << f) - 1);
    return ((hi << (64 - f)) | (lo >> f)) + rel->offset;
}

uint64_t pvclock_relation_guest_at(const PvclockCounterRelation *rel,
                                   uint64_t h)
{
    uint64_t frac;

    return guest_at(rel, h, &frac);
}

/*
 * mult = floor(num * 2^(shift + fb) / div) for the largest fb <= 64 that
 * keeps it below 2^64 (shift may be negative: floor(floor(a / b) / c) is
 * floor(a / (b c))).
 */
static bool inverse_mult(uint64_t num, int shift, uint64_t div,
                         uint64_t *mult, unsigned *fb)
{
    for (int b = 64; b >= 0; b--) {
        int e = shift + b;
        uint64_t lo, hi;

        if (e >= 128 || (e > 64 && (num >> (128 - e)))) {
            continue;           /* num << e does not fit 128 bits */
        }
        if (e >= 64) {
            lo = 0;
            hi = e == 64 ? num : num << (e - 64);
        } else if (e > 0) {
            lo = num << e;
            hi = num >> (64 - e);
        } else {
            lo = e > -64 ? num >> -e : 0;
            hi = 0;
        }
        divu128(&lo, &hi, div);
        if (!hi) {
            *mult = lo;
            *fb = b;
            return lo != 0;
        }
    }
    return false;
}

/*
 * ref + floor(whole + frac / 2^fb) as a pvcp_ref_xform's host_ref and
 * frac_ref: frac may be negative or past 2^fb; the whole units move to
 * host_ref.
 */
static void put_ref(struct pvcp_ref_xform *x, uint64_t whole, Int128 frac,
                    unsigned fb)
{
    Int128 carry = int128_rshift(frac, fb);     /* floor(frac / 2^fb) */

    x->host_ref = whole + int128_getlo(carry);
    x->frac_ref = int128_getlo(int128_sub(frac, int128_lshift(carry, fb)));
    x->frac_bits = fb;
}

/*
 * The unscaled domain: guest counter -> host TSC.
 *
 * Unscaled relations are exact: host = host_ref + (g - guest_ref).
 *
 * Scaled ones: with r = ratio / 2^F and u = the fraction guest_at()
 * drops at host_ref (0 <= u < 1 guest count), the host counts at which
 * the guest counter reads g = guest_ref + d are the integers in
 * [x, x + 1/r) with x = host_ref + (d - u) / r; the first of them,
 * m = ceil(x), is when the guest's read could first have happened.  The
 * transform computes floor(x + 1/2 - e) with mult = floor(2^fb / r):
 * the slope is low by less than 2^-fb per guest count, so e < |d| / 2^fb,
 * which is at most 1/2 while |host - host_ref| < 2^62 (fb is 64, or
 * 2^fb / r >= 2^63 when fb < 64); frac_ref carries 1/2 - u / r, rounded
 * up by less than 2^-fb.  For x an integer floor(x + 1/2 - e) is x = m;
 * otherwise it is floor(x) = m - 1 or ceil(x) = m.  It is never above m
 * (x + 1/2 + 2^-fb < m + 1), so the guest is never ahead of the host,
 * and never more than one count behind.  tests/qtest checks this over 10^7
 * random (ratio, offset, counter) triples for both formats.
 */
bool pvclock_relation_xform(const PvclockCounterRelation *rel,
                            uint64_t host_ref, struct pvcp_ref_xform *x)
{
    uint64_t u, lo, hi;
    unsigned fb;
    Int128 frac;

    memset(x, 0, sizeof(*x));
    if (rel->kind != PVCLOCK_REL_LINEAR) {
        return false;
    }
    x->guest_ref = guest_at(rel, host_ref, &u);
    if (!rel->ratio) {
        x->host_ref = host_ref;
        x->mult = 1;
        x->flags = PVCP_XFORM_F_VALID;
        return true;
    }
    if (!inverse_mult(1, rel->ratio_frac_bits, rel->ratio, &x->mult, &fb) ||
        fb < 1) {
        return false;
    }
    /* u / r in 2^-fb units: u * 2^fb / ratio (< 2^fb / r, fits) */
    lo = fb == 64 ? 0 : u << fb;
    hi = fb == 64 ? u : (fb ? u >> (64 - fb) : 0);
    divu128(&lo, &hi, rel->ratio);
    frac = int128_sub(int128_lshift(int128_one(), fb - 1),
                      int128_make128(lo, hi));
    put_ref(x, host_ref, frac, fb);
    x->flags = PVCP_XFORM_F_VALID;
    return true;
}

/*
 * The scaled domain (host pages 2 and 3): guest counter -> host
 * CLOCK_MONOTONIC_RAW in ns, through host page h's raw line (m ns per
 * 2^s counts, exactly linear: the kernel accumulates it without
 * rounding).  With x as above, the exact value is N = raw(x), a line in
 * d of slope k = m / (2^s r); the transform computes floor(N - e) with
 * mult = floor(k 2^fb) and frac_ref floored (one extra 2^-fb below), so
 * for d >= 0 it is never above N <= raw(m): never ahead of the host's
 * raw clock.  And it is at most 1 ns below raw(m): raw(m) < N + one host
 * count's ns (< 1 for a counter above 1 GHz), and e is below 2^-20 ns
 * for |d| < 2^43.  Only for a host page counted in TSC (not kvm-clock,
 * not simulated).
 */
bool pvclock_relation_raw_xform(const PvclockCounterRelation *rel,
                                uint64_t host_ref,
                                const struct pvcp_host_page *h,
                                struct pvcp_ref_xform *x)
{
    unsigned f = rel->ratio ? rel->ratio_frac_bits : 0;
    unsigned s = h->raw.shift;
    uint64_t u, lo, hi, qs = 0;
    unsigned fb;
    Int128 big, rem, frac;

    memset(x, 0, sizeof(*x));
    if (rel->kind != PVCLOCK_REL_LINEAR ||
        h->counter_mode != PVCP_COUNTER_TSC ||
        (h->flags & PVCP_HOST_F_SIMULATED) || !h->raw.mult || s > 32) {
        return false;
    }
    x->guest_ref = guest_at(rel, host_ref, &u);
    if (!inverse_mult(h->raw.mult, (int)f - (int)s,
                      rel->ratio ? rel->ratio : 1, &x->mult, &fb) ||
        fb < s) {
        return false;
    }
    /* raw at host_ref, in 2^-s ns: sec * 10^9 << s + nsec + delta * m */
    mulu64(&lo, &hi, h->raw_base.sec, NANOSECONDS_PER_SECOND);
    big = int128_add(int128_lshift(int128_make128(lo, hi), s),
                     int128_make64(h->raw_base.nsec_shifted));
    muls64(&lo, &hi, (int64_t)(host_ref - h->raw.cycle_last),
           h->raw.mult);
    big = int128_add(big, int128_make128(lo, hi));
    rem = int128_sub(big, int128_lshift(int128_rshift(big, s), s));
    /* minus u / r in ns: u * mult >> f, in 2^-fb ns; and one unit more */
    if (f) {
        mulu64(&lo, &hi, u, x->mult);
        qs = (hi << (64 - f)) | (lo >> f);
    }
    frac = int128_sub(int128_lshift(rem, fb - s),
                      int128_add(int128_make64(qs), int128_one()));
    put_ref(x, int128_getlo(int128_rshift(big, s)), frac, fb);
    x->flags = PVCP_XFORM_F_VALID;
    return true;
}

/*
 * A simulated host's page 0 counts sim(T) = floor(T * m / 2^f) + o of
 * the host TSC T (struct pvcp_xform, the helper's simulate mode).  Since
 * ABI 1.7 the offset page's transform maps the guest counter to the page
 * counter, so that readers never apply sim: the device composes it here
 * into x (guest counter -> host TSC).
 *
 * Unscaled x (T = guest - k) is composed exactly: referred to T = 0,
 * where T * m is a multiple of 2^f, sim(0 + d) = o + floor(d m / 2^f)
 * for every d, so out gives sim(T) bit for bit for every T below 2^63
 * (a TSC counting from its reset).
 *
 * Scaled x gives X' = x(g) before its floor, within (t - 1/2, t + 1/2]
 * of the first host count t at which the guest reads g (see
 * pvclock_relation_xform()).  out computes floor(sim'(X' - 1/2) - 1/2
 * + e), with sim' = sim before its floor and e the error of the product
 * of the two slopes cut to its top 64 bits (relative error below
 * 2^-63): |e| < 1/2 while the page counter is within 2^62 of
 * sim(host_ref).  That is at most sim'(t): never ahead of sim(t); and
 * behind it by less than m / 2^f + 2 page counts, i.e. at most
 * floor(m / 2^f) + 2, where a reader that applied sim to x's result was
 * less than m / 2^f + 1 behind.  With H = host_ref and H m = q 2^f + r:
 * sim(H + e) = q + o + floor((r + e m) / 2^f).  tests/qtest
 * (vmclock-simulated) measures it.
 */
bool pvclock_relation_compose_sim(const struct pvcp_ref_xform *x,
                                  const struct pvcp_xform *sim,
                                  struct pvcp_ref_xform *out)
{
    unsigned f = sim->frac_bits, fb, s, len;
    uint64_t lo, hi, plo, phi, q;
    Int128 r, frac;

    memset(out, 0, sizeof(*out));
    if (!(x->flags & PVCP_XFORM_F_VALID) || !(sim->flags & PVCP_XFORM_F_VALID)
        || f > 63 || !sim->mult) {
        return false;
    }
    if (x->mult == 1 && x->frac_bits == 0 && x->frac_ref == 0) {
        out->guest_ref = x->guest_ref - x->host_ref;   /* where T = 0 */
        out->host_ref = sim->offset;                   /* sim(0) */
        out->mult = sim->mult;
        out->frac_bits = f;
        out->flags = PVCP_XFORM_F_PAGE_COUNTER;
        return true;
    }
    /* the product of the slopes, mult m / 2^(fb + f), cut to 64 bits */
    mulu64(&plo, &phi, x->mult, sim->mult);
    len = phi ? 128 - clz64(phi) : 64 - clz64(plo);
    s = MAX(len > 64 ? len - 64 : 0,
            x->frac_bits + f > 64 ? x->frac_bits + f - 64 : 0);
    fb = x->frac_bits + f - s;
    if (fb < 1 || fb > 64) {
        return false;
    }
    out->mult = int128_getlo(int128_urshift(int128_make128(plo, phi), s));
    if (!out->mult) {
        return false;
    }
    /* q, r: H m = q 2^f + r */
    mulu64(&lo, &hi, x->host_ref, sim->mult);
    q = int128_getlo(int128_urshift(int128_make128(lo, hi), f));
    r = int128_make64(lo & ((1ull << f) - 1));
    /* r, (frac_ref - 2^(x->frac_bits - 1)) m in 2^-fb units, floored */
    frac = fb >= f ? int128_lshift(r, fb - f) : int128_rshift(r, f - fb);
    mulu64(&lo, &hi, x->frac_ref, sim->mult);
    frac = int128_add(frac, int128_urshift(int128_make128(lo, hi), s));
    frac = int128_sub(frac, x->frac_bits - 1 >= s
                      ? int128_lshift(int128_make64(sim->mult),
                                      x->frac_bits - 1 - s)
                      : int128_rshift(int128_make64(sim->mult),
                                      s - (x->frac_bits - 1)));
    /* and half a page count for the cut product: never ahead */
    frac = int128_sub(frac, int128_lshift(int128_one(), fb - 1));
    out->guest_ref = x->guest_ref;
    put_ref(out, q + sim->offset, frac, fb);
    out->flags = PVCP_XFORM_F_PAGE_COUNTER;
    return true;
}
