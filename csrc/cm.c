/* cm.c - binary context mixing over the bytes of the text (see cm.h).
 *
 * Contexts: the last 1, 2, 3, 4 and 6 bytes, the current word (letters, case
 * folded), the word with the one before it, the byte above in the previous
 * line with the last byte, the last two bytes with the position in the token,
 * two sparse ones (bytes 2-3 and 3-4 back), the innermost open brackets
 * (of [ { < and parentheses) with the last byte and with the word, the last
 * 8 bytes, and the last three words.  Each is hashed with the
 * decision (the partial byte, or "the token ends here") into a slot of its
 * own table that holds two estimates: a direct adaptive probability (a
 * counter, counter.h) and a bit history, a small state counting the 0s and
 * 1s seen there, whose probability is learned per state and context (an
 * indirect estimate that adapts to how reliable such histories have been).
 * A match model predicts the byte that followed the last occurrence of the
 * last MINLEN bytes.
 *
 * The second version (SSX_CM_V2; the first stays as streams made with it
 * need) adds indirect contexts, which paq8 showed to pay on text: the two
 * bytes that followed the last occurrences of the last byte, of the last two
 * and of the last three bytes, each with that context, and the word that
 * followed the last occurrence of the previous word with the current one;
 * the byte the longer match expects with its length; and a second match
 * model over the last LONGLEN bytes, whose matches are rarer but surer.
 *
 * The third version (SSX_CM_V3) adds the contexts of the last one, two and
 * three tokens (global ids), each with the bytes of the current token so
 * far: what tokens tend to follow, which the byte contexts see only as far
 * as their bytes reach.  With the SSM's tree head (ssm.h) its log odds of
 * each decision is one more input, and a fourth mixer's weights are chosen
 * by the decision with that input's size and sign.
 *
 * The fourth version (SSX_CM_V4) lets a match survive a changed byte, as
 * in a copy whose numbers or indices differ here and there: a match that
 * mispredicts keeps its place (the next byte of the copy) at half its length,
 * if it was 2 * RECMIN bytes long (RECMIN once it has survived a miss), and
 * its bits are predicted by their own counters for the first bytes after the
 * miss; a context of the byte it expects with the difference at its last
 * miss predicts shifted values.  The whole model (`cm4`): 8 MB of the stdlib
 * tar (compiled modules, each three times with small differences) 3.8 %
 * smaller, text within 0.05 % (bench/results/growth_tries.md).
 *
 * Their log odds (stretch), the token model's and a bias go into three linear
 * mixers whose weight sets are chosen by small contexts (the decision with
 * the token model's confidence and the match, the partial byte, the
 * previous byte); their mean goes through two adaptive probability maps (by
 * the previous byte, by a hash of the last two) averaged with it.
 *
 * Integers only: log odds in units of 1/256 (|st| <= ST_MAX, i.e. 12),
 * probabilities in 16 bits, weights in 16.16 fixed point.
 */
#include <stdlib.h>
#include <string.h>

#include "cm.h"
#include "clones.h"
#include "counter.h"
#include "mathf.h"
#include "pages.h"

#define NCTX1 15          /* contexts of the first version */
#define NCTX2 20          /* ... of the second (SSX_CM_V2) */
#define NCTX3 23          /* ... of the third (SSX_CM_V3) */
#define NCTX_MAX 24       /* ... and of the fourth (SSX_CM_V4) */
#define TOK_CTX NCTX2     /* version 3: the contexts of the last 1, 2 and 3 tokens */
#define DELTA_CTX NCTX3   /* version 4: the match's byte with its last difference */
#define O1 0              /* the order-1 context: indexed directly, 2^16 slots */
#define DEPTH_CTX 8       /* the context that takes the position in the token */
#define IN_TOK 0          /* the token model's log odds */
#define IN_MATCH 1
#define IN_BIAS 2
#define IN_LONG 3         /* the long match model (version 2; else 0) */
#define IN_CTX 4          /* two inputs per context from here */
#define NIN_MAX (IN_CTX + 2 * NCTX_MAX + 1) /* and the SSM's log odds */
#define ST_MAX 3071
#define LIMIT 255         /* counts stop here: the rate stays at about 1/LIMIT */
#define MINLEN 6          /* bytes a match must have before it predicts */
#define LONGLEN 24        /* ... and a long match (version 2) */
#define RECMIN 8          /* version 4: a match this long survives a miss (twice this the first) */
#define RECENT 8          /* ... with its own counters for this many bytes after it */
#define MLB 32            /* match length buckets */
#define NSTATE 256
#define SCAP 30           /* a bit history counts up to SCAP of each bit */
#define N1 (9 * 8 * 3)    /* mixer 1: decision x token-model confidence x match */
#define N2 (256 + 16)     /* mixer 2: partial byte, or the end at depth d */
#define N3 (256 * 9)      /* mixer 3: previous byte x decision */
#define N4 (9 * 8 * 2)    /* mixer 4 (with the SSM): decision x its confidence x sign */
#define KNOTS 25          /* of the adaptive maps, over [-ST_MAX, ST_MAX] */
#define APM1_CTX (65536 + 4096)
#define APM2_CTX 65536
#define MIX_LR 24         /* weight step: x * err * MIX_LR / 2^20 */
#define APM_RATE 6

/* A slot: direct probability (16 bits), its count (8), bit-history state (8).
 * The slots of one nibble of one context share a bucket of 16: slot 0 holds
 * a check of the context's hash (high 16 bits) and the state of the "token
 * ends here" decision, slots 1-15 the nibble's bit decisions (1, then 1
 * followed by the bits so far).  A context's nibble may sit in either bucket
 * of an aligned pair; a new one replaces the one whose first decision has
 * seen less.  So a nibble costs one cache line per context. */
#define SLOT_INIT 0x80000000u
#define BUCKET_BYTES (16 * sizeof(uint32_t))

/* A match model: the byte that followed the last occurrence of the last
 * minlen bytes, and adaptive probabilities of its bits by match length. */
typedef struct {
    int32_t *mt;         /* hash of the last minlen bytes -> position after them */
    uint32_t mtmask;
    int minlen;
    int64_t ptr;         /* the predicted byte is buf[ptr] ... */
    int len;             /* ... after a match of len bytes (0: none) */
    ssx_counter c[MLB * 2 + RECENT * 4 * 2]; /* by length; version 4 adds: by bytes since a miss */
    int ci;              /* the counter in use, -1 none */
    int recov;           /* version 4: the match has survived a miss ... */
    int since;           /* ... this many bytes ago */
    uint8_t delta;       /* the byte seen minus the byte expected at the last miss */
} ssx_match;

struct ssx_cm {
    int bits;
    int v2;              /* SSX_CM_V2: the second version's contexts and mixing */
    int v3;              /* SSX_CM_V3: the third's token contexts */
    int v4;              /* SSX_CM_V4: matches that survive a miss */
    int nctx, nin;
    int issm;            /* the SSM's input (0: none) */
    uint32_t tok[3];     /* version 3: hashes of the last 1, 2 and 3 tokens ... */
    uint32_t cur;        /* ... and of the current token's bytes so far */
    uint32_t *t[NCTX_MAX];
    uint32_t mask[NCTX_MAX];
    uint32_t h[NCTX_MAX];    /* the contexts' hashes at this byte */
    uint32_t *slot[NCTX_MAX];
    uint32_t *bucket[NCTX_MAX]; /* the current nibble's 16 slots per context */
    int bkey;               /* which nibble they are for; -1 none yet */
    ssx_counter sm[NCTX_MAX][NSTATE]; /* probability of 1 per bit-history state */
    uint8_t next[NSTATE][2];      /* bit-history transitions */
    int32_t x[NIN_MAX];
    /* the text */
    uint8_t *buf;
    uint32_t bmask;
    int64_t pos;         /* bytes pushed */
    uint32_t c4, c8;     /* the last 8 bytes */
    uint32_t word, word1, word2;
    uint32_t nest;       /* the open brackets, two bits each, innermost lowest */
    int64_t line, line1; /* where the current and the previous line start */
    uint16_t ind1[256];  /* version 2: the two bytes that followed each byte ... */
    uint16_t *ind2;      /* ... and each pair of bytes, the last times they occurred */
    uint16_t *ind3;
    uint32_t *indw;
    ssx_match m, lm;     /* the match model; version 2 adds a long one */
    /* mixing */
    int32_t w1[N1][NIN_MAX], w2[N2][NIN_MAX], w3[N3][NIN_MAX], w4[N4][NIN_MAX];
    int s[4], p[4];
    uint16_t *apm1, *apm2;
    int a1, a2, aw;
    /* tables */
    int16_t stretch[4096];       /* of a 12-bit probability */
    uint16_t squash[2 * ST_MAX + 1];
    int32_t rate[1024];
};

static uint32_t hash2(uint32_t a, uint32_t b) {
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    return h ^ (h >> 13);
}

/* Version 3: each token context with the bytes of the current token so far. */
static void tok_hashes(ssx_cm *x) {
    for (int k = 0; k < 3; k++) x->h[TOK_CTX + k] = hash2(hash2(50u + (uint32_t)k, x->tok[k]), x->cur);
}

static int squash(const ssx_cm *x, int st) {
    st = st < -ST_MAX ? -ST_MAX : st > ST_MAX ? ST_MAX : st;
    return x->squash[st + ST_MAX];
}

static int stretch16(const ssx_cm *x, int p) { return x->stretch[p >> 4]; }

/* Bit-history states: the pairs (n0, n1) reachable from (0, 0) when a bit
 * adds one to its count (up to SCAP) and cuts the other, beyond 2, to half
 * plus one: recent evidence weighs more.  Numbered in order of discovery. */
static void make_states(ssx_cm *x) {
    int n0[NSTATE], n1[NSTATE], ns = 1;
    n0[0] = n1[0] = 0;
    for (int s = 0; s < ns; s++)
        for (int b = 0; b < 2; b++) {
            int a0 = n0[s], a1 = n1[s];
            if (b) {
                a1 += a1 < SCAP;
                if (a0 > 2) a0 = a0 / 2 + 1;
            } else {
                a0 += a0 < SCAP;
                if (a1 > 2) a1 = a1 / 2 + 1;
            }
            int t = 0;
            while (t < ns && !(n0[t] == a0 && n1[t] == a1)) t++;
            if (t == ns) {
                n0[ns] = a0;
                n1[ns] = a1;
                ns++;
            }
            x->next[s][b] = (uint8_t)t;
        }
    for (int i = 0; i < x->nctx; i++)
        for (int s = 0; s < NSTATE; s++) {
            int p = s < ns ? (int)(65536.0 * (n1[s] + 0.4) / (n0[s] + n1[s] + 0.8)) : 32768;
            x->sm[i][s] = (uint32_t)(p > 65535 ? 65535 : p) << 16;
        }
}

static void init_apm(const ssx_cm *x, uint16_t *t, int n) {
    for (int c = 0; c < n; c++)
        for (int k = 0; k < KNOTS; k++)
            t[c * KNOTS + k] = (uint16_t)squash(x, (k - (KNOTS - 1) / 2) * 256);
}

static int match_init(ssx_match *m, int minlen, uint32_t mtmask) {
    m->minlen = minlen;
    m->mtmask = mtmask;
    m->mt = (int32_t *)calloc((size_t)mtmask + 1, sizeof(int32_t));
    if (!m->mt) return 0;
    ssx_pages_huge(m->mt, sizeof(int32_t) * ((size_t)mtmask + 1));
    for (int i = 0; i < (int)(sizeof m->c / sizeof m->c[0]); i++) m->c[i] = i & 1 ? 0xC0000000u : 0x40000000u;
    m->ci = -1;
    return 1;
}

/* The contexts of a version. */
static int nctx_of(int version) {
    return version >= 4 ? NCTX_MAX : version >= 3 ? NCTX3 : version >= 2 ? NCTX2 : NCTX1;
}

ssx_cm *ssx_cm_new(int bits, int version, int ssm) {
    if (bits < SSX_CM_MIN_BITS || bits > SSX_CM_MAX_BITS || version < 1 || version > 4) return NULL;
    ssx_cm *x = (ssx_cm *)calloc(1, sizeof *x);
    if (!x) return NULL;
    x->bits = bits;
    x->v2 = version >= 2;
    x->v3 = version >= 3;
    x->v4 = version >= 4;
    x->nctx = nctx_of(version);
    x->nin = IN_CTX + 2 * x->nctx;
    if (ssm) x->issm = x->nin++;
    int hb = bits - 1; /* the tables are sized at about 4 slots per byte of input */
    x->bmask = (1u << hb) - 1;
    x->buf = (uint8_t *)calloc((size_t)x->bmask + 1, 1);
    x->apm1 = (uint16_t *)malloc(sizeof(uint16_t) * APM1_CTX * KNOTS);
    x->apm2 = (uint16_t *)malloc(sizeof(uint16_t) * APM2_CTX * KNOTS);
    int ok = x->buf && x->apm1 && x->apm2 && match_init(&x->m, MINLEN, (1u << (bits - 2)) - 1);
    if (ok && x->v2) {
        x->ind2 = (uint16_t *)calloc(65536, sizeof(uint16_t));
        x->ind3 = (uint16_t *)calloc(1 << 20, sizeof(uint16_t));
        x->indw = (uint32_t *)calloc(1 << 20, sizeof(uint32_t));
        ok = x->ind2 && x->ind3 && x->indw && match_init(&x->lm, LONGLEN, (1u << (bits - 2)) - 1);
    }
    if (ok) ssx_pages_huge(x->buf, (size_t)x->bmask + 1);
    for (int i = 0; i < x->nctx && ok; i++) {
        int b = i == O1 ? 16 : bits;
        x->mask[i] = (1u << b) - 1;
        size_t bytes = sizeof(uint32_t) << b;
        x->t[i] = (uint32_t *)aligned_alloc(bytes >= SSX_HUGE_PAGE ? SSX_HUGE_PAGE : 2 * BUCKET_BYTES, bytes);
        ok = x->t[i] != NULL;
        if (ok) ssx_pages_huge(x->t[i], bytes);
        for (uint32_t j = 0; ok && j <= x->mask[i]; j++) x->t[i][j] = SLOT_INIT;
    }
    if (!ok) {
        ssx_cm_free(x);
        return NULL;
    }
    for (int i = 0; i < 4096; i++) {
        double p = (i + 0.5) / 4096.0;
        double s = 256.0 * ssx_log(p / (1.0 - p));
        x->stretch[i] = (int16_t)(s < 0 ? s - 0.5 : s + 0.5);
    }
    for (int i = -ST_MAX; i <= ST_MAX; i++) {
        double p = 65536.0 / (1.0 + ssx_exp(-i / 256.0));
        int v = (int)(p + 0.5);
        x->squash[i + ST_MAX] = (uint16_t)(v < 1 ? 1 : v > 65535 ? 65535 : v);
    }
    for (uint32_t n = 0; n < 1024; n++) x->rate[n] = ssx_counter_rate(n);
    make_states(x);
    /* the mixers start by passing the token model's prediction through */
    for (int s = 0; s < N1; s++) x->w1[s][IN_TOK] = 65536;
    for (int s = 0; s < N2; s++) x->w2[s][IN_TOK] = 65536;
    for (int s = 0; s < N3; s++) x->w3[s][IN_TOK] = 65536;
    for (int s = 0; s < N4; s++) x->w4[s][IN_TOK] = 65536;
    init_apm(x, x->apm1, APM1_CTX);
    init_apm(x, x->apm2, APM2_CTX);
    if (x->v3) tok_hashes(x);
    x->bkey = -1;
    return x;
}

void ssx_cm_free(ssx_cm *x) {
    if (!x) return;
    for (int i = 0; i < NCTX_MAX; i++) free(x->t[i]);
    free(x->buf);
    free(x->m.mt);
    free(x->lm.mt);
    free(x->ind2);
    free(x->ind3);
    free(x->indw);
    free(x->apm1);
    free(x->apm2);
    free(x);
}

uint64_t ssx_cm_memory(int bits, int version) {
    int v2 = version >= 2;
    uint64_t n = sizeof(ssx_cm) + ((uint64_t)1 << (bits - 1)) + sizeof(int32_t) * ((uint64_t)1 << (bits - 2)) +
                 sizeof(uint16_t) * (uint64_t)(APM1_CTX + APM2_CTX) * KNOTS;
    if (v2)
        n += sizeof(uint16_t) * 65536 + sizeof(int32_t) * ((uint64_t)1 << (bits - 2)) +
             sizeof(uint32_t) * (nctx_of(version) - NCTX1) * ((uint64_t)1 << bits);
    return n + sizeof(uint32_t) * (((uint64_t)1 << 16) + (NCTX1 - 1) * ((uint64_t)1 << bits));
}

static int is_letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 128; }

static void match_push(ssx_cm *x, ssx_match *m, uint8_t c) {
    if (m->len > 0) {
        uint8_t e = x->buf[m->ptr & x->bmask];
        if (e == c) {
            if (m->len < 65535) m->len++;
            m->ptr++;
            m->since += m->since < 255; /* only "how soon" counts */
        } else {
            m->delta = (uint8_t)(c - e);
            if (x->v4 && (m->len >= 2 * RECMIN || (m->recov && m->len >= RECMIN))) {
                /* a changed byte in a copy: a long match survives its first
                 * miss, one that has survived one survives while RECMIN long */
                m->len >>= 1;
                m->ptr++;
                m->recov = 1;
                m->since = 0;
            } else {
                m->len = 0;
            }
        }
    }
}

/* After pos moved: index the last minlen bytes (their hash h), and look for
 * a match of at least minlen bytes, checked up to `check` bytes back. */
static void match_find(ssx_cm *x, ssx_match *m, uint32_t h, int check) {
    if (x->pos < m->minlen) return;
    uint32_t hm = h & m->mtmask;
    if (m->len == 0 && m->mt[hm] > 0) {
        int64_t cand = m->mt[hm];
        if (x->pos - cand < (int64_t)x->bmask) {
            int len = 0;
            while (len < check && len < cand &&
                   x->buf[(cand - 1 - len) & x->bmask] == x->buf[(x->pos - 1 - len) & x->bmask])
                len++;
            if (len >= m->minlen) {
                m->len = len;
                m->ptr = cand;
                m->recov = 0;
            }
        }
    }
    m->mt[hm] = (int32_t)x->pos;
}

/* The hash of the last n bytes. */
static uint32_t hash_last(const ssx_cm *x, int n) {
    uint32_t h = (uint32_t)n;
    for (int i = 1; i <= n; i++) h = (h + x->buf[(x->pos - i) & x->bmask] + 1) * 0x2F0B3C6Du;
    return h ^ (h >> 15);
}

void ssx_cm_push(ssx_cm *x, uint8_t c) {
    match_push(x, &x->m, c);
    if (x->v2) {
        match_push(x, &x->lm, c);
        x->ind1[x->c4 & 0xFF] = (uint16_t)(x->ind1[x->c4 & 0xFF] << 8 | c);
        x->ind2[x->c4 & 0xFFFF] = (uint16_t)(x->ind2[x->c4 & 0xFFFF] << 8 | c);
        uint32_t i3 = hash2(77, x->c4 & 0xFFFFFF) >> 12;
        x->ind3[i3] = (uint16_t)(x->ind3[i3] << 8 | c);
    }
    x->buf[x->pos & x->bmask] = c;
    x->pos++;
    x->c8 = (x->c8 << 8) | (x->c4 >> 24);
    x->c4 = (x->c4 << 8) | c;
    match_find(x, &x->m, hash2(x->c4, x->c8 & 0xFFFF), 64);
    if (x->v2 && x->pos >= LONGLEN) match_find(x, &x->lm, hash_last(x, LONGLEN), 400);
    if (is_letter(c)) {
        x->word = hash2(x->word, (uint32_t)(c >= 'A' && c <= 'Z' ? c + 32 : c));
    } else if (x->word) {
        if (x->v2) x->indw[x->word1 >> 12] = x->word;
        x->word2 = x->word1;
        x->word1 = x->word;
        x->word = 0;
    }
    switch (c) {
    case '(': x->nest = (x->nest << 2) | 0; break;
    case '[': x->nest = (x->nest << 2) | 1; break;
    case '{': x->nest = (x->nest << 2) | 2; break;
    case '<': x->nest = (x->nest << 2) | 3; break;
    case ')': case ']': case '}': case '>': x->nest >>= 2; break;
    default: break;
    }
    if (c == '\n') {
        x->line1 = x->line;
        x->line = x->pos;
    }
    int64_t col = x->pos - x->line;
    uint32_t above = x->line1 + col < x->line ? x->buf[(x->line1 + col) & x->bmask] : 0x100;
    x->h[O1] = (uint32_t)c << 8;
    x->h[1] = hash2(2, x->c4 & 0xFFFF);
    x->h[2] = hash2(3, x->c4 & 0xFFFFFF);
    x->h[3] = hash2(4, x->c4);
    x->h[4] = hash2(hash2(6, x->c4), x->c8 & 0xFFFF);
    x->h[5] = hash2(7, x->word);
    x->h[6] = hash2(hash2(8, x->word), x->word1);
    x->h[7] = hash2(hash2(9, above), c);
    x->h[DEPTH_CTX] = hash2(10, x->c4 & 0xFFFF);
    x->h[9] = hash2(13, (x->c4 >> 8) & 0xFFFF);
    x->h[10] = hash2(14, (x->c4 >> 16) & 0xFFFF);
    x->h[11] = hash2(hash2(26, x->nest & 0xFF), c);
    x->h[12] = hash2(hash2(25, x->nest & 0xFF), x->word);
    x->h[13] = hash2(hash2(30, x->c4), x->c8);
    x->h[14] = hash2(hash2(31, x->word), hash2(x->word1, x->word2));
    if (x->v2) {
        /* what followed this byte and these two bytes before; the byte the
         * longer of the two matches expects, with its length */
        const ssx_match *m = x->lm.len > 0 ? &x->lm : &x->m;
        uint32_t ml = m->len == 0 ? 0 : m->len < 16 ? 1 : m->len < 32 ? 2 : 3;
        uint32_t mb = m->len ? x->buf[m->ptr & x->bmask] : 0;
        x->h[15] = hash2(hash2(40, x->ind1[c]), c);
        x->h[16] = hash2(hash2(41, x->ind2[x->c4 & 0xFFFF]), x->c4 & 0xFFFF);
        x->h[17] = hash2(hash2(42, ml << 8 | mb), c);
        x->h[18] = hash2(hash2(43, x->ind3[hash2(77, x->c4 & 0xFFFFFF) >> 12]), x->c4 & 0xFFFFFF);
        x->h[19] = hash2(hash2(44, x->indw[x->word1 >> 12]), x->word);
    }
    if (x->v3) {
        x->cur = hash2(x->cur, (uint32_t)c + 1);
        tok_hashes(x);
    }
    if (x->v4) { /* the byte the match expects, shifted as at its last miss? */
        const ssx_match *m = &x->m;
        uint32_t eb = m->len ? x->buf[m->ptr & x->bmask] | 0x100u : 0;
        uint32_t soon = m->len && m->recov ? (m->since < 4) + (m->since < 16) : 0;
        x->h[DELTA_CTX] = hash2(hash2(64, eb | (uint32_t)m->delta << 9), soon);
    }
    x->bkey = -1;
}

/* The buckets of every hashed context for nibble `key` of the next byte. */
static void find_buckets(ssx_cm *x, int key, int d) {
    uint32_t hh[NCTX_MAX];
    x->bkey = key;
    for (int i = 1; i < x->nctx; i++) {
        uint32_t h = i == DEPTH_CTX ? hash2(x->h[i], (uint32_t)(d < 7 ? d : 7)) : x->h[i];
        hh[i] = hash2(h, (uint32_t)key);
        x->bucket[i] = x->t[i] + ((hh[i] << 4) & x->mask[i]);
        __builtin_prefetch(x->bucket[i]); /* all lines in flight at once */
    }
    for (int i = 1; i < x->nctx; i++) {
        uint32_t chk = (hh[i] >> 16) | 1; /* never 0, the check of an empty bucket */
        uint32_t *b = x->bucket[i], *b2 = b + ((b - x->t[i]) & 16 ? -16 : 16);
        if (b[0] >> 16 == chk) continue;
        if (b2[0] >> 16 == chk) {
            x->bucket[i] = b2;
            continue;
        }
        if (((b2[1] >> 8) & 0xFF) < ((b[1] >> 8) & 0xFF)) b = x->bucket[i] = b2;
        b[0] = chk << 16;
        for (int j = 1; j < 16; j++) b[j] = SLOT_INIT;
    }
}

static int clip_st(double st) {
    if (st != st) return 0;
    double v = st * 256.0;
    if (v > ST_MAX) return ST_MAX;
    if (v < -ST_MAX) return -ST_MAX;
    return (int)(v < 0 ? v - 0.5 : v + 0.5);
}

void ssx_cm_ssm(ssx_cm *x, double z) {
    if (x->issm) x->x[x->issm] = clip_st(z);
}

void ssx_cm_token(ssx_cm *x, uint32_t g) {
    if (!x->v3) return;
    x->tok[2] = hash2(x->tok[1], g + 1);
    x->tok[1] = hash2(x->tok[0], g + 1);
    x->tok[0] = g + 1;
    x->cur = 0;
    tok_hashes(x);
    x->bkey = -1;
}

/* Integer sums are exact, so neither the order of the inputs nor the width
 * of the vectors (predict and update have AVX2 clones) matters. */
static int32_t dot(const int32_t *w, const int32_t *x, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += (int64_t)w[i] * x[i];
    s >>= 16;
    return (int32_t)(s < -ST_MAX ? -ST_MAX : s > ST_MAX ? ST_MAX : s);
}

/* An adaptive map: between knots k[0] and k[1], w/256 of the way. */
static int apm_at(const uint16_t *k, int w) { return (k[0] * (256 - w) + k[1] * w) >> 8; }

static void apm_learn(uint16_t *k, int w, int bit) {
    int target = bit ? 65535 : 0;
    k[0] = (uint16_t)(k[0] + ((((target - k[0]) * (256 - w)) >> 8) >> APM_RATE));
    k[1] = (uint16_t)(k[1] + ((((target - k[1]) * w) >> 8) >> APM_RATE));
}

/* Eight buckets of a log odds' magnitude. */
static int confidence(int st) {
    int a = st < 0 ? -st : st;
    return a < 64 ? 0 : a < 128 ? 1 : a < 256 ? 2 : a < 512 ? 3 : a < 768 ? 4 : a < 1024 ? 5
         : a < 1536 ? 6 : 7;
}

/* The match model's input for bit k of the byte whose bits so far are c0
 * (0 when it predicts nothing), and its state for choosing weights:
 * 0 none, 1 short, 2 long. */
static int match_input(ssx_cm *x, ssx_match *m, int c0, int k, int *state) {
    m->ci = -1;
    *state = 0;
    if (!c0 || m->len <= 0) return 0;
    int pb = x->buf[m->ptr & x->bmask] | 0x100;
    if ((pb >> (8 - k)) != c0) return 0;
    int len = m->len;
    if (m->minlen > MINLEN) { /* long matches: buckets by log2 of the length */
        int b = 0;
        while ((len >> b) > 1) b++;
        len = b * 2 + ((len >> (b - 1)) & 1);
    }
    len = len < MLB ? len : MLB - 1;
    m->ci = len * 2 + ((pb >> (7 - k)) & 1);
    if (m->recov && m->since < RECENT) { /* soon after a miss: by how soon, and the length */
        int lb = m->len < 16 ? 0 : m->len < 32 ? 1 : m->len < 128 ? 2 : 3;
        m->ci = MLB * 2 + (m->since * 4 + lb) * 2 + ((pb >> (7 - k)) & 1);
    }
    *state = m->len < 16 ? 1 : 2;
    return stretch16(x, ssx_counter_p(m->c[m->ci]));
}

SSX_WIDE int ssx_cm_predict(ssx_cm *x, int c0, int d, double st) {
    int dc = d < 15 ? d : 15;
    int k = 0; /* bits of the byte decided */
    while ((c0 >> k) > 1) k++;
    int key = k < 4 ? 0 : 16 + ((c0 >> (k - 4)) & 15); /* the nibble: high, or which low */
    int si = k < 4 ? c0 : (c0 & ((1 << (k - 4)) - 1)) | (1 << (k - 4));
    int c1 = (int)(x->c4 & 0xFF);
    /* the adaptive maps' rows for this decision: their loads start now */
    int r1 = (c0 ? (c1 << 8) | c0 : 65536 + (c1 << 4) + dc) * KNOTS;
    int r2 = (int)(hash2(x->c4 & 0xFFFF, (uint32_t)(c0 ? c0 : 256 + dc)) >> 16) * KNOTS;
    __builtin_prefetch(x->apm1 + r1);
    __builtin_prefetch(x->apm1 + r1 + KNOTS - 1);
    __builtin_prefetch(x->apm2 + r2);
    __builtin_prefetch(x->apm2 + r2 + KNOTS - 1);
    if (key != x->bkey) find_buckets(x, key, d);
    for (int i = 0; i < x->nctx; i++) {
        uint32_t *s = x->slot[i] = i == O1 ? &x->t[O1][x->h[O1] | (uint32_t)c0] : x->bucket[i] + si;
        uint32_t v = *s, state = v & 0xFF;
        x->x[IN_CTX + 2 * i] = state ? stretch16(x, ssx_counter_p(x->sm[i][state])) : 0;
        /* slot 0 of a bucket (the end decision) has no direct estimate */
        x->x[IN_CTX + 2 * i + 1] = (i == O1 || si) && (v >> 8) & 0xFF ? stretch16(x, (int)(v >> 16)) : 0;
    }
    int kp = c0 ? 1 + k : 0; /* the decision: the end, or bit k */
    int ms, ls = 0;
    x->x[IN_MATCH] = match_input(x, &x->m, c0, k, &ms);
    x->x[IN_LONG] = x->v2 ? match_input(x, &x->lm, c0, k, &ls) : 0;
    int tst = clip_st(st);
    x->x[IN_TOK] = tst;
    x->x[IN_BIAS] = 256;
    int cb = confidence(tst);
    x->s[0] = (kp * 8 + cb) * 3 + ms;
    x->s[1] = c0 ? c0 : 256 + dc;
    x->s[2] = c1 * 9 + kp;
    int32_t d0 = dot(x->w1[x->s[0]], x->x, x->nin), d1 = dot(x->w2[x->s[1]], x->x, x->nin);
    int32_t d2 = dot(x->w3[x->s[2]], x->x, x->nin);
    x->p[0] = squash(x, d0);
    x->p[1] = squash(x, d1);
    x->p[2] = squash(x, d2);
    int sm = (d0 + d1 + d2) / 3;
    if (x->issm) { /* a fourth set of weights, chosen by the SSM's log odds */
        int z = x->x[x->issm];
        x->s[3] = ((kp * 8 + confidence(z)) << 1) | (z > 0);
        int32_t d3 = dot(x->w4[x->s[3]], x->x, x->nin);
        x->p[3] = squash(x, d3);
        sm = (d0 + d1 + d2 + d3) / 4;
    } else x->s[3] = -1;
    int pm = squash(x, sm);
    /* the adaptive maps interpolate between the knots around sm */
    int pos = (sm + ST_MAX) * (KNOTS - 1);
    int j = pos / (2 * ST_MAX), w = (pos % (2 * ST_MAX)) * 256 / (2 * ST_MAX);
    if (j >= KNOTS - 1) {
        j = KNOTS - 2;
        w = 256;
    }
    x->aw = w;
    x->a1 = r1 + j;
    x->a2 = r2 + j;
    int pa1 = apm_at(x->apm1 + x->a1, w), pa2 = apm_at(x->apm2 + x->a2, w);
    int p = (2 * pm + 3 * pa1 + 3 * pa2 + 4) >> 3;
    return p < 1 ? 1 : p > 65535 ? 65535 : p;
}

static void train(int32_t *w, const int32_t *x, int n, int err) {
    for (int i = 0; i < n; i++) w[i] += (int32_t)(((int64_t)x[i] * err * MIX_LR) >> 20);
}

static void match_learn(ssx_cm *x, ssx_match *m, int bit) {
    if (m->ci >= 0) m->c[m->ci] = ssx_counter_next(m->c[m->ci], bit, x->rate[ssx_counter_n(m->c[m->ci])], LIMIT);
}

SSX_WIDE void ssx_cm_update(ssx_cm *x, int bit) {
    for (int i = 0; i < x->nctx; i++) {
        uint32_t v = *x->slot[i], state = v & 0xFF, n = (v >> 8) & 0xFF;
        ssx_counter *sm = &x->sm[i][state];
        *sm = ssx_counter_next(*sm, bit, x->rate[ssx_counter_n(*sm)], LIMIT);
        if (i != O1 && x->slot[i] == x->bucket[i]) { /* slot 0: the check and a state */
            *x->slot[i] = (v & 0xFFFF0000u) | x->next[state][bit];
            continue;
        }
        /* the direct estimate: the same counter, its count in 8 bits */
        ssx_counter dc = ssx_counter_next((v & 0xFFFF0000u) | n, bit, x->rate[n], LIMIT);
        *x->slot[i] = (dc & 0xFFFF0000u) | (ssx_counter_n(dc) << 8) | x->next[state][bit];
    }
    match_learn(x, &x->m, bit);
    if (x->v2) match_learn(x, &x->lm, bit);
    train(x->w1[x->s[0]], x->x, x->nin, (bit << 16) - x->p[0]);
    train(x->w2[x->s[1]], x->x, x->nin, (bit << 16) - x->p[1]);
    train(x->w3[x->s[2]], x->x, x->nin, (bit << 16) - x->p[2]);
    if (x->s[3] >= 0) train(x->w4[x->s[3]], x->x, x->nin, (bit << 16) - x->p[3]);
    apm_learn(x->apm1 + x->a1, x->aw, bit);
    apm_learn(x->apm2 + x->a2, x->aw, bit);
}
