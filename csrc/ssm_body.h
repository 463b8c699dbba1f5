/* ssm_body.h - the online Mamba-style SSM: forward, truncated BPTT over a
 * chunk, Adam.  The spec is in tests/ssm_ref.py (float64 numpy), which the
 * tests compare this code against.  Compiled once per model width (ssm32.c,
 * ssm64.c: SSM_WIDE 0 or 1, SSM_FN names the functions); ssm.c picks one.
 *
 * Every reduction has a fixed order: the dispatched kernels (kernels.h) give
 * identical bits on the AVX2 and scalar paths, plain C here is compiled once
 * for both, and the vocabulary is cut into super-blocks of SB_ROWS rows whose
 * partial results are combined in order, whatever the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "fpenv.h"
#include "kernels.h"
#include "mathf.h"
#include "ssm.h"
#include "ssm_width.h"
#include "team.h"

#define DM (SSM_WIDE ? SSM_DM_WIDE : SSM_DM)
typedef struct SSM_FN(model) ssm_w;
#define DS SSM_DS
#define DC SSM_DC
#define DI SSM_DI
#define NL SSM_NL
#define XP SSM_XP
#define TM SSM_TMAX
#define SB_BLOCKS 64 /* row blocks of 8 per super-block */
#define SB_ROWS (SB_BLOCKS * 8)
#define RS (DM + 8) /* a decision row: DM weights, the bias, zero padding */
#define PMAX SSM_PATH_MAX

/* Row stride of L and X for ve live rows: the rows of a chunk lie end to end
 * (plus a cache line), so that they spread over the cache sets instead of
 * piling onto the same ones as a power-of-two stride would. */
static int64_t ld_of(int32_t ve) { return ((int64_t)ve + 15) / 16 * 16 + 16; }

#define LN_EPS 1e-5f
/* Adam's bias-correction factors in float reach exactly 1 after 16,628
 * steps (beta2 = 0.999) and stay there; the lazy embedding update keeps them
 * for the steps before. */
#define HIST_STEPS 16640

enum { P_LN_G, P_LN_B, P_IN_W, P_CONV_W, P_CONV_B, P_X_W, P_DT_W, P_DT_B, P_A_LOG,
       P_D, P_OUT_W, P_GROUPS };
static const int group_size[P_GROUPS] = {DM, DM, DM * 2 * DI, DI * DC, DI, DI * XP,
                                         DI, DI, DI * DS, DI, DI * DM};
#define LAYER_SIZE (DM + DM + DM * 2 * DI + DI * DC + DI + DI * XP + DI + DI + DI * DS + DI + DI * DM)
#define NFIX (NL * LAYER_SIZE + 2 * DM)

typedef struct layer {
    float *g[P_GROUPS]; /* pointers into a flat array, one per group */
} layer;

/* Activations of one layer for the positions of a chunk. */
typedef struct lcache {
    float xin[TM][DM], xhat[TM][DM], rstd[TM], u[TM][DM];
    float v[TM][2 * DI];       /* xs | z */
    float win[TM + DC - 1][DI]; /* conv inputs: the state's DC-1, then xs_t */
    float xconv[TM][DI], sigc[TM][DI], xc[TM][DI];
    float p[TM][XP]; /* B | C | delta | zero padding */
    float pre[TM][DI], sigp[TM][DI], delta[TM][DI];
    /* The scan's arrays are state-major, [j][i] = [j * DI + i]: the channels
     * fill the vector lanes and each channel's sum over the states stays one
     * chain in state order, as the reference writes it. */
    float dA[TM][DI * DS], h[TM][DI * DS];
    float h0[DI * DS]; /* state at the chunk start */
    float y[TM][DI], sigz[TM][DI], sz[TM][DI], g[TM][DI];
    float A[DI * DS]; /* -exp(A_log) state-major, refreshed after each update */
    float convT[DC][DI]; /* the convolution weights tap-major, likewise */
} lcache;

struct SSM_FN(model) {
    int chunk, steps, threads; /* steps: per chunk after the warm-up */
    float lr, ls;
    uint32_t seed;
    int32_t cap;   /* vocabulary rows allocated */
    float *P, *G, *M, *V; /* fixed parameters, their gradients and Adam moments */
    layer pl[NL], gl[NL];
    float *E, *gE, *mE, *vE;   /* [cap][DM] */
    uint8_t *etouched;         /* [cap] row of E has had a gradient */
    int64_t *ecur;             /* [cap] the Adam step a row of E has caught up to */
    float hist[HIST_STEPS][2]; /* per Adam step: IBC1, IBC2 */
    float *W, *gW, *mW, *vW;   /* blocked [cap/8][DM][8] */
    float *X;                  /* [TM][ld_of(cap)]: a chunk's exp(logit - max) */
    float *Lc;                 /* the coding position's logits: one row, reused, so
                                * that only X of the chunk's rows stays for training */
    float *Lb;                 /* encoder look-ahead: coding logits of positions
                                * [bt0, bt1) of the chunk at bve live tokens, rows of
                                * stride ld_of(cap); allocated on first use */
    int bt0, bt1;
    int32_t bve;
    int back;                  /* the last one-position head ran its rows backwards */
    double S[TM], Hs[TM];      /* softmax sums, sum e*(l-max) */
    float mx[TM];
    float *part;               /* head_bwd_x partials: [nsb][TM][DM][8] */
    double *red;               /* per super-block double partials */
    float *smx;                /* per super-block maxima: [nsb][TM] */
    lcache lc[NL];
    float xL[TM][DM], xfhat[TM][DM], rstdf[TM], xf[TM][DM];
    float dX[TM][DM], dxf[TM][DM];
    int32_t a[TM], b[TM], ve_at[TM];
    int n;        /* pairs collected in the current chunk */
    int32_t prev; /* last token, the input of the next position (-1: none) */
    int64_t chunks, adam_t;
    double pow1, pow2;
    struct { /* backward scratch of one layer */
        float dg[TM][DI], dy[TM][DI], dv[TM][2 * DI], dxc[TM][DI];
        float dp[TM][XP], du[TM][DM], dxs[TM + DC - 1][DI], dh[DI * DS];
        float ga[DI * DS], vb[DI * DS], vc[DI * DS]; /* state-major */
        float acc[TM * DM * 8]; /* head_bwd_x partials, summed */
    } bs;
    int trained;
    /* the tree head (ssm.h): rows of decision weights [nmask + 1][RS], the bias at
     * DM; the decisions each position of the chunk took; the gradients of the
     * rows they touched, compact (gslot: row -> its gradient, -1 none) */
    int tree;
    uint32_t nmask; /* rows - 1 */
    float *Wn, *mWn, *vWn, *gN;
    int32_t *gslot, *trows;
    int ntr;
    int np[TM];
    uint32_t path[TM][SSM_PATH_MAX]; /* row << 1 | bit */
};

/* ---- deterministic initialisation ---- */

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* N(0, std^2) for (seed, stream, index): a sum of 12 uniforms (Irwin-Hall),
 * no transcendental functions, independent of allocation order. */
static float init_normal(uint32_t seed, uint32_t stream, uint64_t index, float std) {
    uint64_t base = mix64(((uint64_t)seed << 32) ^ stream) ^ mix64(index);
    double s = -6.0;
    for (int j = 0; j < 12; j++) s += (double)(mix64(base + (uint64_t)j) >> 40) * (1.0 / 16777216.0);
    return (float)(s * std);
}

static void bind(layer L[NL], float *base) {
    for (int l = 0; l < NL; l++) {
        float *p = base + (size_t)l * LAYER_SIZE;
        for (int g = 0; g < P_GROUPS; g++) {
            L[l].g[g] = p;
            p += group_size[g];
        }
    }
}

#define LNF_G(base) ((base) + NL * LAYER_SIZE)
#define LNF_B(base) ((base) + NL * LAYER_SIZE + DM)

/* The layouts the layers compute with, from the parameters: A = -exp(A_log)
 * state-major and the convolution weights tap-major (channels in the lanes). */
static void refresh_derived(ssm_w *s) {
    float e[DI * DS];
    for (int l = 0; l < NL; l++) {
        ssx_k->vexp(s->pl[l].g[P_A_LOG], e, DI * DS);
        for (int i = 0; i < DI; i++)
            for (int j = 0; j < DS; j++) s->lc[l].A[j * DI + i] = -e[i * DS + j];
        for (int i = 0; i < DI; i++)
            for (int k = 0; k < DC; k++) s->lc[l].convT[k][i] = s->pl[l].g[P_CONV_W][i * DC + k];
    }
}

static void init_params(ssm_w *s) {
    for (int l = 0; l < NL; l++) {
        float **g = s->pl[l].g;
        uint32_t st = 16u * (uint32_t)l + 3u;
        for (int i = 0; i < DM; i++) { g[P_LN_G][i] = 1.0f; g[P_LN_B][i] = 0.0f; }
        for (int i = 0; i < DM * 2 * DI; i++) g[P_IN_W][i] = init_normal(s->seed, st + 0, i, 0.02f);
        for (int i = 0; i < DI * DC; i++) g[P_CONV_W][i] = init_normal(s->seed, st + 1, i, 0.02f);
        for (int i = 0; i < DI; i++) g[P_CONV_B][i] = init_normal(s->seed, st + 2, i, 0.1f);
        for (int i = 0; i < DI; i++)
            for (int o = 0; o < XP; o++)
                g[P_X_W][i * XP + o] = o < 2 * DS + 1 ? init_normal(s->seed, st + 3, i * XP + o, 0.02f) : 0.0f;
        for (int i = 0; i < DI; i++) g[P_DT_W][i] = init_normal(s->seed, st + 4, i, 0.02f);
        for (int i = 0; i < DI; i++) g[P_DT_B][i] = init_normal(s->seed, st + 5, i, 0.1f);
        for (int i = 0; i < DI; i++)
            for (int j = 0; j < DS; j++) g[P_A_LOG][i * DS + j] = (float)ssx_log((double)(j + 1));
        for (int i = 0; i < DI; i++) g[P_D][i] = 1.0f;
        for (int i = 0; i < DI * DM; i++) g[P_OUT_W][i] = init_normal(s->seed, st + 6, i, 0.02f);
    }
    for (int i = 0; i < DM; i++) { LNF_G(s->P)[i] = 1.0f; LNF_B(s->P)[i] = 0.0f; }
    refresh_derived(s);
}

/* ---- lifetime ---- */

ssm_w *SSM_FN(new)(int tree_bits, uint32_t seed, int chunk, float lr, float label_smooth, int steps) {
    if (chunk < 1 || chunk > TM || steps < 1 || tree_bits < 0 || tree_bits > SSM_NODE_BITS_MAX)
        return NULL;
    ssm_w *s = (ssm_w *)calloc(1, sizeof *s);
    if (!s) return NULL;
    s->chunk = chunk;
    s->steps = steps;
    s->threads = 1;
    s->lr = lr;
    s->ls = label_smooth;
    s->seed = seed;
    s->prev = -1;
    s->pow1 = s->pow2 = 1.0;
    s->P = (float *)calloc(4 * (size_t)NFIX, sizeof(float));
    if (!s->P) { free(s); return NULL; }
    s->G = s->P + NFIX;
    s->M = s->G + NFIX;
    s->V = s->M + NFIX;
    bind(s->pl, s->P);
    bind(s->gl, s->G);
    init_params(s);
    if (tree_bits) {
        size_t nr = (size_t)1 << tree_bits;
        s->tree = 1;
        s->nmask = (uint32_t)(nr - 1);
        s->Wn = (float *)calloc(nr * RS, sizeof(float)); /* zero: log odds 0 */
        s->mWn = (float *)calloc(nr * RS, sizeof(float));
        s->vWn = (float *)calloc(nr * RS, sizeof(float));
        s->gN = (float *)calloc((size_t)TM * PMAX * RS, sizeof(float));
        s->gslot = (int32_t *)malloc(sizeof(int32_t) * nr);
        s->trows = (int32_t *)malloc(sizeof(int32_t) * TM * PMAX);
        if (!s->Wn || !s->mWn || !s->vWn || !s->gN || !s->gslot || !s->trows) {
            SSM_FN(free)(s);
            return NULL;
        }
        for (size_t r = 0; r < nr; r++) s->gslot[r] = -1;
    }
    return s;
}

void SSM_FN(free)(ssm_w *s) {
    if (!s) return;
    free(s->P);
    free(s->etouched);
    free(s->ecur);
    free(s->E); free(s->gE); free(s->mE); free(s->vE);
    free(s->W); free(s->gW); free(s->mW); free(s->vW);
    free(s->Wn); free(s->mWn); free(s->vWn); free(s->gN); free(s->gslot); free(s->trows);
    free(s->Lc); free(s->Lb); free(s->X); free(s->part); free(s->red); free(s->smx);
    free(s);
}

uint64_t SSM_FN(memory)(int tree_bits, int32_t cap) {
    uint64_t rows = (uint64_t)cap * DM * sizeof(float), ld = (uint64_t)ld_of(cap);
    uint64_t nsb = ((uint64_t)cap + SB_ROWS - 1) / SB_ROWS, nr = (uint64_t)1 << tree_bits;
    uint64_t n = sizeof(ssm_w) + 4 * (uint64_t)NFIX * sizeof(float) +
                 4 * rows + rows / 2 +                  /* E and its state; a regrow's copy */
                 (uint64_t)cap * (1 + sizeof(int64_t)); /* etouched, ecur */
    if (tree_bits) /* the decision rows with their moments, the chunk's gradients */
        return n + (3 * nr + (uint64_t)TM * PMAX) * RS * sizeof(float) +
               (nr + (uint64_t)TM * PMAX) * sizeof(int32_t);
    return n + 4 * rows +                             /* the dense head, W, and its state */
           ld * sizeof(float) * (1 + 2 * TM) +        /* Lc, X, Lb */
           nsb * TM * (sizeof(float) * (1 + DM * 8) + 2 * sizeof(double));
}

void SSM_FN(set_threads)(ssm_w *s, int threads) { s->threads = threads < 1 ? 1 : threads; }

/* A decision row's log odds for final features u: the bias, then the
 * weights in order (coding and training compute the same bits). */
static float row_logit(const float *w, const float *u) {
    float z = w[DM];
    for (int k = 0; k < DM; k++) z += w[k] * u[k];
    return z;
}

double SSM_FN(node_logit)(ssm_w *s, uint32_t node) {
    if (!s->tree || s->prev < 0) return 0.0;
    return row_logit(s->Wn + (size_t)(node & s->nmask) * RS, s->xf[s->n]);
}

void SSM_FN(node_taken)(ssm_w *s, uint32_t node, int bit) {
    if (!s->tree || s->prev < 0) return;
    int t = s->n;
    if (s->np[t] < PMAX) s->path[t][s->np[t]++] = (node & s->nmask) << 1 | (bit != 0);
}

static int regrow(float **p, size_t old, size_t n) {
    float *q = (float *)realloc(*p, n * sizeof(float));
    if (!q) return -1;
    memset(q + old, 0, (n - old) * sizeof(float));
    *p = q;
    return 0;
}

int SSM_FN(reserve)(ssm_w *s, int32_t cap) {
    if (cap <= s->cap) return 0;
    size_t o = (size_t)s->cap * DM, n = (size_t)cap * DM;
    float **rows[] = {&s->E, &s->gE, &s->mE, &s->vE, &s->W, &s->gW, &s->mW, &s->vW};
    for (size_t i = 0; i < (s->tree ? 4 : sizeof rows / sizeof *rows); i++)
        if (regrow(rows[i], o, n)) return -1;
    uint8_t *et = (uint8_t *)realloc(s->etouched, (size_t)cap);
    if (!et) return -1;
    memset(et + s->cap, 0, (size_t)(cap - s->cap));
    s->etouched = et;
    int64_t *ec = (int64_t *)realloc(s->ecur, sizeof(int64_t) * (size_t)cap);
    if (!ec) return -1;
    memset(ec + s->cap, 0, sizeof(int64_t) * (size_t)(cap - s->cap));
    s->ecur = ec;
    if (s->tree) { /* no dense head */
        s->cap = cap;
        return 0;
    }
    /* X and Lc: their content is per chunk and need not survive, except that a
     * growing vocabulary invalidates the chunk's exponentials (ve_at). */
    free(s->Lc);
    free(s->Lb);
    free(s->X);
    s->Lb = NULL;
    s->bt1 = 0;
    s->Lc = (float *)calloc((size_t)ld_of(cap), sizeof(float));
    s->X = (float *)calloc((size_t)(TM * ld_of(cap)), sizeof(float));
    int nsb = (cap + SB_ROWS - 1) / SB_ROWS;
    free(s->part);
    free(s->red);
    free(s->smx);
    s->smx = (float *)malloc((size_t)nsb * TM * sizeof(float));
    s->part = (float *)malloc((size_t)nsb * TM * DM * 8 * sizeof(float));
    s->red = (double *)malloc((size_t)nsb * TM * 2 * sizeof(double));
    if (!s->Lc || !s->X || !s->part || !s->red || !s->smx) return -1;
    for (int t = 0; t < TM; t++) s->ve_at[t] = -1;
    s->cap = cap;
    return 0;
}

void SSM_FN(add_row)(ssm_w *s, int32_t c) {
    s->ecur[c] = s->adam_t;
    for (int k = 0; k < DM; k++) {
        s->E[(size_t)c * DM + k] = init_normal(s->seed, 1, (uint64_t)c * DM + k, 0.02f);
        if (!s->tree) s->W[((size_t)(c / 8) * DM + k) * 8 + c % 8] =
            init_normal(s->seed, 2, (uint64_t)c * DM + k, 0.02f);
    }
}

/* ---- forward ---- */

static void layernorm(const float *x, float *xhat, float *rstd, float *u,
                      const float *gain, const float *bias) {
    float mean = 0.0f, var = 0.0f;
    for (int k = 0; k < DM; k++) mean += x[k];
    mean = mean / DM;
    for (int k = 0; k < DM; k++) { float d = x[k] - mean; var += d * d; }
    float r = 1.0f / sqrtf(var / DM + LN_EPS);
    *rstd = r;
    for (int k = 0; k < DM; k++) {
        xhat[k] = (x[k] - mean) * r;
        u[k] = xhat[k] * gain[k] + bias[k];
    }
}

/* sig = 1 / (1 + exp(-x)) over n values, through the exp kernel. */
static void sigmoid_n(const float *x, float *sig, int n) {
    for (int i = 0; i < n; i++) sig[i] = -x[i];
    ssx_k->vexp(sig, sig, n);
    for (int i = 0; i < n; i++) sig[i] = 1.0f / (1.0f + sig[i]);
}

/* One state j of the scan for all channels (the lanes):
 * h = dA hp + bx B_j, y += h C_j. */
static inline void scan_step(const float *restrict dA, const float *restrict hp,
                           const float *restrict bx, float Bj, float Cj, float *restrict h,
                           float *restrict y) {
    for (int i = 0; i < DI; i++) {
        float hv = dA[i] * hp[i] + bx[i] * Bj;
        h[i] = hv;
        y[i] += hv * Cj;
    }
}

/* Its backward at one position for the channels [i0, i0 + 8), all states:
 * dh carries the state's gradient back one position; dd, dbx are per-channel
 * chains over the states in order (kept in registers); vb, vc the terms of
 * dB_j, dC_j. */
static inline void scan_back_lanes(int i0, float *restrict dh, const float *restrict dy,
                                   const float *restrict C, const float *restrict B,
                                   const float *restrict h, const float *restrict hp,
                                   const float *restrict dA, const float *restrict A,
                                   const float *restrict dl, const float *restrict dix,
                                   float *restrict dd, float *restrict dbx, float *restrict ga,
                                   float *restrict vb, float *restrict vc) {
    float d8[8], b8[8];
    for (int l = 0; l < 8; l++) d8[l] = b8[l] = 0.0f;
    for (int j = 0; j < DS; j++) {
        int q = j * DI + i0;
        for (int l = 0; l < 8; l++) {
            int i = i0 + l;
            float dhq = dh[q + l] + dy[i] * C[j];
            vc[q + l] = dy[i] * h[q + l];
            float t1 = dhq * hp[q + l] * dA[q + l];
            d8[l] += t1 * A[q + l];
            ga[q + l] += t1 * dl[i] * A[q + l];
            b8[l] += dhq * B[j];
            vb[q + l] = dhq * dix[i];
            dh[q + l] = dhq * dA[q + l];
        }
    }
    for (int l = 0; l < 8; l++) {
        dd[i0 + l] = d8[l];
        dbx[i0 + l] = b8[l];
    }
}

/* One layer over positions [t0, t0+T): x (in/out, [T][DM]) is the residual
 * stream.  The recurrent state is h0 / h[t-1] and win[t .. t+DC-2]. */
SSX_WIDE static void layer_forward(ssm_w *s, int l, int t0, int T, float (*x)[DM]) {
    lcache *c = &s->lc[l];
    float **g = s->pl[l].g;
    for (int t = t0; t < t0 + T; t++) {
        memcpy(c->xin[t], x[t], sizeof c->xin[t]);
        layernorm(x[t], c->xhat[t], &c->rstd[t], c->u[t], g[P_LN_G], g[P_LN_B]);
    }
    memset(c->v[t0], 0, sizeof(float) * 2 * DI * T);
    ssx_k->lin_fwd(c->u[t0], T, DM, g[P_IN_W], 2 * DI, c->v[t0]);
    for (int t = t0; t < t0 + T; t++) {
        memcpy(c->win[t + DC - 1], c->v[t], sizeof(float) * DI);
        float *acc = c->xconv[t]; /* per channel: bias, then the taps in order */
        for (int i = 0; i < DI; i++) acc[i] = g[P_CONV_B][i];
        for (int k = 0; k < DC; k++)
            for (int i = 0; i < DI; i++) acc[i] += c->convT[k][i] * c->win[t + k][i];
    }
    sigmoid_n(c->xconv[t0], c->sigc[t0], DI * T);
    for (int t = t0; t < t0 + T; t++)
        for (int i = 0; i < DI; i++) c->xc[t][i] = c->xconv[t][i] * c->sigc[t][i];
    memset(c->p[t0], 0, sizeof(float) * XP * T);
    ssx_k->lin_fwd(c->xc[t0], T, DI, g[P_X_W], XP, c->p[t0]);
    for (int t = t0; t < t0 + T; t++) {
        float d = c->p[t][2 * DS];
        for (int i = 0; i < DI; i++) c->pre[t][i] = d * g[P_DT_W][i] + g[P_DT_B][i];
    }
    /* softplus(a) = log(1 + exp(a)), = a beyond 20 where the log adds < 2^-28 */
    sigmoid_n(c->pre[t0], c->sigp[t0], DI * T);
    ssx_k->vexp(c->pre[t0], c->delta[t0], DI * T);
    for (int t = t0; t < t0 + T; t++)
        for (int i = 0; i < DI; i++) c->delta[t][i] = 1.0f + c->delta[t][i];
    ssx_k->vlog(c->delta[t0], c->delta[t0], DI * T);
    for (int t = t0; t < t0 + T; t++)
        for (int i = 0; i < DI; i++)
            if (c->pre[t][i] > 20.0f) c->delta[t][i] = c->pre[t][i];
    for (int t = t0; t < t0 + T; t++) {
        float *dA = c->dA[t];
        for (int j = 0; j < DS; j++)
            for (int i = 0; i < DI; i++) dA[j * DI + i] = c->delta[t][i] * c->A[j * DI + i];
        ssx_k->vexp(dA, dA, DI * DS);
        const float *hp = t > 0 ? c->h[t - 1] : c->h0;
        float *h = c->h[t];
        const float *B = c->p[t], *C = c->p[t] + DS;
        float bx[DI], y[DI];
        for (int i = 0; i < DI; i++) { bx[i] = c->delta[t][i] * c->xc[t][i]; y[i] = 0.0f; }
        for (int j = 0; j < DS; j++) /* y: per channel one chain in state order */
            scan_step(dA + j * DI, hp + j * DI, bx, B[j], C[j], h + j * DI, y);
        for (int i = 0; i < DI; i++) c->y[t][i] = y[i] + g[P_D][i] * c->xc[t][i];
    }
    for (int t = t0; t < t0 + T; t++) sigmoid_n(c->v[t] + DI, c->sigz[t], DI);
    for (int t = t0; t < t0 + T; t++)
        for (int i = 0; i < DI; i++) {
            c->sz[t][i] = c->v[t][DI + i] * c->sigz[t][i];
            c->g[t][i] = c->y[t][i] * c->sz[t][i];
        }
    ssx_k->lin_fwd(c->g[t0], T, DI, g[P_OUT_W], DM, x[t0]);
}

/* Embedding, layers and final LayerNorm for positions [t0, t0+T). */
static void catch_up(ssm_w *s, int64_t r);

static void forward_layers(ssm_w *s, int t0, int T) {
    float (*x)[DM] = s->xL;
    for (int t = t0; t < t0 + T; t++) {
        catch_up(s, s->a[t]);
        memcpy(x[t], s->E + (size_t)s->a[t] * DM, sizeof x[t]);
    }
    for (int l = 0; l < NL; l++) layer_forward(s, l, t0, T, x);
    for (int t = t0; t < t0 + T; t++)
        layernorm(x[t], s->xfhat[t], &s->rstdf[t], s->xf[t], LNF_G(s->P), LNF_B(s->P));
}

static int nsb_of(int32_t ve) { return (ve + SB_ROWS - 1) / SB_ROWS; }

/* Each thread takes the same share of super-blocks (ssx_share) in every
 * pass over the vocabulary: the passes over a chunk's rows alternate
 * direction, so each starts on the rows the last one left in this core's
 * cache. */

/* Head logits (into L, rows of stride ld), softmax sums and entropy terms for
 * positions [t0, t0+T); the exponentials go to X's rows (L may be X itself).
 * Per super-block partials (maxima, sums), combined in super-block order.
 * One team: each thread keeps the same super-blocks in both passes. */
static void head_forward(ssm_w *s, int t0, int T, int32_t ve, int want_entropy, float *L) {
    int64_t ld = ld_of(ve), nb = (ve + 7) / 8, ve8 = nb * 8;
    int nsb = nsb_of(ve);
    double *red = s->red;
    float *smx = s->smx;
    /* One position (the decoder): the weights are read for every token, and
     * a thread's share may not fit its cache, where a pass in the same order
     * each time would find none of it there (the oldest rows go first); in
     * alternate orders each pass starts on the rows the last one ended on. */
    int back = T == 1 && !s->back;
    if (T == 1) s->back = back;
#pragma omp parallel num_threads(s->threads) if (s->threads > 1 && (T > 1 || ve >= SSX_PAR_CODING_ROWS))
    {
        ssx_fp_enter(); /* worker threads start with the default MXCSR */
        int lo, hi;
        ssx_share(nsb, &lo, &hi);
        /* logits; padding rows get a very negative logit; maxima over [0, ve) */
        for (int i = lo; i < hi; i++) {
            int sb = back ? lo + hi - 1 - i : i;
            int64_t b0 = (int64_t)sb * SB_BLOCKS, b1 = b0 + SB_BLOCKS < nb ? b0 + SB_BLOCKS : nb;
            ssx_k->head_fwd[SSM_WIDE](s->W, b0, b1, s->xf[t0], T, L, ld);
            int64_t v0 = b0 * 8, v1 = b1 * 8 < ve ? b1 * 8 : ve;
            for (int t = 0; t < T; t++) {
                for (int64_t v = ve; v < b1 * 8; v++) L[t * ld + v] = SSX_PAD_LOGIT;
                smx[sb * TM + t] = ssx_k->max(L + t * ld + v0, v1 - v0);
            }
        }
#pragma omp barrier
        /* every thread combines the maxima itself (exact): no `single` */
        float mloc[TM];
        for (int t = 0; t < T; t++) {
            float m = smx[t];
            for (int sb = 1; sb < nsb; sb++) m = smx[sb * TM + t] > m ? smx[sb * TM + t] : m;
            mloc[t] = m;
        }
#pragma omp master
        for (int t = 0; t < T; t++) s->mx[t0 + t] = mloc[t];
        /* exp, sums and entropy numerators, in the other order */
        for (int i = lo; i < hi; i++) {
            int sb = back ? i : lo + hi - 1 - i;
            int64_t v0 = (int64_t)sb * SB_ROWS, v1 = v0 + SB_ROWS < ve8 ? v0 + SB_ROWS : ve8;
            for (int t = 0; t < T; t++) {
                const float *l = L + t * ld + v0;
                float *e = s->X + (t0 + t) * ld + v0;
                float m = mloc[t];
                double *r = red + ((size_t)sb * TM + t) * 2;
                if (want_entropy)
                    r[0] = ssx_k->exp_sum_ent(l, v1 - v0, m, e, (v1 < ve ? v1 : ve) - v0, &r[1]);
                else
                    r[0] = ssx_k->exp_sum(l, v1 - v0, m, e), r[1] = 0.0;
            }
        }
    }
    for (int t = 0; t < T; t++) {
        double sum = 0.0, hs = 0.0;
        for (int sb = 0; sb < nsb; sb++) {
            sum += red[((size_t)sb * TM + t) * 2];
            hs += red[((size_t)sb * TM + t) * 2 + 1];
        }
        s->S[t0 + t] = sum;
        s->Hs[t0 + t] = hs;
        s->ve_at[t0 + t] = ve;
    }
}

/* ---- backward ---- */

static void layernorm_backward(const float *du, const float *xhat, float rstd,
                               const float *gain, float *dgain, float *dbias, float *dx) {
    float dxh[DM], m1 = 0.0f, m2 = 0.0f;
    for (int k = 0; k < DM; k++) {
        dxh[k] = du[k] * gain[k];
        dgain[k] += du[k] * xhat[k];
        dbias[k] += du[k];
        m1 += dxh[k];
        m2 += dxh[k] * xhat[k];
    }
    m1 = m1 / DM;
    m2 = m2 / DM;
    for (int k = 0; k < DM; k++) dx[k] += rstd * (dxh[k] - m1 - xhat[k] * m2);
}

/* Backward through layer l for positions [0, T); dX holds the gradient of
 * the layer's output on entry and of its input on return. */
SSX_WIDE static void layer_backward(ssm_w *s, int l, int T, float (*dX)[DM]) {
    lcache *c = &s->lc[l];
    float **g = s->pl[l].g, **G = s->gl[l].g;
    float (*dg)[DI] = s->bs.dg, (*dy)[DI] = s->bs.dy, (*dv)[2 * DI] = s->bs.dv;
    float (*dxc)[DI] = s->bs.dxc, (*dp)[XP] = s->bs.dp, (*du)[DM] = s->bs.du;
    float (*dxs)[DI] = s->bs.dxs, *dh = s->bs.dh;
    memset(dg, 0, sizeof(float) * DI * T);
    ssx_k->lin_bwd_x(dX[0], T, DM, g[P_OUT_W], DI, dg[0]);
    ssx_k->lin_bwd_w(c->g[0], dX[0], T, DI, DM, G[P_OUT_W]);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < DI; i++) {
            float sg = c->sigz[t][i], z = c->v[t][DI + i];
            dy[t][i] = dg[t][i] * c->sz[t][i];
            dv[t][DI + i] = dg[t][i] * c->y[t][i] * (sg * (1.0f + z * (1.0f - sg)));
        }
    float *ga = s->bs.ga, *vb = s->bs.vb, *vc = s->bs.vc;
    memset(dh, 0, sizeof s->bs.dh);
    memset(ga, 0, sizeof s->bs.ga);
    memset(dp, 0, sizeof(float) * XP * T);
    for (int t = T - 1; t >= 0; t--) {
        const float *hp = t > 0 ? c->h[t - 1] : c->h0, *A = c->A;
        const float *h = c->h[t], *dA = c->dA[t], *B = c->p[t], *C = c->p[t] + DS;
        const float *dyt = dy[t], *xc = c->xc[t], *dl = c->delta[t];
        float *dB = dp[t], *dC = dp[t] + DS;
        float dd[DI], dbx[DI], dix[DI];
        for (int i = 0; i < DI; i++) {
            G[P_D][i] += dyt[i] * xc[i];
            dix[i] = dl[i] * xc[i];
        }
        /* channels in the lanes; dd and dbx are one chain per channel in
         * state order */
        for (int i0 = 0; i0 < DI; i0 += 8)
            scan_back_lanes(i0, dh, dyt, C, B, h, hp, dA, A, dl, dix, dd, dbx, ga, vb, vc);
        /* dB_j, dC_j: sums over the channels in channel order (the reference's) */
        ssx_k->row_sums(vb, DS, DI, dB);
        ssx_k->row_sums(vc, DS, DI, dC);
        float ddelta_sum = 0.0f;
        for (int i = 0; i < DI; i++) {
            float ddi = dd[i] + dbx[i] * xc[i];
            dxc[t][i] = dyt[i] * g[P_D][i] + dbx[i] * dl[i];
            float dpre = ddi * c->sigp[t][i];
            G[P_DT_W][i] += dpre * c->p[t][2 * DS];
            G[P_DT_B][i] += dpre;
            ddelta_sum += dpre * g[P_DT_W][i];
        }
        dp[t][2 * DS] = ddelta_sum;
    }
    for (int i = 0; i < DI; i++)
        for (int j = 0; j < DS; j++) G[P_A_LOG][i * DS + j] = ga[j * DI + i];
    ssx_k->lin_bwd_w(c->xc[0], dp[0], T, DI, XP, G[P_X_W]);
    ssx_k->lin_bwd_x(dp[0], T, XP, g[P_X_W], DI, dxc[0]);
    memset(dxs, 0, sizeof(float) * DI * (T + DC - 1));
    float gct[DC][DI]; /* the convolution weights' gradient, tap-major */
    memset(gct, 0, sizeof gct);
    for (int t = T - 1; t >= 0; t--) {
        float dxv[DI];
        for (int i = 0; i < DI; i++) {
            float sg = c->sigc[t][i], xv = c->xconv[t][i];
            dxv[i] = dxc[t][i] * (sg * (1.0f + xv * (1.0f - sg)));
            G[P_CONV_B][i] += dxv[i];
        }
        for (int k = 0; k < DC; k++)
            for (int i = 0; i < DI; i++) {
                gct[k][i] += dxv[i] * c->win[t + k][i];
                dxs[t + k][i] += dxv[i] * c->convT[k][i];
            }
    }
    for (int i = 0; i < DI; i++)
        for (int k = 0; k < DC; k++) G[P_CONV_W][i * DC + k] = gct[k][i];
    for (int t = 0; t < T; t++) memcpy(dv[t], dxs[t + DC - 1], sizeof(float) * DI);
    ssx_k->lin_bwd_w(c->u[0], dv[0], T, DM, 2 * DI, G[P_IN_W]);
    memset(du, 0, sizeof(float) * DM * T);
    ssx_k->lin_bwd_x(dv[0], T, 2 * DI, g[P_IN_W], DM, du[0]);
    for (int t = 0; t < T; t++)
        layernorm_backward(du[t], c->xhat[t], c->rstd[t], g[P_LN_G], G[P_LN_G], G[P_LN_B],
                           dX[t]);
}

/* From the final features' gradient down to the embedding rows. */
static void backward_layers(ssm_w *s, int T) {
    memset(s->dX, 0, sizeof(float) * DM * T);
    for (int t = 0; t < T; t++)
        layernorm_backward(s->dxf[t], s->xfhat[t], s->rstdf[t], LNF_G(s->P), LNF_G(s->G),
                           LNF_B(s->G), s->dX[t]);
    for (int l = NL - 1; l >= 0; l--) layer_backward(s, l, T, s->dX);
    for (int t = 0; t < T; t++) {
        float *ge = s->gE + (size_t)s->a[t] * DM;
        for (int k = 0; k < DM; k++) ge[k] += s->dX[t][k];
    }
}

/* d = (e * invs) * inv_t - smooth: the logits' gradient before the target's
 * share is taken off. */
static inline void dlogits(float *restrict d, const float *restrict e, int64_t n, float invs,
                           float inv_t, float smooth) {
    for (int64_t v = 0; v < n; v++) d[v] = (e[v] * invs) * inv_t - smooth;
}

/* The logits' gradient is made where it is used, DCB row blocks at a time,
 * in a small buffer that stays in L1: it is never written out and read back. */
#define DCB 16
#define DLD (DCB * 8)
typedef struct dgrad {
    int64_t ld;
    int32_t ve;
    float inv_t, smooth, hit, invs[TM];
} dgrad;

/* buf[t][v - 8 c0] for the rows of blocks [c0, c1), positions t < T. */
SSX_WIDER static void dgrad_fill(const ssm_w *s, const dgrad *g, int T, int64_t c0, int64_t c1,
                             float *buf) {
    int64_t r0 = c0 * 8, r1 = c1 * 8, rv = r1 < g->ve ? r1 : g->ve;
    for (int t = 0; t < T; t++) {
        float *d = buf + t * DLD;
        dlogits(d, s->X + t * g->ld + r0, rv - r0, g->invs[t], g->inv_t, g->smooth);
        for (int64_t v = rv; v < r1; v++) d[v - r0] = 0.0f;
        if (s->b[t] >= r0 && s->b[t] < r1) d[s->b[t] - r0] -= g->hit;
    }
}

/* Sum of squares in eight double lanes, continued over calls; n % 8 == 0. */
SSX_WIDER static void sumsq_lanes(double *restrict lanes, const float *restrict g, int64_t n) {
    for (int64_t i = 0; i < n; i += 8)
        for (int q = 0; q < 8; q++) lanes[q] += (double)g[i + q] * (double)g[i + q];
}

/* The same for two arrays, their chains interleaved. */
SSX_WIDER static void sumsq_lanes2(double *restrict la, const float *restrict a, int64_t na,
                               double *restrict lb, const float *restrict b, int64_t nb) {
    int64_t n = na < nb ? na : nb;
    for (int64_t i = 0; i < n; i += 8)
        for (int q = 0; q < 8; q++) {
            la[q] += (double)a[i + q] * (double)a[i + q];
            lb[q] += (double)b[i + q] * (double)b[i + q];
        }
    if (na > n) sumsq_lanes(la, a + n, na - n);
    if (nb > n) sumsq_lanes(lb, b + n, nb - n);
}

static double sumsq_finish(const double lanes[8]) {
    return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
           ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

static double sumsq(const float *g, int64_t n) {
    double lanes[8] = {0};
    sumsq_lanes(lanes, g, n);
    return sumsq_finish(lanes);
}

/* Gradients of the mean label-smoothed cross-entropy over the chunk, from
 * the head activations in X/S; given the chunk's logits L (rows of stride
 * ld_of(ve)) it also returns the loss, else 0. */
static double backward(ssm_w *s, int T, int32_t ve, const float *L) {
    int64_t ld = ld_of(ve), nb = (ve + 7) / 8;
    int nsb = nsb_of(ve);
    dgrad dg = {ld, ve, 1.0f / (float)T, 0.0f, 0.0f, {0}};
    dg.smooth = s->ls / (float)ve * dg.inv_t;
    dg.hit = (1.0f - s->ls) * dg.inv_t;
    for (int t = 0; t < T; t++) dg.invs[t] = (float)(1.0 / s->S[t]);
    double loss = 0.0;
    for (int t = 0; t < T && L; t++) {
        /* -log p_v = log S - (l_v - max) */
        double lse = ssx_log(s->S[t]);
        const float *l = L + t * ld;
        double mean_nl = 0.0;
        for (int64_t v = 0; v < ve; v++) mean_nl += lse - (double)(l[v] - s->mx[t]);
        loss += (1.0 - s->ls) * (lse - (double)(l[s->b[t]] - s->mx[t])) +
                s->ls * mean_nl / ve;
    }
    memset(s->G, 0, sizeof(float) * NFIX);
    float *acc = s->bs.acc;
    int np = T * DM * 8;
#pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        ssx_fp_enter(); /* worker threads start with the default MXCSR */
        _Alignas(64) float buf[TM * DLD];
        int lo, hi;
        ssx_share(nsb, &lo, &hi);
        for (int sb = lo; sb < hi; sb++) { /* forwards: the exponentials' pass ran backwards */
            int64_t b0 = (int64_t)sb * SB_BLOCKS, b1 = b0 + SB_BLOCKS < nb ? b0 + SB_BLOCKS : nb;
            float *part = s->part + (size_t)sb * TM * DM * 8;
            memset(part, 0, sizeof(float) * np);
            for (int64_t c0 = b0; c0 < b1; c0 += DCB) {
                int64_t c1 = c0 + DCB < b1 ? c0 + DCB : b1;
                dgrad_fill(s, &dg, T, c0, c1, buf);
                ssx_k->head_bwd_x[SSM_WIDE](buf, DLD, s->W + c0 * DM * 8, T, 0, c1 - c0, part);
            }
        }
#pragma omp barrier
        /* the super-blocks' partials in order, all lanes at once */
#pragma omp for schedule(static)
        for (int i0 = 0; i0 < np; i0 += 256) {
            int i1 = i0 + 256 < np ? i0 + 256 : np;
            for (int i = i0; i < i1; i++) acc[i] = 0.0f;
            for (int sb = 0; sb < nsb; sb++) {
                const float *pp = s->part + (size_t)sb * TM * DM * 8;
                for (int i = i0; i < i1; i++) acc[i] += pp[i];
            }
        }
    }
    for (int t = 0; t < T; t++)
        for (int k = 0; k < DM; k++) s->dxf[t][k] = ssx_sum8f(acc + ((size_t)t * DM + k) * 8);
    /* One thread carries the gradient down through the layers (a serial
     * chain) while the others compute the head's weight gradient and its
     * squared norm, a super-block at a time. */
#pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        ssx_fp_enter();
        _Alignas(64) float buf[TM * DLD];
#pragma omp single nowait
        backward_layers(s, T);
        /* two super-blocks at a time: their sums of squares are two chains
         * side by side (each is one long chain of dependent adds) */
#pragma omp for schedule(dynamic, 1)
        for (int pair = 0; pair < (nsb + 1) / 2; pair++) {
            double lanes[2][8] = {{0}};
            int64_t c0[2], c1[2];
            for (int h = 0; h < 2; h++) {
                int sb = 2 * pair + h;
                c0[h] = (int64_t)sb * SB_BLOCKS;
                c1[h] = sb < nsb ? (c0[h] + SB_BLOCKS < nb ? c0[h] + SB_BLOCKS : nb) : c0[h];
            }
            while (c0[0] < c1[0] || c0[1] < c1[1]) {
                int64_t n[2] = {0, 0};
                for (int h = 0; h < 2; h++) {
                    if (c0[h] >= c1[h]) continue;
                    int64_t e = c0[h] + DCB < c1[h] ? c0[h] + DCB : c1[h];
                    dgrad_fill(s, &dg, T, c0[h], e, buf);
                    ssx_k->head_bwd_w[SSM_WIDE](buf, DLD, s->xf[0], T, 0, e - c0[h], s->gW + c0[h] * DM * 8);
                    n[h] = (e - c0[h]) * 8 * DM;
                }
                sumsq_lanes2(lanes[0], n[0] ? s->gW + c0[0] * DM * 8 : s->gW, n[0], lanes[1],
                             n[1] ? s->gW + c0[1] * DM * 8 : s->gW, n[1]);
                for (int h = 0; h < 2; h++) c0[h] += n[h] / (8 * DM);
            }
            for (int h = 0; h < 2 && 2 * pair + h < nsb; h++)
                s->red[2 * pair + h] = sumsq_finish(lanes[h]);
        }
    }
    return loss / T;
}

/* The tree head's gradients: the mean over the chunk's positions of the
 * binary cross-entropy summed over each position's decisions, sigma(z) - bit
 * per decision, into the rows it read and the position's final features. */
static double tree_backward(ssm_w *s, int T) {
    memset(s->dxf, 0, sizeof(float) * DM * T);
    float inv_t = 1.0f / (float)T;
    double loss = 0.0;
    for (int t = 0; t < T; t++) {
        const float *u = s->xf[t];
        for (int j = 0; j < s->np[t]; j++) {
            int32_t r = (int32_t)(s->path[t][j] >> 1);
            int bit = (int)(s->path[t][j] & 1);
            const float *w = s->Wn + (size_t)r * RS;
            float z = row_logit(w, u);
            double p = ssx_sigmoid((double)z);
            loss += ssx_softplus(bit ? -(double)z : (double)z);
            float g = (float)(p - bit) * inv_t;
            if (s->gslot[r] < 0) {
                s->gslot[r] = s->ntr;
                s->trows[s->ntr++] = r;
            }
            float *gw = s->gN + (size_t)s->gslot[r] * RS;
            for (int k = 0; k < DM; k++) {
                s->dxf[t][k] += g * w[k];
                gw[k] += g * u[k];
            }
            gw[DM] += g;
        }
    }
    memset(s->G, 0, sizeof(float) * NFIX);
    backward_layers(s, T);
    return loss / T;
}

/* ---- Adam ---- */

/* The constants of Adam step k (1-based); gs scales the gradient. */
static void adam_consts(const ssm_w *s, int64_t k, float gs, float c[SSX_ADAM_N]) {
    c[SSX_ADAM_B1] = 0.9f;
    c[SSX_ADAM_C1] = 0.1f;
    c[SSX_ADAM_B2] = 0.999f;
    c[SSX_ADAM_C2] = 0.001f;
    c[SSX_ADAM_IBC1] = k < HIST_STEPS ? s->hist[k][0] : 1.0f;
    c[SSX_ADAM_IBC2] = k < HIST_STEPS ? s->hist[k][1] : 1.0f;
    c[SSX_ADAM_NLR] = -s->lr;
    c[SSX_ADAM_EPS] = 1e-8f;
    c[SSX_ADAM_GS] = gs;
}

/* Every row of E that ever had a gradient takes every Adam step, most of
 * them with a zero gradient (momentum only).  Those steps are deferred until
 * the row is read: the same operations in the same order, hence the same
 * bits, and a row that is never read again costs nothing. */
static void catch_up(ssm_w *s, int64_t r) {
    if (s->ecur[r] == s->adam_t) return;
    if (s->etouched[r]) { /* untouched rows have m = v = 0: their steps are no-ops */
        float c[SSX_ADAM_N];
        static const float ones[2] = {1.0f, 1.0f};
        adam_consts(s, s->adam_t, 1.0f, c);
        int64_t k0 = s->ecur[r] + 1, k1 = s->adam_t < HIST_STEPS - 1 ? s->adam_t : HIST_STEPS - 1;
        float *p = s->E + r * DM, *m = s->mE + r * DM, *v = s->vE + r * DM;
        if (k0 <= k1) ssx_k->adam_idle(p, m, v, DM, k1 - k0 + 1, s->hist[k0], 2, c);
        k0 = k0 > HIST_STEPS ? k0 : HIST_STEPS; /* the factors are exactly 1 from here */
        if (k0 <= s->adam_t) ssx_k->adam_idle(p, m, v, DM, s->adam_t - k0 + 1, ones, 0, c);
    }
    s->ecur[r] = s->adam_t;
}

/* One Adam step, then the forward pass of the chunk's layers with the new
 * parameters (for the next step, or the state after the chunk): it needs the
 * layers and the embedding but not the head, so one thread runs it while the
 * others update the head. */
static void adam_and_forward(ssm_w *s, int T, int32_t ve) {
    int64_t ve8 = (int64_t)(ve + 7) / 8 * 8;
    /* E's gradient lives in the chunk's input rows only: sum each row once */
    double nrm = sumsq(s->G, NFIX);
    uint8_t seen[TM] = {0};
    for (int t = 0; t < T; t++) {
        int dup = 0;
        for (int u = 0; u < t && !dup; u++) dup = s->a[u] == s->a[t];
        if (!dup) { seen[t] = 1; nrm += sumsq(s->gE + (size_t)s->a[t] * DM, DM); }
        s->etouched[s->a[t]] = 1;
    }
    int nsb = nsb_of(ve);
    if (s->tree)
        nrm += sumsq(s->gN, (int64_t)s->ntr * RS);
    else
        for (int sb = 0; sb < nsb; sb++) nrm += s->red[sb]; /* from backward() */
    double gn = sqrt(nrm);
    s->pow1 *= 0.9; /* beta^t, for the bias corrections */
    s->pow2 *= 0.999;
    s->adam_t++;
    if (s->adam_t < HIST_STEPS) { /* past it both are exactly 1 (tests check it) */
        s->hist[s->adam_t][0] = (float)(1.0 / (1.0 - s->pow1));
        s->hist[s->adam_t][1] = (float)(1.0 / (1.0 - s->pow2));
    }
    float c[SSX_ADAM_N];
    adam_consts(s, s->adam_t, gn > 5.0 ? (float)(5.0 / gn) : 1.0f, c);
    ssx_k->adam(s->P, s->G, s->M, s->V, NFIX, c);
    /* the chunk's rows of E (caught up when the forward pass read them) */
    for (int t = 0; t < T; t++)
        if (seen[t]) {
            size_t r = (size_t)s->a[t];
            ssx_k->adam(s->E + r * DM, s->gE + r * DM, s->mE + r * DM, s->vE + r * DM, DM, c);
            s->ecur[r] = s->adam_t;
            memset(s->gE + r * DM, 0, sizeof(float) * DM);
        }
    refresh_derived(s);
    if (s->tree) { /* the rows the chunk touched; the others keep their moments */
        for (int i = 0; i < s->ntr; i++) {
            size_t r = (size_t)s->trows[i] * RS;
            float *g = s->gN + (size_t)i * RS;
            ssx_k->adam(s->Wn + r, g, s->mWn + r, s->vWn + r, RS, c);
            memset(g, 0, sizeof(float) * RS);
            s->gslot[s->trows[i]] = -1;
        }
        s->ntr = 0;
        forward_layers(s, 0, T);
        return;
    }
#pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
    ssx_fp_enter(); /* worker threads start with the default MXCSR */
#pragma omp single nowait
    forward_layers(s, 0, T);
#pragma omp for schedule(dynamic, 1)
    for (int sb = 0; sb < nsb; sb++) {
        int64_t v0 = (int64_t)sb * SB_ROWS, v1 = v0 + SB_ROWS < ve8 ? v0 + SB_ROWS : ve8;
        ssx_k->adam(s->W + v0 * DM, s->gW + v0 * DM, s->mW + v0 * DM, s->vW + v0 * DM,
                    (v1 - v0) * DM, c);
    }
    }
}

/* ---- chunk training ---- */

static void state_to_next_chunk(ssm_w *s, int T) {
    for (int l = 0; l < NL; l++) {
        lcache *c = &s->lc[l];
        memcpy(c->h0, c->h[T - 1], sizeof c->h0);
        memmove(c->win[0], c->win[T], sizeof(float) * DI * (DC - 1));
    }
}

static int steps_for_chunk(const ssm_w *s, int64_t k) {
    return k <= 10 ? 8 : k <= 30 ? 4 : s->steps;
}

static void train(ssm_w *s, int T, int32_t ve, int steps) {
    if (s->tree) { /* each position's layers ran with these parameters (predict) */
        for (int step = 0; step < steps; step++) {
            tree_backward(s, T);
            adam_and_forward(s, T, ve);
        }
        s->bt1 = 0;
        state_to_next_chunk(s, T);
        s->trained = 1;
        return;
    }
    int reuse = 1;
    for (int t = 0; t < T; t++) reuse &= s->ve_at[t] == ve;
    /* training needs the exponentials, not the logits: they are made in
     * place in X, each super-block's rows while they are in cache */
    if (!reuse) {
        forward_layers(s, 0, T);
        head_forward(s, 0, T, ve, 0, s->X);
    }
    for (int step = 0; step < steps; step++) {
        if (step > 0) head_forward(s, 0, T, ve, 0, s->X); /* the layers ran in the last step */
        backward(s, T, ve, NULL);
        adam_and_forward(s, T, ve); /* the last leaves the state after the chunk */
    }
    for (int t = 0; t < T; t++) s->ve_at[t] = -1;
    s->bt1 = 0; /* new parameters: the look-ahead logits are stale */
    state_to_next_chunk(s, T);
    s->trained = 1;
}

/* The coding position t is s->n, its input s->prev.  An encoder knows the
 * inputs of the positions after it (ahead[j] is that of t + 1 + j): it runs
 * the rest of the chunk at once, the head as one matrix-matrix product.  Each
 * position's logits, sums and layer activations are the bits the one-position
 * pass gives (same parameters and state, same per-output reduction order). */
/* The layers from coding position t: with the inputs of the positions after
 * it (an encoder's), over the rest of the chunk at once, else t alone;
 * returns how many positions ran. */
static int layers_from(ssm_w *s, int t, const int32_t *ahead, int64_t nahead) {
    int T = 1;
    if (nahead > 0 && s->chunk - t > 1)
        T = s->chunk - t < 1 + nahead ? s->chunk - t : (int)(1 + nahead);
    s->a[t] = s->prev;
    for (int j = 1; j < T; j++) s->a[t + j] = ahead[j - 1];
    forward_layers(s, t, T);
    return T;
}

const float *SSM_FN(predict)(ssm_w *s, int32_t ve, double *entropy, const int32_t *ahead,
                             int64_t nahead) {
    if (s->prev < 0) return NULL;
    int t = s->n;
    int ready = t >= s->bt0 && t < s->bt1 && s->a[t] == s->prev; /* run ahead before */
    if (s->tree) { /* the layers only: the features the decision rows read */
        if (!ready) {
            s->bt0 = t;
            s->bt1 = t + layers_from(s, t, ahead, nahead);
        }
        return NULL;
    }
    const float *L;
    int64_t ld = ld_of(ve);
    if (ready && s->bve == ve) {
        L = s->Lb + t * ld;
    } else {
        if (nahead > 0 && s->chunk - t > 1 && !s->Lb)
            s->Lb = (float *)malloc(sizeof(float) * (size_t)(TM * ld_of(s->cap)));
        /* no memory: one position at a time, same bits */
        int T = layers_from(s, t, ahead, s->Lb ? nahead : 0);
        if (T > 1) {
            L = s->Lb + t * ld;
            head_forward(s, t, T, ve, 1, s->Lb + t * ld); /* rows t.. of Lb */
            s->bt0 = t;
            s->bt1 = t + T;
            s->bve = ve;
        } else {
            L = s->Lc;
            head_forward(s, t, 1, ve, 1, s->Lc);
            s->bt1 = 0;
        }
    }
    if (!s->trained) return NULL;
    *entropy = ssx_log(s->S[t]) - s->Hs[t] / s->S[t];
    return L;
}

void SSM_FN(observe)(ssm_w *s, int32_t c, int32_t ve) {
    if (s->prev >= 0) {
        s->b[s->n++] = c;
        if (s->n == s->chunk) {
            s->chunks++;
            train(s, s->chunk, ve, steps_for_chunk(s, s->chunks));
            s->n = 0;
        }
    }
    s->prev = c;
    s->np[s->n] = 0;
}

/* ---- test access ---- */

/* Reference layout <-> storage: in_w, x_w and out_w are stored transposed
 * (input-major), x_w padded to XP outputs, W in blocks of eight rows. */
int64_t SSM_FN(group)(ssm_w *s, int which, int grad, float *buf, int64_t n, int set,
                      int32_t ve) {
    float *base = grad ? s->G : s->P;
    if (which == 1 && s->tree) return -1; /* no dense head */
    if (which == 0 || which == 1) {
        int64_t size = (int64_t)ve * DM;
        if (!buf) return size;
        if (n < size) return -1;
        if (which == 0 && !grad)
            for (int64_t v = 0; v < ve; v++) catch_up(s, v); /* the deferred steps */
        for (int64_t v = 0; v < ve; v++)
            for (int k = 0; k < DM; k++) {
                float *p = which == 0 ? (grad ? s->gE : s->E) + v * DM + k
                                      : (grad ? s->gW : s->W) + ((v / 8) * DM + k) * 8 + v % 8;
                if (set) *p = buf[v * DM + k]; else buf[v * DM + k] = *p;
            }
        if (set) s->bt1 = 0;
        return size;
    }
    which -= 2;
    if (which == NL * P_GROUPS || which == NL * P_GROUPS + 1) {
        float *p = which == NL * P_GROUPS ? LNF_G(base) : LNF_B(base);
        if (!buf) return DM;
        if (n < DM) return -1;
        for (int k = 0; k < DM; k++) { if (set) p[k] = buf[k]; else buf[k] = p[k]; }
        return DM;
    }
    if (which < 0 || which > NL * P_GROUPS + 1) return -1;
    int l = which / P_GROUPS, grp = which % P_GROUPS;
    float *p = (grad ? s->gl : s->pl)[l].g[grp];
    int rows = 0, cols = 0, stride = 0; /* reference [rows][cols] -> p[col*stride + row] */
    if (grp == P_IN_W) { rows = 2 * DI; cols = DM; stride = 2 * DI; }
    else if (grp == P_X_W) { rows = 2 * DS + 1; cols = DI; stride = XP; }
    else if (grp == P_OUT_W) { rows = DM; cols = DI; stride = DM; }
    int64_t size = rows ? (int64_t)rows * cols : group_size[grp];
    if (!buf) return size;
    if (n < size) return -1;
    for (int64_t i = 0; i < size; i++) {
        float *q = rows ? p + (i % cols) * stride + i / cols : p + i;
        if (set) *q = buf[i]; else buf[i] = *q;
    }
    if (set && !grad) refresh_derived(s);
    if (set) s->bt1 = 0;
    return size;
}

void SSM_FN(state)(ssm_w *s, float *h, float *conv, int set) {
    if (set) s->bt1 = 0;
    for (int l = 0; l < NL; l++) {
        lcache *c = &s->lc[l];
        float *hs = h + (size_t)l * DI * DS, *cs = conv + (size_t)l * (DC - 1) * DI;
        for (int i = 0; i < DI; i++) /* reference layout [i][j] */
            for (int j = 0; j < DS; j++) {
                if (set) c->h0[j * DI + i] = hs[i * DS + j];
                else hs[i * DS + j] = c->h0[j * DI + i];
            }
        if (set) memcpy(c->win[0], cs, sizeof(float) * (DC - 1) * DI);
        else memcpy(cs, c->win[0], sizeof(float) * (DC - 1) * DI);
    }
}

double SSM_FN(chunk_grads)(ssm_w *s, const int32_t *in, const int32_t *tgt, int T,
                           int32_t ve, float *logits) {
    if (s->tree || T < 1 || T > TM) return -1.0;
    memcpy(s->a, in, sizeof(int32_t) * T);
    memcpy(s->b, tgt, sizeof(int32_t) * T);
    s->bt1 = 0;
    /* the logits themselves are kept only here, for the loss and the caller */
    float *L = (float *)malloc(sizeof(float) * (size_t)(T * ld_of(ve)));
    if (!L) return -1.0;
    forward_layers(s, 0, T);
    head_forward(s, 0, T, ve, 0, L);
    for (int t = 0; t < T; t++)
        memcpy(logits + (size_t)t * ve, L + (size_t)t * ld_of(ve), sizeof(float) * ve);
    memset(s->gE, 0, sizeof(float) * (size_t)ve * DM);
    double loss = backward(s, T, ve, L);
    free(L);
    for (int t = 0; t < T; t++) s->ve_at[t] = -1;
    return loss;
}

void SSM_FN(train_chunk)(ssm_w *s, const int32_t *in, const int32_t *tgt, int T,
                         int32_t ve, int steps) {
    if (s->tree || T < 1 || T > TM) return;
    memcpy(s->a, in, sizeof(int32_t) * T);
    memcpy(s->b, tgt, sizeof(int32_t) * T);
    for (int t = 0; t < T; t++) s->ve_at[t] = -1;
    train(s, T, ve, steps);
}

int SSM_FN(node_rows)(ssm_w *s, const uint32_t *nodes, int n, int grad, float *buf, int set) {
    if (!s->tree) return -1;
    for (int i = 0; i < n; i++) {
        int32_t r = (int32_t)(nodes[i] & s->nmask);
        float *p = grad ? (s->gslot[r] < 0 ? NULL : s->gN + (size_t)s->gslot[r] * RS)
                        : s->Wn + (size_t)r * RS;
        for (int k = 0; k <= DM; k++) {
            float *b = buf + (size_t)i * (DM + 1) + k;
            if (set && p) p[k] = *b;
            else if (!set) *b = p ? p[k] : 0.0f;
        }
    }
    return n * (DM + 1);
}

double SSM_FN(tree_grads)(ssm_w *s, const int32_t *in, const uint32_t *nodes, const uint8_t *bits,
                          const int32_t *npath, int stride, int T) {
    if (!s->tree || T < 1 || T > TM) return -1.0;
    for (int i = 0; i < s->ntr; i++) { /* a fresh gradient */
        memset(s->gN + (size_t)i * RS, 0, sizeof(float) * RS);
        s->gslot[s->trows[i]] = -1;
    }
    s->ntr = 0;
    memcpy(s->a, in, sizeof(int32_t) * T);
    for (int t = 0; t < T; t++) {
        s->np[t] = npath[t] < PMAX ? npath[t] : PMAX;
        for (int j = 0; j < s->np[t]; j++)
            s->path[t][j] = (nodes[t * stride + j] & s->nmask) << 1 | (bits[t * stride + j] != 0);
    }
    s->bt1 = 0;
    forward_layers(s, 0, T);
    memset(s->gE, 0, sizeof(float) * (size_t)s->cap * DM);
    return tree_backward(s, T);
}
