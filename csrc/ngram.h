/* ngram.h - sparse n-gram context models, the LZ predictor and the recency
 * bonus (ngram.c): the memorising half of the mixture. */
#ifndef SSX_NGRAM_H
#define SSX_NGRAM_H

#include <stdint.h>

typedef struct ssx_ngram ssx_ngram;

/* mem_limit: bytes the tables may use; once reached, no new contexts or
 * followers are stored (existing counts still grow), identically in encoder
 * and decoder.  sparse: add the tables of sparse contexts (orders
 * SSX_NGRAM_ORDERS.. below SSX_NGRAM_TABLES), which only the learned mixer
 * reads. */
ssx_ngram *ssx_ngram_new(uint64_t mem_limit, int sparse);
void ssx_ngram_free(ssx_ngram *g);
/* logits[v] += s * (sum of the order biases + LZ boost + recency bonus) */
void ssx_ngram_predict(ssx_ngram *g, float s, float *logits);
/* Learn the token that followed the current context; 0 or -1 (no memory). */
int ssx_ngram_update(ssx_ngram *g, int32_t tok);
uint64_t ssx_ngram_memory(const ssx_ngram *g); /* bytes the tables hold now */
uint64_t ssx_ngram_memory_bound(uint64_t mem_limit); /* the most they allocate */

/* ---- the same knowledge as features, for the learned mixer (mixer.c) ---- */
#define SSX_NGRAM_ORDERS 9  /* contiguous contexts: 1-7, 15 and 31 tokens */
#define SSX_NGRAM_TABLES 12 /* then sparse ones: t-2; t-3 t-2; t-3 */
/* Tables in use. */
int ssx_ngram_tables(const ssx_ngram *g);
typedef struct ssx_follower { int32_t tok; uint32_t cnt; } ssx_follower;
/* The index of tok among a context's len followers, or len if absent. */
uint32_t ssx_followers_find(const ssx_follower *f, uint32_t len, int32_t tok);
/* Find the current contexts; predict and update do it when needed. */
void ssx_ngram_locate(ssx_ngram *g);
/* Followers seen after the current order-o context, most recent first
 * (NULL, *len = 0 if none). */
const ssx_follower *ssx_ngram_followers(const ssx_ngram *g, int o, uint32_t *len);
/* The LZ prediction for the current position: 1 and (*pred, *conf), or 0. */
int ssx_ngram_lz(const ssx_ngram *g, int32_t *pred, uint32_t *conf);
/* The most recent tokens: *win points one past the newest (win[-1] newest)
 * and *weight at the recency bonus of each (weight[0] for the newest);
 * returns how many are valid (at most SSX_NGRAM_RECENT). */
#define SSX_NGRAM_RECENT 64
int ssx_ngram_recent(const ssx_ngram *g, const int32_t **win, const float **weight);

#endif
