/* k_follow.c - the n-gram followers' terms of the learned mixer (follow.h). */
#include <immintrin.h>
#include <string.h>

#include "follow.h"
#include "kernels.h"
#include "ngram.h"
#include "simd_math.h"

static float term(const ssx_follow_w *w, const uint8_t *cls, int32_t tok, uint32_t c,
                  uint32_t i) {
    float v = w->wi + w->wl * (ssx_follow_log(w->logtab, c) - w->ln);
    v += w->w6[cls[tok]];
    if (w->shape) {
        v += w->wc[ssx_count_bucket(c)];
        if (c == w->cm) v += w->wt;
        v += w->wr[ssx_rank_bucket(i)];
    }
    return v;
}

/* Followers [i0, i1) of f; which are in range is read eight at a time as a
 * mask, so that a thread skips the others without a mispredicted branch. */
static void add_range(float *x, const ssx_follower *f, uint32_t i0, uint32_t i1, int32_t v0,
                      uint32_t span, const uint8_t *cls, const ssx_follow_w *w) {
    for (; i0 < i1; i0 += 8) {
        uint32_t n8 = i1 - i0 < 8 ? i1 - i0 : 8, in8 = 0;
        for (uint32_t j = 0; j < n8; j++)
            in8 |= (uint32_t)((uint32_t)(f[i0 + j].tok - v0) < span) << j;
        for (; in8; in8 &= in8 - 1) {
            uint32_t i = i0 + (uint32_t)__builtin_ctz(in8);
            x[f[i].tok] += term(w, cls, f[i].tok, f[i].cnt, i);
        }
    }
}

static void follow_add_scalar(float *x, const ssx_follower *f, uint32_t n, int32_t v0,
                              uint32_t span, const uint8_t *cls, const ssx_follow_w *w) {
    add_range(x, f, 0, n, v0, span, cls, w);
}

/* Eight followers a lane each, the terms in the scalar twin's order; a
 * block with a count past the log table goes to the scalar twin. */
AVX2 static void follow_add_avx2(float *x, const ssx_follower *f, uint32_t n, int32_t v0,
                                 uint32_t span, const uint8_t *cls, const ssx_follow_w *w) {
    const __m256i sign = _mm256_set1_epi32(INT32_MIN), lo = _mm256_set1_epi32(v0),
                  hi = _mm256_set1_epi32((int32_t)(span ^ 0x80000000u)),
                  tab = _mm256_set1_epi32((int32_t)(SSX_FOLLOW_LOGTAB ^ 0x80000000u)),
                  cm = _mm256_set1_epi32((int32_t)w->cm), c32 = _mm256_set1_epi32(32),
                  lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 wi = _mm256_set1_ps(w->wi), wl = _mm256_set1_ps(w->wl),
                 ln = _mm256_set1_ps(w->ln), wt = _mm256_set1_ps(w->wt),
                 w6 = _mm256_loadu_ps(w->w6), wc = _mm256_loadu_ps(w->wc),
                 wr9 = _mm256_set1_ps(w->wr[SSX_FOLLOW_RB - 1]);
    static const int32_t cth[7] = {1, 2, 3, 5, 8, 15, 31}, rth[9] = {0, 1, 2, 3, 4, 6, 10, 20, 50};
    uint32_t i0 = 0;
    for (; i0 + 8 <= n; i0 += 8) {
        __m256 a = _mm256_loadu_ps((const float *)(f + i0)),
               b = _mm256_loadu_ps((const float *)(f + i0 + 4));
        /* (tok, cnt) pairs to a vector of each, in order */
        __m256i t = _mm256_permute4x64_epi64(
            _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0));
        __m256i c = _mm256_permute4x64_epi64(
            _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0));
        /* tok - v0 < span and c < SSX_FOLLOW_LOGTAB, unsigned, as signed compares */
        __m256i in = _mm256_cmpgt_epi32(hi, _mm256_xor_si256(_mm256_sub_epi32(t, lo), sign));
        int mask = _mm256_movemask_ps(_mm256_castsi256_ps(in));
        if (!mask) continue;
        __m256i small = _mm256_cmpgt_epi32(tab, _mm256_xor_si256(c, sign));
        if (~_mm256_movemask_ps(_mm256_castsi256_ps(small)) & mask) {
            add_range(x, f, i0, i0 + 8, v0, span, cls, w);
            continue;
        }
        int32_t tk[8];
        _mm256_storeu_si256((__m256i *)tk, t);
        __m256i k = _mm256_setr_epi32(cls[tk[0]], cls[tk[1]], cls[tk[2]], cls[tk[3]], cls[tk[4]],
                                      cls[tk[5]], cls[tk[6]], cls[tk[7]]);
        __m256i cs = _mm256_and_si256(c, small); /* the gather reads index 0 elsewhere */
        __m256 lg = _mm256_i32gather_ps(w->logtab, cs, 4);
        __m256 v = _mm256_add_ps(wi, _mm256_mul_ps(wl, _mm256_sub_ps(lg, ln)));
        v = _mm256_add_ps(v, _mm256_permutevar8x32_ps(w6, k));
        if (w->shape) {
            __m256i cc = _mm256_min_epu32(c, c32), cb = _mm256_setzero_si256();
            for (int j = 0; j < 7; j++)
                cb = _mm256_sub_epi32(cb, _mm256_cmpgt_epi32(cc, _mm256_set1_epi32(cth[j])));
            v = _mm256_add_ps(v, _mm256_permutevar8x32_ps(wc, cb));
            __m256 eq = _mm256_castsi256_ps(_mm256_cmpeq_epi32(c, cm));
            v = _mm256_blendv_ps(v, _mm256_add_ps(v, wt), eq);
            if (i0 > 50) {
                v = _mm256_add_ps(v, wr9);
            } else {
                __m256i i = _mm256_add_epi32(_mm256_set1_epi32((int32_t)i0), lane), rb = _mm256_setzero_si256();
                for (int j = 0; j < 9; j++)
                    rb = _mm256_sub_epi32(rb, _mm256_cmpgt_epi32(i, _mm256_set1_epi32(rth[j])));
                v = _mm256_add_ps(v, _mm256_i32gather_ps(w->wr, rb, 4));
            }
        }
        float vv[8];
        _mm256_storeu_ps(vv, v);
        for (; mask; mask &= mask - 1) {
            int j = __builtin_ctz((unsigned)mask);
            x[tk[j]] += vv[j];
        }
    }
    add_range(x, f, i0, n, v0, span, cls, w);
}

/* Sixteen followers a lane each, as the AVX2 version does eight. */
AVX512 static void follow_add_avx512(float *x, const ssx_follower *f, uint32_t n, int32_t v0,
                                     uint32_t span, const uint8_t *cls, const ssx_follow_w *w) {
    const __m512i lo = _mm512_set1_epi32(v0), sp = _mm512_set1_epi32((int32_t)span),
                  tab = _mm512_set1_epi32(SSX_FOLLOW_LOGTAB), cm = _mm512_set1_epi32((int32_t)w->cm),
                  c32 = _mm512_set1_epi32(32), one = _mm512_set1_epi32(1),
                  lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                  even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                  odd = _mm512_add_epi32(even, one);
    const __m512 wi = _mm512_set1_ps(w->wi), wl = _mm512_set1_ps(w->wl),
                 ln = _mm512_set1_ps(w->ln), wt = _mm512_set1_ps(w->wt),
                 w6 = _mm512_maskz_loadu_ps(0xff, w->w6), wc = _mm512_maskz_loadu_ps(0xff, w->wc),
                 wr = _mm512_maskz_loadu_ps((1u << SSX_FOLLOW_RB) - 1, w->wr),
                 wr9 = _mm512_set1_ps(w->wr[SSX_FOLLOW_RB - 1]);
    static const int32_t cth[7] = {1, 2, 3, 5, 8, 15, 31}, rth[9] = {0, 1, 2, 3, 4, 6, 10, 20, 50};
    uint32_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(f + i0)),
                b = _mm512_loadu_si512((const void *)(f + i0 + 8));
        __m512i t = _mm512_permutex2var_epi32(a, even, b), c = _mm512_permutex2var_epi32(a, odd, b);
        __mmask16 mask = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(t, lo), sp);
        if (!mask) continue;
        if (_mm512_cmpge_epu32_mask(c, tab) & mask) {
            add_range(x, f, i0, i0 + 16, v0, span, cls, w);
            continue;
        }
        int32_t tk[16], kk[16];
        _mm512_storeu_si512((void *)tk, t);
        for (int j = 0; j < 16; j++) kk[j] = cls[tk[j]];
        __m512i k = _mm512_loadu_si512((const void *)kk);
        /* lanes out of range may hold counts past the table: read index 0 */
        __m512 lg = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, c, w->logtab, 4);
        __m512 v = _mm512_add_ps(wi, _mm512_mul_ps(wl, _mm512_sub_ps(lg, ln)));
        v = _mm512_add_ps(v, _mm512_permutexvar_ps(k, w6));
        if (w->shape) {
            __m512i cc = _mm512_min_epu32(c, c32), cb = _mm512_setzero_si512();
            for (int j = 0; j < 7; j++)
                cb = _mm512_mask_add_epi32(cb, _mm512_cmpgt_epu32_mask(cc, _mm512_set1_epi32(cth[j])), cb, one);
            v = _mm512_add_ps(v, _mm512_permutexvar_ps(cb, wc));
            v = _mm512_mask_add_ps(v, _mm512_cmpeq_epi32_mask(c, cm), v, wt);
            if (i0 > 50) {
                v = _mm512_add_ps(v, wr9);
            } else {
                __m512i i = _mm512_add_epi32(_mm512_set1_epi32((int32_t)i0), lane), rb = _mm512_setzero_si512();
                for (int j = 0; j < 9; j++)
                    rb = _mm512_mask_add_epi32(rb, _mm512_cmpgt_epi32_mask(i, _mm512_set1_epi32(rth[j])), rb, one);
                v = _mm512_add_ps(v, _mm512_permutexvar_ps(rb, wr));
            }
        }
        float vv[16];
        _mm512_storeu_ps(vv, v);
        for (unsigned mk = mask; mk; mk &= mk - 1) {
            int j = __builtin_ctz(mk);
            x[tk[j]] += vv[j];
        }
    }
    add_range(x, f, i0, n, v0, span, cls, w);
}

/* ---- follow_sums: one pass over the followers, every sum a chain of its
 * own in follower order; the rank buckets are runs of i, and the count and
 * class sums take +0.0 in the lanes a follower does not hit (exact: the
 * sums start at +0.0 and e >= 0), so their chains need no memory ---- */

/* The end of the run of ranks from i0 that share i0's bucket rb. */
static inline uint32_t rank_run_end(uint32_t i0, int rb, uint32_t len) {
    uint32_t i1 = rb < 5 ? i0 + 1 : rb == 5 ? 7 : rb == 6 ? 11 : rb == 7 ? 21 : rb == 8 ? 51 : len;
    return i1 < len ? i1 : len;
}

static inline int cbucket(const ssx_follow_w *w, uint32_t c) {
    return w->cbk[c < SSX_FOLLOW_CBK ? c : SSX_FOLLOW_CBK - 1];
}

/* The loop the three versions share: every scalar sum in follower order,
 * the rank buckets as runs of i; LANES(tok, c, q) adds q to the class and
 * count-bucket sums the version's way. */
#define SUMS_LOOP(LANES)                                                                   \
    double ei = 0.0, el = 0.0, et = 0.0, er_[SSX_FOLLOW_RB] = {0};                         \
    for (uint32_t i0 = 0; i0 < len;) {                                                     \
        int rb = ssx_rank_bucket(i0);                                                      \
        uint32_t i1 = rank_run_end(i0, rb, len);                                           \
        double er = 0.0;                                                                   \
        for (uint32_t i = i0; i < i1; i++) {                                               \
            uint32_t c = f[i].cnt;                                                         \
            int32_t tok = f[i].tok;                                                        \
            double l = (double)(ssx_follow_log(w->logtab, c) - w->ln),                     \
                   q = (double)(tok == fix ? efix : e[tok]);                               \
            ei += q;                                                                       \
            el += q * l;                                                                   \
            LANES(tok, c, q);                                                              \
            er += q;                                                                       \
            if (c == w->cm) et += q;                                                       \
        }                                                                                  \
        er_[rb] = er;                                                                      \
        i0 = i1;                                                                           \
    }                                                                                      \
    s->ei = ei, s->el = el, s->et = et;                                                    \
    memcpy(s->er, er_, sizeof er_)

#define LANES_SCALAR(tok, c, q) (e6[cls[tok]] += (q), ec[cbucket(w, c)] += (q))

static void sums_scalar(ssx_follow_sums *s, const ssx_follower *f, uint32_t len, const float *e,
                        int32_t fix, float efix, const uint8_t *cls, const ssx_follow_w *w) {
    double ec[8] = {0}, e6[8] = {0};
    SUMS_LOOP(LANES_SCALAR);
    memcpy(s->ec, ec, sizeof ec);
    memcpy(s->e6, e6, sizeof e6);
}

/* four double lanes, and four 64-bit integer lanes to select them with */
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

#define LANES_AVX2(tok, c, q)                                                              \
    do {                                                                                   \
        v4d qv = {q, q, q, q};                                                             \
        v4i qb = (v4i)qv, kc = zero + cls[tok], kb = zero + cbucket(w, c);                 \
        k0 += (v4d)(qb & (lane0 == kc));                                                   \
        k1 += (v4d)(qb & (lane4 == kc));                                                   \
        c0 += (v4d)(qb & (lane0 == kb));                                                   \
        c1 += (v4d)(qb & (lane4 == kb));                                                   \
    } while (0)

/* The eight class and eight count sums in four vectors of four lanes. */
AVX2 static void sums_avx2(ssx_follow_sums *s, const ssx_follower *f, uint32_t len, const float *e,
                           int32_t fix, float efix, const uint8_t *cls, const ssx_follow_w *w) {
    const v4i zero = {0, 0, 0, 0}, lane0 = {0, 1, 2, 3}, lane4 = {4, 5, 6, 7};
    v4d c0 = {0.0, 0.0, 0.0, 0.0}, c1 = c0, k0 = c0, k1 = c0;
    SUMS_LOOP(LANES_AVX2);
    memcpy(s->ec, &c0, sizeof c0);
    memcpy(s->ec + 4, &c1, sizeof c1);
    memcpy(s->e6, &k0, sizeof k0);
    memcpy(s->e6 + 4, &k1, sizeof k1);
}

#define LANES_AVX512(tok, c, q)                                                            \
    do {                                                                                   \
        __m512d qz = _mm512_set1_pd(q);                                                    \
        kk = _mm512_mask_add_pd(kk, (__mmask8)(1u << cls[tok]), kk, qz);                   \
        kc = _mm512_mask_add_pd(kc, (__mmask8)(1u << cbucket(w, c)), kc, qz);              \
    } while (0)

/* The class and count sums in one register of eight lanes each, a
 * follower's q added to its lane under a mask (the other lanes keep their
 * bits, as +0.0 would): a third fewer instructions than the AVX2 lanes. */
AVX512 static void sums_avx512(ssx_follow_sums *s, const ssx_follower *f, uint32_t len,
                               const float *e, int32_t fix, float efix, const uint8_t *cls,
                               const ssx_follow_w *w) {
    __m512d kc = _mm512_setzero_pd(), kk = kc;
    SUMS_LOOP(LANES_AVX512);
    _mm512_storeu_pd(s->ec, kc);
    _mm512_storeu_pd(s->e6, kk);
}

void ssx_follow_kernels(ssx_kernel_set *k, int level) {
    k->follow_add = level >= 2 ? follow_add_avx512 : level ? follow_add_avx2 : follow_add_scalar;
    k->follow_sums = level >= 2 ? sums_avx512 : level ? sums_avx2 : sums_scalar;
}
