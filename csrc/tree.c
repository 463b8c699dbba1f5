/* tree.c - a token as a path of binary decisions through the live vocabulary
 * in byte order (see tree.h).
 *
 * The order is kept as an array of compact ids, sorted again after tokens
 * join.  The masses of both sides of a decision are sums of e over ranges
 * of that order: whole blocks of SSX_TREE_BLOCK positions come from sums
 * made once per token, the ends of a range are added one by one, always in
 * the same order, so encoder and decoder get the same doubles.
 */
#include <stdlib.h>
#include <string.h>

#include "statesmix.h"
#include "tree.h"

struct ssx_tree {
    uint8_t *bytes;   /* spellings of the global vocabulary ... */
    int64_t *off;     /* ... token g is bytes[off[g], off[g + 1]) */
    int32_t V;
    int32_t live, cap;
    int32_t *glob;    /* compact id -> global id */
    int32_t *order;   /* position in byte order -> compact id */
    int32_t *rank;    /* compact id -> position */
    const uint8_t **psp; /* per position: the token's bytes ... */
    uint8_t *plen;       /* ... and their count */
    double *bsum;     /* per block of positions: the sum of e */
    int sorted;
};

ssx_tree *ssx_tree_new(void) { return (ssx_tree *)calloc(1, sizeof(ssx_tree)); }

void ssx_tree_free(ssx_tree *t) {
    if (!t) return;
    free(t->bytes);
    free(t->off);
    free(t->glob);
    free(t->order);
    free(t->rank);
    free(t->psp);
    free(t->plen);
    free(t->bsum);
    free(t);
}

static const uint8_t *spell(const ssx_tree *t, int32_t g, int *len) {
    *len = (int)(t->off[g + 1] - t->off[g]);
    return t->bytes + t->off[g];
}

static int cmp_bytes(const uint8_t *a, int la, const uint8_t *b, int lb) {
    int r = memcmp(a, b, (size_t)(la < lb ? la : lb));
    return r ? r : (la > lb) - (la < lb);
}

/* A token to sort: qsort's comparator sees only the entries, no context. */
typedef struct entry { const uint8_t *p; int32_t len, id; } entry;

static int cmp_entry(const void *x, const void *y) {
    const entry *a = (const entry *)x, *b = (const entry *)y;
    return cmp_bytes(a->p, a->len, b->p, b->len);
}

/* Sort n entries; returns 0, or -1 when two have the same bytes. */
static int sort_entries(entry *v, int32_t n) {
    qsort(v, (size_t)n, sizeof(entry), cmp_entry);
    for (int32_t i = 1; i < n; i++)
        if (cmp_entry(&v[i - 1], &v[i]) == 0) return -1;
    return 0;
}

uint64_t ssx_tree_memory(int32_t V, int64_t spelling_bytes, int32_t cap) {
    return sizeof(ssx_tree) + (uint64_t)spelling_bytes + sizeof(int64_t) * ((uint64_t)V + 1) +
           sizeof(entry) * ((uint64_t)V + 1) + /* the sort's scratch */
           (uint64_t)cap * (3 * sizeof(int32_t) + sizeof(uint8_t *) + 1) +
           sizeof(double) * ((uint64_t)cap / SSX_TREE_BLOCK + 1);
}

int ssx_tree_set_spellings(ssx_tree *t, const uint8_t *bytes, const int64_t *off, int32_t n) {
    if (n < 1 || t->live || off[0] != 0) return SSX_ERR_PARAM;
    for (int32_t g = 0; g < n; g++) {
        int64_t len = off[g + 1] - off[g];
        if (len < 1 || len > SSX_TREE_MAX_LEN) return SSX_ERR_PARAM;
    }
    uint8_t *b = (uint8_t *)malloc((size_t)off[n]);
    int64_t *o = (int64_t *)malloc(sizeof(int64_t) * ((size_t)n + 1));
    if (!b || !o) { free(b); free(o); return SSX_ERR_NOMEM; }
    memcpy(b, bytes, (size_t)off[n]);
    memcpy(o, off, sizeof(int64_t) * ((size_t)n + 1));
    free(t->bytes);
    free(t->off);
    t->bytes = b;
    t->off = o;
    t->V = n;
    /* two tokens with the same bytes could not be told apart by the walk */
    entry *v = (entry *)malloc(sizeof(entry) * (size_t)n);
    if (!v) return SSX_ERR_NOMEM;
    for (int32_t g = 0; g < n; g++) {
        int len;
        v[g].p = spell(t, g, &len);
        v[g].len = len;
        v[g].id = g;
    }
    int dup = sort_entries(v, n);
    free(v);
    if (dup) {
        free(t->bytes);
        free(t->off);
        t->bytes = NULL;
        t->off = NULL;
        t->V = 0;
        return SSX_ERR_PARAM;
    }
    return SSX_OK;
}

int ssx_tree_has_spellings(const ssx_tree *t) { return t->V > 0; }

int ssx_tree_length(const ssx_tree *t, int32_t g) { return (int)(t->off[g + 1] - t->off[g]); }

static int grow(void **p, size_t elem, int32_t cap) {
    void *np = realloc(*p, elem * (size_t)cap);
    if (!np) return -1;
    *p = np;
    return 0;
}

int ssx_tree_reserve(ssx_tree *t, int32_t cap) {
    if (cap <= t->cap) return SSX_OK;
    if (grow((void **)&t->glob, sizeof(int32_t), cap) ||
        grow((void **)&t->order, sizeof(int32_t), cap) ||
        grow((void **)&t->rank, sizeof(int32_t), cap) ||
        grow((void **)&t->psp, sizeof(uint8_t *), cap) ||
        grow((void **)&t->plen, 1, cap) ||
        grow((void **)&t->bsum, sizeof(double), cap / SSX_TREE_BLOCK + 1))
        return SSX_ERR_NOMEM;
    t->cap = cap;
    return SSX_OK;
}

void ssx_tree_add(ssx_tree *t, int32_t c, int32_t g) {
    t->glob[c] = g;
    t->order[c] = c;
    t->live = c + 1;
    t->sorted = 0;
}

int ssx_tree_spelling(const ssx_tree *t, int32_t c, const uint8_t **p) {
    int len;
    *p = spell(t, t->glob[c], &len);
    return len;
}

static int sort(ssx_tree *t) {
    if (t->sorted) return 0;
    entry *v = (entry *)malloc(sizeof(entry) * ((size_t)t->live + 1));
    if (!v) return -1;
    for (int32_t c = 0; c < t->live; c++) {
        int len;
        v[c].p = spell(t, t->glob[c], &len);
        v[c].len = len;
        v[c].id = c;
    }
    sort_entries(v, t->live); /* the spellings are distinct (set_spellings) */
    for (int32_t i = 0; i < t->live; i++) {
        t->order[i] = v[i].id;
        t->rank[v[i].id] = i;
        t->psp[i] = v[i].p;
        t->plen[i] = (uint8_t)v[i].len;
    }
    free(v);
    t->sorted = 1;
    return 0;
}

int32_t ssx_tree_blocks(ssx_tree *t) {
    if (sort(t)) return -1;
    return (t->live + SSX_TREE_BLOCK - 1) / SSX_TREE_BLOCK;
}

/* e over positions [i0, i1), one addition after another. */
static double run_sum(const ssx_tree *t, const float *e, int32_t i0, int32_t i1) {
    double s = 0.0;
    for (int32_t i = i0; i < i1; i++) s += (double)e[t->order[i]];
    return s;
}

void ssx_tree_sum_blocks(ssx_tree *t, const float *e, int32_t b0, int32_t b1) {
    for (int32_t b = b0; b < b1; b++) {
        int32_t i0 = b * SSX_TREE_BLOCK, i1 = i0 + SSX_TREE_BLOCK;
        if (i1 > t->live) i1 = t->live;
        /* four chains, combined in a fixed order */
        double a[4] = {0.0, 0.0, 0.0, 0.0};
        int32_t i = i0;
        for (; i + 4 <= i1; i += 4)
            for (int j = 0; j < 4; j++) a[j] += (double)e[t->order[i + j]];
        for (; i < i1; i++) a[0] += (double)e[t->order[i]];
        t->bsum[b] = (a[0] + a[1]) + (a[2] + a[3]);
    }
}

/* e over positions [lo, hi): block sums where whole blocks fit. */
static double range_sum(const ssx_tree *t, const float *e, int32_t lo, int32_t hi) {
    int32_t b0 = (lo + SSX_TREE_BLOCK - 1) / SSX_TREE_BLOCK, b1 = hi / SSX_TREE_BLOCK;
    if (b1 <= b0) return run_sum(t, e, lo, hi);
    double s = run_sum(t, e, lo, b0 * SSX_TREE_BLOCK);
    for (int32_t b = b0; b < b1; b++) s += t->bsum[b];
    return s + run_sum(t, e, b1 * SSX_TREE_BLOCK, hi);
}

void ssx_tree_begin(const ssx_tree *t, ssx_walk *w) {
    w->lo = 0;
    w->hi = t->live;
    w->d = 0;
    w->k = 0;
    w->c0 = 1;
    w->split = 0;
    w->kind = SSX_TREE_DONE;
}

/* The first position of [lo, hi) whose byte d has bit b set (all positions
 * there have more than d bytes and agree on byte d above bit b). */
static int32_t find_split(const ssx_tree *t, int32_t lo, int32_t hi, int d, int b) {
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if ((t->psp[mid][d] >> b) & 1)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void take_bit(ssx_walk *w, int bit) {
    if (bit)
        w->lo = w->split;
    else
        w->hi = w->split;
    w->c0 = (w->c0 << 1) | bit;
    if (++w->k == 8) {
        w->d++;
        w->k = 0;
        w->c0 = 1;
    }
}

int ssx_tree_next(const ssx_tree *t, ssx_walk *w, const float *e, double *s0, double *s1) {
    for (;;) {
        if (w->hi - w->lo <= 1) return w->kind = SSX_TREE_DONE;
        if (w->k == 0 && w->d > 0 && t->plen[w->lo] == w->d) {
            *s1 = (double)e[t->order[w->lo]];
            *s0 = range_sum(t, e, w->lo + 1, w->hi);
            return w->kind = SSX_TREE_END;
        }
        w->split = find_split(t, w->lo, w->hi, w->d, 7 - w->k);
        if (w->split == w->lo || w->split == w->hi) { /* one side empty: forced */
            take_bit(w, w->split == w->lo);
            continue;
        }
        *s0 = range_sum(t, e, w->lo, w->split);
        *s1 = range_sum(t, e, w->split, w->hi);
        return w->kind = SSX_TREE_BIT;
    }
}

int ssx_tree_side(const ssx_tree *t, const ssx_walk *w, int32_t c) {
    int32_t pos = t->rank[c];
    return w->kind == SSX_TREE_END ? pos == w->lo : pos >= w->split;
}

void ssx_tree_take(const ssx_tree *t, ssx_walk *w, int bit) {
    (void)t;
    if (w->kind == SSX_TREE_END) {
        if (bit)
            w->hi = w->lo + 1;
        else
            w->lo++;
    } else {
        take_bit(w, bit);
    }
}

int32_t ssx_tree_token(const ssx_tree *t, const ssx_walk *w) { return t->order[w->lo]; }

const uint8_t *ssx_tree_prefix(const ssx_tree *t, const ssx_walk *w) { return t->psp[w->lo]; }

uint32_t ssx_tree_node(const ssx_tree *t, const ssx_walk *w) {
    const uint8_t *p = ssx_tree_prefix(t, w);
    uint32_t h = 0x811C9DC5u ^ (uint32_t)w->d;
    for (int i = 0; i < w->d; i++) h = (h ^ p[i]) * 0x01000193u;
    h = (h ^ (uint32_t)(w->kind == SSX_TREE_END ? 0 : w->c0)) * 0x01000193u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    return h ^ (h >> 13);
}
