/* mixer.c - the learned mixture of StateSMix+.
 *
 * The next token's logits are a weighted sum of feature vectors over the live
 * vocabulary.  Dense: the SSM logits, the count prior, an indicator and a
 * Zipf-like id prior for the tokens announced but not seen yet, and a bias by
 * the class of each token (token_class in statesmix/tokenizer.py).  Sparse:
 * per n-gram context (the published orders and three sparse contexts), the
 * seen followers' indicator, log relative frequency, count bucket, most-
 * frequent mark, recency rank and class; the LZ prediction; the last 64
 * tokens; the recency rank among the last CACHE distinct tokens.
 *
 * Small contexts choose which weights apply: the SSM's entropy, the longest
 * order whose context was seen, how much a context has seen, the share of the
 * rest of the block that must be first occurrences, how many tokens were seen,
 * the classes of the last two tokens.  After every token the chosen weights
 * take one RMS-normalised step down the gradient of the code length,
 * d(-log p_y)/dw = E_p[f] - f[y]: cheap, because the sparse features touch
 * few tokens and the dense expectations come out of the coding softmax.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "follow.h"
#include "kernels.h"
#include "mathf.h"
#include "mixer.h"
#include "statesmix.h"

#define NO SSX_NGRAM_TABLES
#define EB 13       /* SSM entropy buckets; 0: no SSM prediction yet */
#define HB (SSX_NGRAM_ORDERS + 1) /* longest contiguous order seen; 0: none */
#define CB 40       /* confidence of one context: 8 count buckets x 5 diversity */
#define KB 8        /* count buckets of one follower */
#define RB SSX_FOLLOW_RB /* recency ranks of a follower (ssx_rank_bucket) */
#define LB 6       /* distinct followers of a context: 1, 2, 3-4, 5-8, 9-16, 17+ */
#define LZB 16      /* LZ confidence buckets */
#define TC (SSX_TOKEN_CLASSES + 1) /* token classes, and "no token" */
#define PB 24      /* tokens seen: 0, 1, 2-3, 4-7, ... */
#define NB 24       /* novelty buckets: -2 log2(unseen / remaining) */
#define CACHE 8192 /* the most recent distinct tokens ... */
#define DB 14      /* ... get a term per bucket of their recency rank: 0, 1, 2-3, 4-7, ... */
/* rank_add (kernels.h) takes up to 16 buckets, and every rank below CACHE
 * falls in one of the DB (the last, the cache's second half, is gather's
 * largest job) */
_Static_assert(DB <= 16 && CACHE == 1 << (DB - 1), "the cache's rank buckets");
#define LOGTAB SSX_FOLLOW_LOGTAB
#define CBK SSX_FOLLOW_CBK /* counts with a tabulated bucket; from 32 on, the last */

_Static_assert(KB == 8 && SSX_TOKEN_CLASSES == 8, "follow_sums's count and class lanes");

#define LR 0.01   /* step of a weight, before RMS normalisation ... */
#define LR_HALF 30000.0 /* ... times sqrt(LR_HALF / (LR_HALF + tokens seen)) */
#define BETA 0.999 /* decay of the mean square gradient */
#define EPS 1e-4

typedef struct wt { double w, v, bc; } wt; /* weight, mean square gradient, BETA^t */

/* What prepare chose for fill: the weights of this position as floats and
 * the n-gram followers they apply to. */
typedef struct plan {
    float ws, wp, n0, n1, wk[SSX_TOKEN_CLASSES]; /* dense terms */
    int sparse, nt;
    const ssx_follower *f[NO];
    uint32_t len[NO];
    ssx_follow_w fw[NO]; /* each context's terms (follow.h) */
    int order[NO + 4];   /* gather's jobs, the longest first (job_order) */
    float lzw;
    const int32_t *win; /* the recent tokens */
    const float *rw;
    int avail;
    float wrec;
    float wd[16]; /* the cache, by rank bucket (DB of them) */
} plan;

struct ssx_mixer {
    int novel, shape, cache, classes; /* feature groups in use (ablation switches) */
    double lr;    /* the step size now */
    int64_t seen; /* tokens seen */

    /* weights of the dense features: the SSM logits and the count prior, by
     * (SSM entropy, longest order), by tokens seen, by the last two classes */
    wt dense[EB][HB][2], dpos[PB][2], dcls[TC * TC][2];
    wt nov[NB][2]; /* unseen-token indicator and id prior, by novelty */
    /* bias by the class of the candidate token, by the last two classes, by
     * (last class, longest order), by (last class, SSM entropy) */
    wt ccb[TC * TC][SSX_TOKEN_CLASSES], ccb2[TC * HB][SSX_TOKEN_CLASSES],
        ccb3[TC * EB][SSX_TOKEN_CLASSES];
    /* per n-gram context: the seen indicator by the context's confidence, by
     * the longest order, by SSM entropy, by the last two classes */
    wt ind[NO][CB], ind2[NO][HB], ind3[NO][EB], ind5[NO][TC * TC];
    wt lg[NO][CB];  /* log relative frequency */
    wt ic[NO][KB];  /* a follower's count bucket */
    wt top[NO][CB]; /* the most frequent follower */
    wt rr[NO][LB][RB]; /* a follower's recency rank, by the number of followers */
    wt ind6[NO][SSX_TOKEN_CLASSES], ind7[NO][TC][SSX_TOKEN_CLASSES]; /* its class */
    wt lz[LZB];     /* the LZ prediction, by confidence */
    wt rec[HB];     /* the last SSX_NGRAM_RECENT tokens */
    wt dist[EB][DB], distp[PB][DB]; /* recency rank among all tokens */

    int32_t mtf[CACHE]; /* distinct recent tokens, most recent first */
    int32_t nmtf;
    int32_t *at;        /* per compact id: its index in mtf, -1 if not there */
    int32_t atcap;
    float logtab[LOGTAB];
    uint8_t cbk[CBK];   /* count_bucket of the counts below CBK */

    /* gradient recording (ssx_mixer_gradients) */
    double **rec_w, *rec_g;
    int nrec, rec_cap;
    /* what predict chose, for update */
    int eb, hb, nb, pb, lzb, cb[NO];
    int c1, c12, c1hb, c1eb; /* class contexts */
    int32_t lzpred;
    plan p;
    /* the sums over the distribution that update needs (gather) */
    ssx_follow_sums gs[NO];
    double erec, ed[DB];
};

/* Set n weights (a whole array of wt) to v. */
static void wfill(wt *w, size_t n, double v) {
    for (size_t i = 0; i < n; i++) {
        w[i].w = v;
        w[i].v = 0.0;
        w[i].bc = 1.0;
    }
}

ssx_mixer *ssx_mixer_new(int32_t components) {
    ssx_mixer *x = (ssx_mixer *)calloc(1, sizeof *x);
    if (!x) return NULL;
    x->novel = !(components & SSX_MIX_NO_NOVEL);
    x->classes = !(components & SSX_MIX_NO_CLASS);
    x->shape = !(components & SSX_MIX_NO_SHAPE);
    x->cache = !(components & SSX_MIX_NO_CACHE);
    /* start from the published mixture: the order bias lambda log(1 + c/alpha) */
    static const double lam[NO] = {0.15, 0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.50, 1.00,
                                   0.05, 0.05, 0.05};
    static const double alf[NO] = {0.10, 0.05, 0.03, 0.02, 0.015, 0.010, 0.008, 0.001, 0.001,
                                   0.05, 0.05, 0.05};
    wfill(&x->dense[0][0][0], sizeof x->dense / sizeof(wt), 1.0);
    wfill(&x->dpos[0][0], sizeof x->dpos / sizeof(wt), 0.0);
    wfill(&x->dcls[0][0], sizeof x->dcls / sizeof(wt), 0.0);
    wfill(&x->nov[0][0], sizeof x->nov / sizeof(wt), 0.0);
    wfill(&x->ccb[0][0], sizeof x->ccb / sizeof(wt), 0.0);
    wfill(&x->ccb2[0][0], sizeof x->ccb2 / sizeof(wt), 0.0);
    wfill(&x->ccb3[0][0], sizeof x->ccb3 / sizeof(wt), 0.0);
    for (int o = 0; o < NO; o++) {
        wfill(x->ind[o], CB, lam[o] * ssx_log(1.0 + 1.0 / alf[o]));
        wfill(x->lg[o], CB, lam[o]);
    }
    wfill(&x->ind2[0][0], sizeof x->ind2 / sizeof(wt), 0.0);
    wfill(&x->ind3[0][0], sizeof x->ind3 / sizeof(wt), 0.0);
    wfill(&x->ind5[0][0], sizeof x->ind5 / sizeof(wt), 0.0);
    wfill(&x->ic[0][0], sizeof x->ic / sizeof(wt), 0.0);
    wfill(&x->top[0][0], sizeof x->top / sizeof(wt), 0.0);
    wfill(&x->rr[0][0][0], sizeof x->rr / sizeof(wt), 0.0);
    wfill(&x->ind6[0][0], sizeof x->ind6 / sizeof(wt), 0.0);
    wfill(&x->ind7[0][0][0], sizeof x->ind7 / sizeof(wt), 0.0);
    wfill(x->lz, LZB, 0.5);
    wfill(x->rec, HB, 1.0);
    wfill(&x->dist[0][0], sizeof x->dist / sizeof(wt), 0.0);
    wfill(&x->distp[0][0], sizeof x->distp / sizeof(wt), 0.0);
    x->logtab[0] = 0.0f;
    for (int c = 1; c < LOGTAB; c++) x->logtab[c] = (float)ssx_log((double)c);
    for (int c = 1; c < CBK; c++) x->cbk[c] = (uint8_t)ssx_count_bucket((uint64_t)c);
    for (int o = 0; o < NO; o++) { /* what prepare leaves alone */
        x->p.fw[o].shape = x->shape;
        x->p.fw[o].logtab = x->logtab;
        x->p.fw[o].cbk = x->cbk;
    }
    return x;
}

void ssx_mixer_free(ssx_mixer *x) {
    if (x) free(x->at);
    free(x);
}

static float logc(const ssx_mixer *x, uint32_t c) { return ssx_follow_log(x->logtab, c); }

/* count_bucket of a follower's count, from the table (no branches) */
static int count_bucket_of(const ssx_mixer *x, uint32_t c) { return x->cbk[c < CBK ? c : CBK - 1]; }

static int conf_bucket(uint64_t n, uint32_t u) {
    int d = u == 1 ? 0 : u == 2 ? 1 : (uint64_t)u * 4 <= n ? 2 : (uint64_t)u * 3 <= n * 2 ? 3 : 4;
    return ssx_count_bucket(n) * 5 + d;
}

static int len_bucket(uint32_t u) {
    return u < 3 ? (int)u - 1 : u < 5 ? 2 : u < 9 ? 3 : u < 17 ? 4 : 5;
}

static int dist_bucket(int32_t r) { /* 0, 1, 2-3, 4-7, ...: bits of r */
    return r > 0 ? 32 - __builtin_clz((uint32_t)r) : 0;
}

static int lz_bucket(uint32_t c) {
    if (c < 8) return (int)c;
    int b = 8;
    for (uint32_t t = 16; t <= c && b < LZB - 1; t *= 2) b++;
    return b;
}

static int novelty_bucket(int32_t unseen, int64_t remaining) {
    if (unseen <= 0 || remaining <= 0) return NB - 1;
    double r = -2.0 * ssx_log((double)unseen / (double)remaining) / 0.6931471805599453;
    int b = (int)r;
    return b < 0 ? 0 : b > NB - 2 ? NB - 2 : b;
}

/* A context's total count, and its largest in *cmax (integers: exact in any
 * order, so the wide clone may sum in lanes). */
SSX_WIDE static uint64_t follower_total(const ssx_follower *f, uint32_t len, uint32_t *cmax) {
    uint64_t n = 0;
    uint32_t cm = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t c = f[i].cnt;
        n += c;
        cm = c > cm ? c : cm;
    }
    *cmax = cm;
    return n;
}

/* The parts of gather: the tables, the recent tokens, then the cache's rank
 * buckets [CUT[j + 1], CUT[j]): its last bucket (half of it), the one
 * before, the rest. */
static const int CUT[] = {DB, DB - 1, DB - 2, 0};
#define CACHE_JOBS ((int)(sizeof CUT / sizeof CUT[0]) - 1)
_Static_assert(CACHE_JOBS <= 3, "plan.order holds the tables, the recent tokens and the cache");
int ssx_mixer_jobs(const ssx_mixer *x) { return x->p.sparse ? x->p.nt + 1 + CACHE_JOBS : 0; }

/* gather's parts by their work, the longest first, so that threads taking
 * them in turn finish together (the sums do not depend on who runs which):
 * a follower costs about four cached entries. */
static void job_order(ssx_mixer *x) {
    plan *p = &x->p;
    int n = ssx_mixer_jobs(x);
    int64_t cost[NO + 4];
    for (int j = 0; j < n; j++) {
        if (j < p->nt) {
            cost[j] = 4 * (int64_t)p->len[j];
        } else if (j == p->nt) {
            cost[j] = p->avail;
        } else {
            int part = j - p->nt - 1;
            int32_t r0 = CUT[part + 1] ? 1 << (CUT[part + 1] - 1) : 0, r1 = 1 << (CUT[part] - 1);
            if (r1 > x->nmtf) r1 = x->nmtf;
            cost[j] = x->cache && r1 > r0 ? r1 - r0 : 0;
        }
        int i = j;
        for (; i > 0 && cost[p->order[i - 1]] < cost[j]; i--) p->order[i] = p->order[i - 1];
        p->order[i] = j;
    }
}

void ssx_mixer_prepare(ssx_mixer *x, const ssx_mix_in *in, ssx_ngram *g) {
    plan *p = &x->p;
    x->lzb = -1;
    if (in->ssm) {
        int b = (int)(in->h * 1.5);
        x->eb = 1 + (b < 0 ? 0 : b > EB - 2 ? EB - 2 : b);
    } else {
        x->eb = 0;
    }
    x->hb = 0;
    p->nt = g ? ssx_ngram_tables(g) : 0;
    if (g) {
        ssx_ngram_locate(g);
        for (int o = 0; o < p->nt; o++) {
            p->f[o] = ssx_ngram_followers(g, o, &p->len[o]);
            if (p->len[o] && o < SSX_NGRAM_ORDERS) x->hb = o + 1;
        }
    }
    x->nb = novelty_bucket(in->unseen, in->remaining);
    const wt *d = x->dense[x->eb][x->hb], *nv = x->nov[x->nb];
    int pb = 0;
    for (int64_t q = x->seen; q > 0 && pb < PB - 1; q >>= 1) pb++;
    x->pb = pb;
    const wt *dp = x->dpos[x->pb];
    x->c1 = in->cls[0];
    x->c12 = x->c1 * TC + in->cls[1];
    x->c1hb = x->c1 * HB + x->hb;
    x->c1eb = x->c1 * EB + x->eb;
    /* dense terms: weights on the SSM logits and the prior (by the SSM's
     * entropy and the longest order, by how much was seen, by the last two
     * token classes), the unseen-token terms, and a bias by the class of each
     * candidate (after the last two classes, after the last class and the
     * longest order, after the last class and the SSM's entropy) */
    const wt *dc = x->dcls[x->c12];
    const wt *ca = x->ccb[x->c12], *cb2 = x->ccb2[x->c1hb], *cc = x->ccb3[x->c1eb];
    for (int k = 0; k < SSX_TOKEN_CLASSES; k++) p->wk[k] = (float)((ca[k].w + cb2[k].w) + cc[k].w);
    p->ws = in->ssm ? (float)((d[0].w + dp[0].w) + dc[0].w) : 0.0f;
    p->wp = (float)((d[1].w + dp[1].w) + dc[1].w);
    p->n0 = x->novel ? (float)nv[0].w : 0.0f;
    p->n1 = x->novel ? (float)nv[1].w : 0.0f;
    p->sparse = g != NULL;
    if (!g) return;
    for (int o = 0; o < p->nt; o++) {
        uint32_t len = p->len[o];
        if (!len) continue;
        uint32_t cm;
        uint64_t n = follower_total(p->f[o], len, &cm);
        ssx_follow_w *fw = &p->fw[o];
        fw->cm = cm;
        int cb = x->cb[o] = conf_bucket(n, len);
        fw->ln = (float)ssx_log((double)n);
        fw->wi = (float)(((x->ind[o][cb].w + x->ind2[o][x->hb].w) + x->ind3[o][x->eb].w) +
                         x->ind5[o][x->c12].w);
        fw->wl = (float)x->lg[o][cb].w;
        fw->wt = (float)x->top[o][cb].w;
        for (int k = 0; k < KB; k++) fw->wc[k] = (float)x->ic[o][k].w;
        for (int k = 0; k < SSX_TOKEN_CLASSES; k++)
            fw->w6[k] = (float)(x->ind6[o][k].w + x->ind7[o][x->c1][k].w);
        int lb = len_bucket(len);
        for (int r = 0; r < RB; r++) fw->wr[r] = (float)x->rr[o][lb][r].w;
    }
    uint32_t conf;
    if (ssx_ngram_lz(g, &x->lzpred, &conf)) {
        x->lzb = lz_bucket(conf);
        p->lzw = (float)x->lz[x->lzb].w;
    }
    p->avail = ssx_ngram_recent(g, &p->win, &p->rw);
    p->wrec = (float)x->rec[x->hb].w;
    for (int b = 0; b < DB; b++) p->wd[b] = (float)(x->dist[x->eb][b].w + x->distp[x->pb][b].w);
    job_order(x);
}

void ssx_mixer_fill(const ssx_mixer *x, const ssx_mix_in *in, float *logits, int32_t v0,
                    int32_t v1) {
    const plan *p = &x->p;
    const float *z = in->ssm ? in->ssm : in->prior;
    if (v1 <= v0) return;
    ssx_k->mix_dense(logits + v0, v1 - v0, in->tcls + v0, p->ws, z + v0, p->wp, in->prior + v0,
                     p->wk, p->n0, in->unseen_m + v0, p->n1, in->unseen_z + v0);
    if (!p->sparse) return;
    uint32_t span = (uint32_t)(v1 - v0);
    /* each token's terms in the same order whatever the range: the tables in
     * order, the LZ prediction, the recent tokens, the cache */
    for (int o = 0; o < p->nt; o++)
        if (p->len[o]) ssx_k->follow_add(logits, p->f[o], p->len[o], v0, span, in->tcls, &p->fw[o]);
    if (x->lzb >= 0 && (uint32_t)(x->lzpred - v0) < span) logits[x->lzpred] += p->lzw;
    for (int a = 0; a < p->avail; a++) {
        int32_t tok = p->win[-1 - a];
        if ((uint32_t)(tok - v0) < span) logits[tok] += p->wrec * p->rw[a];
    }
    /* the cache: from each token's rank (at[], -1 when not cached), the
     * same additions as a pass over the cache, where each token is once */
    if (x->cache) ssx_k->rank_add(logits + v0, x->at + v0, v1 - v0, p->wd);
}

void ssx_mixer_predict(ssx_mixer *x, const ssx_mix_in *in, ssx_ngram *g, float *logits,
                       int32_t live) {
    ssx_mixer_prepare(x, in, g);
    ssx_mixer_fill(x, in, logits, 0, live);
}

int ssx_mixer_sse_context(const ssx_mixer *x, int32_t top) {
    return x->hb * 2 + (x->lzb >= 0 && x->lzpred == top);
}

/* One step of weight w on gradient g, or, while gradients are being
 * recorded (tests), a note of (w, g) instead. */
static void step(ssx_mixer *x, wt *w, double g) {
    if (x->rec_w) {
        if (x->nrec < x->rec_cap) {
            x->rec_w[x->nrec] = &w->w;
            x->rec_g[x->nrec] = g;
        }
        x->nrec++;
        return;
    }
    w->v = BETA * w->v + (1.0 - BETA) * g * g;
    w->bc *= BETA;
    w->w -= x->lr * g / (sqrt(w->v / (1.0 - w->bc)) + EPS);
}

int ssx_mixer_uses_classes(const ssx_mixer *x) { return x->classes; }

/* Add e[ix[r]] for r in [r0, r1) to four chains a[r % 4]; the chains live
 * in registers meanwhile (an array indexed by r % 4 would pass every
 * addition through memory). */
static void chains4_add(double a[4], const float *e, const int32_t *ix, int32_t r0, int32_t r1) {
#define EV(r) (double)e[ix[r]]
    double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    int32_t r = r0;
    for (; r < r1 && (r & 3); r++) { /* up to the next multiple of 4 */
        double v = EV(r);
        if ((r & 3) == 1) a1 += v;
        else if ((r & 3) == 2) a2 += v;
        else a3 += v;
    }
    for (; r + 4 <= r1; r += 4) {
        a0 += EV(r);
        a1 += EV(r + 1);
        a2 += EV(r + 2);
        a3 += EV(r + 3);
    }
    if (r < r1) a0 += EV(r);
    if (r + 1 < r1) a1 += EV(r + 1);
    if (r + 2 < r1) a2 += EV(r + 2);
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
#undef EV
}

/* The sum of e[ix[r]] over r in [r0, r1), with efix in place of the value
 * at r = rfix, as four chains (r % 4) combined in a fixed order. */
static double chains4(const float *e, const int32_t *ix, int32_t r0, int32_t r1, int32_t rfix,
                      float efix) {
    double a[4] = {0.0, 0.0, 0.0, 0.0};
    if (rfix >= r0 && rfix < r1) {
        chains4_add(a, e, ix, r0, rfix);
        a[rfix & 3] += (double)efix;
        chains4_add(a, e, ix, rfix + 1, r1);
    } else {
        chains4_add(a, e, ix, r0, r1);
    }
    return (a[0] + a[1]) + (a[2] + a[3]);
}

void ssx_mixer_update(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                      const double *csum, const ssx_mix_in *in) {
    double inv = 1.0 / sum;
    x->lr = LR * sqrt(LR_HALF / (LR_HALF + (double)x->seen));
    wt *d = x->dense[x->eb][x->hb], *nv = x->nov[x->nb];
    if (in->ssm) step(x, &d[0], dots[0] * inv - (double)in->ssm[y]);
    step(x, &d[1], dots[1] * inv - (double)in->prior[y]);
    if (x->classes) { /* csum[k]: the sum of e over class k */
        int ky = in->tcls[y];
        for (int k = 0; k < SSX_TOKEN_CLASSES; k++) {
            if (!(csum[k] > 0.0) && k != ky) continue;
            double gk = csum[k] * inv - (k == ky);
            step(x, &x->ccb[x->c12][k], gk);
            step(x, &x->ccb2[x->c1hb][k], gk);
            step(x, &x->ccb3[x->c1eb][k], gk);
        }
    }
    if (x->classes) {
        if (in->ssm) step(x, &x->dcls[x->c12][0], dots[0] * inv - (double)in->ssm[y]);
        step(x, &x->dcls[x->c12][1], dots[1] * inv - (double)in->prior[y]);
    }
    if (in->ssm) step(x, &x->dpos[x->pb][0], dots[0] * inv - (double)in->ssm[y]);
    step(x, &x->dpos[x->pb][1], dots[1] * inv - (double)in->prior[y]);
    if (!x->rec_w) x->seen++;
    if (x->novel && in->unseen > 0) {
        step(x, &nv[0], dots[2] * inv - (double)in->unseen_m[y]);
        step(x, &nv[1], dots[3] * inv - (double)in->unseen_z[y]);
    }
    const plan *p = &x->p;
    if (!p->sparse) return;
    for (int o = 0; o < p->nt; o++) {
        uint32_t len = p->len[o];
        const ssx_follower *f = p->f[o];
        if (!len) continue;
        const ssx_follow_sums *s = &x->gs[o];
        double fi = 0.0, fl = 0.0, ft = 0.0, fc[KB] = {0}, fr_[RB] = {0};
        int k6 = -1;
        float ln = p->fw[o].ln;
        uint32_t cm = p->fw[o].cm;
        uint32_t i = ssx_followers_find(f, len, y); /* a context lists each token once */
        if (i < len) {
            uint32_t c = f[i].cnt;
            k6 = in->tcls[y];
            fr_[ssx_rank_bucket(i)] = 1.0;
            fi = 1.0;
            fl = (double)(logc(x, c) - ln);
            fc[count_bucket_of(x, c)] = 1.0;
            ft = c == cm ? 1.0 : 0.0;
        }
        int cb = x->cb[o];
        double gi = s->ei * inv - fi;
        step(x, &x->ind[o][cb], gi);
        step(x, &x->ind2[o][x->hb], gi);
        step(x, &x->ind3[o][x->eb], gi);
        if (x->classes) step(x, &x->ind5[o][x->c12], gi);
        for (int k = 0; k < SSX_TOKEN_CLASSES && x->classes; k++)
            if (s->e6[k] > 0.0) {
                step(x, &x->ind6[o][k], s->e6[k] * inv - (k == k6));
                step(x, &x->ind7[o][x->c1][k], s->e6[k] * inv - (k == k6));
            }
        step(x, &x->lg[o][cb], s->el * inv - fl);
        if (x->shape) {
            step(x, &x->top[o][cb], s->et * inv - ft);
            for (int k = 0; k < KB; k++)
                if (s->ec[k] > 0.0) step(x, &x->ic[o][k], s->ec[k] * inv - fc[k]);
            for (int r = 0; r < RB; r++)
                if (s->er[r] > 0.0) step(x, &x->rr[o][len_bucket(len)][r], s->er[r] * inv - fr_[r]);
        }
    }
    if (x->lzb >= 0)
        step(x, &x->lz[x->lzb], (double)e[x->lzpred] * inv - (x->lzpred == y ? 1.0 : 0.0));
    if (p->avail) {
        double fr = 0.0;
        for (int a = 0; a < p->avail; a++)
            if (p->win[-1 - a] == y) fr += (double)p->rw[a];
        step(x, &x->rec[x->hb], x->erec * inv - fr);
    }
    if (x->cache) {
        double fd[DB] = {0};
        if (x->at[y] >= 0) fd[dist_bucket(x->at[y])] = 1.0;
        for (int b = 0; b < DB; b++)
            if (x->ed[b] > 0.0) {
                step(x, &x->dist[x->eb][b], x->ed[b] * inv - fd[b]);
                step(x, &x->distp[x->pb][b], x->ed[b] * inv - fd[b]);
            }
    }
}

void ssx_mixer_gather(ssx_mixer *x, const ssx_mix_in *in, const float *e, int32_t fix,
                      float efix, int job) {
    const plan *p = &x->p;
    job = p->order[job];
    if (job < p->nt) { /* a table's followers, in order */
        ssx_k->follow_sums(&x->gs[job], p->f[job], p->len[job], e, fix, efix, in->tcls, &p->fw[job]);
    } else if (job == p->nt) { /* the recent tokens */
        double er = 0.0;
        for (int a = 0; a < p->avail; a++) {
            int32_t t = p->win[-1 - a];
            er += (double)(t == fix ? efix : e[t]) * (double)p->rw[a];
        }
        x->erec = er;
    } else if (x->cache) { /* a part of the cache's rank buckets */
        int part = job - p->nt - 1;
        int32_t rfix = fix >= 0 ? x->at[fix] : -1;
        for (int b = CUT[part + 1]; b < CUT[part]; b++) {
            int32_t r = b ? 1 << (b - 1) : 0, end = b ? 2 << (b - 1) : 1;
            if (end > x->nmtf) end = x->nmtf;
            x->ed[b] = r < end ? chains4(e, x->mtf, r, end, rfix, efix) : 0.0;
        }
    }
}

int ssx_mixer_gradients(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                        const double *csum, const ssx_mix_in *in, double **w, double *grad,
                        int cap) {
    x->rec_w = w;
    x->rec_g = grad;
    x->rec_cap = cap;
    x->nrec = 0;
    for (int j = 0; j < ssx_mixer_jobs(x); j++) ssx_mixer_gather(x, in, e, -1, 0.0f, j);
    ssx_mixer_update(x, y, e, sum, dots, csum, in);
    x->rec_w = NULL;
    return x->nrec;
}

uint64_t ssx_mixer_memory(int32_t cap) { return sizeof(ssx_mixer) + sizeof(int32_t) * (uint64_t)cap; }

int ssx_mixer_reserve(ssx_mixer *x, int32_t cap) {
    if (cap <= x->atcap) return 0;
    int32_t *a = (int32_t *)realloc(x->at, sizeof(int32_t) * (size_t)cap);
    if (!a) return -1;
    for (int32_t i = x->atcap; i < cap; i++) a[i] = -1;
    x->at = a;
    x->atcap = cap;
    return 0;
}

void ssx_mixer_observe(ssx_mixer *x, int32_t y) {
    int32_t i = x->at[y];
    if (i < 0) {
        if (x->nmtf < CACHE) {
            i = x->nmtf++;
        } else {
            i = CACHE - 1;
            x->at[x->mtf[i]] = -1;
        }
    }
    for (int32_t r = i; r > 0; r--) {
        x->mtf[r] = x->mtf[r - 1];
        x->at[x->mtf[r]] = r;
    }
    x->mtf[0] = y;
    x->at[y] = 0;
}
