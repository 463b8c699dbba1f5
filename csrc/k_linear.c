/* k_linear.c - the SSM layers' dense projections, forward and backward.
 * Weights are input-major, w[i][o], so the forward is a chain of AXPYs. */
#include "kernels.h"
#include "simd_math.h"

static void lin_fwd_scalar(const float *x, int T, int I, const float *w, int O, float *y) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++) {
            float acc = y[t * O + o];
            for (int i = 0; i < I; i++) acc = fmaf(w[i * O + o], x[t * I + i], acc);
            y[t * O + o] = acc;
        }
}

static void lin_bwd_x_scalar(const float *dy, int T, int O, const float *w, int I, float *dx) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < I; i++) {
            float acc[8] = {0};
            for (int o = 0; o < O; o += 8)
                for (int l = 0; l < 8; l++)
                    acc[l] = fmaf(w[i * O + o + l], dy[t * O + o + l], acc[l]);
            dx[t * I + i] += ssx_sum8f(acc);
        }
}

static void lin_bwd_w_scalar(const float *x, const float *dy, int T, int I, int O, float *dw) {
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o++) {
            float acc = dw[i * O + o];
            for (int t = 0; t < T; t++) acc = fmaf(x[t * I + i], dy[t * O + o], acc);
            dw[i * O + o] = acc;
        }
}

AVX2 static void lin_fwd_avx2(const float *x, int T, int I, const float *w, int O, float *y) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * I;
        float *yt = y + (int64_t)t * O;
        int o = 0;
        for (; o + 32 <= O; o += 32) {
            __m256 a0 = _mm256_loadu_ps(yt + o), a1 = _mm256_loadu_ps(yt + o + 8),
                   a2 = _mm256_loadu_ps(yt + o + 16), a3 = _mm256_loadu_ps(yt + o + 24);
            for (int i = 0; i < I; i++) {
                __m256 xb = _mm256_broadcast_ss(xt + i);
                const float *wi = w + (int64_t)i * O + o;
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wi), xb, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wi + 8), xb, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(wi + 16), xb, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(wi + 24), xb, a3);
            }
            _mm256_storeu_ps(yt + o, a0);
            _mm256_storeu_ps(yt + o + 8, a1);
            _mm256_storeu_ps(yt + o + 16, a2);
            _mm256_storeu_ps(yt + o + 24, a3);
        }
        for (; o < O; o += 8) {
            __m256 a0 = _mm256_loadu_ps(yt + o);
            for (int i = 0; i < I; i++)
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + (int64_t)i * O + o),
                                     _mm256_broadcast_ss(xt + i), a0);
            _mm256_storeu_ps(yt + o, a0);
        }
    }
}

AVX2 static void lin_bwd_x_avx2(const float *dy, int T, int O, const float *w, int I, float *dx) {
    float lanes[8];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < I; i++) {
            __m256 acc = _mm256_setzero_ps();
            for (int o = 0; o < O; o += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + (int64_t)i * O + o),
                                      _mm256_loadu_ps(dy + (int64_t)t * O + o), acc);
            _mm256_storeu_ps(lanes, acc);
            dx[t * I + i] += ssx_sum8f(lanes);
        }
}

AVX2 static void lin_bwd_w_avx2(const float *x, const float *dy, int T, int I, int O, float *dw) {
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o += 8) {
            __m256 acc = _mm256_loadu_ps(dw + (int64_t)i * O + o);
            for (int t = 0; t < T; t++)
                acc = _mm256_fmadd_ps(_mm256_broadcast_ss(x + (int64_t)t * I + i),
                                      _mm256_loadu_ps(dy + (int64_t)t * O + o), acc);
            _mm256_storeu_ps(dw + (int64_t)i * O + o, acc);
        }
}

void ssx_linear_kernels(ssx_kernel_set *k, int avx2) {
    k->lin_fwd = avx2 ? lin_fwd_avx2 : lin_fwd_scalar;
    k->lin_bwd_x = avx2 ? lin_bwd_x_avx2 : lin_bwd_x_scalar;
    k->lin_bwd_w = avx2 ? lin_bwd_w_avx2 : lin_bwd_w_scalar;
}
