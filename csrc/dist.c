/* dist.c - the model as the coder sees it (see dist.h): the live
 * vocabulary, the next token's distribution as integer frequencies or as a
 * walk through the token tree, and learning from the token coded.
 */
#include <math.h>
#include <stdlib.h>

#include "dist.h"
#include "fpenv.h"
#include "kernels.h"
#include "mathf.h"
#include "model.h"
#include "team.h"

_Static_assert(SSX_MIX_CSUM == 8, "the class_sums kernel (kernels.h) sums 8 classes");

#define FREQ_SCALE 1073741824.0 /* 2^30: total frequency ~2^30 + live */

/* ---- the live vocabulary ---- */

int32_t ssx_vocab_size(const ssx_model *m) { return m->V; }
int32_t ssx_vocab_live(const ssx_model *m) { return m->live; }
int32_t ssx_vocab_compact(const ssx_model *m, int32_t g) { return m->g2c[g]; }
int32_t ssx_vocab_global(const ssx_model *m, int32_t c) { return m->c2g[c]; }
int ssx_vocab_length(const ssx_model *m, int32_t g) { return ssx_tree_length(m->tree, g); }
int ssx_vocab_reserve(ssx_model *m, int32_t n) { return ssx_model_reserve(m, n); }
void ssx_vocab_add(ssx_model *m, int32_t g) { ssx_model_add_token(m, g); }

/* ---- the next token ---- */

int ssx_dist_is_tree(const ssx_model *m) { return m->tree != NULL; }

int ssx_dist_ready(const ssx_model *m) { return !m->tree || ssx_tree_has_spellings(m->tree); }

ssx_codec **ssx_dist_codec(ssx_model *m) { return &m->cod; }

/* Probabilities of the next token as integer frequencies; returns the total.
 * The vocabulary is cut into segments of SSX_CODE_SEG entries whose partial sums
 * are combined in order, so the result does not depend on the threads, and
 * part[] keeps each segment's frequency total for locating a cumulative count. */
static uint64_t model_freqs(ssx_model *m, double *sum_out) {
    int tree = m->tree != NULL; /* the tree needs sums in byte order, not frequencies */
    int32_t nblk = tree ? ssx_tree_blocks(m->tree) : 0;
    ssx_model_predict(m);
    int64_t n = m->live, n8 = SSX_PAD(n);
    for (int64_t i = n; i < n8; i++) m->logits[i] = SSX_PAD_LOGIT;
    int nseg = (int)((n8 + SSX_CODE_SEG - 1) / SSX_CODE_SEG);
    double *psum = m->segsum;
    uint64_t *ptot = m->segtot;
    float *pmx = m->segmx;
    int classes = m->mix && ssx_mixer_uses_classes(m->mix);
#pragma omp parallel num_threads(m->threads) if (m->threads > 1 && n >= SSX_PAR_CODING_ROWS)
    {
        ssx_fp_enter();
        if (m->mix) { /* one thread, while the others wake */
#pragma omp master
            ssx_model_prepare(m);
#pragma omp barrier
        }
        /* this thread's share of the segments: the logits of a pending
         * prediction (one pass over the n-gram followers per thread), then
         * the maxima; the maximum is exact whatever the order: per segment,
         * then combined */
        int lo, hi;
        ssx_share(nseg, &lo, &hi);
        if (m->pending && lo < hi) {
            int64_t v0 = (int64_t)lo * SSX_CODE_SEG, v1 = (int64_t)hi * SSX_CODE_SEG;
            ssx_model_finish(m, v0, v1 < n ? v1 : n);
        }
        for (int sg = lo; sg < hi; sg++) {
            int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n ? v0 + SSX_CODE_SEG : n;
            pmx[sg] = ssx_k->max(m->logits + v0, v1 - v0);
        }
#pragma omp barrier
        /* every thread combines the maxima itself (exact): no extra barrier */
        float mx = pmx[0];
        for (int sg = 1; sg < nseg; sg++) mx = pmx[sg] > mx ? pmx[sg] : mx;
#pragma omp for schedule(static)
        for (int sg = 0; sg < nseg; sg++) {
            int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n8 ? v0 + SSX_CODE_SEG : n8;
            if (m->ndense) {
                const float *vec[SSX_MAX_DOT];
                int k0 = m->dense0;
                for (int k = k0; k < m->ndense; k++) vec[k] = m->dense[k] + v0;
                psum[sg] = ssx_k->exp_sum_dot(m->logits + v0, v1 - v0, mx, m->e + v0, vec + k0,
                                              m->ndense - k0, m->segdot + SSX_MAX_DOT * sg + k0);
                if (classes)
                    ssx_k->class_sums(m->e + v0, m->ccls + v0, (v1 < n ? v1 : n) - v0,
                                      m->segcsum + SSX_MIX_CSUM * sg);
            } else {
                psum[sg] = ssx_k->exp_sum(m->logits + v0, v1 - v0, mx, m->e + v0);
            }
        }
        double sum_all = 0.0; /* without refinement: every thread sums (same order) */
        if (!m->sse)
            for (int sg = 0; sg < nseg; sg++) sum_all += psum[sg];
#pragma omp single nowait
        {
            double sum = 0.0;
            for (int sg = 0; sg < nseg; sg++) sum += psum[sg];
            for (int k = m->dense0; k < m->ndense; k++) {
                double d = 0.0;
                for (int sg = 0; sg < nseg; sg++) d += m->segdot[SSX_MAX_DOT * sg + k];
                m->dots[k] = d;
            }
            if (classes)
                for (int k = 0; k < SSX_MIX_CSUM; k++) {
                    double c = 0.0;
                    for (int sg = 0; sg < nseg; sg++) c += m->segcsum[SSX_MIX_CSUM * sg + k];
                    m->csum[k] = c;
                }
            *sum_out = m->esum = sum;
            if (m->sse) {
                int32_t t = 0;
                while (t < n - 1 && m->logits[t] != mx) t++;
                float et = m->e[t];
                double f = ssx_sse_refine(m->sse, (double)et, sum, ssx_mixer_sse_context(m->mix, t));
                float en = (float)((double)et * f);
                m->sse_tok = t;
                m->sse_e = et;
                m->e[t] = en;
                *sum_out = (sum - (double)et) + (double)en;
            }
        }
        if (m->sse) { /* the refined sum: wait for the thread that made it */
#pragma omp barrier
            sum_all = *sum_out;
        }
        /* the sums the mixer's update takes (over e before the refinement),
         * while the coder waits for them anyway */
        int njobs = m->mix ? ssx_mixer_jobs(m->mix) : 0; /* after prepare */
#pragma omp for schedule(dynamic, 1) nowait
        for (int j = 0; j < njobs; j++)
            ssx_mixer_gather(m->mix, &m->in, m->e, m->sse ? m->sse_tok : -1,
                             m->sse ? m->sse_e : 0.0f, j);
        if (tree) {
            /* dynamic: a thread that finished its part of gather first takes more */
#pragma omp for schedule(dynamic, 8)
            for (int32_t b = 0; b < nblk; b++) ssx_tree_sum_blocks(m->tree, m->e, b, b + 1);
        } else {
            double scale = FREQ_SCALE / sum_all;
#pragma omp for schedule(static)
            for (int sg = 0; sg < nseg; sg++) {
                int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n ? v0 + SSX_CODE_SEG : n;
                ptot[sg] = v1 > v0 ? ssx_k->freq(m->e + v0, v1 - v0, scale, m->freq + v0) : 0;
            }
        }
    }
    if (tree) return 0;
    m->pending = 0;
    uint64_t total = 0;
    for (int sg = 0; sg < nseg; sg++) total += ptot[sg];
    return total;
}

void ssx_dist_begin(ssx_model *m, int64_t remaining, const int32_t *ahead) {
    m->remaining = remaining;
    m->ahead = m->lookahead ? ahead : NULL; /* else: the decoder's way (tests) */
    m->dtotal = model_freqs(m, &m->dsum);
    m->ahead = NULL;
    if (m->tree) {
        ssx_tree_begin(m->tree, &m->walk);
        m->pushed = 0;
    }
}

uint64_t ssx_dist_total(const ssx_model *m) { return m->dtotal; }

uint32_t ssx_dist_freq(const ssx_model *m, int32_t c) { return m->freq[c]; }

uint64_t ssx_dist_cum(const ssx_model *m, int32_t c) {
    uint64_t cum = 0;
    int sc = c / SSX_CODE_SEG;
    for (int sg = 0; sg < sc; sg++) cum += m->segtot[sg];
    for (int32_t j = sc * SSX_CODE_SEG; j < c; j++) cum += m->freq[j];
    return cum;
}

int32_t ssx_dist_find(const ssx_model *m, uint64_t v, uint64_t *cum) {
    uint64_t base = 0;
    int sg = 0;
    while (base + m->segtot[sg] <= v) base += m->segtot[sg++];
    int32_t c = sg * SSX_CODE_SEG;
    while (base + m->freq[c] <= v) base += m->freq[c++];
    *cum = base;
    return c;
}

/* The bytes of the walk's token that are decided go to the byte mixer, once. */
static void push_decided(ssx_model *m, const uint8_t *p, int upto) {
    while (m->pushed < upto) ssx_cm_push(m->cm, p[m->pushed++]);
}

int ssx_dist_bit(ssx_model *m, uint32_t *p) {
    ssx_walk *w = &m->walk;
    double s0 = 0.0, s1 = 0.0;
    int kind = ssx_tree_next(m->tree, w, m->e, &s0, &s1);
    if (w->d > m->pushed) push_decided(m, ssx_tree_prefix(m->tree, w), w->d);
    if (kind == SSX_TREE_DONE) {
        const uint8_t *sp;
        int len = ssx_tree_spelling(m->tree, ssx_tree_token(m->tree, w), &sp);
        push_decided(m, sp, len);
        return 0;
    }
    /* the token model's log odds of 1: its mass on each side */
    double st = ssx_log(s1) - ssx_log(s0);
    if (m->cfg.components & SSX_SSM_TREE) { /* the SSM's log odds, a byte-mixer input */
        m->node = ssx_tree_node(m->tree, w);
        ssx_cm_ssm(m->cm, ssx_ssm_node_logit(m->ssm, m->node));
    }
    *p = (uint32_t)ssx_cm_predict(m->cm, kind == SSX_TREE_END ? 0 : w->c0, w->d, st);
    return 1;
}

int ssx_dist_side(const ssx_model *m, int32_t c) { return ssx_tree_side(m->tree, &m->walk, c); }

void ssx_dist_take(ssx_model *m, int bit) {
    if (m->cfg.components & SSX_SSM_TREE) ssx_ssm_node_taken(m->ssm, m->node, bit);
    ssx_cm_update(m->cm, bit);
    ssx_tree_take(m->tree, &m->walk, bit);
}

int32_t ssx_dist_token(const ssx_model *m) { return ssx_tree_token(m->tree, &m->walk); }

void ssx_dist_learn(ssx_model *m, int32_t c) {
    m->st.tokens++;
    m->st.ideal_bits -= log2((double)m->e[c] / m->dsum);
    ssx_model_note_progress(m);
    if (m->cm) ssx_cm_token(m->cm, (uint32_t)m->c2g[c]);
    ssx_model_update(m, c);
}
