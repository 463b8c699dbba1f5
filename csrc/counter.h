/* counter.h - the adaptive probability of a binary event.
 *
 * P(1) as 16 bits and the number of updates so far, in one 32-bit word.
 * Each update moves P toward the outcome by 2 / (2n + 3), so the first
 * outcomes count fully and later ones at about 1 / n, until n reaches a limit
 * that keeps the counter adaptive.  Integers only: identical everywhere.
 */
#ifndef SSX_COUNTER_H
#define SSX_COUNTER_H

#include <stdint.h>

typedef uint32_t ssx_counter;
#define SSX_COUNTER_INIT 0x80000000u /* P = 1/2, no updates */

static inline int ssx_counter_p(ssx_counter c) { return (int)(c >> 16); }
static inline uint32_t ssx_counter_n(ssx_counter c) { return c & 0xFFFF; }

/* The step after n updates, in units of 2^-16 (tables of it are filled with
 * this function). */
static inline int32_t ssx_counter_rate(uint32_t n) { return (int32_t)(131072u / (2u * n + 3u)); }

static inline ssx_counter ssx_counter_next(ssx_counter c, int bit, int32_t rate, uint32_t limit) {
    int32_t p = (int32_t)(c >> 16), n = (int32_t)(c & 0xFFFF);
    p += (int32_t)(((int64_t)((bit ? 65535 : 0) - p) * rate) >> 16);
    return ((uint32_t)p << 16) | (uint32_t)(n < (int32_t)limit ? n + 1 : n);
}

#endif
