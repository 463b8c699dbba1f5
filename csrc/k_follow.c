/* k_follow.c - the n-gram followers' terms of the learned mixer (follow.h). */
#include <immintrin.h>

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

void ssx_follow_kernels(ssx_kernel_set *k, int level) {
    k->follow_add = level ? follow_add_avx2 : follow_add_scalar;
}
