/* k_head_body.h - the output head: vocabulary rows against the final
 * features, compiled once per model width (k_head32.c, k_head64.c: K, and
 * HEAD_SLOT, the width's entry in the kernel set).
 *
 * The head weights are stored in blocks of eight vocabulary rows transposed,
 * wb[b][k][l] = W[8b + l][k], so eight logits are one register and every
 * logit is a single FMA chain over k: no horizontal sums in the hot loop.
 * The widths and the longest chunk (SSM_TMAX positions a call) are ssm.h's. */
#include "kernels.h"
#include "simd_math.h"
#include "ssm.h"

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
                float acc = 0.0f;
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

/* Register tiles: two row blocks by four positions (forward), two positions
 * by four features (input gradient), two row blocks by four features (weight
 * gradient): six loads feed eight FMAs.  The per-output FMA order is the
 * scalar twin's. */
AVX2 static void head_fwd_avx2(const float *wb, int64_t b0, int64_t b1, const float *x, int T,
                               float *out, int64_t ld) {
    int64_t b = b0;
    if (T == 1) { /* coding: eight independent chains keep both FMA ports busy */
        for (; b + 8 <= b1; b += 8) {
            const float *w = wb + b * K * 8;
            __m256 a[8];
            for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
            for (int k = 0; k < K; k++) {
                __m256 xb = _mm256_broadcast_ss(x + k);
                for (int r = 0; r < 8; r++)
                    a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (r * K + k) * 8), xb, a[r]);
            }
            for (int r = 0; r < 8; r++) _mm256_storeu_ps(out + (b + r) * 8, a[r]);
        }
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
    for (; b + 2 <= b1 && T >= 4; b += 2) {
        const float *w0 = wb + b * K * 8, *w1 = w0 + K * 8;
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            const float *xt = x + t * K;
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
            __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            for (int k = 0; k < K; k++) {
                __m256 u = _mm256_loadu_ps(w0 + k * 8), v = _mm256_loadu_ps(w1 + k * 8);
                __m256 x0 = _mm256_broadcast_ss(xt + k), x1 = _mm256_broadcast_ss(xt + K + k);
                a00 = _mm256_fmadd_ps(u, x0, a00);
                a10 = _mm256_fmadd_ps(v, x0, a10);
                a01 = _mm256_fmadd_ps(u, x1, a01);
                a11 = _mm256_fmadd_ps(v, x1, a11);
                __m256 x2 = _mm256_broadcast_ss(xt + 2 * K + k), x3 = _mm256_broadcast_ss(xt + 3 * K + k);
                a02 = _mm256_fmadd_ps(u, x2, a02);
                a12 = _mm256_fmadd_ps(v, x2, a12);
                a03 = _mm256_fmadd_ps(u, x3, a03);
                a13 = _mm256_fmadd_ps(v, x3, a13);
            }
            float *o = out + t * ld + b * 8;
            _mm256_storeu_ps(o, a00);
            _mm256_storeu_ps(o + 8, a10);
            _mm256_storeu_ps(o + ld, a01);
            _mm256_storeu_ps(o + ld + 8, a11);
            _mm256_storeu_ps(o + 2 * ld, a02);
            _mm256_storeu_ps(o + 2 * ld + 8, a12);
            _mm256_storeu_ps(o + 3 * ld, a03);
            _mm256_storeu_ps(o + 3 * ld + 8, a13);
        }
        for (; t < T; t++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int k = 0; k < K; k++) {
                __m256 xb = _mm256_broadcast_ss(x + t * K + k);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k * 8), xb, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k * 8), xb, a1);
            }
            _mm256_storeu_ps(out + t * ld + b * 8, a0);
            _mm256_storeu_ps(out + t * ld + b * 8 + 8, a1);
        }
    }
    for (; b < b1; b++) {
        const float *w = wb + b * K * 8;
        for (int t = 0; t < T; t++) {
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
    int64_t b = b0;
    for (; b + 2 <= b1; b += 2) {
        float *d0 = dwb + b * K * 8, *d1 = d0 + K * 8;
        for (int k = 0; k < K; k += 4) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00,
                   a11 = a00, a12 = a00, a13 = a00;
            for (int t = 0; t < T; t++) {
                __m256 u = _mm256_loadu_ps(dl + t * ld + b * 8);
                __m256 v = _mm256_loadu_ps(dl + t * ld + b * 8 + 8);
                const float *xt = x + t * K + k;
                __m256 x0 = _mm256_broadcast_ss(xt), x1 = _mm256_broadcast_ss(xt + 1);
                a00 = _mm256_fmadd_ps(u, x0, a00);
                a10 = _mm256_fmadd_ps(v, x0, a10);
                a01 = _mm256_fmadd_ps(u, x1, a01);
                a11 = _mm256_fmadd_ps(v, x1, a11);
                __m256 x2 = _mm256_broadcast_ss(xt + 2), x3 = _mm256_broadcast_ss(xt + 3);
                a02 = _mm256_fmadd_ps(u, x2, a02);
                a12 = _mm256_fmadd_ps(v, x2, a12);
                a03 = _mm256_fmadd_ps(u, x3, a03);
                a13 = _mm256_fmadd_ps(v, x3, a13);
            }
            _mm256_storeu_ps(d0 + k * 8, a00);
            _mm256_storeu_ps(d0 + (k + 1) * 8, a01);
            _mm256_storeu_ps(d0 + (k + 2) * 8, a02);
            _mm256_storeu_ps(d0 + (k + 3) * 8, a03);
            _mm256_storeu_ps(d1 + k * 8, a10);
            _mm256_storeu_ps(d1 + (k + 1) * 8, a11);
            _mm256_storeu_ps(d1 + (k + 2) * 8, a12);
            _mm256_storeu_ps(d1 + (k + 3) * 8, a13);
        }
    }
    for (; b < b1; b++) {
        float *dw = dwb + b * K * 8;
        for (int k = 0; k < K; k++) {
            __m256 a = _mm256_setzero_ps();
            for (int t = 0; t < T; t++)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(dl + t * ld + b * 8),
                                    _mm256_broadcast_ss(x + t * K + k), a);
            _mm256_storeu_ps(dw + k * 8, a);
        }
    }
}

#define BX_CHUNK (512 / K) /* row blocks of W kept in L1 while all positions pass */

AVX2 static void head_bwd_x_avx2(const float *dl, int64_t ld, const float *wb, int T,
                                 int64_t b0, int64_t b1, float *part) {
    for (int64_t c0 = b0; c0 < b1; c0 += BX_CHUNK) {
        int64_t c1 = c0 + BX_CHUNK < b1 ? c0 + BX_CHUNK : b1;
        int t = 0;
        for (; t + 2 <= T; t += 2)
            for (int k = 0; k < K; k += 4) {
                float *p0 = part + (t * K + k) * 8, *p1 = p0 + K * 8;
                __m256 a00 = _mm256_loadu_ps(p0), a01 = _mm256_loadu_ps(p0 + 8),
                       a02 = _mm256_loadu_ps(p0 + 16), a03 = _mm256_loadu_ps(p0 + 24),
                       a10 = _mm256_loadu_ps(p1), a11 = _mm256_loadu_ps(p1 + 8),
                       a12 = _mm256_loadu_ps(p1 + 16), a13 = _mm256_loadu_ps(p1 + 24);
                for (int64_t b = c0; b < c1; b++) {
                    __m256 u = _mm256_loadu_ps(dl + t * ld + b * 8);
                    __m256 v = _mm256_loadu_ps(dl + (t + 1) * ld + b * 8);
                    const float *w = wb + (b * K + k) * 8;
                    __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                    a00 = _mm256_fmadd_ps(u, w0, a00);
                    a10 = _mm256_fmadd_ps(v, w0, a10);
                    a01 = _mm256_fmadd_ps(u, w1, a01);
                    a11 = _mm256_fmadd_ps(v, w1, a11);
                    __m256 w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
                    a02 = _mm256_fmadd_ps(u, w2, a02);
                    a12 = _mm256_fmadd_ps(v, w2, a12);
                    a03 = _mm256_fmadd_ps(u, w3, a03);
                    a13 = _mm256_fmadd_ps(v, w3, a13);
                }
                _mm256_storeu_ps(p0, a00);
                _mm256_storeu_ps(p0 + 8, a01);
                _mm256_storeu_ps(p0 + 16, a02);
                _mm256_storeu_ps(p0 + 24, a03);
                _mm256_storeu_ps(p1, a10);
                _mm256_storeu_ps(p1 + 8, a11);
                _mm256_storeu_ps(p1 + 16, a12);
                _mm256_storeu_ps(p1 + 24, a13);
            }
        for (; t < T; t++)
            for (int k = 0; k < K; k++) {
                float *p = part + (t * K + k) * 8;
                __m256 a = _mm256_loadu_ps(p);
                for (int64_t b = c0; b < c1; b++)
                    a = _mm256_fmadd_ps(_mm256_loadu_ps(dl + t * ld + b * 8),
                                        _mm256_loadu_ps(wb + (b * K + k) * 8), a);
                _mm256_storeu_ps(p, a);
            }
    }
}

/* AVX-512: a 16-lane register holds two 8-lane groups that each follow the
 * AVX2 lanes' own chains (two positions, or two features, of the same eight
 * rows), so the bits are the AVX2 ones.  pair[i][16] = (a[i] x8, b[i] x8)
 * patterns are built once per call. */

/* pat[(t/2) * K + k] = (x[t][k] x8 | x[t+1][k] x8) for even t < T - 1 */
AVX512 static void pair_positions(const float *x, int T, __m512 *pat) {
    for (int t = 0; t + 2 <= T; t += 2)
        for (int k = 0; k < K; k++)
            pat[(t / 2) * K + k] = _mm512_insertf32x8(_mm512_set1_ps(x[t * K + k]),
                                                      _mm256_set1_ps(x[(t + 1) * K + k]), 1);
}

/* R (2 or 4) row blocks from b by four position pairs from t: 4R chains; at
 * R = 4, eight loads feed sixteen FMAs and the chains hide the FMA latency. */
AVX512 static inline __attribute__((always_inline)) void
fwd_tile512(const float *w0, const __m512 *p, int R, float *out, int64_t ld, int64_t b, int t) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 pk[4] = {p[k], p[K + k], p[2 * K + k], p[3 * K + k]};
        for (int r = 0; r < R; r++) {
            __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(w0 + (r * K + k) * 8));
            for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(u, pk[q], acc[r][q]);
        }
    }
    for (int q = 0; q < 4; q++)
        for (int r = 0; r < R; r++) {
            float *o = out + (int64_t)(t + 2 * q) * ld + (b + r) * 8;
            _mm256_storeu_ps(o, _mm512_castps512_ps256(acc[r][q]));
            _mm256_storeu_ps(o + ld, _mm512_extractf32x8_ps(acc[r][q], 1));
        }
}

AVX512 static void head_fwd_avx512(const float *wb, int64_t b0, int64_t b1, const float *x,
                                   int T, float *out, int64_t ld) {
    if (T < 8) { head_fwd_avx2(wb, b0, b1, x, T, out, ld); return; }
    __m512 pat[SSM_TMAX / 2 * K];
    pair_positions(x, T, pat);
    int Te = T & ~7; /* positions in groups of eight (four pairs) */
    int64_t b = b0;
    for (; b + 4 <= b1; b += 4)
        for (int t = 0; t < Te; t += 8)
            fwd_tile512(wb + b * K * 8, pat + (t / 2) * K, 4, out, ld, b, t);
    for (; b + 2 <= b1; b += 2)
        for (int t = 0; t < Te; t += 8)
            fwd_tile512(wb + b * K * 8, pat + (t / 2) * K, 2, out, ld, b, t);
    if (b < b1) head_fwd_avx2(wb, b, b1, x, Te, out, ld);
    if (Te < T) head_fwd_avx2(wb, b0, b1, x + Te * K, T - Te, out + Te * ld, ld);
}

/* R (2 or 4) row blocks by four feature pairs (k + 2q, +1): 4R chains over t. */
AVX512 static inline __attribute__((always_inline)) void
bwd_w_tile512(const float *dl, int64_t ld, const __m512 *pat, int T, int R, int64_t b, int k,
              float *d0) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
    for (int t = 0; t < T; t++) {
        const __m512 *p = pat + t * (K / 2) + k / 2;
        __m512 pq[4] = {p[0], p[1], p[2], p[3]};
        for (int r = 0; r < R; r++) {
            __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(dl + t * ld + (b + r) * 8));
            for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(u, pq[q], acc[r][q]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++) _mm512_storeu_ps(d0 + (r * K + k + 2 * q) * 8, acc[r][q]);
}

AVX512 static void head_bwd_w_avx512(const float *dl, int64_t ld, const float *x, int T,
                                     int64_t b0, int64_t b1, float *dwb) {
    /* pat[t * K/2 + k/2] = (x[t][k] x8 | x[t][k+1] x8) */
    __m512 pat[SSM_TMAX * K / 2];
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k += 2)
            pat[t * (K / 2) + k / 2] = _mm512_insertf32x8(_mm512_set1_ps(x[t * K + k]),
                                                          _mm256_set1_ps(x[t * K + k + 1]), 1);
    int64_t b = b0;
    for (; b + 4 <= b1; b += 4)
        for (int k = 0; k < K; k += 8) bwd_w_tile512(dl, ld, pat, T, 4, b, k, dwb + b * K * 8);
    for (; b + 2 <= b1; b += 2)
        for (int k = 0; k < K; k += 8) bwd_w_tile512(dl, ld, pat, T, 2, b, k, dwb + b * K * 8);
    if (b < b1) head_bwd_w_avx2(dl, ld, x, T, b, b1, dwb);
}

AVX512 static void head_bwd_x_avx512(const float *dl, int64_t ld, const float *wb, int T,
                                     int64_t b0, int64_t b1, float *part) {
    int Te = T & ~3; /* positions in groups of four */
    for (int64_t c0 = b0; c0 < b1; c0 += BX_CHUNK) {
        int64_t c1 = c0 + BX_CHUNK < b1 ? c0 + BX_CHUNK : b1;
        for (int t = 0; t < Te; t += 4)
            for (int k = 0; k < K; k += 8) { /* lanes: features (k, k+1) x rows */
                float *p0 = part + (t * K + k) * 8;
                __m512 acc[4][4];
                for (int r = 0; r < 4; r++)
                    for (int q = 0; q < 4; q++) acc[r][q] = _mm512_loadu_ps(p0 + (r * K + 2 * q) * 8);
                for (int64_t b = c0; b < c1; b++) {
                    const float *w = wb + (b * K + k) * 8;
                    __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16),
                           w2 = _mm512_loadu_ps(w + 32), w3 = _mm512_loadu_ps(w + 48);
                    for (int r = 0; r < 4; r++) {
                        __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(dl + (t + r) * ld + b * 8));
                        acc[r][0] = _mm512_fmadd_ps(u, w0, acc[r][0]);
                        acc[r][1] = _mm512_fmadd_ps(u, w1, acc[r][1]);
                        acc[r][2] = _mm512_fmadd_ps(u, w2, acc[r][2]);
                        acc[r][3] = _mm512_fmadd_ps(u, w3, acc[r][3]);
                    }
                }
                for (int r = 0; r < 4; r++)
                    for (int q = 0; q < 4; q++) _mm512_storeu_ps(p0 + (r * K + 2 * q) * 8, acc[r][q]);
            }
        if (Te < T)
            head_bwd_x_avx2(dl + Te * ld, ld, wb, T - Te, c0, c1, part + Te * K * 8);
    }
}

void HEAD_REGISTER(ssx_kernel_set *k, int level) {
    k->head_fwd[HEAD_SLOT] = level >= 2 ? head_fwd_avx512 : level ? head_fwd_avx2 : head_fwd_scalar;
    k->head_bwd_w[HEAD_SLOT] =
        level >= 2 ? head_bwd_w_avx512 : level ? head_bwd_w_avx2 : head_bwd_w_scalar;
    k->head_bwd_x[HEAD_SLOT] =
        level >= 2 ? head_bwd_x_avx512 : level ? head_bwd_x_avx2 : head_bwd_x_scalar;
}
