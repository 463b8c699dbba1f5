/* k_softmax.c - softmax to integer frequencies for the range coder, and the
 * sums over it that the learned mixer needs. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "mathf.h"
#include "simd_math.h"

/* The maximum does not depend on the order of comparisons (no NaNs occur),
 * so both versions agree whatever their order. */
static float max_scalar(const float *x, int64_t n) {
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* Fixed reduction of eight double lanes, shared by all paths. */
static double sum8(const double a[8]) {
    return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

static double exp_sum_scalar(const float *x, int64_t n8, float shift, float *e) {
    double acc[8] = {0};
    for (int64_t i = 0; i < n8; i += 8)
        for (int l = 0; l < 8; l++) {
            e[i + l] = ssx_expf(x[i + l] - shift);
            acc[l] += (double)e[i + l];
        }
    return sum8(acc);
}

static double exp_sum_dot_scalar(const float *x, int64_t n8, float shift, float *e,
                                 const float *const *vec, int nvec, double *dot) {
    double acc[8] = {0}, d[SSX_MAX_DOT][8] = {{0}};
    for (int64_t i = 0; i < n8; i += 8)
        for (int l = 0; l < 8; l++) {
            double v = (double)(e[i + l] = ssx_expf(x[i + l] - shift));
            acc[l] += v;
            for (int k = 0; k < nvec; k++) d[k][l] += v * (double)vec[k][i + l];
        }
    for (int k = 0; k < nvec; k++) dot[k] = sum8(d[k]);
    return sum8(acc);
}

static double exp_sum_ent_scalar(const float *x, int64_t n8, float shift, float *e,
                                 int64_t nv, double *ent) {
    double acc[8] = {0}, h[8] = {0};
    for (int64_t i = 0; i < n8; i += 8)
        for (int l = 0; l < 8; l++) {
            float d = x[i + l] - shift;
            e[i + l] = ssx_expf(d);
            acc[l] += (double)e[i + l];
            if (i + l < nv) h[l] += (double)e[i + l] * (double)d;
        }
    *ent = sum8(h);
    return sum8(acc);
}

static uint64_t freq_scalar(const float *e, int64_t n, double scale, uint32_t *f) {
    uint64_t tot = 0;
    for (int64_t i = 0; i < n; i++) {
        f[i] = 1u + (uint32_t)(int32_t)((double)e[i] * scale);
        tot += f[i];
    }
    return tot;
}

AVX2 static float max_avx2(const float *x, int64_t n) {
    if (n < 16) return max_scalar(x, n);
    __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
    int64_t i = 16;
    for (; i + 16 <= n; i += 16) {
        a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_max_ps(b, _mm256_loadu_ps(x + i + 8));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(a, b));
    float m = max_scalar(lanes, 8);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

AVX2 static double exp_sum_avx2(const float *x, int64_t n8, float shift, float *e) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    __m256 s = _mm256_set1_ps(shift);
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(e + i, v);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double acc[8];
    _mm256_storeu_pd(acc, lo);
    _mm256_storeu_pd(acc + 4, hi);
    return sum8(acc);
}

AVX2 static double exp_sum_dot_avx2(const float *x, int64_t n8, float shift, float *e,
                                    const float *const *vec, int nvec, double *dot) {
    __m256d lo = _mm256_setzero_pd(), hi = lo, dlo[SSX_MAX_DOT], dhi[SSX_MAX_DOT];
    for (int k = 0; k < SSX_MAX_DOT; k++) dlo[k] = dhi[k] = lo;
    __m256 s = _mm256_set1_ps(shift);
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(e + i, v);
        __m256d vl = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d vh = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        lo = _mm256_add_pd(lo, vl);
        hi = _mm256_add_pd(hi, vh);
        for (int k = 0; k < nvec; k++) {
            __m256 a = _mm256_loadu_ps(vec[k] + i);
            dlo[k] = _mm256_add_pd(dlo[k], _mm256_mul_pd(vl, _mm256_cvtps_pd(_mm256_castps256_ps128(a))));
            dhi[k] = _mm256_add_pd(dhi[k], _mm256_mul_pd(vh, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1))));
        }
    }
    double acc[8];
    for (int k = 0; k < nvec; k++) {
        _mm256_storeu_pd(acc, dlo[k]);
        _mm256_storeu_pd(acc + 4, dhi[k]);
        dot[k] = sum8(acc);
    }
    _mm256_storeu_pd(acc, lo);
    _mm256_storeu_pd(acc + 4, hi);
    return sum8(acc);
}

AVX2 static double exp_sum_ent_avx2(const float *x, int64_t n8, float shift, float *e,
                                    int64_t nv, double *ent) {
    __m256d lo = _mm256_setzero_pd(), hi = lo, hlo = lo, hhi = lo;
    __m256 s = _mm256_set1_ps(shift);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), s);
        __m256 v = expf8(d);
        _mm256_storeu_ps(e + i, v);
        __m256d vl = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d vh = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        lo = _mm256_add_pd(lo, vl);
        hi = _mm256_add_pd(hi, vh);
        if (i + 8 > nv) { /* lanes at or past nv add nothing (+0 changes no sum here) */
            int64_t left = nv - i < 0 ? 0 : nv - i;
            __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), iota);
            d = _mm256_and_ps(d, _mm256_castsi256_ps(keep));
            v = _mm256_and_ps(v, _mm256_castsi256_ps(keep));
            vl = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
            vh = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        }
        hlo = _mm256_add_pd(hlo, _mm256_mul_pd(vl, _mm256_cvtps_pd(_mm256_castps256_ps128(d))));
        hhi = _mm256_add_pd(hhi, _mm256_mul_pd(vh, _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1))));
    }
    double acc[8];
    _mm256_storeu_pd(acc, hlo);
    _mm256_storeu_pd(acc + 4, hhi);
    *ent = sum8(acc);
    _mm256_storeu_pd(acc, lo);
    _mm256_storeu_pd(acc + 4, hi);
    return sum8(acc);
}

AVX2 static uint64_t freq_avx2(const float *e, int64_t n, double scale, uint32_t *f) {
    __m256d sc = _mm256_set1_pd(scale);
    __m128i one = _mm_set1_epi32(1);
    __m256i tot = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d d = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(e + i)), sc);
        __m128i q = _mm_add_epi32(_mm256_cvttpd_epi32(d), one);
        _mm_storeu_si128((__m128i *)(f + i), q);
        tot = _mm256_add_epi64(tot, _mm256_cvtepu32_epi64(q));
    }
    uint64_t t[4];
    _mm256_storeu_si256((__m256i *)t, tot);
    uint64_t sum = t[0] + t[1] + t[2] + t[3];
    for (; i < n; i++) {
        f[i] = 1u + (uint32_t)(int32_t)((double)e[i] * scale);
        sum += f[i];
    }
    return sum;
}

/* AVX-512: sixteen values a step, added to the eight double lanes as two
 * halves in index order, so every lane sums what its AVX2 twin sums, in the
 * same order. */
AVX512 static double exp_sum_avx512(const float *x, int64_t n8, float shift, float *e) {
    __m512d acc = _mm512_setzero_pd();
    __m512 s = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= n8; i += 16) {
        __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        _mm512_storeu_ps(e + i, v);
        acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    if (i < n8) {
        __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(shift)));
        _mm256_storeu_ps(e + i, v);
        acc = _mm512_add_pd(acc, _mm512_cvtps_pd(v));
    }
    double a[8];
    _mm512_storeu_pd(a, acc);
    return sum8(a);
}

AVX512 static double exp_sum_ent_avx512(const float *x, int64_t n8, float shift, float *e,
                                        int64_t nv, double *ent) {
    __m512d acc = _mm512_setzero_pd(), h = acc;
    __m512 s = _mm512_set1_ps(shift);
    int64_t i = 0, full = nv < n8 ? nv : n8;
    for (; i + 16 <= full; i += 16) { /* every lane counts: no masks */
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), s);
        __m512 v = expf16(d);
        _mm512_storeu_ps(e + i, v);
        __m512d vl = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d vh = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        acc = _mm512_add_pd(acc, vl);
        acc = _mm512_add_pd(acc, vh);
        h = _mm512_add_pd(h, _mm512_mul_pd(vl, _mm512_cvtps_pd(_mm512_castps512_ps256(d))));
        h = _mm512_add_pd(h, _mm512_mul_pd(vh, _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1))));
    }
    for (; i < n8; i += 16) {
        __mmask16 in = i + 16 <= n8 ? 0xffff : 0x00ff; /* n8 is a multiple of 8 */
        __m512 d = _mm512_maskz_sub_ps(in, _mm512_maskz_loadu_ps(in, x + i), s);
        __m512 v = expf16(d);
        _mm512_mask_storeu_ps(e + i, in, v);
        acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        if (in == 0xffff) acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
        int64_t left = nv - i < 0 ? 0 : nv - i > 16 ? 16 : nv - i;
        __mmask16 keep = (__mmask16)((1u << left) - 1u) & in;
        d = _mm512_maskz_mov_ps(keep, d); /* lanes at or past nv add +0 */
        v = _mm512_maskz_mov_ps(keep, v);
        h = _mm512_add_pd(h, _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                                           _mm512_cvtps_pd(_mm512_castps512_ps256(d))));
        if (in == 0xffff)
            h = _mm512_add_pd(h, _mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)),
                                               _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1))));
    }
    double a[8];
    _mm512_storeu_pd(a, h);
    *ent = sum8(a);
    _mm512_storeu_pd(a, acc);
    return sum8(a);
}

AVX512 static double exp_sum_dot_avx512(const float *x, int64_t n8, float shift, float *e,
                                        const float *const *vec, int nvec, double *dot) {
    __m512d acc = _mm512_setzero_pd(), d[SSX_MAX_DOT];
    for (int k = 0; k < SSX_MAX_DOT; k++) d[k] = acc;
    __m512 s = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= n8; i += 16) {
        __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        _mm512_storeu_ps(e + i, v);
        __m512d vl = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d vh = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        acc = _mm512_add_pd(acc, vl);
        acc = _mm512_add_pd(acc, vh);
        for (int k = 0; k < nvec; k++) {
            __m512 a = _mm512_loadu_ps(vec[k] + i);
            d[k] = _mm512_add_pd(d[k], _mm512_mul_pd(vl, _mm512_cvtps_pd(_mm512_castps512_ps256(a))));
            d[k] = _mm512_add_pd(d[k], _mm512_mul_pd(vh, _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))));
        }
    }
    if (i < n8) { /* n8 is a multiple of 8: one group of eight left */
        __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(shift)));
        _mm256_storeu_ps(e + i, v);
        __m512d vl = _mm512_cvtps_pd(v);
        acc = _mm512_add_pd(acc, vl);
        for (int k = 0; k < nvec; k++)
            d[k] = _mm512_add_pd(d[k], _mm512_mul_pd(vl, _mm512_cvtps_pd(_mm256_loadu_ps(vec[k] + i))));
    }
    double a[8];
    for (int k = 0; k < nvec; k++) {
        _mm512_storeu_pd(a, d[k]);
        dot[k] = sum8(a);
    }
    _mm512_storeu_pd(a, acc);
    return sum8(a);
}

AVX512 static uint64_t freq_avx512(const float *e, int64_t n, double scale, uint32_t *f) {
    __m512d sc = _mm512_set1_pd(scale);
    __m256i one = _mm256_set1_epi32(1);
    __m512i tot = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d d = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(e + i)), sc);
        __m256i q = _mm256_add_epi32(_mm512_cvttpd_epi32(d), one);
        _mm256_storeu_si256((__m256i *)(f + i), q);
        tot = _mm512_add_epi64(tot, _mm512_cvtepu32_epi64(q));
    }
    uint64_t sum = (uint64_t)_mm512_reduce_add_epi64(tot); /* integers: any order */
    if (i < n) sum += freq_avx2(e + i, n - i, scale, f + i);
    return sum;
}

/* Sums of e per token class: four interleaved sets of sums (a token's class
 * decides where it adds, so one set would chain every addition), combined
 * in a fixed order.  The AVX2 twin keeps the four sets as the lanes of one
 * register per class and adds +0 where a lane's token is of another class:
 * the same additions, as e >= 0 makes x + 0 = x exact. */
static void class_sums_scalar(const float *e, const uint8_t *cls, int64_t n, double *csum) {
    double acc[4][8] = {{0}};
    for (int64_t i = 0; i < n; i++) acc[i & 3][cls[i]] += (double)e[i];
    for (int k = 0; k < 8; k++) csum[k] = (acc[0][k] + acc[1][k]) + (acc[2][k] + acc[3][k]);
}

AVX2 static void class_sums_avx2(const float *e, const uint8_t *cls, int64_t n, double *csum) {
    __m256d acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(e + i));
        int32_t c4;
        memcpy(&c4, cls + i, 4);
        __m256i c = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(c4));
        for (int k = 0; k < 8; k++) {
            __m256d on = _mm256_castsi256_pd(_mm256_cmpeq_epi64(c, _mm256_set1_epi64x(k)));
            acc[k] = _mm256_add_pd(acc[k], _mm256_and_pd(v, on));
        }
    }
    double a[4][8];
    for (int k = 0; k < 8; k++) {
        double l[4];
        _mm256_storeu_pd(l, acc[k]);
        for (int j = 0; j < 4; j++) a[j][k] = l[j];
    }
    for (; i < n; i++) a[i & 3][cls[i]] += (double)e[i];
    for (int k = 0; k < 8; k++) csum[k] = (a[0][k] + a[1][k]) + (a[2][k] + a[3][k]);
}

void ssx_softmax_kernels(ssx_kernel_set *k, int level) {
    int avx2 = level > 0;
    k->max = avx2 ? max_avx2 : max_scalar;
    k->exp_sum = level >= 2 ? exp_sum_avx512 : avx2 ? exp_sum_avx2 : exp_sum_scalar;
    k->exp_sum_dot = level >= 2 ? exp_sum_dot_avx512 : avx2 ? exp_sum_dot_avx2 : exp_sum_dot_scalar;
    k->exp_sum_ent = level >= 2 ? exp_sum_ent_avx512 : avx2 ? exp_sum_ent_avx2 : exp_sum_ent_scalar;
    k->freq = level >= 2 ? freq_avx512 : avx2 ? freq_avx2 : freq_scalar;
    k->class_sums = avx2 ? class_sums_avx2 : class_sums_scalar;
}
