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

/* y[t][o0 .. o0 + 8G) += x[t] . w[:, o]: G accumulators, each one chain over i */
#define LIN_FWD_GROUPS(G)                                                              \
    do {                                                                               \
        __m256 a[G];                                                                   \
        for (int g = 0; g < G; g++) a[g] = _mm256_loadu_ps(yt + o + 8 * g);            \
        for (int i = 0; i < I; i++) {                                                  \
            __m256 xb = _mm256_broadcast_ss(xt + i);                                   \
            const float *wi = w + (int64_t)i * O + o;                                  \
            for (int g = 0; g < G; g++)                                                \
                a[g] = _mm256_fmadd_ps(_mm256_loadu_ps(wi + 8 * g), xb, a[g]);         \
        }                                                                              \
        for (int g = 0; g < G; g++) _mm256_storeu_ps(yt + o + 8 * g, a[g]);            \
    } while (0)

static void row_sums_scalar(const float *v, int rows, int n, float *out) {
    for (int r = 0; r < rows; r++) {
        float acc = 0.0f;
        for (int i = 0; i < n; i++) acc += v[r * n + i];
        out[r] = acc;
    }
}

/* Eight rows at a time: 8x8 tiles transposed so that each lane carries one
 * row's chain, still in element order. */
AVX2 static void row_sums_avx2(const float *v, int rows, int n, float *out) {
    if (n % 8) { row_sums_scalar(v, rows, n, out); return; }
    int r = 0;
    for (; r + 8 <= rows; r += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < n; i += 8) {
            __m256 a[8], t[8], u[8];
            for (int q = 0; q < 8; q++) a[q] = _mm256_loadu_ps(v + (int64_t)(r + q) * n + i);
            for (int q = 0; q < 8; q += 2) {
                t[q] = _mm256_unpacklo_ps(a[q], a[q + 1]);
                t[q + 1] = _mm256_unpackhi_ps(a[q], a[q + 1]);
            }
            for (int q = 0; q < 8; q += 4) {
                u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
                u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xEE);
                u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
                u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
            }
            /* column c of the tile: rows r..r+7 of element i + c */
            for (int c = 0; c < 4; c++)
                acc = _mm256_add_ps(acc, _mm256_permute2f128_ps(u[c], u[c + 4], 0x20));
            for (int c = 0; c < 4; c++)
                acc = _mm256_add_ps(acc, _mm256_permute2f128_ps(u[c], u[c + 4], 0x31));
        }
        _mm256_storeu_ps(out + r, acc);
    }
    if (r < rows) row_sums_scalar(v + (int64_t)r * n, rows - r, n, out + r);
}

AVX2 static void lin_fwd_avx2(const float *x, int T, int I, const float *w, int O, float *y) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * I;
        float *yt = y + (int64_t)t * O;
        int o = 0;
        for (; o + 64 <= O; o += 64) LIN_FWD_GROUPS(8); /* eight chains hide the FMA latency */
        for (; o + 32 <= O; o += 32) LIN_FWD_GROUPS(4);
        for (; o < O; o += 8) LIN_FWD_GROUPS(1);
    }
}

/* dx[t][i .. i+8) += the fixed sums of eight lanes of eight accumulators:
 * the halves added first (lanes l and l + 4), then two horizontal adds give
 * ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) for each, as ssx_sum8f. */
AVX2 static inline __m256 sum8_of_eight(const __m256 a[8]) {
    __m128 h[8];
    for (int r = 0; r < 8; r++)
        h[r] = _mm_add_ps(_mm256_castps256_ps128(a[r]), _mm256_extractf128_ps(a[r], 1));
    /* q01 = (h0 | h1), ...: hadd pairs the lanes (0,1) and (2,3) of each */
    __m256 q01 = _mm256_set_m128(h[1], h[0]), q23 = _mm256_set_m128(h[3], h[2]),
           q45 = _mm256_set_m128(h[5], h[4]), q67 = _mm256_set_m128(h[7], h[6]);
    /* s0 = (h0 01, h0 23, h2 01, h2 23 | h1 01, h1 23, h3 01, h3 23) */
    __m256 s0 = _mm256_hadd_ps(q01, q23), s1 = _mm256_hadd_ps(q45, q67);
    /* r = (0, 2, 4, 6 | 1, 3, 5, 7) */
    __m256 r = _mm256_hadd_ps(s0, s1);
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static void lin_bwd_x_avx2(const float *dy, int T, int O, const float *w, int I, float *dx) {
    float lanes[8];
    for (int t = 0; t < T; t++) {
        const float *dyt = dy + (int64_t)t * O;
        int i = 0;
        for (; i + 8 <= I; i += 8) { /* eight outputs, one chain each, side by side */
            __m256 a[8];
            for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
            for (int o = 0; o < O; o += 8) {
                __m256 d = _mm256_loadu_ps(dyt + o);
                for (int r = 0; r < 8; r++)
                    a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (int64_t)(i + r) * O + o), d, a[r]);
            }
            _mm256_storeu_ps(dx + t * I + i,
                             _mm256_add_ps(_mm256_loadu_ps(dx + t * I + i), sum8_of_eight(a)));
        }
        for (; i < I; i++) {
            __m256 acc = _mm256_setzero_ps();
            for (int o = 0; o < O; o += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + (int64_t)i * O + o),
                                      _mm256_loadu_ps(dyt + o), acc);
            _mm256_storeu_ps(lanes, acc);
            dx[t * I + i] += ssx_sum8f(lanes);
        }
    }
}

AVX2 static void lin_bwd_w_avx2(const float *x, const float *dy, int T, int I, int O, float *dw) {
    for (int i = 0; i < I; i++) {
        int o = 0;
        for (; o + 32 <= O; o += 32) { /* four chains over t side by side */
            float *d = dw + (int64_t)i * O + o;
            __m256 a0 = _mm256_loadu_ps(d), a1 = _mm256_loadu_ps(d + 8),
                   a2 = _mm256_loadu_ps(d + 16), a3 = _mm256_loadu_ps(d + 24);
            for (int t = 0; t < T; t++) {
                __m256 xb = _mm256_broadcast_ss(x + (int64_t)t * I + i);
                const float *g = dy + (int64_t)t * O + o;
                a0 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(g), a0);
                a1 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(g + 8), a1);
                a2 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(g + 16), a2);
                a3 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(g + 24), a3);
            }
            _mm256_storeu_ps(d, a0);
            _mm256_storeu_ps(d + 8, a1);
            _mm256_storeu_ps(d + 16, a2);
            _mm256_storeu_ps(d + 24, a3);
        }
        for (; o < O; o += 8) {
            __m256 acc = _mm256_loadu_ps(dw + (int64_t)i * O + o);
            for (int t = 0; t < T; t++)
                acc = _mm256_fmadd_ps(_mm256_broadcast_ss(x + (int64_t)t * I + i),
                                      _mm256_loadu_ps(dy + (int64_t)t * O + o), acc);
            _mm256_storeu_ps(dw + (int64_t)i * O + o, acc);
        }
    }
}

void ssx_linear_kernels(ssx_kernel_set *k, int avx2) {
    k->lin_fwd = avx2 ? lin_fwd_avx2 : lin_fwd_scalar;
    k->lin_bwd_x = avx2 ? lin_bwd_x_avx2 : lin_bwd_x_scalar;
    k->lin_bwd_w = avx2 ? lin_bwd_w_avx2 : lin_bwd_w_scalar;
    k->row_sums = avx2 ? row_sums_avx2 : row_sums_scalar;
}
