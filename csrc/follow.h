/* follow.h - how the learned mixer reads one n-gram context's followers
 * (mixer.c), shared with the kernel that adds their terms (k_follow.c). */
#ifndef SSX_FOLLOW_H
#define SSX_FOLLOW_H

#include <stdint.h>

#include "mathf.h"

#define SSX_FOLLOW_LOGTAB 4096 /* counts whose log is tabulated */
#define SSX_FOLLOW_RB 10       /* recency rank buckets */
#define SSX_FOLLOW_CBK 33      /* counts with a tabulated count bucket; from 32 on, the last */

/* The count bucket of a follower (or of a context's total): 1, 2, 3, 4-5,
 * 6-8, 9-15, 16-31, 32+ give 0..7 (and 0 gives 0). */
static inline int ssx_count_bucket(uint64_t c) {
    return (c > 1) + (c > 2) + (c > 3) + (c > 5) + (c > 8) + (c > 15) + (c > 31);
}

/* The bucket of a follower's recency rank (0 is the most recent): 0, 1, 2,
 * 3, 4, 5-6, 7-10, 11-20, 21-50, 51+ give 0..9. */
static inline int ssx_rank_bucket(uint32_t i) {
    return (int)(i < 5 ? i : 5) + (i > 6) + (i > 10) + (i > 20) + (i > 50);
}

/* One context's weights, as the mixer chose them for this position.  A
 * follower (token t, count c, rank i) adds, each step rounded to float:
 * v = wi + wl (log c - ln); v += w6[class of t]; and with shape:
 * v += wc[ssx_count_bucket(c)]; v += wt if c == cm; v += wr[ssx_rank_bucket(i)]. */
typedef struct ssx_follow_w {
    float wi, wl, ln, wt;
    float w6[8], wc[8], wr[SSX_FOLLOW_RB];
    uint32_t cm;
    int shape;
    const float *logtab; /* (float) log c for c < SSX_FOLLOW_LOGTAB */
    const uint8_t *cbk;  /* ssx_count_bucket(c) for c < SSX_FOLLOW_CBK (follow_sums) */
} ssx_follow_w;

/* A context's sums over a distribution e (the mixer's update needs them),
 * each a double sum in follower order: of e (ei), of e (log c - ln) (el),
 * of e where c == cm (et), and by count bucket, rank bucket and class. */
typedef struct ssx_follow_sums {
    double ei, el, et, ec[8], er[SSX_FOLLOW_RB], e6[8];
} ssx_follow_sums;

static inline float ssx_follow_log(const float *logtab, uint32_t c) {
    return c < SSX_FOLLOW_LOGTAB ? logtab[c] : (float)ssx_log((double)c);
}

#endif
