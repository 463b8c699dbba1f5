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
/* Threads for the dense pass; never changes the result. */
void ssx_mixer_set_threads(ssx_mixer *x, int threads);
/* logits[0..live) of the next token; g (the n-gram knowledge) may be NULL. */
void ssx_mixer_predict(ssx_mixer *x, const ssx_mix_in *in, ssx_ngram *g, float *logits,
                       int32_t live);
/* Context of the secondary estimation of the top token, < SSX_SSE_CTX. */
int ssx_mixer_sse_context(const ssx_mixer *x, int32_t top);
/* One gradient step on -log p(y), p = e / sum the distribution that coded y.
 * dots[k] = sum of e * dense feature k: the SSM logits (any vector when there
 * are none), the prior, unseen_m, unseen_z; csum[k] the sum of e over the
 * tokens of class k (the kernel class_sums, kernels.h).  Call with the same inputs as
 * predict, before the SSM, the prior and the n-gram tables learn y. */
void ssx_mixer_update(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                      const double *csum, const ssx_mix_in *in, const ssx_ngram *g);
/* The class sums update takes: one per token class. */
#define SSX_MIX_CSUM SSX_TOKEN_CLASSES
int ssx_mixer_uses_classes(const ssx_mixer *x);

/* The gradients update would apply, without applying them (tests): for up
 * to cap weights, w[i] points at the weight and grad[i] is d(-log p_y)/dw;
 * returns how many there are. */
int ssx_mixer_gradients(ssx_mixer *x, int32_t y, const float *e, double sum, const double *dots,
                        const double *csum, const ssx_mix_in *in, const ssx_ngram *g,
                        double **w, double *grad, int cap);
/* The bytes a mixer with room for cap compact ids allocates. */
uint64_t ssx_mixer_memory(int32_t cap);
/* Room for compact ids below cap; 0 or -1 (no memory). */
int ssx_mixer_reserve(ssx_mixer *x, int32_t cap);
/* After update: y becomes the most recent token. */
void ssx_mixer_observe(ssx_mixer *x, int32_t y);

#endif
