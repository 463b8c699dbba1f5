/* k_elem.c - element-wise kernels: exp, log and the Adam update. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "mathf.h"
#include "simd_math.h"

/* log for normal x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m-1)/(m+1), as a short odd series in s. */
static inline float logf_scalar(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000;
    float m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356f) { m = m * 0.5f; e = e + 1; }
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float q = fmaf(s2, 0.111111111f, 0.142857143f);
    q = fmaf(q, s2, 0.2f);
    q = fmaf(q, s2, 0.333333343f);
    q = fmaf(q, s2, 1.0f);
    return fmaf((float)e, 0.693147182f, (s + s) * q);
}

static void vexp_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ssx_expf(x[i]);
}

static void vlog_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = logf_scalar(x[i]);
}

static void adam_scalar(float *p, const float *g, float *m, float *v, int64_t n,
                        const float *c) {
    for (int64_t i = 0; i < n; i++) {
        float gi = (g ? g[i] : 0.0f) * c[SSX_ADAM_GS];
        m[i] = fmaf(c[SSX_ADAM_B1], m[i], c[SSX_ADAM_C1] * gi);
        v[i] = fmaf(c[SSX_ADAM_B2], v[i], c[SSX_ADAM_C2] * (gi * gi));
        float den = sqrtf(v[i] * c[SSX_ADAM_IBC2]) + c[SSX_ADAM_EPS];
        p[i] = fmaf(c[SSX_ADAM_NLR], (m[i] * c[SSX_ADAM_IBC1]) / den, p[i]);
    }
}

/* Zero-gradient steps of one row (the deferred steps of an idle embedding
 * row): per parameter, the adam kernel's operations with g = 0, step j with
 * the bias factors ibc[j * stride], ibc[j * stride + 1].  Where m is +0 the
 * step leaves p and m as they are (0 / den = +0 and p + -0 = p) and only v
 * decays, so those steps skip the rest; the vector versions keep p the same
 * way lane by lane, so all versions agree even where v is not finite. */
static void adam_idle_scalar(float *p, float *m, float *v, int64_t n, int64_t steps,
                             const float *ibc, int64_t stride, const float *c) {
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i], mi = m[i], vi = v[i];
        int64_t j = 0;
        for (; j < steps; j++) {
            uint32_t mb;
            memcpy(&mb, &mi, sizeof mb);
            if (mb == 0) break;
            mi = fmaf(c[SSX_ADAM_B1], mi, 0.0f);
            vi = fmaf(c[SSX_ADAM_B2], vi, 0.0f);
            float den = sqrtf(vi * ibc[j * stride + 1]) + c[SSX_ADAM_EPS];
            pi = fmaf(c[SSX_ADAM_NLR], (mi * ibc[j * stride]) / den, pi);
        }
        for (; j < steps; j++) vi = fmaf(c[SSX_ADAM_B2], vi, 0.0f);
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
    }
}

static void mix_dense_scalar(float *out, int64_t n, const uint8_t *cls, float a, const float *x,
                             float b, const float *y, const float kc[8], float c,
                             const float *z, float d, const float *w) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (((a * x[i] + b * y[i]) + kc[cls[i]]) + c * z[i]) + d * w[i];
}

AVX2 static void mix_dense_avx2(float *out, int64_t n, const uint8_t *cls, float a,
                                const float *x, float b, const float *y, const float kc[8],
                                float c, const float *z, float d, const float *w) {
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vc = _mm256_set1_ps(c),
           vd = _mm256_set1_ps(d), vk = _mm256_loadu_ps(kc);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cls + i)));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(x + i)),
                                 _mm256_mul_ps(vb, _mm256_loadu_ps(y + i)));
        v = _mm256_add_ps(v, _mm256_permutevar8x32_ps(vk, q)); /* kc[cls[i]] */
        v = _mm256_add_ps(v, _mm256_mul_ps(vc, _mm256_loadu_ps(z + i)));
        v = _mm256_add_ps(v, _mm256_mul_ps(vd, _mm256_loadu_ps(w + i)));
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++) out[i] = (((a * x[i] + b * y[i]) + kc[cls[i]]) + c * z[i]) + d * w[i];
}

static void rank_add_scalar(float *x, const int32_t *rank, int64_t n, const float w[16]) {
    for (int64_t i = 0; i < n; i++) {
        int32_t r = rank[i];
        if (r >= 0) x[i] += w[r ? 32 - __builtin_clz((uint32_t)r) : 0];
    }
}

/* The bucket from the exponent of (float)rank, the weight from two 8-lane
 * permutes; the untouched lanes keep x. */
AVX2 static void rank_add_avx2(float *x, const int32_t *rank, int64_t n, const float w[16]) {
    const __m256 lo = _mm256_loadu_ps(w), hi = _mm256_loadu_ps(w + 8);
    const __m256i zero = _mm256_setzero_si256(), bias = _mm256_set1_epi32(126),
                  seven = _mm256_set1_epi32(7), none = _mm256_set1_epi32(-1);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i r = _mm256_loadu_si256((const __m256i *)(rank + i));
        __m256 f = _mm256_cvtepi32_ps(_mm256_max_epi32(r, zero));
        __m256i b = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(f), 23), bias);
        b = _mm256_max_epi32(b, zero); /* rank 0: (float)0 has exponent 0 */
        __m256 wv = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, b),
                                     _mm256_permutevar8x32_ps(hi, b),
                                     _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, seven)));
        __m256 xv = _mm256_loadu_ps(x + i);
        __m256 m = _mm256_castsi256_ps(_mm256_cmpgt_epi32(r, none));
        _mm256_storeu_ps(x + i, _mm256_blendv_ps(xv, _mm256_add_ps(xv, wv), m));
    }
    rank_add_scalar(x + i, rank + i, n - i, w);
}

AVX2 static void vexp_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, expf8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = ssx_expf(x[i]);
}

AVX2 static void vlog_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i e = _mm256_sub_epi32(
            _mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xff)),
            _mm256_set1_epi32(127));
        __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
            _mm256_set1_epi32(0x3f800000)));
        __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
        m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
        e = _mm256_add_epi32(e, _mm256_and_si256(_mm256_castps_si256(big),
                                                 _mm256_set1_epi32(1)));
        __m256 one = _mm256_set1_ps(1.0f);
        __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
        __m256 s2 = _mm256_mul_ps(s, s);
        __m256 q = _mm256_fmadd_ps(s2, _mm256_set1_ps(0.111111111f),
                                   _mm256_set1_ps(0.142857143f));
        q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(0.2f));
        q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(0.333333343f));
        q = _mm256_fmadd_ps(q, s2, one);
        __m256 r = _mm256_fmadd_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(0.693147182f),
                                   _mm256_mul_ps(_mm256_add_ps(s, s), q));
        _mm256_storeu_ps(y + i, r);
    }
    for (; i < n; i++) y[i] = logf_scalar(x[i]);
}

AVX2 static void adam_avx2(float *p, const float *g, float *m, float *v, int64_t n,
                           const float *c) {
    __m256 gs = _mm256_set1_ps(c[SSX_ADAM_GS]), b1 = _mm256_set1_ps(c[SSX_ADAM_B1]),
           c1 = _mm256_set1_ps(c[SSX_ADAM_C1]), b2 = _mm256_set1_ps(c[SSX_ADAM_B2]),
           c2 = _mm256_set1_ps(c[SSX_ADAM_C2]), i1 = _mm256_set1_ps(c[SSX_ADAM_IBC1]),
           i2 = _mm256_set1_ps(c[SSX_ADAM_IBC2]), nlr = _mm256_set1_ps(c[SSX_ADAM_NLR]),
           eps = _mm256_set1_ps(c[SSX_ADAM_EPS]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_mul_ps(g ? _mm256_loadu_ps(g + i) : _mm256_setzero_ps(), gs);
        __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i),
                                    _mm256_mul_ps(c2, _mm256_mul_ps(gi, gi)));
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, i2)), eps);
        __m256 pi = _mm256_fmadd_ps(nlr, _mm256_div_ps(_mm256_mul_ps(mi, i1), den),
                                    _mm256_loadu_ps(p + i));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    if (i < n) adam_scalar(p + i, g ? g + i : g, m + i, v + i, n - i, c);
}

AVX2 static void adam_idle_avx2(float *p, float *m, float *v, int64_t n, int64_t steps,
                                const float *ibc, int64_t stride, const float *c) {
    int64_t idle[64]; /* per vector of the row: the step from which m is +0 */
    if (n > 8 * 64) {
        for (int64_t i = 0; i < n; i += 8 * 64)
            adam_idle_avx2(p + i, m + i, v + i, n - i < 8 * 64 ? n - i : 8 * 64, steps, ibc, stride, c);
        return;
    }
    __m256 b1 = _mm256_set1_ps(c[SSX_ADAM_B1]), b2 = _mm256_set1_ps(c[SSX_ADAM_B2]),
           nlr = _mm256_set1_ps(c[SSX_ADAM_NLR]), eps = _mm256_set1_ps(c[SSX_ADAM_EPS]),
           zero = _mm256_setzero_ps();
    int64_t i = 0, jv = 0; /* the v-only steps [jv, steps) are left to all vectors at once */
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i), mi = _mm256_loadu_ps(m + i),
               vi = _mm256_loadu_ps(v + i);
        int64_t j = 0;
        for (; j < steps; j++) {
            __m256i mb = _mm256_castps_si256(mi);
            if (_mm256_testz_si256(mb, mb)) break;
            __m256 z = _mm256_castsi256_ps(_mm256_cmpeq_epi32(mb, _mm256_setzero_si256()));
            mi = _mm256_fmadd_ps(b1, mi, zero);
            vi = _mm256_fmadd_ps(b2, vi, zero);
            __m256 den = _mm256_add_ps(
                _mm256_sqrt_ps(_mm256_mul_ps(vi, _mm256_set1_ps(ibc[j * stride + 1]))), eps);
            __m256 np = _mm256_fmadd_ps(
                nlr, _mm256_div_ps(_mm256_mul_ps(mi, _mm256_set1_ps(ibc[j * stride])), den), pi);
            pi = _mm256_blendv_ps(np, pi, z);
        }
        _mm256_storeu_ps(p + i, pi);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        idle[i / 8] = j;
        jv = j > jv ? j : jv;
    }
    int64_t nv = i / 8;
    /* v decays alone: each vector to the latest start, then up to eight
     * independent chains side by side, until every lane is +0 (FTZ: then it
     * stays +0) */
    for (int64_t k = 0; k < nv; k++) {
        __m256 vi = _mm256_loadu_ps(v + 8 * k);
        for (int64_t j = idle[k]; j < jv; j++) vi = _mm256_fmadd_ps(b2, vi, zero);
        _mm256_storeu_ps(v + 8 * k, vi);
    }
    for (int64_t k0 = 0; k0 < nv; k0 += 8) {
        int64_t k1 = k0 + 8 < nv ? k0 + 8 : nv;
        __m256 vk[8];
        for (int64_t k = k0; k < k1; k++) vk[k - k0] = _mm256_loadu_ps(v + 8 * k);
        for (int64_t j = jv; j < steps;) {
            int64_t j1 = j + 64 < steps ? j + 64 : steps;
            for (; j < j1; j++)
                for (int64_t k = 0; k < k1 - k0; k++) vk[k] = _mm256_fmadd_ps(b2, vk[k], zero);
            __m256 any = zero;
            for (int64_t k = 0; k < k1 - k0; k++) any = _mm256_or_ps(any, vk[k]);
            if (_mm256_testz_si256(_mm256_castps_si256(any), _mm256_castps_si256(any))) break;
        }
        for (int64_t k = k0; k < k1; k++) _mm256_storeu_ps(v + 8 * k, vk[k - k0]);
    }
    if (i < n) adam_idle_scalar(p + i, m + i, v + i, n - i, steps, ibc, stride, c);
}

/* AVX-512: the AVX2 operations in sixteen lanes, the same bits. */
AVX512 static void vexp_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, expf16(_mm512_loadu_ps(x + i)));
    if (i < n) vexp_avx2(x + i, y + i, n - i);
}

AVX512 static void adam_avx512(float *p, const float *g, float *m, float *v, int64_t n,
                               const float *c) {
    __m512 gs = _mm512_set1_ps(c[SSX_ADAM_GS]), b1 = _mm512_set1_ps(c[SSX_ADAM_B1]),
           c1 = _mm512_set1_ps(c[SSX_ADAM_C1]), b2 = _mm512_set1_ps(c[SSX_ADAM_B2]),
           c2 = _mm512_set1_ps(c[SSX_ADAM_C2]), i1 = _mm512_set1_ps(c[SSX_ADAM_IBC1]),
           i2 = _mm512_set1_ps(c[SSX_ADAM_IBC2]), nlr = _mm512_set1_ps(c[SSX_ADAM_NLR]),
           eps = _mm512_set1_ps(c[SSX_ADAM_EPS]);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_mul_ps(g ? _mm512_loadu_ps(g + i) : _mm512_setzero_ps(), gs);
        __m512 mi = _mm512_fmadd_ps(b1, _mm512_loadu_ps(m + i), _mm512_mul_ps(c1, gi));
        __m512 vi = _mm512_fmadd_ps(b2, _mm512_loadu_ps(v + i),
                                    _mm512_mul_ps(c2, _mm512_mul_ps(gi, gi)));
        __m512 den = _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vi, i2)), eps);
        __m512 pi = _mm512_fmadd_ps(nlr, _mm512_div_ps(_mm512_mul_ps(mi, i1), den),
                                    _mm512_loadu_ps(p + i));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(p + i, pi);
    }
    if (i < n) adam_avx2(p + i, g ? g + i : g, m + i, v + i, n - i, c);
}

void ssx_elem_kernels(ssx_kernel_set *k, int level) {
    k->vexp = level >= 2 ? vexp_avx512 : level ? vexp_avx2 : vexp_scalar;
    k->mix_dense = level ? mix_dense_avx2 : mix_dense_scalar;
    k->rank_add = level ? rank_add_avx2 : rank_add_scalar;
    k->vlog = level ? vlog_avx2 : vlog_scalar;
    k->adam = level >= 2 ? adam_avx512 : level ? adam_avx2 : adam_scalar;
    /* a row of E is 32 lanes and the divider sets the pace: sixteen lanes
     * gain nothing over eight (measured), so AVX-512 uses the AVX2 kernel */
    k->adam_idle = level ? adam_idle_avx2 : adam_idle_scalar;
}
