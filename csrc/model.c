/* model.c - model state, the live vocabulary and the count prior. */
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "fpenv.h"
#include "kernels.h"
#include "mathf.h"
#include "model.h"

void ssx_config_default(ssx_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->components = SSX_USE_COUNT;
    cfg->vocab_size = 0;
    cfg->count_scale = 0.1f;
    cfg->seed = 1;
    cfg->chunk = 32;
    cfg->lr = 0.002f;
    cfg->label_smooth = 0.12f;
    cfg->ngram_mem_mb = 1024;
    cfg->train_steps = 2;
    cfg->cm_bits = 22;
}

#define SSX_MAX_VOCAB (1 << 22)

static ssx_model *model_new(const ssx_config *cfg, int *err);

/* The SSM's decision rows (ssm.h): log2 of their count, 0 without the tree head. */
static int tree_bits(const ssx_config *cfg) {
    if (!(cfg->components & SSX_SSM_TREE)) return 0;
    int b = cfg->cm_bits - SSM_NODE_BELOW_CM;
    return b < SSM_NODE_BITS_MAX ? b : SSM_NODE_BITS_MAX;
}

/* The byte mixer's version (cm.h) of a components mask. */
static int cm_version(int32_t comp) {
    return comp & SSX_CM_V4 ? 4 : comp & SSX_CM_V3 ? 3 : comp & SSX_CM_V2 ? 2 : 1;
}

ssx_model *ssx_model_new(const ssx_config *cfg, int *err) {
    ssx_fpenv env = ssx_fp_enter();
    ssx_model *m = model_new(cfg, err);
    ssx_fp_leave(env);
    return m;
}

static ssx_model *model_new(const ssx_config *cfg, int *err) {
    ssx_dispatch_init();
    *err = SSX_ERR_PARAM;
    if (cfg->vocab_size < 2 || cfg->vocab_size > SSX_MAX_VOCAB) return NULL;
    if (!(cfg->components & SSX_USE_COUNT)) return NULL;
    if (!(cfg->count_scale >= 0.0f && cfg->count_scale <= 16.0f)) return NULL;
    if (cfg->components & ~(SSX_USE_COUNT | SSX_USE_SSM | SSX_USE_NGRAM | SSX_USE_MIX |
                             SSX_USE_TREE | SSX_CM_V2 | SSX_MIX_ABLATE | SSX_SSM_WIDE | SSX_SSM_TREE | SSX_CM_V3 |
                             SSX_CM_V4))
        return NULL;
    if ((cfg->components & SSX_SSM_WIDE) && !(cfg->components & SSX_USE_SSM)) return NULL;
    if ((cfg->components & SSX_CM_V2) && !(cfg->components & SSX_USE_TREE)) return NULL;
    if ((cfg->components & SSX_CM_V3) && !(cfg->components & SSX_CM_V2)) return NULL;
    if ((cfg->components & SSX_CM_V4) && !(cfg->components & SSX_CM_V3)) return NULL;
    if ((cfg->components & SSX_SSM_TREE) &&
        (cfg->components & (SSX_USE_SSM | SSX_USE_TREE)) != (SSX_USE_SSM | SSX_USE_TREE))
        return NULL;
    if ((cfg->components & SSX_MIX_ABLATE) && !(cfg->components & SSX_USE_MIX)) return NULL;
    if ((cfg->components & SSX_USE_NGRAM) &&
        (cfg->ngram_mem_mb < 1 || cfg->ngram_mem_mb > (1u << 20)))
        return NULL;
    if ((cfg->components & SSX_USE_TREE) &&
        (cfg->cm_bits < SSX_CM_MIN_BITS || cfg->cm_bits > SSX_CM_MAX_BITS))
        return NULL;
    if (cfg->components & SSX_USE_SSM) {
        if (cfg->chunk < 1 || cfg->chunk > SSM_TMAX) return NULL;
        if (!(cfg->lr > 0.0f && cfg->lr < 1.0f)) return NULL;
        if (!(cfg->label_smooth >= 0.0f && cfg->label_smooth < 1.0f)) return NULL;
        if (cfg->train_steps < 1 || cfg->train_steps > 8) return NULL;
    }
    *err = SSX_ERR_NOMEM;
    ssx_model *m = (ssx_model *)calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->threads = 1;
    m->lookahead = 1;
    m->V = cfg->vocab_size;
    if (cfg->components & SSX_USE_SSM) {
        m->ssm = ssx_ssm_new(cfg->components & SSX_SSM_WIDE, tree_bits(cfg),
                             cfg->seed, cfg->chunk, cfg->lr,
                             cfg->label_smooth, cfg->train_steps);
        if (!m->ssm) { free(m); return NULL; }
    }
    if (cfg->components & SSX_USE_NGRAM) {
        m->ngram = ssx_ngram_new((uint64_t)cfg->ngram_mem_mb << 20,
                                 (cfg->components & SSX_USE_MIX) &&
                                     !(cfg->components & SSX_MIX_NO_SPARSE));
        if (!m->ngram) { ssx_ssm_free(m->ssm); free(m); return NULL; }
    }
    if ((cfg->components & SSX_USE_MIX) &&
        (!(m->mix = ssx_mixer_new(cfg->components)) ||
         (!(cfg->components & SSX_MIX_NO_SSE) && !(m->sse = ssx_sse_new())))) {
        ssx_model_free(m);
        return NULL;
    }
    if ((cfg->components & SSX_USE_TREE) &&
        (!(m->tree = ssx_tree_new()) ||
         !(m->cm = ssx_cm_new(cfg->cm_bits, cm_version(cfg->components),
                              cfg->components & SSX_SSM_TREE)))) {
        ssx_model_free(m);
        return NULL;
    }
    m->g2c = (int32_t *)malloc(sizeof(int32_t) * (size_t)m->V);
    m->gcls = (uint8_t *)calloc((size_t)m->V, 1);
    m->prev[0] = m->prev[1] = -1;
    if (!m->g2c || !m->gcls || ssx_model_reserve(m, 256)) {
        ssx_model_free(m);
        return NULL;
    }
    for (int32_t i = 0; i < m->V; i++) m->g2c[i] = -1;
    *err = SSX_OK;
    return m;
}

/* The slots for n live tokens: a quarter more than before at least (few
 * regrowths however small the blocks), rounded up to SLOT_STEP, and never
 * far above n (memory follows the live vocabulary, not a power of two) nor
 * above the vocabulary. */
#define SLOT_STEP 64

static int64_t slot_cap(int64_t old, int64_t n, int64_t V) {
    int64_t cap = old + old / 4 > n ? old + old / 4 : n;
    int64_t most = (V + SLOT_STEP - 1) / SLOT_STEP * SLOT_STEP;
    cap = (cap + SLOT_STEP - 1) / SLOT_STEP * SLOT_STEP;
    cap = cap < most ? cap : most;
    return cap > n ? cap : n;
}

/* Per live slot: c2g, count, prior, logits, e, freq, unseen_m, unseen_z,
 * ccls; per segment of SSX_CODE_SEG: segsum, segcsum, segdot, segtot, segmx. */
#define SLOT_BYTES (6 * 4 + 2 * 4 + 1)
#define SEG_BYTES (8 + SSX_MIX_CSUM * 8 + SSX_MAX_DOT * 8 + 8 + 4)
/* Token spellings are counted at this many bytes a token (bpe48k: 7). */
#define SPELLING_BOUND 32

/* What a model of this configuration allocates with cap live slots, n-gram
 * tables holding ngram_bytes and the coder's buffers: the estimate (every
 * table at its limit) and the measure of a running model alike. */
static uint64_t model_bytes(const ssx_config *cfg, int32_t cap, uint64_t ngram_bytes,
                            uint64_t codec_bytes) {
    int64_t V = cfg->vocab_size;
    int comp = cfg->components;
    uint64_t n = sizeof(ssx_model) + 5 * (uint64_t)V + (uint64_t)cap * SLOT_BYTES +
                 ((uint64_t)cap / SSX_CODE_SEG + 1) * SEG_BYTES +
                 codec_bytes;
    if (comp & SSX_USE_SSM) n += ssx_ssm_memory(comp & SSX_SSM_WIDE, tree_bits(cfg), cap);
    if (comp & SSX_USE_NGRAM) n += ssx_ngram_memory_bound(ngram_bytes);
    if (comp & SSX_USE_MIX) n += ssx_mixer_memory(cap) + (comp & SSX_MIX_NO_SSE ? 0 : ssx_sse_memory());
    if (comp & SSX_USE_TREE)
        n += ssx_tree_memory((int32_t)V, SPELLING_BOUND * V, cap) + ssx_cm_memory(cfg->cm_bits, cm_version(cfg->components));
    return n;
}

uint64_t ssx_memory_estimate(const ssx_config *cfg, int64_t content_size, int64_t block_size) {
    if (cfg->vocab_size < 2 || cfg->vocab_size > SSX_MAX_VOCAB || block_size < 0) return 0;
    if ((cfg->components & SSX_USE_TREE) &&
        (cfg->cm_bits < SSX_CM_MIN_BITS || cfg->cm_bits > SSX_CM_MAX_BITS))
        return 0;
    int64_t V = cfg->vocab_size, live = content_size >= 0 && content_size < V ? content_size : V;
    int32_t cap = (int32_t)slot_cap(0, live > 256 ? live : 256, V);
    return model_bytes(cfg, cap, (uint64_t)cfg->ngram_mem_mb << 20,
                       ssx_codec_memory((int32_t)V, block_size));
}

uint64_t ssx_model_memory(const ssx_model *m) {
    return model_bytes(&m->cfg, m->cap, m->ngram ? ssx_ngram_memory(m->ngram) : 0,
                       ssx_codec_held(m->cod));
}

void ssx_model_free(ssx_model *m) {
    if (!m) return;
    free(m->g2c);
    free(m->c2g);
    free(m->gcls);
    free(m->ccls);
    free(m->count);
    free(m->prior);
    free(m->logits);
    free(m->e);
    free(m->freq);
    free(m->segsum);
    free(m->segdot);
    free(m->segcsum);
    free(m->unseen_m);
    free(m->unseen_z);
    free(m->segtot);
    free(m->segmx);
    ssx_codec_free(m->cod);
    free(m->prog);
    ssx_ssm_free(m->ssm);
    ssx_ngram_free(m->ngram);
    ssx_mixer_free(m->mix);
    ssx_sse_free(m->sse);
    ssx_tree_free(m->tree);
    ssx_cm_free(m->cm);
    free(m);
}

void ssx_model_set_threads(ssx_model *m, int threads) {
    if (threads <= 0) threads = ssx_openmp_threads();
    m->threads = threads < 1 ? 1 : threads;
    if (m->ssm) ssx_ssm_set_threads(m->ssm, m->threads);
}

int32_t ssx_model_live(const ssx_model *m) { return m->live; }

int ssx_model_set_classes(ssx_model *m, const uint8_t *cls, int64_t n) {
    if (n != m->V || m->st.tokens || m->live) return SSX_ERR_PARAM;
    for (int64_t i = 0; i < n; i++)
        if (cls[i] >= SSX_TOKEN_CLASSES) return SSX_ERR_PARAM;
    memcpy(m->gcls, cls, (size_t)n);
    return SSX_OK;
}

int ssx_model_set_spellings(ssx_model *m, const uint8_t *bytes, const int64_t *off, int64_t n) {
    if (n != m->V || m->st.tokens || m->live) return SSX_ERR_PARAM;
    return m->tree ? ssx_tree_set_spellings(m->tree, bytes, off, (int32_t)n) : SSX_OK;
}

void ssx_model_stats(const ssx_model *m, ssx_stats *out) {
    *out = m->st;
    ssx_codec_stats(m->cod, out);
}

int64_t ssx_model_progress(const ssx_model *m, double *out, int64_t cap) {
    int64_t n = m->nprog < cap ? m->nprog : cap;
    if (out && n > 0) memcpy(out, m->prog, sizeof(double) * 2 * (size_t)n);
    return m->nprog;
}

void ssx_model_note_progress(ssx_model *m) {
    if (m->st.tokens % SSX_PROGRESS_STEP) return;
    if (m->nprog == m->progcap) {
        int64_t cap = m->progcap ? m->progcap * 2 : 64;
        double *p = (double *)realloc(m->prog, sizeof(double) * 2 * (size_t)cap);
        if (!p) return; /* statistics only: never fails the coding */
        m->prog = p;
        m->progcap = cap;
    }
    m->prog[2 * m->nprog] = (double)m->st.tokens;
    m->prog[2 * m->nprog + 1] = m->st.ideal_bits;
    m->nprog++;
}

static int grow(void **p, size_t elem, int32_t old, int32_t cap) {
    void *np = realloc(*p, elem * (size_t)cap);
    if (!np) return -1;
    memset((char *)np + elem * (size_t)old, 0, elem * (size_t)(cap - old));
    *p = np;
    return 0;
}

int ssx_model_reserve(ssx_model *m, int32_t n) {
    if (n <= m->cap) return SSX_OK;
    int64_t cap = slot_cap(m->cap, n > 256 ? n : 256, m->V);
    int32_t old = m->cap, c = (int32_t)cap;
    if (grow((void **)&m->c2g, sizeof(int32_t), old, c) ||
        grow((void **)&m->count, sizeof(uint32_t), old, c) ||
        grow((void **)&m->prior, sizeof(float), old, c) ||
        grow((void **)&m->logits, sizeof(float), old, c) ||
        grow((void **)&m->e, sizeof(float), old, c) ||
        grow((void **)&m->freq, sizeof(uint32_t), old, c) ||
        grow((void **)&m->segsum, sizeof(double), old / SSX_CODE_SEG + 1, c / SSX_CODE_SEG + 1) ||
        grow((void **)&m->unseen_m, sizeof(float), old, c) ||
        grow((void **)&m->ccls, 1, old, c) ||
        grow((void **)&m->unseen_z, sizeof(float), old, c) ||
        grow((void **)&m->segcsum, SSX_MIX_CSUM * sizeof(double), old / SSX_CODE_SEG + 1,
             c / SSX_CODE_SEG + 1) ||
        grow((void **)&m->segdot, SSX_MAX_DOT * sizeof(double), old / SSX_CODE_SEG + 1, c / SSX_CODE_SEG + 1) ||
        grow((void **)&m->segtot, sizeof(uint64_t), old / SSX_CODE_SEG + 1, c / SSX_CODE_SEG + 1) ||
        grow((void **)&m->segmx, sizeof(float), old / SSX_CODE_SEG + 1, c / SSX_CODE_SEG + 1) ||
        (m->ssm && ssx_ssm_reserve(m->ssm, c)) || (m->mix && ssx_mixer_reserve(m->mix, c)) ||
        (m->tree && ssx_tree_reserve(m->tree, c)))
        return SSX_ERR_NOMEM;
    m->cap = c;
    return SSX_OK;
}

void ssx_model_add_token(ssx_model *m, int32_t g) {
    int32_t c = m->live++;
    m->g2c[g] = c;
    m->c2g[c] = g;
    m->count[c] = 0;
    m->prior[c] = 0.0f; /* scale * log(0 + 1) */
    m->unseen_m[c] = 1.0f;
    m->ccls[c] = m->gcls[g];
    m->unseen_z[c] = (float)-ssx_log((double)g + 32.0);
    m->unseen++;
    if (m->ssm) ssx_ssm_add_row(m->ssm, c);
    if (m->tree) ssx_tree_add(m->tree, c, g);
}

/* logits = SSM + s * (count prior + n-gram terms), s = clip(0.4 + 0.6 H / 5.5,
 * 0.2, 2.5) from the SSM's entropy H; s = 1 until the SSM has trained. */
SSX_WIDE static void mix(float *out, const float *a, float s, const float *b, int32_t n) {
    for (int32_t i = 0; i < n; i++) out[i] = a[i] + s * b[i];
}

void ssx_model_predict(ssx_model *m) {
    m->pending = 0;
    double h = 0.0;
    float s = 1.0f;
    const float *ssm = m->ssm ? ssx_ssm_predict(m->ssm, m->live, &h, m->ahead,
                                                m->ahead ? m->remaining : 0)
                              : NULL;
    if (m->mix) {
        ssx_mix_in *in = &m->in;
        in->ssm = ssm;
        in->h = h;
        in->prior = m->prior;
        in->unseen_m = m->unseen_m;
        in->unseen_z = m->unseen_z;
        in->unseen = m->unseen;
        in->remaining = m->remaining;
        in->tcls = m->ccls;
        for (int k = 0; k < 2; k++)
            in->cls[k] = m->prev[k] < 0 ? SSX_TOKEN_CLASSES : m->ccls[m->prev[k]];
        m->pending = 1; /* ssx_model_prepare, then ssx_model_finish */
        m->ndense = 4; /* ssm (the prior again when absent), prior, unseen_m, unseen_z */
        /* without SSM logits update reads no dot of the first: not computed */
        m->dense0 = ssm ? 0 : 1;
        m->dots[0] = 0.0;
        m->dense[0] = ssm ? ssm : m->prior;
        m->dense[1] = m->prior;
        m->dense[2] = m->unseen_m;
        m->dense[3] = m->unseen_z;
        return;
    }
    if (ssm) {
        double sc = 0.4 + 0.6 * h / 5.5;
        s = (float)(sc < 0.2 ? 0.2 : sc > 2.5 ? 2.5 : sc);
    }
    m->pend_ssm = ssm;
    m->pend_s = s;
    if (!m->ngram) { /* element-wise: the coder's parallel pass finishes it */
        m->pending = 1;
        return;
    }
    ssx_model_finish(m, 0, m->live);
    ssx_ngram_predict(m->ngram, s, m->logits);
}

void ssx_model_settle(ssx_model *m) {
    if (!m->deferred) return;
    int32_t c = m->deferred - 1;
    m->deferred = 0;
    ssx_mixer_observe(m->mix, c);
    if (m->ngram) ssx_ngram_update(m->ngram, c);
}

void ssx_model_prepare(ssx_model *m) {
    if (!m->mix) return;
    ssx_model_settle(m);
    ssx_mixer_prepare(m->mix, &m->in, m->ngram);
}

void ssx_model_finish(ssx_model *m, int64_t v0, int64_t v1) {
    if (m->mix)
        ssx_mixer_fill(m->mix, &m->in, m->logits, (int32_t)v0, (int32_t)v1);
    else if (m->pend_ssm)
        mix(m->logits + v0, m->pend_ssm + v0, m->pend_s, m->prior + v0, (int32_t)(v1 - v0));
    else
        memcpy(m->logits + v0, m->prior + v0, sizeof(float) * (size_t)(v1 - v0));
}

void ssx_model_update(ssx_model *m, int32_t c) {
    if (m->mix) {
        if (m->sse) {
            ssx_sse_update(m->sse, c == m->sse_tok);
            m->e[m->sse_tok] = m->sse_e; /* the mixer learns from its own output */
        }
        ssx_mixer_update(m->mix, c, m->e, m->esum, m->dots, m->csum, &m->in);
        m->deferred = c + 1; /* the mixer's cache and the n-grams learn c in settle */
    }
    if (m->count[c] == 0) {
        m->unseen_m[c] = 0.0f;
        m->unseen_z[c] = 0.0f;
        m->unseen--;
    }
    uint32_t n = m->count[c] < UINT32_MAX ? ++m->count[c] : m->count[c];
    m->prior[c] = (float)(m->cfg.count_scale * ssx_log((double)n + 1.0));
    m->prev[1] = m->prev[0];
    m->prev[0] = c;
    if (m->ssm) ssx_ssm_observe(m->ssm, c, m->live);
    if (m->ngram && !m->deferred) ssx_ngram_update(m->ngram, c);
}

