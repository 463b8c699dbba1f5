/* ssm.h - the online Mamba-style SSM predictor (ssm.c). */
#ifndef SSX_SSM_H
#define SSX_SSM_H

#include <stdint.h>

#define SSM_DM 32 /* model width ... */
#define SSM_DM_WIDE 64 /* ... or the wide one (SSX_SSM_WIDE) */
#define SSM_DS 16 /* state size per channel */
#define SSM_DC 4  /* convolution width */
#define SSM_DI 64 /* inner channels */
#define SSM_NL 2  /* layers */
#define SSM_XP 40 /* x_proj outputs (2*DS+1 = 33) padded to a multiple of 8 */
#define SSM_TMAX 64 /* longest training chunk */

typedef struct ssx_ssm ssx_ssm;

/* wide: width SSM_DM_WIDE instead of SSM_DM.  tree_bits: the tree head
 * (below) with 2^tree_bits decision rows instead of logits over the live
 * vocabulary, 0 for those logits.  steps: Adam steps per chunk
 * after the warm-up (chunks 1-10 take 8, 11-30 4). */
ssx_ssm *ssx_ssm_new(int wide, int tree_bits, uint32_t seed, int chunk, float lr,
                     float label_smooth, int steps);
void ssx_ssm_free(ssx_ssm *s);
/* An upper bound of the bytes an SSM with room for cap rows allocates. */
uint64_t ssx_ssm_memory(int wide, int tree_bits, int32_t cap);
void ssx_ssm_set_threads(ssx_ssm *s, int threads);
/* Room for `cap` vocabulary rows (a multiple of 8); 0 or -1 on no memory. */
int ssx_ssm_reserve(ssx_ssm *s, int32_t cap);
/* Initialise row c of E and W for a token new to the live vocabulary. */
void ssx_ssm_add_row(ssx_ssm *s, int32_t c);
/* Logits of the next token over the `ve` live tokens (valid until the next
 * call) and the entropy (nats) of their softmax; NULL until it has trained.
 * An encoder passes the tokens still to come (ahead[0] is the one about to be
 * coded; none may be new to the vocabulary): the same results, faster. */
const float *ssx_ssm_predict(ssx_ssm *s, int32_t ve, double *entropy, const int32_t *ahead,
                             int64_t nahead);
/* The true next token: completes a training pair, trains at chunk end. */
void ssx_ssm_observe(ssx_ssm *s, int32_t c, int32_t ve);

/* The tree head: the SSM predicts each decision of the token's walk through
 * the tree (tree.h) from its final features at the position, with a row of
 * weights and a bias chosen by a hash of the decision (ssx_tree_node), and
 * trains on the decisions each position took: the binary cross-entropy summed
 * over a position's decisions, its mean over the chunk.  Its work per token
 * is the walk's length, not the live vocabulary's size.  predict then runs
 * the layers only and returns NULL; label smoothing is the dense head's. */
#define SSM_NODE_BITS_MAX 17 /* log2 of the decision rows, at most ... */
#define SSM_NODE_BELOW_CM 4  /* ... and 1/16 of the byte mixer's slots per context:
                              * small inputs touch few rows (model.c) */
#define SSM_PATH_MAX 64  /* decisions of one position that train; the rest do not */
/* The log odds of 1 for decision `node` at the coding position (0 before
 * the first position has an input). */
double ssx_ssm_node_logit(ssx_ssm *s, uint32_t node);
/* The coding position took `bit` at decision `node`. */
void ssx_ssm_node_taken(ssx_ssm *s, uint32_t node, int bit);

/* Test access (tests/test_ssm_c.py): parameter groups in the order of the
 * numpy reference (E, W, per layer ln_g ln_b in_w conv_w conv_b x_w dt_w dt_b
 * A_log D out_w, then lnf_g lnf_b), in its row-major layout. */
int64_t ssx_ssm_group(ssx_ssm *s, int which, int grad, float *buf, int64_t n, int set,
                      int32_t ve);
void ssx_ssm_state(ssx_ssm *s, float *h, float *conv, int set);
double ssx_ssm_chunk_grads(ssx_ssm *s, const int32_t *in, const int32_t *tgt, int T,
                           int32_t ve, float *logits);
/* The tree head: the rows of `nodes` ([n][width + 1], the bias last) or
 * their gradients; the loss and gradients of a chunk whose position t took
 * the decisions nodes[t * stride + j] with bits[t * stride + j], j < npath[t]. */
int ssx_ssm_node_rows(ssx_ssm *s, const uint32_t *nodes, int n, int grad, float *buf, int set);
double ssx_ssm_tree_grads(ssx_ssm *s, const int32_t *in, const uint32_t *nodes,
                          const uint8_t *bits, const int32_t *npath, int stride, int T);
void ssx_ssm_train_chunk(ssx_ssm *s, const int32_t *in, const int32_t *tgt, int T,
                         int32_t ve, int steps);

#endif
