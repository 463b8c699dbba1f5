/* model.h - the mixture that predicts the next token over the live vocabulary. */
#ifndef SSX_MODEL_H
#define SSX_MODEL_H

#include "cm.h"
#include "dist.h"
#include "kernels.h"
#include "mixer.h"
#include "ngram.h"
#include "sse.h"
#include "ssm.h"
#include "statesmix.h"
#include "tree.h"

struct ssx_model {
    ssx_config cfg;
    int threads;
    int32_t V;     /* global vocabulary size */
    int32_t live;  /* live (compact) vocabulary size */
    int32_t cap;   /* allocated compact slots, a multiple of SSX_LANES */
    int32_t *g2c;  /* global id -> compact id, -1 while not live */
    int32_t *c2g;  /* compact id -> global id */
    uint8_t *gcls; /* V token classes (ssx_model_set_classes), 0 by default */
    uint8_t *ccls; /* the same per compact id */
    int32_t prev[2]; /* the last two tokens (compact), -1 before there are any */
    uint32_t *count;  /* occurrences so far, per compact id */
    float *prior;     /* count_scale * log(count + 1), per compact id */
    float *logits;    /* mixed logits of the next token (padded) */
    float *e;         /* exp(logit - max) (padded) */
    uint32_t *freq;   /* integer frequencies for the coder */
    double *segsum;   /* per segment of the vocabulary: sum of exp */
    double *segdot;   /* per segment: SSX_MAX_DOT sums of exp * dense feature */
    uint64_t *segtot; /* per segment: sum of frequencies */
    float *segmx;     /* per segment: the largest logit */
    ssx_codec *cod;   /* the coder's state for the stream (codec.c) */
    int lookahead;    /* encoder: run the SSM over known positions at once */
    ssx_stats st;     /* the model's share: tokens, ideal_bits */
    double dsum;      /* the next token's distribution: sum of e ... */
    uint64_t dtotal;  /* ... and frequency total (multi-symbol models) */
    ssx_walk walk;    /* tree models: the walk to the next token ... */
    int pushed;       /* ... and how many of its bytes the byte mixer has seen */
    uint32_t node;    /* SSX_SSM_TREE: the pending decision (ssx_tree_node) */
    double *prog;          /* (tokens, ideal_bits) pairs, see ssx_model_progress */
    int64_t nprog, progcap;
    ssx_ssm *ssm;     /* NULL unless SSX_USE_SSM */
    ssx_ngram *ngram; /* NULL unless SSX_USE_NGRAM */
    ssx_mixer *mix;   /* NULL unless SSX_USE_MIX */
    ssx_sse *sse;     /* with the mixer: refinement of the top token */
    ssx_tree *tree;   /* SSX_USE_TREE: tokens coded as binary decisions ... */
    ssx_cm *cm;       /* ... predicted by context mixing over the bytes */
    int32_t sse_tok;  /* the refined token and its e before refinement */
    float sse_e;
    float *unseen_m;  /* 1 for a live token not seen yet in the stream, else 0 */
    float *unseen_z;  /* -log(global id + 32) for such a token, else 0 */
    int32_t unseen;   /* live tokens not seen yet */
    int64_t remaining; /* tokens left in the block, the current one included */
    const int32_t *ahead; /* encoder: compact ids of those tokens (NULL: decoder) */
    ssx_mix_in in;    /* the mixer's inputs for the current position */
    const float *dense[SSX_MAX_DOT]; /* dense features whose dots the softmax takes */
    int ndense, dense0; /* dense[dense0, ndense) have their dots taken */
    double esum, dots[SSX_MAX_DOT]; /* the current softmax: sum of e, the dots */
    double csum[SSX_MIX_CSUM]; /* and its sums per token class (mixer.h) */
    double *segcsum;           /* the same per segment of the vocabulary */
    /* With the mixer, or without mixer and n-grams (SSM + s * prior, element
     * by element), predict leaves the logits to ssx_model_finish, which the
     * coder runs over each thread's share inside its parallel pass. */
    int pending;
    /* With the mixer, the last token's lessons that no thread waits for (the
     * mixer's cache, the n-gram tables) are left to ssx_model_settle, which
     * the coder runs while its threads wake: c + 1, or 0 when none. */
    int32_t deferred;
    const float *pend_ssm; /* NULL: the prior alone */
    float pend_s;
};

/* Make room for `n` live tokens (compact slots); 0 or SSX_ERR_NOMEM. */
int ssx_model_reserve(ssx_model *m, int32_t n);
/* Append global id g to the live vocabulary. */
void ssx_model_add_token(ssx_model *m, int32_t g);
/* Fill m->logits[0..live) for the next position, or, where m->pending is
 * set on return, leave it to ssx_model_prepare and ssx_model_finish over
 * [0, live). */
void ssx_model_predict(ssx_model *m);
/* With the mixer, the part of a pending prediction that one thread makes
 * before any ssx_model_finish: ssx_model_settle, then the mixer's weights. */
void ssx_model_prepare(ssx_model *m);
/* The lessons of the last token that ssx_model_update left (see deferred). */
void ssx_model_settle(ssx_model *m);
/* m->logits[v0..v1) of a pending prediction. */
void ssx_model_finish(ssx_model *m, int64_t v0, int64_t v1);
/* Record a point of the running code length when one is due. */
void ssx_model_note_progress(ssx_model *m);
/* Learn from the compact token c that was just coded. */
void ssx_model_update(ssx_model *m, int32_t c);

#endif
