/* kernels.h - the hot loops, each with an AVX2/FMA version and a scalar twin
 * that performs the same IEEE operations in the same order (8 lanes emulated),
 * so both give identical bits; some also have an AVX-512 version whose 16
 * lanes carry the AVX2 lanes' own chains.  ssx_k points at the set in use. */
#ifndef SSX_KERNELS_H
#define SSX_KERNELS_H

#include <stdint.h>

#define SSX_LANES 8 /* float lanes of one AVX2 register */
#define SSX_PAD(n) (((n) + SSX_LANES - 1) & ~(int64_t)(SSX_LANES - 1))
#define SSX_PAD_LOGIT (-1.0e30f) /* logit of a padding slot: exp gives ~0 */
/* The per-token (coding) work runs in parallel only from this many live
 * tokens: a small parallel region per token costs more than it saves, and a
 * thread descheduled by another process would stall every token. */
#define SSX_PAR_CODING_ROWS 4096
/* Vocabulary segment of the coding softmax: partial sums per segment are
 * combined in order, whatever the thread count (codec.c). */
#define SSX_CODE_SEG 512
#define SSX_MAX_DOT 4 /* dense feature vectors of the learned mixer */
struct ssx_follower;
struct ssx_follow_w;
struct ssx_follow_sums;

/* Choose the kernel set once (dispatch.c); every model calls it first. */
void ssx_dispatch_init(void);

typedef struct ssx_kernel_set {
    float (*max)(const float *x, int64_t n); /* n >= 1 */
    /* e[i] = exp(x[i] - shift) for i < n8 (a multiple of 8); returns the sum
     * of e in double, accumulated lane-wise then reduced in a fixed order. */
    double (*exp_sum)(const float *x, int64_t n8, float shift, float *e);
    /* exp_sum that also sets dot[k] = sum e * vec[k] for k < nvec <= SSX_MAX_DOT
     * (double lanes, product then sum, reduced in the same fixed order). */
    double (*exp_sum_dot)(const float *x, int64_t n8, float shift, float *e,
                          const float *const *vec, int nvec, double *dot);
    /* exp_sum that also sets *ent = sum over i < nv (nv <= n8) of e[i] * (x[i] -
     * shift), (x - shift) rounded to float, in double lanes (i % 8) reduced in
     * the same fixed order: the softmax entropy's numerator in the same pass. */
    double (*exp_sum_ent)(const float *x, int64_t n8, float shift, float *e, int64_t nv,
                          double *ent);
    /* f[i] = 1 + trunc(e[i] * scale) for i < n; returns the sum of f. */
    uint64_t (*freq)(const float *e, int64_t n, double scale, uint32_t *f);
    /* csum[k] = the sum of e[i] (>= 0) over i < n with cls[i] == k, k < 8: four
     * interleaved double sums (i % 4) per class, reduced in a fixed order. */
    void (*class_sums)(const float *e, const uint8_t *cls, int64_t n, double *csum);

    /* Element-wise (k_elem.c). y may alias x. */
    void (*vexp)(const float *x, float *y, int64_t n);
    void (*vlog)(const float *x, float *y, int64_t n); /* x > 0, normal */
    /* The learned mixer's dense terms (mixer.c): out[i] = (((a x[i] + b y[i])
     * + kc[cls[i]]) + c z[i]) + d w[i], cls[i] < 8, products and sums rounded
     * one at a time. */
    void (*mix_dense)(float *out, int64_t n, const uint8_t *cls, float a, const float *x,
                      float b, const float *y, const float kc[8], float c, const float *z,
                      float d, const float *w);
    /* x[i] += w[b] where rank[i] >= 0, b = 0 for rank 0, else 1 + floor(log2
     * rank[i]) (rank < 2^24, b < 16): the mixer's recency-cache terms. */
    void (*rank_add)(float *x, const int32_t *rank, int64_t n, const float w[16]);
    /* x[t] += the term of each follower f[i], i < n, whose token t lies in
     * [v0, v0 + span) (follow.h: the mixer's n-gram followers). */
    void (*follow_add)(float *x, const struct ssx_follower *f, uint32_t n, int32_t v0,
                       uint32_t span, const uint8_t *cls, const struct ssx_follow_w *w);
    /* *s = the sums of follow.h over followers f[0, len) of e, read with efix
     * in place of e[fix] (fix < 0: none); w gives ln, cm and the tables. */
    void (*follow_sums)(struct ssx_follow_sums *s, const struct ssx_follower *f, uint32_t len,
                        const float *e, int32_t fix, float efix, const uint8_t *cls,
                        const struct ssx_follow_w *w);
    /* One Adam step over n parameters with the constants c[SSX_ADAM_*]; g NULL
     * is a zero gradient (the same bits as zeros, without reading them). */
    void (*adam)(float *p, const float *g, float *m, float *v, int64_t n, const float *c);
    /* `steps` zero-gradient Adam steps in a row; step j takes IBC1, IBC2 from
     * ibc[j * stride], ibc[j * stride + 1] (the rest of c as for adam). */
    void (*adam_idle)(float *p, float *m, float *v, int64_t n, int64_t steps,
                      const float *ibc, int64_t stride, const float *c);

    /* Dense layers with input-major weights w[i][o] (k_linear.c), O % 8 == 0.
     * y[t][o] += sum_i x[t][i] w[i][o]: one FMA chain over i per output. */
    void (*lin_fwd)(const float *x, int T, int I, const float *w, int O, float *y);
    /* dx[t][i] += dot(w[i][:], dy[t][:]): eight lanes (o % 8), fixed reduction. */
    void (*lin_bwd_x)(const float *dy, int T, int O, const float *w, int I, float *dx);
    /* dw[i][o] += sum_t x[t][i] dy[t][o]: one FMA chain over t per weight. */
    void (*lin_bwd_w)(const float *x, const float *dy, int T, int I, int O, float *dw);
    /* out[r] = sum of v[r][0..n) added in order from +0 (one chain per row). */
    void (*row_sums)(const float *v, int rows, int n, float *out);

    /* The output head over row blocks [b0, b1) of wb[b][k][8] (k_head_body.h),
     * [0] for the SSM's width, [1] for its wide one (ssm.h); rows are
     * vocabulary entries; out/dl rows have stride ld. */
    void (*head_fwd[2])(const float *wb, int64_t b0, int64_t b1, const float *x, int T,
                        float *out, int64_t ld);
    /* dwb[b][k][l] = sum over t of dl[t][8b+l] * x[t][k] (written, not added) */
    void (*head_bwd_w[2])(const float *dl, int64_t ld, const float *x, int T,
                          int64_t b0, int64_t b1, float *dwb);
    /* part[t][k][8] = sum over blocks of dl[t][8b+l] * wb[b][k][l], per lane. */
    void (*head_bwd_x[2])(const float *dl, int64_t ld, const float *wb, int T,
                          int64_t b0, int64_t b1, float *part);
} ssx_kernel_set;

/* Adam constants: g' = g*GS; m = B1*m + C1*g'; v = B2*v + C2*g'*g';
 * p -= LR * (m*IBC1) / (sqrt(v*IBC2) + EPS)   (NLR holds -LR). */
enum { SSX_ADAM_B1, SSX_ADAM_C1, SSX_ADAM_B2, SSX_ADAM_C2, SSX_ADAM_IBC1,
       SSX_ADAM_IBC2, SSX_ADAM_NLR, SSX_ADAM_EPS, SSX_ADAM_GS, SSX_ADAM_N };

extern const ssx_kernel_set *ssx_k;

/* Each kernel file fills its entries of a set. */
void ssx_softmax_kernels(ssx_kernel_set *k, int level);
void ssx_elem_kernels(ssx_kernel_set *k, int level);
void ssx_follow_kernels(ssx_kernel_set *k, int level);
void ssx_linear_kernels(ssx_kernel_set *k, int avx2);
/* level: 0 scalar, 1 AVX2, 2 AVX-512; the head's, per width */
void ssx_head_kernels32(ssx_kernel_set *k, int level);
void ssx_head_kernels64(ssx_kernel_set *k, int level);

/* The fixed reduction of eight float lanes shared by all paths. */
static inline float ssx_sum8f(const float a[8]) {
    return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

#endif
