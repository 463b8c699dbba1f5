/* mixer.h - the learned mixture of StateSMix+ (mixer.c). */
#ifndef SSX_MIXER_H
#define SSX_MIXER_H

#include <stdint.h>

#include "ngram.h"
#include "statesmix.h"

typedef struct ssx_mixer ssx_mixer;

/* What the mixer combines at one position; dense vectors span the live
 * vocabulary. */
typedef struct ssx_mix_in {
    const float *ssm;      /* SSM logits, NULL before the SSM has trained */
    double h;              /* entropy of the SSM's softmax, nats */
    const float *prior;    /* count prior, scale * log(count + 1) */
    const float *unseen_m; /* 1 on live tokens not yet seen, else 0 */
    const float *unseen_z; /* Zipf-like prior from the global id on them, else 0 */
    int32_t unseen;        /* how many live tokens are not yet seen */
    int64_t remaining;     /* tokens left in the block, this one included */
    int cls[2];            /* classes of the last two tokens; SSX_TOKEN_CLASSES: none */
    const uint8_t *tcls;   /* class of every live token */
} ssx_mix_in;

/* components: the SSX_USE_* / SSX_MIX_NO_* mask of the model. */
ssx_mixer *ssx_mixer_new(int32_t components);
void ssx_mixer_free(ssx_mixer *x);
/* The next token's logits in two steps: prepare chooses the weights (g, the
 * n-gram knowledge, may be NULL; it must outlive the fill calls), then fill
 * writes logits[v0..v1) of any ranges covering the live vocabulary, from
 * concurrent threads if they like: each token's value is the same whatever
 * the ranges. */
void ssx_mixer_prepare(ssx_mixer *x, const ssx_mix_in *in, ssx_ngram *g);
void ssx_mixer_fill(const ssx_mixer *x, const ssx_mix_in *in, float *logits, int32_t v0,
                    int32_t v1);
/* Both, over [0, live) (tests). */
void ssx_mixer_predict(ssx_mixer *x, const ssx_mix_in *in, ssx_ngram *g, float *logits,
                       int32_t live);
/* Context of the secondary estimation of the top token, < SSX_SSE_CTX. */
int ssx_mixer_sse_context(const ssx_mixer *x, int32_t top);
/* The sums over the distribution e that update needs, in ssx_mixer_jobs()
 * independent jobs that threads may share (the n-gram tables, the recent
 * tokens, the cache); each job's sums are the same whoever runs it.  e is
 * read with efix in place of e[fix] (fix < 0: none), the value before the
 * secondary estimation. */
int ssx_mixer_jobs(const ssx_mixer *x);
void ssx_mixer_gather(ssx_mixer *x, const ssx_mix_in *in, const float *e, int32_t fix, float efix,
                      int job);
/* One gradient step on -log p(y), p = e / sum the distribution that coded y,
 * after gather over it.
 * dots[k] = sum of e * dense feature k: the SSM logits (any vector when there
 * are none), the prior, unseen_m, unseen_z; csum[k] the sum of e over the
 * tokens of class k (the kernel class_sums, kernels.h).  Call with the inputs
 * prepare had (its n-gram knowledge included), before the SSM, the prior and
 * the n-gram tables learn y. */
void ssx_mixer_update(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                      const double *csum, const ssx_mix_in *in);
/* The class sums update takes: one per token class. */
#define SSX_MIX_CSUM SSX_TOKEN_CLASSES
int ssx_mixer_uses_classes(const ssx_mixer *x);

/* The gradients update would apply, without applying them (tests): for up
 * to cap weights, w[i] points at the weight and grad[i] is d(-log p_y)/dw;
 * returns how many there are. */
int ssx_mixer_gradients(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                        const double *csum, const ssx_mix_in *in, double **w, double *grad,
                        int cap);
/* The bytes a mixer with room for cap compact ids allocates. */
uint64_t ssx_mixer_memory(int32_t cap);
/* Room for compact ids below cap; 0 or -1 (no memory). */
int ssx_mixer_reserve(ssx_mixer *x, int32_t cap);
/* After update: y becomes the most recent token. */
void ssx_mixer_observe(ssx_mixer *x, int32_t y);

#endif
