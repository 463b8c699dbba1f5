/* codec.c - one block: the list of tokens new to the live vocabulary, then
 * the range-coded tokens.
 *
 * Body layout: varint n_new | byte k | varint rice_len | Rice bits | coder bytes.
 * The new tokens are sorted; each is coded as its rank among the ids not yet
 * live, as the gap from the previous one, with a Rice code of parameter k.
 */
#include <math.h>
#include <stdlib.h>

#include "fpenv.h"
#include "kernels.h"
#include "model.h"
#include "rangecoder.h"

#define FREQ_SCALE 1073741824.0 /* 2^30: total frequency ~2^30 + live */
#define MAX_RICE_K 30

typedef struct bitw {
    ssx_buf *b;
    uint32_t acc;
    int n;
} bitw;

static void bit_put(bitw *w, int bit) {
    w->acc = (w->acc << 1) | (uint32_t)bit;
    if (++w->n == 8) {
        ssx_buf_put(w->b, (uint8_t)w->acc);
        w->acc = 0;
        w->n = 0;
    }
}

static void rice_put(bitw *w, uint64_t v, int k) {
    for (uint64_t q = v >> k; q; q--) bit_put(w, 1);
    bit_put(w, 0);
    for (int i = k - 1; i >= 0; i--) bit_put(w, (int)((v >> i) & 1));
}

static uint64_t rice_bits(const uint32_t *gaps, int64_t n, int k) {
    uint64_t bits = 0;
    for (int64_t i = 0; i < n; i++) bits += (gaps[i] >> k) + 1 + (uint64_t)k;
    return bits;
}

typedef struct bitr {
    const uint8_t *p;
    int64_t len, pos; /* pos in bits */
} bitr;

static int bit_get(bitr *r) {
    if (r->pos >= r->len * 8) return -1;
    int bit = (r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1;
    r->pos++;
    return bit;
}

void ssx_test_lookahead(ssx_model *m, int on) { m->lookahead = on; }

/* Probabilities of the next token as integer frequencies; returns the total.
 * The vocabulary is cut into segments of SSX_CODE_SEG entries whose partial sums
 * are combined in order, so the result does not depend on the threads, and
 * part[] keeps each segment's frequency total for locating a cumulative count. */
static uint64_t model_freqs(ssx_model *m, double *sum_out) {
    ssx_model_predict(m);
    int64_t n = m->live, n8 = SSX_PAD(n);
    for (int64_t i = n; i < n8; i++) m->logits[i] = SSX_PAD_LOGIT;
    int nseg = (int)((n8 + SSX_CODE_SEG - 1) / SSX_CODE_SEG);
    double *psum = m->segsum;
    uint64_t *ptot = m->segtot;
    float *pmx = m->segmx;
    int classes = m->mix && ssx_mixer_uses_classes(m->mix);
#pragma omp parallel num_threads(m->threads) if (m->threads > 1 && n >= SSX_PAR_CODING_ROWS)
    {
        ssx_fp_enter();
        /* the maximum is exact whatever the order: per segment, then combined */
#pragma omp for schedule(static)
        for (int sg = 0; sg < nseg; sg++) {
            int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n ? v0 + SSX_CODE_SEG : n;
            if (m->pending) ssx_model_finish(m, v0, v1);
            pmx[sg] = ssx_k->max(m->logits + v0, v1 - v0);
        }
        /* every thread combines the maxima itself (exact): no extra barrier */
        float mx = pmx[0];
        for (int sg = 1; sg < nseg; sg++) mx = pmx[sg] > mx ? pmx[sg] : mx;
#pragma omp for schedule(static)
        for (int sg = 0; sg < nseg; sg++) {
            int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n8 ? v0 + SSX_CODE_SEG : n8;
            if (m->ndense) {
                const float *vec[SSX_MAX_DOT];
                for (int k = 0; k < m->ndense; k++) vec[k] = m->dense[k] + v0;
                psum[sg] = ssx_k->exp_sum_dot(m->logits + v0, v1 - v0, mx, m->e + v0, vec,
                                              m->ndense, m->segdot + SSX_MAX_DOT * sg);
                if (classes)
                    ssx_mixer_class_sums(m->e + v0, m->ccls + v0, (v1 < n ? v1 : n) - v0,
                                         m->segcsum + SSX_MIX_CSUM * sg);
            } else {
                psum[sg] = ssx_k->exp_sum(m->logits + v0, v1 - v0, mx, m->e + v0);
            }
        }
        double sum_all = 0.0; /* without refinement: every thread sums (same order) */
        if (!m->sse)
            for (int sg = 0; sg < nseg; sg++) sum_all += psum[sg];
#pragma omp single nowait
        {
            double sum = 0.0;
            for (int sg = 0; sg < nseg; sg++) sum += psum[sg];
            for (int k = 0; k < m->ndense; k++) {
                double d = 0.0;
                for (int sg = 0; sg < nseg; sg++) d += m->segdot[SSX_MAX_DOT * sg + k];
                m->dots[k] = d;
            }
            if (classes)
                for (int k = 0; k < SSX_MIX_CSUM; k++) {
                    double c = 0.0;
                    for (int sg = 0; sg < nseg; sg++) c += m->segcsum[SSX_MIX_CSUM * sg + k];
                    m->csum[k] = c;
                }
            *sum_out = m->esum = sum;
            if (m->sse) {
                int32_t t = 0;
                while (t < n - 1 && m->logits[t] != mx) t++;
                float et = m->e[t];
                double f = ssx_sse_refine(m->sse, (double)et, sum, ssx_mixer_sse_context(m->mix, t));
                float en = (float)((double)et * f);
                m->sse_tok = t;
                m->sse_e = et;
                m->e[t] = en;
                *sum_out = (sum - (double)et) + (double)en;
            }
        }
        if (m->sse) { /* the refined sum: wait for the thread that made it */
#pragma omp barrier
            sum_all = *sum_out;
        }
        double scale = FREQ_SCALE / sum_all;
#pragma omp for schedule(static)
        for (int sg = 0; sg < nseg; sg++) {
            int64_t v0 = (int64_t)sg * SSX_CODE_SEG, v1 = v0 + SSX_CODE_SEG < n ? v0 + SSX_CODE_SEG : n;
            ptot[sg] = v1 > v0 ? ssx_k->freq(m->e + v0, v1 - v0, scale, m->freq + v0) : 0;
        }
    }
    m->pending = 0;
    uint64_t total = 0;
    for (int sg = 0; sg < nseg; sg++) total += ptot[sg];
    return total;
}

/* Sum of the frequencies of compact ids below c. */
static uint64_t cum_below(const ssx_model *m, int32_t c) {
    uint64_t cum = 0;
    int sc = c / SSX_CODE_SEG;
    for (int sg = 0; sg < sc; sg++) cum += m->segtot[sg];
    for (int32_t j = sc * SSX_CODE_SEG; j < c; j++) cum += m->freq[j];
    return cum;
}

/* The compact id whose interval holds v (v < total); *cum gets its start. */
static int32_t find_symbol(const ssx_model *m, uint64_t v, uint64_t *cum) {
    uint64_t base = 0;
    int sg = 0;
    while (base + m->segtot[sg] <= v) base += m->segtot[sg++];
    int32_t c = sg * SSX_CODE_SEG;
    while (base + m->freq[c] <= v) base += m->freq[c++];
    *cum = base;
    return c;
}

static void account(ssx_model *m, int32_t c, double sum, uint64_t total) {
    m->st.tokens++;
    m->st.ideal_bits -= log2((double)m->e[c] / sum);
    m->st.coded_bits -= log2((double)m->freq[c] / (double)total);
    ssx_model_note_progress(m);
}

/* Collect the block's new tokens (sorted) and their Rice-coded ranks. */
static int encode_new_tokens(ssx_model *m, const int32_t *tok, int64_t n) {
    int64_t n_new = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t g = tok[i];
        if (g < 0 || g >= m->V) return SSX_ERR_PARAM;
        if (m->g2c[g] < 0 && !m->mark[g]) { m->mark[g] = 1; n_new++; }
    }
    uint32_t *gaps = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)(n_new + 1));
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n_new + 1));
    if (!gaps || !ids || ssx_model_reserve(m, m->live + (int32_t)n_new)) {
        free(gaps); free(ids);
        for (int64_t i = 0; i < n; i++) m->mark[tok[i]] = 0;
        return SSX_ERR_NOMEM;
    }
    int64_t j = 0;
    uint32_t rank = 0, prev = 0;
    for (int32_t g = 0; g < m->V && j < n_new; g++) {
        if (m->g2c[g] >= 0) continue;
        if (m->mark[g]) {
            gaps[j] = rank - prev;
            prev = rank + 1;
            ids[j++] = g;
            m->mark[g] = 0;
        }
        rank++;
    }
    int best = 0;
    uint64_t best_bits = rice_bits(gaps, n_new, 0);
    for (int k = 1; k <= MAX_RICE_K; k++) {
        uint64_t b = rice_bits(gaps, n_new, k);
        if (b < best_bits) { best_bits = b; best = k; }
    }
    ssx_buf_varint(&m->out, (uint64_t)n_new);
    ssx_buf_put(&m->out, (uint8_t)best);
    ssx_buf_varint(&m->out, (best_bits + 7) / 8);
    int64_t start = m->out.len;
    bitw w = {&m->out, 0, 0};
    for (int64_t i = 0; i < n_new; i++) rice_put(&w, gaps[i], best);
    while (w.n) bit_put(&w, 0);
    m->st.vocab_bytes += (uint64_t)(m->out.len - start);
    for (int64_t i = 0; i < n_new; i++) ssx_model_add_token(m, ids[i]);
    m->st.new_tokens += (uint64_t)n_new;
    free(gaps);
    free(ids);
    return SSX_OK;
}

/* The state of the block being coded (ssx_encode_begin .. end or
 * ssx_decode_begin .. end). */
struct ssx_codec {
    int mode; /* 0 idle, 1 encoding, 2 decoding, -1 failed */
    const int32_t *tok; /* encoder: the block's global ids */
    int32_t *cid;       /* encoder: their compact ids, for the look-ahead */
    int64_t n, i, start;
    rc_enc e;
    rc_dec d;
    ssx_reader in;
};

void ssx_codec_free(ssx_codec *k) {
    if (k) free(k->cid);
    free(k);
}

static ssx_codec *codec_of(ssx_model *m) {
    if (!m->cod) m->cod = (ssx_codec *)calloc(1, sizeof(ssx_codec));
    return m->cod;
}

static void codec_reset(ssx_codec *k, int mode) {
    free(k->cid);
    k->cid = NULL;
    k->mode = mode;
}

static int encode_begin(ssx_model *m, const int32_t *tok, int64_t n) {
    ssx_codec *k = codec_of(m);
    if (!k) return SSX_ERR_NOMEM;
    if (n < 0 || (n > 0 && !tok)) return SSX_ERR_PARAM;
    codec_reset(k, -1);
    m->out.len = 0;
    m->out.failed = 0;
    int rc = encode_new_tokens(m, tok, n);
    if (rc) return rc;
    k->start = m->out.len;
    /* the tokens to come, for the model's look-ahead (none is new any more) */
    k->cid = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; k->cid && i < n; i++) k->cid[i] = m->g2c[tok[i]];
    k->tok = tok;
    k->n = n;
    k->i = 0;
    rc_enc_init(&k->e, &m->out);
    k->mode = 1;
    return SSX_OK;
}

static int64_t encode_some(ssx_model *m, int64_t max) {
    ssx_codec *k = m->cod;
    if (!k || k->mode != 1 || max < 0) return SSX_ERR_PARAM;
    int64_t done = 0;
    for (; k->i < k->n && done < max; k->i++, done++) {
        int32_t c = k->cid ? k->cid[k->i] : m->g2c[k->tok[k->i]];
        double sum;
        m->remaining = k->n - k->i;
        m->ahead = k->cid && m->lookahead ? k->cid + k->i : NULL; /* else: the decoder's way */
        uint64_t total = model_freqs(m, &sum);
        rc_encode(&k->e, cum_below(m, c), m->freq[c], total);
        account(m, c, sum, total);
        ssx_model_update(m, c);
    }
    m->ahead = NULL;
    return done;
}

static int64_t encode_end(ssx_model *m, const uint8_t **out) {
    ssx_codec *k = m->cod;
    if (!k || k->mode != 1 || k->i != k->n) return SSX_ERR_PARAM;
    codec_reset(k, 0);
    rc_enc_finish(&k->e);
    if (m->out.failed) return SSX_ERR_NOMEM;
    m->st.payload_bytes += (uint64_t)(m->out.len - k->start);
    *out = m->out.p;
    return m->out.len;
}

static int decode_new_tokens(ssx_model *m, ssx_reader *in) {
    uint64_t n_new = ssx_rd_varint(in);
    int k = ssx_rd_byte(in);
    uint64_t rice_len = ssx_rd_varint(in);
    if (in->overrun || k > MAX_RICE_K || n_new > (uint64_t)(m->V - m->live) ||
        rice_len > (uint64_t)(in->len - in->pos))
        return SSX_ERR_CORRUPT;
    if (ssx_model_reserve(m, m->live + (int32_t)n_new)) return SSX_ERR_NOMEM;
    bitr br = {in->p + in->pos, (int64_t)rice_len, 0};
    int32_t g = 0; /* next global id to consider */
    uint64_t gap_rank = 0;
    for (uint64_t i = 0; i < n_new; i++) {
        uint64_t q = 0;
        int bit;
        while ((bit = bit_get(&br)) == 1) q++;
        if (bit < 0 || q > ((uint64_t)1 << 32)) return SSX_ERR_CORRUPT;
        uint64_t v = q << k;
        for (int b = k - 1; b >= 0; b--) {
            bit = bit_get(&br);
            if (bit < 0) return SSX_ERR_CORRUPT;
            v |= (uint64_t)bit << b;
        }
        /* skip v non-live ids, then take the next non-live one */
        for (gap_rank = v + 1; g < m->V; g++)
            if (m->g2c[g] < 0 && --gap_rank == 0) break;
        if (g >= m->V) return SSX_ERR_CORRUPT;
        ssx_model_add_token(m, g);
        g++;
    }
    if ((br.pos + 7) / 8 != (int64_t)rice_len) return SSX_ERR_CORRUPT;
    m->st.vocab_bytes += rice_len;
    m->st.new_tokens += n_new;
    in->pos += (int64_t)rice_len;
    return SSX_OK;
}

static int decode_begin(ssx_model *m, const uint8_t *body, int64_t len, int64_t n) {
    ssx_codec *k = codec_of(m);
    if (!k) return SSX_ERR_NOMEM;
    if (n < 0 || len < 0 || (len > 0 && !body)) return SSX_ERR_PARAM;
    codec_reset(k, -1);
    k->in = (ssx_reader){body, 0, len, 0};
    int rc = decode_new_tokens(m, &k->in);
    if (rc) return rc;
    if (n > 0 && m->live == 0) return SSX_ERR_CORRUPT;
    k->start = k->in.pos;
    k->n = n;
    k->i = 0;
    rc_dec_init(&k->d, &k->in);
    k->mode = 2;
    return SSX_OK;
}

static int64_t decode_some(ssx_model *m, int32_t *tok, int64_t max) {
    ssx_codec *k = m->cod;
    if (!k || k->mode != 2 || max < 0 || (max > 0 && !tok)) return SSX_ERR_PARAM;
    int64_t done = 0;
    for (; k->i < k->n && done < max; k->i++, done++) {
        double sum;
        m->remaining = k->n - k->i;
        uint64_t total = model_freqs(m, &sum);
        uint64_t v = rc_decode_target(&k->d, total);
        if (v >= total) { k->mode = -1; return SSX_ERR_CORRUPT; }
        uint64_t cum;
        int32_t c = find_symbol(m, v, &cum);
        rc_decode_update(&k->d, cum, m->freq[c]);
        tok[done] = m->c2g[c];
        account(m, c, sum, total);
        ssx_model_update(m, c);
    }
    return done;
}

static int decode_end(ssx_model *m) {
    ssx_codec *k = m->cod;
    if (!k || k->mode != 2 || k->i != k->n) return SSX_ERR_PARAM;
    codec_reset(k, 0);
    if (k->in.overrun || k->in.pos != k->in.len) return SSX_ERR_CORRUPT;
    m->st.payload_bytes += (uint64_t)(k->in.len - k->start);
    return SSX_OK;
}

/* The public entry points: the fixed floating-point environment around each. */

int ssx_encode_begin(ssx_model *m, const int32_t *tok, int64_t n) {
    ssx_fpenv env = ssx_fp_enter();
    int r = encode_begin(m, tok, n);
    ssx_fp_leave(env);
    return r;
}

int64_t ssx_encode_some(ssx_model *m, int64_t max) {
    ssx_fpenv env = ssx_fp_enter();
    int64_t r = encode_some(m, max);
    ssx_fp_leave(env);
    return r;
}

int64_t ssx_encode_end(ssx_model *m, const uint8_t **out) {
    ssx_fpenv env = ssx_fp_enter();
    int64_t r = encode_end(m, out);
    ssx_fp_leave(env);
    return r;
}

int64_t ssx_encode_block(ssx_model *m, const int32_t *tok, int64_t n, const uint8_t **out) {
    int64_t r = ssx_encode_begin(m, tok, n);
    if (r == SSX_OK) r = ssx_encode_some(m, n);
    return r < 0 ? r : ssx_encode_end(m, out);
}

int ssx_decode_begin(ssx_model *m, const uint8_t *body, int64_t len, int64_t n) {
    ssx_fpenv env = ssx_fp_enter();
    int r = decode_begin(m, body, len, n);
    ssx_fp_leave(env);
    return r;
}

int64_t ssx_decode_some(ssx_model *m, int32_t *tok, int64_t max) {
    ssx_fpenv env = ssx_fp_enter();
    int64_t r = decode_some(m, tok, max);
    ssx_fp_leave(env);
    return r;
}

int ssx_decode_end(ssx_model *m) {
    ssx_fpenv env = ssx_fp_enter();
    int r = decode_end(m);
    ssx_fp_leave(env);
    return r;
}

int ssx_decode_block(ssx_model *m, const uint8_t *body, int64_t len, int32_t *tok, int64_t n) {
    int64_t r = ssx_decode_begin(m, body, len, n);
    if (r == SSX_OK) r = ssx_decode_some(m, tok, n);
    return r < 0 ? (int)r : ssx_decode_end(m);
}
