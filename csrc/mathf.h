/* mathf.h - the model's own elementary functions.
 *
 * Encoder and decoder may run on different machines with different libm
 * versions, so nothing that feeds the model's probabilities may call libm's
 * transcendental functions.  These are plain IEEE arithmetic (exactly rounded
 * + - * / and fma), hence bit-identical everywhere.
 */
#ifndef SSX_MATHF_H
#define SSX_MATHF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Round to nearest-even for |t| < 2^22 with two additions (no libm, no
 * rounding-mode dependence beyond the IEEE default). */
#define SSX_ROUND_MAGIC_F 12582912.0f /* 1.5 * 2^23 */

#define SSX_EXPF_LO (-87.3f)
#define SSX_EXPF_HI (88.3f)
#define SSX_LOG2E_F 1.44269504088896341f
#define SSX_LN2_HI_F 0.693145751953125f
#define SSX_LN2_LO_F 1.428606765330187045e-06f

/* exp(r) for |r| <= ln2/2: Taylor terms 1/7! .. 1/1!, 1, evaluated by Horner
 * from the highest; the scalar and vector versions share this table. */
#define SSX_EXP_TERMS 8
static const float ssx_exp_poly[SSX_EXP_TERMS] = {
    1.98412698e-4f, 1.38888889e-3f, 8.33333377e-3f, 4.16666679e-2f,
    1.66666672e-1f, 0.5f, 1.0f, 1.0f};

/* Scalar twin of the vector exp in the kernels: the same operations in the
 * same order, fmaf where the vector code uses an FMA. */
static inline float ssx_expf(float x) {
    x = x < SSX_EXPF_LO ? SSX_EXPF_LO : x;
    x = x > SSX_EXPF_HI ? SSX_EXPF_HI : x;
    float t = x * SSX_LOG2E_F;
    float n = (t + SSX_ROUND_MAGIC_F) - SSX_ROUND_MAGIC_F;
    float r = fmaf(n, -SSX_LN2_HI_F, x);
    r = fmaf(n, -SSX_LN2_LO_F, r);
    float p = ssx_exp_poly[0];
    for (int k = 1; k < SSX_EXP_TERMS; k++) p = fmaf(p, r, ssx_exp_poly[k]);
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* Double precision exp and log for the model's scalar bookkeeping. */
static inline double ssx_exp(double x) {
    if (x < -708.0) x = -708.0;
    if (x > 709.0) x = 709.0;
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    double n = (x * 1.4426950408889634 + magic) - magic;
    double r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits = ((int64_t)n + 1023) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

/* Natural log for x > 0 (returns -745 for x <= 0, a finite stand-in). */
static inline double ssx_log(double x) {
    if (!(x > 0.0)) return -745.0;
    if (x > 1.7976931348623157e308) x = 1.7976931348623157e308;
    int64_t bits;
    int e_adj = 0;
    if (x < 2.2250738585072014e-308) { x *= 18014398509481984.0; e_adj = -54; }
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023 + e_adj;
    bits = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double q = 1.0 / 23.0;
    q = q * s2 + 1.0 / 21.0;
    q = q * s2 + 1.0 / 19.0;
    q = q * s2 + 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    q = q * s2 + 1.0;
    return (double)e * 0.6931471805599453 + 2.0 * s * q;
}

static inline double ssx_sigmoid(double x) { return 1.0 / (1.0 + ssx_exp(-x)); }

/* log(1 + exp(x)) without overflow. */
static inline double ssx_softplus(double x) {
    double ax = x < 0 ? -x : x;
    return (x > 0 ? x : 0.0) + ssx_log(1.0 + ssx_exp(-ax));
}

#endif
