/* k_head.c - the output head: vocabulary rows against the final features.
 *
 * The head weights are stored in blocks of eight vocabulary rows transposed,
 * wb[b][k][l] = W[8b + l][k], so eight logits are one register and every
 * logit is a single FMA chain over k: no horizontal sums in the hot loop. */
#include "kernels.h"
#include "simd_math.h"

#define K SSX_DM

static void head_fwd_scalar(const float *wb, int64_t b0, int64_t b1, const float *x, int T,
                            float *out, int64_t ld) {
    for (int64_t b = b0; b < b1; b++)
        for (int t = 0; t < T; t++)
            for (int l = 0; l < 8; l++) {
                float acc = 0.0f;
                for (int k = 0; k < K; k++)
                    acc = fmaf(wb[(b * K + k) * 8 + l], x[t * K + k], acc);
                out[t * ld + b * 8 + l] = acc;
            }
}

static void head_bwd_w_scalar(const float *dl, int64_t ld, const float *x, int T,
                              int64_t b0, int64_t b1, float *dwb) {
    for (int64_t b = b0; b < b1; b++)
        for (int k = 0; k < K; k++)
            for (int l = 0; l < 8; l++) {
                float acc = dwb[(b * K + k) * 8 + l];
                for (int t = 0; t < T; t++) acc = fmaf(dl[t * ld + b * 8 + l], x[t * K + k], acc);
                dwb[(b * K + k) * 8 + l] = acc;
            }
}

static void head_bwd_x_scalar(const float *dl, int64_t ld, const float *wb, int T,
                              int64_t b0, int64_t b1, float *part) {
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++)
            for (int l = 0; l < 8; l++) {
                float acc = part[(t * K + k) * 8 + l];
                for (int64_t b = b0; b < b1; b++)
                    acc = fmaf(dl[t * ld + b * 8 + l], wb[(b * K + k) * 8 + l], acc);
                part[(t * K + k) * 8 + l] = acc;
            }
}

AVX2 static void head_fwd_avx2(const float *wb, int64_t b0, int64_t b1, const float *x, int T,
                               float *out, int64_t ld) {
    int64_t b = b0;
    if (T == 1) { /* coding: four independent chains hide the FMA latency */
        for (; b + 4 <= b1; b += 4) {
            const float *w = wb + b * K * 8;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k < K; k++) {
                __m256 xb = _mm256_broadcast_ss(x + k);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k * 8), xb, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + (K + k) * 8), xb, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + (2 * K + k) * 8), xb, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + (3 * K + k) * 8), xb, a3);
            }
            _mm256_storeu_ps(out + b * 8, a0);
            _mm256_storeu_ps(out + b * 8 + 8, a1);
            _mm256_storeu_ps(out + b * 8 + 16, a2);
            _mm256_storeu_ps(out + b * 8 + 24, a3);
        }
    }
    for (; b < b1; b++) {
        const float *w = wb + b * K * 8;
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            const float *x0 = x + t * K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k < K; k++) {
                __m256 wk = _mm256_loadu_ps(w + k * 8);
                a0 = _mm256_fmadd_ps(wk, _mm256_broadcast_ss(x0 + k), a0);
                a1 = _mm256_fmadd_ps(wk, _mm256_broadcast_ss(x0 + K + k), a1);
                a2 = _mm256_fmadd_ps(wk, _mm256_broadcast_ss(x0 + 2 * K + k), a2);
                a3 = _mm256_fmadd_ps(wk, _mm256_broadcast_ss(x0 + 3 * K + k), a3);
            }
            _mm256_storeu_ps(out + t * ld + b * 8, a0);
            _mm256_storeu_ps(out + (t + 1) * ld + b * 8, a1);
            _mm256_storeu_ps(out + (t + 2) * ld + b * 8, a2);
            _mm256_storeu_ps(out + (t + 3) * ld + b * 8, a3);
        }
        for (; t < T; t++) {
            __m256 a0 = _mm256_setzero_ps();
            for (int k = 0; k < K; k++)
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k * 8),
                                     _mm256_broadcast_ss(x + t * K + k), a0);
            _mm256_storeu_ps(out + t * ld + b * 8, a0);
        }
    }
}

AVX2 static void head_bwd_w_avx2(const float *dl, int64_t ld, const float *x, int T,
                                 int64_t b0, int64_t b1, float *dwb) {
    for (int64_t b = b0; b < b1; b++) {
        float *dw = dwb + b * K * 8;
        for (int k = 0; k < K; k += 8) {
            __m256 a[8];
            for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(dw + (k + j) * 8);
            for (int t = 0; t < T; t++) {
                __m256 d = _mm256_loadu_ps(dl + t * ld + b * 8);
                const float *xt = x + t * K + k;
                for (int j = 0; j < 8; j++)
                    a[j] = _mm256_fmadd_ps(d, _mm256_broadcast_ss(xt + j), a[j]);
            }
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(dw + (k + j) * 8, a[j]);
        }
    }
}

AVX2 static void head_bwd_x_avx2(const float *dl, int64_t ld, const float *wb, int T,
                                 int64_t b0, int64_t b1, float *part) {
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k += 8) {
            float *pt = part + (t * K + k) * 8;
            __m256 a[8];
            for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(pt + j * 8);
            for (int64_t b = b0; b < b1; b++) {
                __m256 d = _mm256_loadu_ps(dl + t * ld + b * 8);
                const float *w = wb + (b * K + k) * 8;
                for (int j = 0; j < 8; j++)
                    a[j] = _mm256_fmadd_ps(d, _mm256_loadu_ps(w + j * 8), a[j]);
            }
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(pt + j * 8, a[j]);
        }
}

void ssx_head_kernels(ssx_kernel_set *k, int avx2) {
    k->head_fwd = avx2 ? head_fwd_avx2 : head_fwd_scalar;
    k->head_bwd_w = avx2 ? head_bwd_w_avx2 : head_bwd_w_scalar;
    k->head_bwd_x = avx2 ? head_bwd_x_avx2 : head_bwd_x_scalar;
}
