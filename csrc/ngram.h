/* ngram.h - sparse n-gram context models, the LZ predictor and the recency
 * bonus (ngram.c): the memorising half of the mixture. */
#ifndef SSX_NGRAM_H
#define SSX_NGRAM_H

#include <stdint.h>

typedef struct ssx_ngram ssx_ngram;

/* mem_limit: bytes the tables may use; once reached, no new contexts or
 * followers are stored (existing counts still grow), identically in encoder
 * and decoder. */
ssx_ngram *ssx_ngram_new(uint64_t mem_limit);
void ssx_ngram_free(ssx_ngram *g);
/* logits[v] += s * (sum of the order biases + LZ boost + recency bonus) */
void ssx_ngram_predict(ssx_ngram *g, float s, float *logits);
/* Learn the token that followed the current context; 0 or -1 (no memory). */
int ssx_ngram_update(ssx_ngram *g, int32_t tok);
uint64_t ssx_ngram_memory(const ssx_ngram *g);

#endif
