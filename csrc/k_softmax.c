/* k_softmax.c - softmax to integer frequencies for the range coder. */
#include <immintrin.h>
#include <math.h>

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

/* Fixed reduction of eight double lanes, shared by both paths. */
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

void ssx_softmax_kernels(ssx_kernel_set *k, int avx2) {
    k->max = avx2 ? max_avx2 : max_scalar;
    k->exp_sum = avx2 ? exp_sum_avx2 : exp_sum_scalar;
    k->exp_sum_dot = avx2 ? exp_sum_dot_avx2 : exp_sum_dot_scalar;
    k->freq = avx2 ? freq_avx2 : freq_scalar;
}
