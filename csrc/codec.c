/* codec.c - one block: the tokens new to the live vocabulary, then the
 * tokens, through the range coder.  The model is seen only through dist.h.
 *
 * Body of a multi-symbol model's block:
 *   varint n_new | byte k | varint rice_len | Rice bits | range coder bytes
 * The new tokens are sorted; each is coded as its rank among the ids not yet
 * live, as the gap from the previous one, with a Rice code of parameter k.
 *
 * Body of a token-tree model's block: range coder bytes only.  First, for
 * every id not live yet in increasing order, one binary decision: whether it
 * is new in this block (see LIST_CTX); then the tokens' decisions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "counter.h"
#include "dist.h"
#include "fpenv.h"
#include "rangecoder.h"

#define MAX_RICE_K 30

/* ---- Rice-coded lists of new tokens ---- */

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

/* ---- the coder's state ---- */

/* Lists of a token tree: P(an id is new) by the id's range, its length and
 * how many blocks came before (early ids, short tokens and the first blocks
 * bring most new tokens). */
#define LIST_IDS 32
#define LIST_LEN 11
#define LIST_BLK 4
#define LIST_CTX (LIST_IDS * LIST_LEN * LIST_BLK)
#define LIST_LIMIT 1023

struct ssx_codec {
    int mode;           /* 0 idle, 1 encoding, 2 decoding, -1 failed */
    const int32_t *tok; /* encoder: the block's global ids */
    int32_t *cid;       /* encoder: their compact ids, for the look-ahead */
    int64_t n, i, start;
    rc_enc e;
    rc_dec d;
    ssx_reader in;
    ssx_buf out;        /* the encoder's block body */
    uint8_t *mark;      /* per global id: new in this block */
    int64_t blocks;     /* blocks begun */
    ssx_counter lc[LIST_CTX];
    uint64_t held;      /* the most the buffers above took together */
    ssx_stats st;       /* new_tokens, coded_bits, payload_bytes, vocab_bytes */
};

void ssx_codec_free(ssx_codec *k) {
    if (!k) return;
    free(k->cid);
    free(k->mark);
    free(k->out.p);
    free(k);
}

uint64_t ssx_codec_memory(int32_t V, int64_t block_size) {
    /* the body grows by doubling to at most about 4 bytes a token, and a
     * token is at least a byte; the compact ids of the block's tokens */
    return sizeof(ssx_codec) + (uint64_t)V + 8 * (uint64_t)block_size + 4096 +
           sizeof(int32_t) * (uint64_t)block_size;
}

void ssx_codec_stats(const ssx_codec *k, ssx_stats *st) {
    if (!k) return;
    st->new_tokens = k->st.new_tokens;
    st->coded_bits = k->st.coded_bits;
    st->payload_bytes = k->st.payload_bytes;
    st->vocab_bytes = k->st.vocab_bytes;
}

static ssx_codec *codec_of(ssx_model *m) {
    ssx_codec **slot = ssx_dist_codec(m);
    if (*slot) return *slot;
    ssx_codec *k = (ssx_codec *)calloc(1, sizeof *k);
    if (!k) return NULL;
    k->mark = (uint8_t *)calloc((size_t)ssx_vocab_size(m), 1);
    if (!k->mark) {
        free(k);
        return NULL;
    }
    for (int i = 0; i < LIST_CTX; i++) k->lc[i] = SSX_COUNTER_INIT;
    return *slot = k;
}

static void note_held(ssx_model *m, ssx_codec *k) {
    uint64_t n = (uint64_t)ssx_vocab_size(m) + (uint64_t)k->out.cap +
                 (k->cid ? sizeof(int32_t) * ((uint64_t)k->n + 1) : 0);
    if (n > k->held) k->held = n;
}

uint64_t ssx_codec_held(const ssx_codec *k) { return k ? sizeof *k + k->held : 0; }

static void codec_reset(ssx_codec *k, int mode) {
    free(k->cid);
    k->cid = NULL;
    k->mode = mode;
}

/* The code length of a binary decision with P(1) = p / 2^16. */
static double bit_cost(int bit, uint32_t p) { return -log2((bit ? p : 65536 - p) / 65536.0); }

/* ---- new tokens ---- */

/* Mark the block's new tokens in k->mark; their count, or SSX_ERR_PARAM. */
static int64_t mark_new(ssx_model *m, ssx_codec *k, const int32_t *tok, int64_t n) {
    int32_t V = ssx_vocab_size(m);
    int64_t n_new = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t g = tok[i];
        if (g < 0 || g >= V) {
            memset(k->mark, 0, (size_t)V);
            return SSX_ERR_PARAM;
        }
        if (ssx_vocab_compact(m, g) < 0 && !k->mark[g]) {
            k->mark[g] = 1;
            n_new++;
        }
    }
    return n_new;
}

/* Make the n_new marked tokens live, in increasing id order. */
static int add_marked(ssx_model *m, ssx_codec *k, int64_t n_new) {
    int32_t V = ssx_vocab_size(m);
    if (ssx_vocab_reserve(m, ssx_vocab_live(m) + (int32_t)n_new)) {
        memset(k->mark, 0, (size_t)V);
        return SSX_ERR_NOMEM;
    }
    k->st.new_tokens += (uint64_t)n_new;
    for (int32_t g = 0; g < V && n_new > 0; g++)
        if (k->mark[g]) {
            k->mark[g] = 0;
            ssx_vocab_add(m, g);
            n_new--;
        }
    return SSX_OK;
}

/* The sorted new tokens as Rice-coded gaps between their ranks among the
 * ids not live yet. */
static int rice_list_encode(ssx_model *m, ssx_codec *k, int64_t n_new) {
    int32_t V = ssx_vocab_size(m);
    uint32_t *gaps = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)(n_new + 1));
    if (!gaps) {
        memset(k->mark, 0, (size_t)V);
        return SSX_ERR_NOMEM;
    }
    int64_t j = 0;
    uint32_t rank = 0, prev = 0;
    for (int32_t g = 0; g < V && j < n_new; g++) {
        if (ssx_vocab_compact(m, g) >= 0) continue;
        if (k->mark[g]) {
            gaps[j++] = rank - prev;
            prev = rank + 1;
        }
        rank++;
    }
    int best = 0;
    uint64_t best_bits = rice_bits(gaps, n_new, 0);
    for (int r = 1; r <= MAX_RICE_K; r++) {
        uint64_t b = rice_bits(gaps, n_new, r);
        if (b < best_bits) {
            best_bits = b;
            best = r;
        }
    }
    ssx_buf_varint(&k->out, (uint64_t)n_new);
    ssx_buf_put(&k->out, (uint8_t)best);
    ssx_buf_varint(&k->out, (best_bits + 7) / 8);
    int64_t start = k->out.len;
    bitw w = {&k->out, 0, 0};
    for (int64_t i = 0; i < n_new; i++) rice_put(&w, gaps[i], best);
    while (w.n) bit_put(&w, 0);
    free(gaps);
    k->st.vocab_bytes += (uint64_t)(k->out.len - start);
    return SSX_OK;
}

static int rice_list_decode(ssx_model *m, ssx_codec *k) {
    ssx_reader *in = &k->in;
    int32_t V = ssx_vocab_size(m);
    uint64_t n_new = ssx_rd_varint(in);
    int r = ssx_rd_byte(in);
    uint64_t rice_len = ssx_rd_varint(in);
    if (in->overrun || r > MAX_RICE_K || n_new > (uint64_t)(V - ssx_vocab_live(m)) ||
        rice_len > (uint64_t)(in->len - in->pos))
        return SSX_ERR_CORRUPT;
    bitr br = {in->p + in->pos, (int64_t)rice_len, 0};
    int32_t g = 0; /* next global id to consider */
    for (uint64_t i = 0; i < n_new; i++) {
        uint64_t q = 0;
        int bit;
        while ((bit = bit_get(&br)) == 1) q++;
        if (bit < 0 || q > ((uint64_t)1 << 32)) return SSX_ERR_CORRUPT;
        uint64_t v = q << r;
        for (int b = r - 1; b >= 0; b--) {
            bit = bit_get(&br);
            if (bit < 0) return SSX_ERR_CORRUPT;
            v |= (uint64_t)bit << b;
        }
        /* skip v ids that are not live, then take the next such one */
        for (uint64_t left = v + 1; g < V; g++)
            if (ssx_vocab_compact(m, g) < 0 && --left == 0) break;
        if (g >= V) {
            memset(k->mark, 0, (size_t)V);
            return SSX_ERR_CORRUPT;
        }
        k->mark[g++] = 1;
    }
    if ((br.pos + 7) / 8 != (int64_t)rice_len) {
        memset(k->mark, 0, (size_t)V);
        return SSX_ERR_CORRUPT;
    }
    in->pos += (int64_t)rice_len;
    k->st.vocab_bytes += rice_len;
    return add_marked(m, k, (int64_t)n_new);
}

static int list_ctx(const ssx_model *m, const ssx_codec *k, int32_t g) {
    int b = g >> 11, len = ssx_vocab_length(m, g);
    int blk = k->blocks - 1 < LIST_BLK - 1 ? (int)k->blocks - 1 : LIST_BLK - 1;
    return ((b < LIST_IDS - 1 ? b : LIST_IDS - 1) * LIST_LEN +
            (len < LIST_LEN - 1 ? len : LIST_LEN - 1)) * LIST_BLK + blk;
}

/* A token tree's list (see LIST_CTX): the encoder codes k->mark, the decoder
 * fills it; then the marked tokens become live. */
static int tree_list(ssx_model *m, ssx_codec *k, int encode) {
    int32_t V = ssx_vocab_size(m);
    int64_t n_new = 0;
    double bits = 0.0;
    for (int32_t g = 0; g < V; g++) {
        if (ssx_vocab_compact(m, g) >= 0) continue;
        ssx_counter *c = &k->lc[list_ctx(m, k, g)];
        int q = ssx_counter_p(*c);
        uint32_t p = (uint32_t)(q < 32 ? 32 : q > 65504 ? 65504 : q);
        int bit;
        if (encode) {
            bit = k->mark[g];
            rc_encode_bit(&k->e, bit, p);
        } else {
            bit = rc_decode_bit(&k->d, p);
            k->mark[g] = (uint8_t)bit;
        }
        bits += bit_cost(bit, p);
        *c = ssx_counter_next(*c, bit, ssx_counter_rate(ssx_counter_n(*c)), LIST_LIMIT);
        n_new += bit;
    }
    if (!encode && k->d.bad) {
        memset(k->mark, 0, (size_t)V);
        return SSX_ERR_CORRUPT;
    }
    k->st.vocab_bytes += (uint64_t)(bits / 8.0 + 0.5);
    return add_marked(m, k, n_new);
}

/* ---- one token ---- */

/* Code compact id c (encoder) or find it (decoder, c = -1); returns it, or
 * -1 on corrupt data. */
static int32_t code_token(ssx_model *m, ssx_codec *k, int32_t c) {
    int enc = k->mode == 1;
    ssx_dist_begin(m, k->n - k->i, enc && k->cid ? k->cid + k->i : NULL);
    if (ssx_dist_is_tree(m)) {
        uint32_t p;
        while (ssx_dist_bit(m, &p)) {
            int bit;
            if (enc) {
                bit = ssx_dist_side(m, c);
                rc_encode_bit(&k->e, bit, p);
            } else {
                bit = rc_decode_bit(&k->d, p);
            }
            k->st.coded_bits += bit_cost(bit, p);
            ssx_dist_take(m, bit);
        }
        c = ssx_dist_token(m);
        if (!enc && k->d.bad) return -1;
    } else {
        uint64_t total = ssx_dist_total(m), cum;
        if (enc) {
            cum = ssx_dist_cum(m, c);
        } else {
            uint64_t v = rc_decode_target(&k->d, total);
            if (v >= total) return -1;
            c = ssx_dist_find(m, v, &cum);
        }
        uint32_t f = ssx_dist_freq(m, c);
        if (enc)
            rc_encode(&k->e, cum, f, total);
        else
            rc_decode_update(&k->d, cum, f);
        k->st.coded_bits -= log2((double)f / (double)total);
    }
    ssx_dist_learn(m, c);
    return c;
}

/* ---- blocks ---- */

static int encode_begin(ssx_model *m, const int32_t *tok, int64_t n) {
    ssx_codec *k = codec_of(m);
    if (!k) return SSX_ERR_NOMEM;
    if (n < 0 || (n > 0 && !tok) || !ssx_dist_ready(m)) return SSX_ERR_PARAM;
    codec_reset(k, -1);
    k->blocks++;
    k->out.len = 0;
    k->out.failed = 0;
    int64_t n_new = mark_new(m, k, tok, n);
    if (n_new < 0) return (int)n_new;
    int rc;
    if (ssx_dist_is_tree(m)) {
        k->start = 0;
        rc_enc_init(&k->e, &k->out);
        rc = tree_list(m, k, 1);
    } else {
        rc = rice_list_encode(m, k, n_new);
        if (!rc) rc = add_marked(m, k, n_new);
        k->start = k->out.len;
        rc_enc_init(&k->e, &k->out);
    }
    if (rc) return rc;
    /* the tokens to come, for the model's look-ahead (none is new any more) */
    k->cid = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; k->cid && i < n; i++) k->cid[i] = ssx_vocab_compact(m, tok[i]);
    k->tok = tok;
    k->n = n;
    k->i = 0;
    k->mode = 1;
    return SSX_OK;
}

static int64_t encode_some(ssx_model *m, int64_t max) {
    ssx_codec *k = *ssx_dist_codec(m);
    if (!k || k->mode != 1 || max < 0) return SSX_ERR_PARAM;
    int64_t done = 0;
    for (; k->i < k->n && done < max; k->i++, done++)
        code_token(m, k, k->cid ? k->cid[k->i] : ssx_vocab_compact(m, k->tok[k->i]));
    return done;
}

static int64_t encode_end(ssx_model *m, const uint8_t **out) {
    ssx_codec *k = *ssx_dist_codec(m);
    if (!k || k->mode != 1 || k->i != k->n) return SSX_ERR_PARAM;
    note_held(m, k);
    codec_reset(k, 0);
    rc_enc_finish(&k->e);
    note_held(m, k);
    if (k->out.failed) return SSX_ERR_NOMEM;
    k->st.payload_bytes += (uint64_t)(k->out.len - k->start);
    *out = k->out.p;
    return k->out.len;
}

static int decode_begin(ssx_model *m, const uint8_t *body, int64_t len, int64_t n) {
    ssx_codec *k = codec_of(m);
    if (!k) return SSX_ERR_NOMEM;
    if (n < 0 || len < 0 || (len > 0 && !body) || !ssx_dist_ready(m)) return SSX_ERR_PARAM;
    codec_reset(k, -1);
    k->blocks++;
    k->in = (ssx_reader){body, 0, len, 0};
    int rc;
    if (ssx_dist_is_tree(m)) {
        k->start = 0;
        rc_dec_init(&k->d, &k->in);
        rc = tree_list(m, k, 0);
    } else {
        rc = rice_list_decode(m, k);
        k->start = k->in.pos;
        rc_dec_init(&k->d, &k->in);
    }
    if (rc) return rc;
    if (n > 0 && ssx_vocab_live(m) == 0) return SSX_ERR_CORRUPT;
    k->n = n;
    k->i = 0;
    k->mode = 2;
    return SSX_OK;
}

static int64_t decode_some(ssx_model *m, int32_t *tok, int64_t max) {
    ssx_codec *k = *ssx_dist_codec(m);
    if (!k || k->mode != 2 || max < 0 || (max > 0 && !tok)) return SSX_ERR_PARAM;
    int64_t done = 0;
    for (; k->i < k->n && done < max; k->i++, done++) {
        int32_t c = code_token(m, k, -1);
        if (c < 0) {
            k->mode = -1;
            return SSX_ERR_CORRUPT;
        }
        tok[done] = ssx_vocab_global(m, c);
    }
    return done;
}

static int decode_end(ssx_model *m) {
    ssx_codec *k = *ssx_dist_codec(m);
    if (!k || k->mode != 2 || k->i != k->n) return SSX_ERR_PARAM;
    codec_reset(k, 0);
    if (k->in.overrun || k->in.pos != k->in.len || k->d.bad) return SSX_ERR_CORRUPT;
    k->st.payload_bytes += (uint64_t)(k->in.len - k->start);
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
