/* testhooks.h - internal entry points for the tests (testhooks.c).
 *
 * Not part of the public interface (statesmix.h): they reach into the
 * model's parts to check them against the numpy reference and to compare
 * code paths.  The cffi build declares them for tests/ only; nothing in the
 * statesmix package calls them.
 */
#ifndef SSX_TESTHOOKS_H
#define SSX_TESTHOOKS_H

#include <stdint.h>

#include "statesmix.h"

/* Test access to the SSM (tests/test_ssm_c.py).  Parameter groups are
 * numbered as in the numpy reference: 0 E, 1 W, then for each layer ln_g,
 * ln_b, in_w, conv_w, conv_b, x_w, dt_w, dt_b, A_log, D, out_w, then lnf_g,
 * lnf_b; buffers use the reference's row-major layout. */
int ssx_test_add_tokens(ssx_model *m, int32_t n); /* make ids 0..n-1 live */
int64_t ssx_test_ssm_group(ssx_model *m, int which, int grad, float *buf, int64_t n, int set);
void ssx_test_ssm_state(ssx_model *m, float *h, float *conv, int set);
double ssx_test_ssm_grads(ssx_model *m, const int32_t *in, const int32_t *tgt, int T,
                          float *logits);
void ssx_test_ssm_train(ssx_model *m, const int32_t *in, const int32_t *tgt, int T, int steps);
/* The tree head (SSX_SSM_TREE, ssm.h): decision rows and their gradients,
 * and a chunk's loss and gradients; -1 without it. */
int ssx_test_ssm_node_rows(ssx_model *m, const uint32_t *nodes, int n, int grad, float *buf, int set);
double ssx_test_ssm_tree_grads(ssx_model *m, const int32_t *in, const uint32_t *nodes,
                               const uint8_t *bits, const int32_t *npath, int stride, int T);
/* `steps` zero-gradient Adam steps (lr 0.002, step j with the bias factors
 * ibc[2j], ibc[2j+1]) with the current kernels: deferred 1 through the idle
 * rows' kernel, 0 through the plain Adam kernel one step at a time. */
void ssx_test_adam_zero_steps(float *p, float *m, float *v, int64_t n, int64_t steps,
                              const float *ibc, int deferred);
/* The rank_add kernel (kernels.h) of the current level on x[0..n). */
void ssx_test_rank_add(float *x, const int32_t *rank, int64_t n, const float w[16]);
/* The follow_add kernel (kernels.h, follow.h) of the current level: pairs
 * holds n (token, count) pairs; w: wi, wl, ln, wt, then w6[8], wc[8],
 * wr[SSX_FOLLOW_RB]; logtab: SSX_FOLLOW_LOGTAB floats. */
uint32_t ssx_test_follow_logtab(void); /* SSX_FOLLOW_LOGTAB */
void ssx_test_follow_add(float *x, const int32_t *pairs, uint32_t n, int32_t v0, uint32_t span,
                         const uint8_t *cls, const float *w, uint32_t cm, int shape,
                         const float *logtab);
/* The follow_sums kernel (kernels.h, follow.h) of the current level over n
 * (token, count) pairs of e, with efix for e[fix]; ln, cm and logtab as
 * above, the count buckets from ssx_count_bucket.  out: ei, el, et, ec[8],
 * er[SSX_FOLLOW_RB], e6[8]. */
void ssx_test_follow_sums(double *out, const int32_t *pairs, uint32_t n, const float *e,
                          int32_t fix, float efix, const uint8_t *cls, float ln, uint32_t cm,
                          const float *logtab);
/* 0: the encoder computes the SSM one position at a time, as the decoder
 * must; 1 (the default): it runs the chunk's known positions at once.  The
 * output bits are the same (tests). */
void ssx_test_lookahead(ssx_model *m, int on);
/* The learned mixer's gradient of -log p(y) at the next position, for up to
 * cap of the weights in use: ana[i] as update computes it, num[i] by central
 * differences of step eps on the logits the mixer gives (tests); returns the
 * count, or -1. */
int ssx_test_mixer_check(ssx_model *m, int32_t y, double eps, double *ana, double *num, int cap);

/* The token tree at the next position: for every live token, the product
 * of the model's probabilities of the decisions on its path against its own
 * probability e / sum.  Returns the largest relative difference, or -1 when
 * the model has no tree or no live token. */
double ssx_test_tree_check(ssx_model *m);
/* The bytes the n-gram tables hold now (0 without them). */
uint64_t ssx_test_ngram_memory(const ssx_model *m);

#endif
