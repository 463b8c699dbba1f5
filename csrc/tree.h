/* tree.h - a token as a path of binary decisions (tree.c).
 *
 * The live tokens sorted by their bytes form a trie: the tokens that start
 * with a given prefix are a contiguous range of that order.  A token is
 * reached from the root by deciding, at each byte, first whether the token
 * ends there (when the prefix is itself a token and others extend it), then
 * the next byte's eight bits from the highest.  A decision with one empty
 * side is not coded.  The model's probability of a decision is the mass of
 * one side over the mass of both, from the token distribution e (per compact
 * id) summed along the byte order.
 */
#ifndef SSX_TREE_H
#define SSX_TREE_H

#include <stdint.h>

typedef struct ssx_tree ssx_tree;

ssx_tree *ssx_tree_new(void);
/* The bytes a tree allocates for V spellings of spelling_bytes in all and
 * room for cap live tokens. */
uint64_t ssx_tree_memory(int32_t V, int64_t spelling_bytes, int32_t cap);
void ssx_tree_free(ssx_tree *t);
/* The bytes of every token of the global vocabulary: token g is
 * bytes[off[g] .. off[g + 1]), 1 to SSX_TREE_MAX_LEN bytes; n + 1 offsets.
 * The tree keeps its own copy.  0, SSX_ERR_PARAM or SSX_ERR_NOMEM. */
#define SSX_TREE_MAX_LEN 255
int ssx_tree_set_spellings(ssx_tree *t, const uint8_t *bytes, const int64_t *off, int32_t n);
int ssx_tree_has_spellings(const ssx_tree *t);
/* How many bytes global token g has. */
int ssx_tree_length(const ssx_tree *t, int32_t g);
/* Room for cap live tokens; 0 or SSX_ERR_NOMEM. */
int ssx_tree_reserve(ssx_tree *t, int32_t cap);
/* Compact id c (the next one, below the reserved room) is global token g. */
void ssx_tree_add(ssx_tree *t, int32_t c, int32_t g);
/* The bytes of compact id c; returns their count. */
int ssx_tree_spelling(const ssx_tree *t, int32_t c, const uint8_t **p);

/* Before walking a token: the sums of e over every block of the byte order,
 * for the blocks [b0, b1) (callers may split the blocks among threads). */
#define SSX_TREE_BLOCK 64
int32_t ssx_tree_blocks(ssx_tree *t);
void ssx_tree_sum_blocks(ssx_tree *t, const float *e, int32_t b0, int32_t b1);

/* Where a walk stands: the tokens [lo, hi) of the byte order share the
 * prefix of d bytes and the k high bits of byte d (c0 = 1 followed by those
 * bits, as in a byte coder: 1 at a byte's start). */
typedef struct ssx_walk {
    int32_t lo, hi, d, k, c0;
    int32_t split; /* the first token on the 1 side of the pending decision */
    int kind;      /* the pending decision: SSX_TREE_END, SSX_TREE_BIT or SSX_TREE_DONE */
} ssx_walk;
#define SSX_TREE_DONE 0 /* one token is left: ssx_tree_token gives it */
#define SSX_TREE_END 1  /* 1: the token is the prefix itself */
#define SSX_TREE_BIT 2  /* the next bit of byte d */

/* Start at the root (at least one live token). */
void ssx_tree_begin(const ssx_tree *t, ssx_walk *w);
/* Find the next decision that has two non-empty sides, taking the forced
 * ones; returns its kind and, unless done, the masses of its two sides. */
int ssx_tree_next(const ssx_tree *t, ssx_walk *w, const float *e, double *s0, double *s1);
/* The side of the pending decision on which compact id c lies. */
int ssx_tree_side(const ssx_tree *t, const ssx_walk *w, int32_t c);
/* Take side `bit` of the pending decision. */
void ssx_tree_take(const ssx_tree *t, ssx_walk *w, int bit);
/* The compact id a finished walk reached. */
int32_t ssx_tree_token(const ssx_tree *t, const ssx_walk *w);
/* The d bytes decided so far (a prefix of every token left). */
const uint8_t *ssx_tree_prefix(const ssx_tree *t, const ssx_walk *w);
/* A hash that names the pending decision (its prefix, and the end or the
 * byte's bits so far) whatever the live vocabulary: the same decision of
 * any walk, at any time, gets the same value. */
uint32_t ssx_tree_node(const ssx_tree *t, const ssx_walk *w);

#endif
