/* testhooks.c - internal entry points for the tests (see testhooks.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "fpenv.h"
#include "kernels.h"
#include "mathf.h"
#include "model.h"
#include "testhooks.h"

void ssx_test_lookahead(ssx_model *m, int on) { m->lookahead = on; }

uint64_t ssx_test_ngram_memory(const ssx_model *m) { return m->ngram ? ssx_ngram_memory(m->ngram) : 0; }

double ssx_test_tree_check(ssx_model *m) {
    if (!m->tree || m->live < 1) return -1.0;
    ssx_fpenv env = ssx_fp_enter();
    ssx_dist_begin(m, 1, NULL);
    double worst = 0.0;
    for (int32_t c = 0; c < m->live; c++) {
        ssx_walk w;
        ssx_tree_begin(m->tree, &w);
        double prod = 1.0, s0, s1;
        while (ssx_tree_next(m->tree, &w, m->e, &s0, &s1) != SSX_TREE_DONE) {
            int bit = ssx_tree_side(m->tree, &w, c);
            prod *= (bit ? s1 : s0) / (s0 + s1);
            ssx_tree_take(m->tree, &w, bit);
        }
        double want = (double)m->e[c] / m->dsum;
        double err = ssx_tree_token(m->tree, &w) != c ? 1e300 : fabs(prod - want) / want;
        if (err > worst) worst = err;
    }
    ssx_fp_leave(env);
    return worst;
}

/* ---- test access to the learned mixer ---- */

/* -log p(y) of the mixer's current logits, in double. */
static double mix_loss(const ssx_model *m, int32_t y) {
    double mx = m->logits[0], sum = 0.0;
    for (int32_t i = 1; i < m->live; i++) mx = m->logits[i] > mx ? m->logits[i] : mx;
    for (int32_t i = 0; i < m->live; i++) sum += ssx_exp((double)m->logits[i] - mx);
    return ssx_log(sum) - ((double)m->logits[y] - mx);
}

int ssx_test_mixer_check(ssx_model *m, int32_t y, double eps, double *ana, double *num, int cap) {
    if (!m->mix || y < 0 || y >= m->live || cap < 1) return -1;
    ssx_fpenv env = ssx_fp_enter();
    ssx_model_predict(m);
    ssx_model_prepare(m);
    if (m->pending) ssx_model_finish(m, 0, m->live);
    /* the softmax as the coder computes it, serially */
    float mx = m->logits[0];
    for (int32_t i = 1; i < m->live; i++) mx = m->logits[i] > mx ? m->logits[i] : mx;
    double sum = 0.0, dots[SSX_MAX_DOT] = {0}, csum[SSX_MIX_CSUM] = {0};
    for (int32_t i = 0; i < m->live; i++) {
        m->e[i] = ssx_expf(m->logits[i] - mx);
        sum += (double)m->e[i];
        for (int k = 0; k < m->ndense; k++) dots[k] += (double)m->e[i] * (double)m->dense[k][i];
        csum[m->ccls[i]] += (double)m->e[i];
    }
    double **w = (double **)malloc(sizeof(double *) * (size_t)cap);
    if (!w) { ssx_fp_leave(env); return -1; }
    int n = ssx_mixer_gradients(m->mix, y, m->e, sum, dots, csum, &m->in, w, ana, cap);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) {
        double keep = *w[i];
        *w[i] = keep + eps;
        ssx_mixer_predict(m->mix, &m->in, m->ngram, m->logits, m->live);
        double up = mix_loss(m, y);
        *w[i] = keep - eps;
        ssx_mixer_predict(m->mix, &m->in, m->ngram, m->logits, m->live);
        double down = mix_loss(m, y);
        *w[i] = keep;
        num[i] = (up - down) / (2.0 * eps);
    }
    ssx_mixer_predict(m->mix, &m->in, m->ngram, m->logits, m->live);
    free(w);
    ssx_fp_leave(env);
    return n;
}

/* ---- test access to the SSM ---- */

int ssx_test_add_tokens(ssx_model *m, int32_t n) {
    if (n < 0 || n > m->V || ssx_model_reserve(m, n)) return SSX_ERR_PARAM;
    ssx_fpenv env = ssx_fp_enter();
    for (int32_t g = m->live; g < n; g++) ssx_model_add_token(m, g);
    ssx_fp_leave(env);
    return SSX_OK;
}

int64_t ssx_test_ssm_group(ssx_model *m, int which, int grad, float *buf, int64_t n, int set) {
    ssx_fpenv env = ssx_fp_enter(); /* setting A_log recomputes A */
    int64_t r = m->ssm ? ssx_ssm_group(m->ssm, which, grad, buf, n, set, m->live) : -1;
    ssx_fp_leave(env);
    return r;
}

void ssx_test_ssm_state(ssx_model *m, float *h, float *conv, int set) {
    if (m->ssm) ssx_ssm_state(m->ssm, h, conv, set);
}

double ssx_test_ssm_grads(ssx_model *m, const int32_t *in, const int32_t *tgt, int T,
                          float *logits) {
    ssx_fpenv env = ssx_fp_enter();
    double r = m->ssm ? ssx_ssm_chunk_grads(m->ssm, in, tgt, T, m->live, logits) : -1.0;
    ssx_fp_leave(env);
    return r;
}

void ssx_test_ssm_train(ssx_model *m, const int32_t *in, const int32_t *tgt, int T, int steps) {
    ssx_fpenv env = ssx_fp_enter();
    if (m->ssm) ssx_ssm_train_chunk(m->ssm, in, tgt, T, m->live, steps);
    ssx_fp_leave(env);
}

int ssx_test_ssm_node_rows(ssx_model *m, const uint32_t *nodes, int n, int grad, float *buf, int set) {
    return m->ssm ? ssx_ssm_node_rows(m->ssm, nodes, n, grad, buf, set) : -1;
}

double ssx_test_ssm_tree_grads(ssx_model *m, const int32_t *in, const uint32_t *nodes,
                               const uint8_t *bits, const int32_t *npath, int stride, int T) {
    ssx_fpenv env = ssx_fp_enter();
    double r = m->ssm ? ssx_ssm_tree_grads(m->ssm, in, nodes, bits, npath, stride, T) : -1.0;
    ssx_fp_leave(env);
    return r;
}

void ssx_test_rank_add(float *x, const int32_t *rank, int64_t n, const float w[16]) {
    ssx_fpenv env = ssx_fp_enter();
    ssx_dispatch_init();
    ssx_k->rank_add(x, rank, n, w);
    ssx_fp_leave(env);
}

uint32_t ssx_test_follow_logtab(void) { return SSX_FOLLOW_LOGTAB; }

void ssx_test_follow_add(float *x, const int32_t *pairs, uint32_t n, int32_t v0, uint32_t span,
                         const uint8_t *cls, const float *w, uint32_t cm, int shape,
                         const float *logtab) {
    ssx_follow_w fw = {.wi = w[0], .wl = w[1], .ln = w[2], .wt = w[3], .cm = cm,
                       .shape = shape, .logtab = logtab};
    memcpy(fw.w6, w + 4, sizeof fw.w6);
    memcpy(fw.wc, w + 12, sizeof fw.wc);
    memcpy(fw.wr, w + 20, sizeof fw.wr);
    ssx_fpenv env = ssx_fp_enter();
    ssx_dispatch_init();
    ssx_k->follow_add(x, (const ssx_follower *)pairs, n, v0, span, cls, &fw);
    ssx_fp_leave(env);
}

void ssx_test_follow_sums(double *out, const int32_t *pairs, uint32_t n, const float *e,
                          int32_t fix, float efix, const uint8_t *cls, float ln, uint32_t cm,
                          const float *logtab) {
    uint8_t cbk[SSX_FOLLOW_CBK];
    for (int c = 0; c < SSX_FOLLOW_CBK; c++) cbk[c] = (uint8_t)ssx_count_bucket((uint64_t)c);
    ssx_follow_w fw = {.ln = ln, .cm = cm, .logtab = logtab, .cbk = cbk};
    ssx_follow_sums s;
    ssx_fpenv env = ssx_fp_enter();
    ssx_dispatch_init();
    ssx_k->follow_sums(&s, (const ssx_follower *)pairs, n, e, fix, efix, cls, &fw);
    ssx_fp_leave(env);
    out[0] = s.ei, out[1] = s.el, out[2] = s.et;
    memcpy(out + 3, s.ec, sizeof s.ec);
    memcpy(out + 11, s.er, sizeof s.er);
    memcpy(out + 11 + SSX_FOLLOW_RB, s.e6, sizeof s.e6);
}

void ssx_test_adam_zero_steps(float *p, float *m, float *v, int64_t n, int64_t steps,
                              const float *ibc, int deferred) {
    ssx_fpenv env = ssx_fp_enter();
    ssx_dispatch_init();
    float c[SSX_ADAM_N] = {0};
    c[SSX_ADAM_B1] = 0.9f;
    c[SSX_ADAM_C1] = 0.1f;
    c[SSX_ADAM_B2] = 0.999f;
    c[SSX_ADAM_C2] = 0.001f;
    c[SSX_ADAM_NLR] = -0.002f;
    c[SSX_ADAM_EPS] = 1e-8f;
    c[SSX_ADAM_GS] = 1.0f;
    if (deferred) {
        ssx_k->adam_idle(p, m, v, n, steps, ibc, 2, c);
    } else {
        for (int64_t j = 0; j < steps; j++) {
            c[SSX_ADAM_IBC1] = ibc[2 * j];
            c[SSX_ADAM_IBC2] = ibc[2 * j + 1];
            ssx_k->adam(p, NULL, m, v, n, c);
        }
    }
    ssx_fp_leave(env);
}
