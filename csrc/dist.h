/* dist.h - the model as the coder sees it (dist.c): the live vocabulary and
 * the distribution of the next token.
 *
 * codec.c drives the range coder and announces the tokens new in a block;
 * this is all it knows of the model.  For each token:
 *
 *   ssx_dist_begin                      predict the next token
 *   multi-symbol models:                integer frequencies over the live tokens
 *     ssx_dist_total, _cum, _freq, _find
 *   token-tree models (SSX_USE_TREE):   a path of binary decisions
 *     while (ssx_dist_bit(m, &p)) { code one bit with P(1) = p / 2^16; ssx_dist_take }
 *     ssx_dist_token
 *   ssx_dist_learn                      the token coded: account for it and learn
 */
#ifndef SSX_DIST_H
#define SSX_DIST_H

#include <stdint.h>

#include "statesmix.h"

/* ---- the live vocabulary (compact ids 0 .. live-1, in order of arrival) ---- */
int32_t ssx_vocab_size(const ssx_model *m);   /* the global vocabulary's size V */
int32_t ssx_vocab_live(const ssx_model *m);
int32_t ssx_vocab_compact(const ssx_model *m, int32_t g); /* -1 while g is not live */
int32_t ssx_vocab_global(const ssx_model *m, int32_t c);
int ssx_vocab_length(const ssx_model *m, int32_t g);      /* bytes of token g (tree models) */
/* Room for n live tokens: 0 or SSX_ERR_NOMEM; then add global ids one by one. */
int ssx_vocab_reserve(ssx_model *m, int32_t n);
void ssx_vocab_add(ssx_model *m, int32_t g);

/* ---- the next token ---- */
int ssx_dist_is_tree(const ssx_model *m);
/* Whether the model can code now (a tree model needs its token spellings). */
int ssx_dist_ready(const ssx_model *m);
/* Predict the next token.  remaining: tokens left in the block, this one
 * included; ahead: the encoder's compact ids of those tokens, or NULL. */
void ssx_dist_begin(ssx_model *m, int64_t remaining, const int32_t *ahead);

/* Multi-symbol models: frequencies summing to the total (< 2^31), each >= 1. */
uint64_t ssx_dist_total(const ssx_model *m);
uint64_t ssx_dist_cum(const ssx_model *m, int32_t c); /* the sum below compact id c */
uint32_t ssx_dist_freq(const ssx_model *m, int32_t c);
/* The compact id whose interval holds target (< total); *cum its start. */
int32_t ssx_dist_find(const ssx_model *m, uint64_t target, uint64_t *cum);

/* Tree models: 1 and P(1) of the next decision in 16 bits (0 < *p < 2^16),
 * or 0 once the token is determined. */
int ssx_dist_bit(ssx_model *m, uint32_t *p);
int ssx_dist_side(const ssx_model *m, int32_t c); /* the side of the decision token c is on */
void ssx_dist_take(ssx_model *m, int bit);
int32_t ssx_dist_token(const ssx_model *m);

/* The token coded was compact id c: count its code length and learn. */
void ssx_dist_learn(ssx_model *m, int32_t c);

/* The coder's state for the stream, kept with the model and freed with it. */
typedef struct ssx_codec ssx_codec;
ssx_codec **ssx_dist_codec(ssx_model *m);
void ssx_codec_free(ssx_codec *k);
/* The most a coder allocates for blocks of up to block_size bytes. */
uint64_t ssx_codec_memory(int32_t V, int64_t block_size);
/* What this coder's buffers took at most so far (its share of ssx_model_memory). */
uint64_t ssx_codec_held(const ssx_codec *k);
/* The coder's share of the statistics (new tokens, code lengths, bytes). */
void ssx_codec_stats(const ssx_codec *k, ssx_stats *st);

#endif
