/* ngram.c - sparse n-gram context models, the LZ predictor and the recency
 * bonus.
 *
 * One generic table serves every order: open addressing with linear probing
 * (PROBES slots), keyed by a hash of the context but matched on the exact
 * context, which lives once in the token history (a slot stores where its
 * context occurred).  Each context owns a growable list of (token, count)
 * pairs in a shared arena.  Tables grow by doubling, so memory follows the
 * input; past the memory limit nothing new is stored.
 */
#include <stdlib.h>
#include <string.h>

#include "clones.h"
#include "mathf.h"
#include "ngram.h"
#include "pages.h"

#define N_ORDERS 9  /* the published contiguous orders */
#define N_TABLES SSX_NGRAM_TABLES /* and the sparse (skip) contexts after them */
#define MAX_ORDER 31
#define PROBES 8
#define DTAB 1024  /* counts with a precomputed bias */
#define RECENT SSX_NGRAM_RECENT /* tokens that get the recency bonus */
#define LZ_MAX_CONF 1000u

/* context length and gap (tokens skipped before the predicted one) of each table */
static const int ORDER[N_TABLES] = {1, 2, 3, 4, 5, 6, 7, 15, 31, 1, 2, 1};
static const int GAP[N_TABLES] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2};
static const double LAMBDA[N_ORDERS] = {0.15, 0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.50, 1.00};
static const double ALPHA[N_ORDERS] = {0.10, 0.05, 0.03, 0.02, 0.015, 0.010, 0.008, 0.001, 0.001};

typedef ssx_follower pair;

typedef struct slot {
    uint32_t check; /* high hash bits; cap == 0 marks an empty slot */
    uint32_t pos;   /* the context is hist[pos - k, pos) */
    uint32_t off, len, cap; /* its followers: arena[off, off + len) */
} slot;

typedef struct table { slot *s; uint32_t mask, used; } table;

typedef struct lzent { int32_t a, b, pred; uint32_t conf; } lzent; /* a < 0: empty */

struct ssx_ngram {
    int32_t *hist; /* tokens stored while memory allows; contexts point here */
    uint32_t n, hcap;
    int32_t win[RECENT]; /* the last RECENT tokens, newest last */
    uint64_t seen;       /* tokens observed */
    table tab[N_TABLES];
    int ntab; /* tables in use: N_ORDERS, or N_TABLES with the sparse ones */
    pair *arena;
    uint32_t alen, acap;
    lzent *lz;
    uint32_t lzmask, lzused;
    float delta[N_ORDERS][DTAB];
    float rec[RECENT];
    uint64_t mem, limit;
    int full;
    /* the current context, found by predict and reused by update */
    uint64_t h[N_TABLES];
    int64_t at[N_TABLES]; /* slot index, -1 when absent */
    int64_t lzat;
    int ready;
};

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Hash of the k most recent tokens of ctx (ctx[-1] newest), for every order. */
static void context_hashes(const int32_t *end, uint64_t avail, uint64_t h[N_ORDERS]) {
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int o = 0;
    for (int j = 1; j <= MAX_ORDER && o < N_ORDERS; j++) {
        if ((uint64_t)j > avail) break;
        x = (x ^ (uint32_t)end[-j]) * 0x9E3779B97F4A7C15ULL + (uint64_t)j;
        if (j == ORDER[o]) h[o++] = mix64(x);
    }
}

/* Hash of a sparse context: k tokens ending gap tokens before end. */
static uint64_t sparse_hash(const int32_t *end, int k, int gap) {
    uint64_t x = 0x2545F4914F6CDD1DULL ^ ((uint64_t)gap * 0xD6E8FEB86659FD93ULL);
    for (int j = 1; j <= k; j++)
        x = (x ^ (uint32_t)end[-gap - j]) * 0x9E3779B97F4A7C15ULL + (uint64_t)j;
    return mix64(x);
}

/* The hashes of every table's context ending at end (avail tokens there). */
static void table_hashes(const ssx_ngram *g, const int32_t *end, uint64_t avail,
                         uint64_t h[N_TABLES]) {
    context_hashes(end, avail, h);
    for (int o = N_ORDERS; o < g->ntab; o++)
        if ((uint64_t)(ORDER[o] + GAP[o]) <= avail) h[o] = sparse_hash(end, ORDER[o], GAP[o]);
}

static float bias(const ssx_ngram *g, int o, uint32_t cnt) {
    if (cnt < DTAB) return g->delta[o][cnt];
    return (float)(LAMBDA[o] * ssx_log(1.0 + (double)cnt / ALPHA[o]));
}

/* Reserve bytes of the memory budget; 0 when it is spent. */
static int budget(ssx_ngram *g, uint64_t bytes) {
    if (g->full || g->mem + bytes > g->limit) { g->full = 1; return 0; }
    g->mem += bytes;
    return 1;
}

static int table_init(ssx_ngram *g, table *t, uint32_t size) {
    if (!budget(g, (uint64_t)size * sizeof(slot))) return -1;
    t->s = (slot *)calloc(size, sizeof(slot));
    if (!t->s) { g->full = 1; return -1; }
    ssx_pages_huge(t->s, (size_t)size * sizeof(slot));
    t->mask = size - 1;
    t->used = 0;
    return 0;
}

ssx_ngram *ssx_ngram_new(uint64_t mem_limit, int sparse) {
    ssx_ngram *g = (ssx_ngram *)calloc(1, sizeof *g);
    if (!g) return NULL;
    g->limit = mem_limit;
    g->ntab = sparse ? N_TABLES : N_ORDERS;
    for (int o = 0; o < g->ntab; o++)
        if (table_init(g, &g->tab[o], 1024)) { ssx_ngram_free(g); return NULL; }
    for (int o = 0; o < N_ORDERS; o++) {
        for (int c = 0; c < DTAB; c++)
            g->delta[o][c] = (float)(LAMBDA[o] * ssx_log(1.0 + (double)c / ALPHA[o]));
    }
    g->lzmask = 1023;
    g->lz = (lzent *)malloc(sizeof(lzent) * (g->lzmask + 1));
    if (!g->lz || !budget(g, sizeof(lzent) * (g->lzmask + 1))) { ssx_ngram_free(g); return NULL; }
    for (uint32_t i = 0; i <= g->lzmask; i++) g->lz[i].a = -1;
    for (int a = 0; a < RECENT; a++)
        g->rec[a] = (float)(0.05 * ssx_exp(-3.0 * (double)a / RECENT));
    return g;
}

void ssx_ngram_free(ssx_ngram *g) {
    if (!g) return;
    for (int o = 0; o < N_TABLES; o++) free(g->tab[o].s);
    free(g->hist);
    free(g->arena);
    free(g->lz);
    free(g);
}

uint64_t ssx_ngram_memory(const ssx_ngram *g) { return g->mem; }

/* The budget counts what the tables hold.  Growing the arena or the history
 * by realloc holds no second copy for long (the C library moves large
 * blocks by remapping their pages); a sixteenth of slack for what does. */
uint64_t ssx_ngram_memory_bound(uint64_t mem_limit) { return sizeof(ssx_ngram) + mem_limit + mem_limit / 16; }

static int64_t find(const ssx_ngram *g, int o, uint64_t h, int64_t *empty) {
    const table *t = &g->tab[o];
    int k = ORDER[o], gap = GAP[o];
    const int32_t *ctx = g->win + RECENT - gap - k;
    *empty = -1;
    for (uint32_t p = 0; p < PROBES; p++) {
        uint32_t i = (uint32_t)(h + p) & t->mask;
        const slot *s = &t->s[i];
        if (!s->cap) { *empty = i; return -1; }
        if (s->check == (uint32_t)(h >> 32) &&
            !memcmp(g->hist + s->pos - gap - k, ctx, sizeof(int32_t) * (size_t)k))
            return i;
    }
    return -1;
}

static int64_t lz_find(const ssx_ngram *g, int32_t a, int32_t b, int64_t *empty) {
    uint64_t h = mix64(((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
    *empty = -1;
    for (uint32_t p = 0; p <= g->lzmask; p++) {
        uint32_t i = (uint32_t)(h + p) & g->lzmask;
        if (g->lz[i].a < 0) { *empty = i; return -1; }
        if (g->lz[i].a == a && g->lz[i].b == b) return i;
    }
    return -1;
}

static void locate(ssx_ngram *g) {
    if (g->ready) return;
    uint64_t avail = g->seen < RECENT ? g->seen : RECENT;
    table_hashes(g, g->win + RECENT, avail, g->h);
    int64_t empty;
    for (int o = 0; o < g->ntab; o++)
        g->at[o] = (uint64_t)(ORDER[o] + GAP[o]) <= avail ? find(g, o, g->h[o], &empty) : -1;
    g->lzat = avail >= 2 ? lz_find(g, g->win[RECENT - 2], g->win[RECENT - 1], &empty) : -1;
    g->ready = 1;
}

void ssx_ngram_locate(ssx_ngram *g) { locate(g); }

const ssx_follower *ssx_ngram_followers(const ssx_ngram *g, int o, uint32_t *len) {
    if (g->at[o] < 0) { *len = 0; return NULL; }
    const slot *sl = &g->tab[o].s[g->at[o]];
    *len = sl->len;
    return g->arena + sl->off;
}

int ssx_ngram_tables(const ssx_ngram *g) { return g->ntab; }

int ssx_ngram_lz(const ssx_ngram *g, int32_t *pred, uint32_t *conf) {
    if (g->lzat < 0) return 0;
    *pred = g->lz[g->lzat].pred;
    *conf = g->lz[g->lzat].conf;
    return 1;
}

int ssx_ngram_recent(const ssx_ngram *g, const int32_t **win, const float **weight) {
    *win = g->win + RECENT;
    *weight = g->rec;
    return (int)(g->seen < RECENT ? g->seen : RECENT);
}

void ssx_ngram_predict(ssx_ngram *g, float s, float *logits) {
    locate(g);
    for (int o = 0; o < N_ORDERS; o++) {
        if (g->at[o] < 0) continue;
        const slot *sl = &g->tab[o].s[g->at[o]];
        const pair *p = g->arena + sl->off;
        for (uint32_t i = 0; i < sl->len; i++) logits[p[i].tok] += s * bias(g, o, p[i].cnt);
    }
    if (g->lzat >= 0) {
        const lzent *e = &g->lz[g->lzat];
        float boost = (float)(1.5 * (1.0 - 1.0 / (1.0 + 0.3 * (double)e->conf)));
        logits[e->pred] += s * boost;
    }
    uint64_t avail = g->seen < RECENT ? g->seen : RECENT;
    for (uint64_t a = 0; a < avail; a++) logits[g->win[RECENT - 1 - a]] += s * g->rec[a];
}

/* ---- learning ---- */

static int table_grow(ssx_ngram *g, int o) {
    table *t = &g->tab[o], nt;
    uint32_t size = (t->mask + 1) * 2;
    if (size == 0 || table_init(g, &nt, size)) return -1;
    int k = ORDER[o];
    for (uint32_t i = 0; i <= t->mask; i++) {
        slot *s = &t->s[i];
        if (!s->cap) continue;
        uint64_t h[N_TABLES];
        table_hashes(g, g->hist + s->pos, (uint64_t)(k + GAP[o]), h);
        for (uint32_t p = 0; p < PROBES; p++) {
            uint32_t j = (uint32_t)(h[o] + p) & nt.mask;
            if (!nt.s[j].cap) { nt.s[j] = *s; nt.used++; break; }
        }
    }
    g->mem -= (uint64_t)(t->mask + 1) * sizeof(slot);
    free(t->s);
    *t = nt;
    return 0;
}

/* A region of n pairs at the end of the arena; UINT32_MAX when out of budget. */
static uint32_t arena_take(ssx_ngram *g, uint32_t n) {
    if ((uint64_t)g->alen + n > g->acap) {
        uint64_t cap = g->acap ? (uint64_t)g->acap * 2 : 4096;
        while (cap < (uint64_t)g->alen + n) cap *= 2;
        if (cap > UINT32_MAX || !budget(g, (cap - g->acap) * sizeof(pair))) return UINT32_MAX;
        pair *a = (pair *)realloc(g->arena, cap * sizeof(pair));
        if (!a) { g->full = 1; return UINT32_MAX; }
        g->arena = a;
        ssx_pages_huge(a, cap * sizeof(pair));
        g->acap = (uint32_t)cap;
    }
    uint32_t off = g->alen;
    g->alen += n;
    return off;
}

SSX_WIDE uint32_t ssx_followers_find(const ssx_follower *f, uint32_t len, int32_t tok) {
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) { /* eight compares as one vector where the CPU has it */
        int hit = 0;
        for (int j = 0; j < 8; j++) hit |= f[i + j].tok == tok;
        if (hit) break;
    }
    for (; i < len; i++)
        if (f[i].tok == tok) return i;
    return len;
}

/* Followers are kept most recent first (a token seen again moves to the
 * front); the published biases do not depend on the order. */
static void add_follower(ssx_ngram *g, slot *s, int32_t tok) {
    pair *p = g->arena + s->off;
    uint32_t i = ssx_followers_find(p, s->len, tok);
    if (i < s->len) {
        pair f = p[i];
        if (f.cnt < UINT32_MAX) f.cnt++;
        memmove(p + 1, p, sizeof(pair) * i);
        p[0] = f;
        return;
    }
    if (s->len == s->cap) { /* move the list to a region twice as large */
        uint32_t off = arena_take(g, s->cap * 2);
        if (off == UINT32_MAX) return;
        memcpy(g->arena + off, g->arena + s->off, sizeof(pair) * s->len);
        s->off = off;
        s->cap *= 2;
    }
    p = g->arena + s->off;
    memmove(p + 1, p, sizeof(pair) * s->len);
    p[0].tok = tok;
    p[0].cnt = 1;
    s->len++;
}

static void new_context(ssx_ngram *g, int o, int64_t i, int32_t tok) {
    table *t = &g->tab[o];
    uint32_t off = arena_take(g, 1);
    if (off == UINT32_MAX) return;
    slot *s = &t->s[i];
    s->check = (uint32_t)(g->h[o] >> 32);
    s->pos = g->n; /* the context is the newest tokens of hist */
    s->off = off;
    s->len = 1;
    s->cap = 1;
    g->arena[off].tok = tok;
    g->arena[off].cnt = 1;
    t->used++;
}

static void lz_update(ssx_ngram *g, int32_t tok) {
    if (g->lzat >= 0) {
        lzent *e = &g->lz[g->lzat];
        if (e->pred == tok) {
            if (e->conf < LZ_MAX_CONF) e->conf++;
        } else if (e->conf <= 2) {
            e->pred = tok;
            e->conf = 1;
        } else {
            e->conf--;
        }
        return;
    }
    if (g->full) return;
    if ((g->lzused + 1) * 2 > g->lzmask + 1) {
        uint32_t size = (g->lzmask + 1) * 2;
        if (!budget(g, (uint64_t)size * sizeof(lzent))) return;
        lzent *nz = (lzent *)malloc(sizeof(lzent) * size), *old = g->lz;
        if (!nz) { g->full = 1; return; }
        ssx_pages_huge(nz, sizeof(lzent) * size);
        uint32_t omask = g->lzmask;
        for (uint32_t i = 0; i < size; i++) nz[i].a = -1;
        g->lz = nz;
        g->lzmask = size - 1;
        int64_t empty;
        for (uint32_t i = 0; i <= omask; i++)
            if (old[i].a >= 0 && lz_find(g, old[i].a, old[i].b, &empty) < 0 && empty >= 0)
                g->lz[empty] = old[i];
        free(old);
        g->mem -= (uint64_t)(omask + 1) * sizeof(lzent);
    }
    int64_t empty;
    lz_find(g, g->win[RECENT - 2], g->win[RECENT - 1], &empty);
    if (empty < 0) return;
    g->lz[empty].a = g->win[RECENT - 2];
    g->lz[empty].b = g->win[RECENT - 1];
    g->lz[empty].pred = tok;
    g->lz[empty].conf = 1;
    g->lzused++;
}

int ssx_ngram_update(ssx_ngram *g, int32_t tok) {
    locate(g);
    uint64_t avail = g->seen < RECENT ? g->seen : RECENT;
    int stored = !g->full; /* hist holds every token so far */
    for (int o = 0; o < g->ntab; o++) {
        if ((uint64_t)(ORDER[o] + GAP[o]) > avail) continue;
        if (g->at[o] >= 0) {
            add_follower(g, &g->tab[o].s[g->at[o]], tok);
            continue;
        }
        if (!stored || g->full) continue;
        table *t = &g->tab[o];
        if ((t->used + 1) * 2 > t->mask + 1 && table_grow(g, o)) continue;
        int64_t empty;
        if (find(g, o, g->h[o], &empty) < 0 && empty >= 0) new_context(g, o, empty, tok);
    }
    if (avail >= 2) lz_update(g, tok);
    if (!g->full) {
        if (g->n == g->hcap) {
            uint64_t cap = g->hcap ? (uint64_t)g->hcap * 2 : 4096;
            int32_t *h = NULL;
            if (cap <= UINT32_MAX && budget(g, (cap - g->hcap) * sizeof(int32_t)))
                h = (int32_t *)realloc(g->hist, cap * sizeof(int32_t));
            if (h) { g->hist = h; g->hcap = (uint32_t)cap; ssx_pages_huge(h, cap * sizeof(int32_t)); }
            else g->full = 1;
        }
        if (!g->full) g->hist[g->n++] = tok;
    }
    memmove(g->win, g->win + 1, sizeof(int32_t) * (RECENT - 1));
    g->win[RECENT - 1] = tok;
    g->seen++;
    g->ready = 0;
    return 0;
}
