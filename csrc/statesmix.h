/* statesmix.h - the narrow public interface of the statesmix C core.
 *
 * The Python layer (cffi) sees only what is declared here.  A model holds
 * everything that adapts while a stream is coded; encoder and decoder run the
 * same model on the same tokens, so they compute identical probabilities.
 */
#ifndef STATESMIX_H
#define STATESMIX_H

#include <stdint.h>

#define SSX_OK 0
#define SSX_ERR_CORRUPT (-1) /* the input is not a valid block */
#define SSX_ERR_NOMEM (-2)   /* an allocation failed */
#define SSX_ERR_PARAM (-3)   /* an argument is out of range */
#define SSX_ERR_LIMIT (-4)   /* the configured memory limit was reached */

/* Model components (bit mask). */
#define SSX_USE_COUNT 1 /* adaptive unigram count prior */
#define SSX_USE_SSM 2   /* online Mamba-style SSM */
#define SSX_USE_NGRAM 4 /* sparse n-gram tables, LZ and recency terms */
#define SSX_USE_MIX 8   /* learned mixing (StateSMix+), not the fixed one */
/* Ablation switches of the learned mixing (bench/mix_ablation.py). */
#define SSX_MIX_NO_SSE 16   /* no refinement of the top token */
#define SSX_MIX_NO_NOVEL 32 /* no features for the tokens not seen yet */
#define SSX_MIX_NO_SHAPE 64 /* no count-bucket, most-frequent, recency-rank terms */
#define SSX_MIX_NO_CACHE 128 /* no terms for the recency rank among all tokens */
#define SSX_MIX_NO_SPARSE 256 /* no sparse (skip) contexts */
#define SSX_MIX_NO_CLASS 512  /* no token-class terms */
#define SSX_USE_TREE 1024 /* tokens coded bit by bit, mixed with byte contexts */
#define SSX_CM_V2 2048 /* with the tree: the byte mixer's second version (cm.c) */
#define SSX_SSM_WIDE 4096 /* with the SSM: twice the width (ssm.h) */
#define SSX_SSM_TREE 8192 /* with SSM and tree: the SSM predicts the walk's decisions (ssm.h) */
#define SSX_CM_V3 16384 /* with SSX_CM_V2: the byte mixer's third version (cm.c) */
#define SSX_CM_V4 32768 /* with SSX_CM_V3: the fourth version (cm.c) */
#define SSX_MIX_ABLATE (SSX_MIX_NO_SSE | SSX_MIX_NO_NOVEL | SSX_MIX_NO_SHAPE | SSX_MIX_NO_CACHE | SSX_MIX_NO_SPARSE | SSX_MIX_NO_CLASS)

typedef struct ssx_config {
    int32_t components;   /* SSX_USE_* mask */
    int32_t vocab_size;   /* size of the global (BPE) vocabulary */
    float count_scale;    /* weight of log(count+1) in the count prior (0.1) */
    uint32_t seed;        /* seed of the SSM parameter initialisation */
    int32_t chunk;        /* SSM training chunk length (32) */
    float lr;             /* Adam learning rate (0.002) */
    float label_smooth;   /* label smoothing epsilon (0.12) */
    uint32_t ngram_mem_mb; /* memory limit of the n-gram tables, MiB (1024) */
    int32_t train_steps;  /* Adam steps per SSM chunk after the warm-up (2), 1..8 */
    int32_t cm_bits;      /* SSX_USE_TREE: log2 of the slots per byte-context table (22) */
} ssx_config;

/* Running totals a model keeps about what it coded. */
typedef struct ssx_stats {
    uint64_t tokens;       /* tokens coded */
    uint64_t new_tokens;   /* tokens announced as new to the live vocabulary */
    double ideal_bits;     /* sum of -log2 q(token) of the model's float distribution */
    double coded_bits;     /* sum of -log2 freq/total of the integer distribution */
    uint64_t payload_bytes;  /* range-coder bytes produced or consumed */
    uint64_t vocab_bytes;    /* bytes of the new-token lists */
} ssx_stats;

typedef struct ssx_model ssx_model;

void ssx_config_default(ssx_config *cfg);
/* An upper bound of the bytes a model of this configuration allocates when
 * it codes content_size bytes (-1: unknown) in blocks of at most block_size
 * bytes; 0 for a configuration that ssx_model_new refuses on its size. */
uint64_t ssx_memory_estimate(const ssx_config *cfg, int64_t content_size, int64_t block_size);
/* Returns NULL (and *err) when the configuration is invalid or memory is short. */
ssx_model *ssx_model_new(const ssx_config *cfg, int *err);
void ssx_model_free(ssx_model *m);
/* The bytes the model holds now by the same count as ssx_memory_estimate
 * (it only grows: after the last block, the most it held). */
uint64_t ssx_model_memory(const ssx_model *m);
/* Threads for the parallel kernels; never changes the output. 0 = all cores. */
void ssx_model_set_threads(ssx_model *m, int threads);
int32_t ssx_model_live(const ssx_model *m);
void ssx_model_stats(const ssx_model *m, ssx_stats *out);
/* The running code length: every SSX_PROGRESS_STEP tokens one pair
 * (tokens, ideal_bits).  Copies up to cap pairs to out; returns the count. */
#define SSX_PROGRESS_STEP 8192
int64_t ssx_model_progress(const ssx_model *m, double *out, int64_t cap);

/* Token classes (0..7, from each token's bytes: statesmix/tokenizer.py,
 * docs/format.md) for the learned mixing; n must be the vocabulary size.
 * Call before coding; without it every token is class 0. */
#define SSX_TOKEN_CLASSES 8
int ssx_model_set_classes(ssx_model *m, const uint8_t *cls, int64_t n);
/* The bytes of every token (token g is bytes[off[g] .. off[g + 1]), n the
 * vocabulary size): required by SSX_USE_TREE, before any coding. */
int ssx_model_set_spellings(ssx_model *m, const uint8_t *bytes, const int64_t *off, int64_t n);

/* Encode one block of global token ids.  On success returns the body length
 * and points *out at a buffer owned by the model (valid until the next call). */
int64_t ssx_encode_block(ssx_model *m, const int32_t *tokens, int64_t n,
                         const uint8_t **out);
/* Decode a block body produced by ssx_encode_block into n global token ids. */
int ssx_decode_block(ssx_model *m, const uint8_t *body, int64_t len,
                     int32_t *tokens, int64_t n);
/* The same in steps, so that a caller can stop, or use tokens as they come:
 * begin, then calls that each code up to max tokens (returning how many, 0
 * once the block is done), then end.  The tokens (encoder) or the body
 * (decoder) must stay valid and unchanged from begin to end; decode end
 * checks that the body was consumed exactly. */
int ssx_encode_begin(ssx_model *m, const int32_t *tokens, int64_t n);
int64_t ssx_encode_some(ssx_model *m, int64_t max);
int64_t ssx_encode_end(ssx_model *m, const uint8_t **out);
int ssx_decode_begin(ssx_model *m, const uint8_t *body, int64_t len, int64_t n);
int64_t ssx_decode_some(ssx_model *m, int32_t *tokens, int64_t max);
int ssx_decode_end(ssx_model *m);

/* xxHash64, streaming: the checksum of the original bytes. */
typedef struct ssx_xxh64 {
    uint64_t v[4];
    uint64_t total;
    uint8_t buf[32];
    uint32_t used;
    uint64_t seed;
} ssx_xxh64;
void ssx_xxh64_init(ssx_xxh64 *s, uint64_t seed);
void ssx_xxh64_update(ssx_xxh64 *s, const uint8_t *p, int64_t n);
uint64_t ssx_xxh64_digest(const ssx_xxh64 *s);

/* Kernel selection by level: 0 = portable scalar, 1 = AVX2/FMA, 2 = AVX-512.
 * All give identical bits; the scalar path exists for machines without AVX2
 * and for tests.  available: the best level of this CPU; set clamps to it. */
int ssx_simd_available(void);
int ssx_simd_get(void);
void ssx_simd_set(int level);
int ssx_openmp_threads(void); /* threads OpenMP would use; 1 without OpenMP */

#endif
