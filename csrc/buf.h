/* buf.h - a growable byte buffer and a bounded reader. */
#ifndef SSX_BUF_H
#define SSX_BUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssx_buf {
    uint8_t *p;
    int64_t len, cap;
    int failed; /* an allocation failed; later writes are dropped */
} ssx_buf;

static inline int ssx_buf_reserve(ssx_buf *b, int64_t extra) {
    if (b->failed) return -1;
    if (b->len + extra <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *np = (uint8_t *)realloc(b->p, (size_t)cap);
    if (!np) { b->failed = 1; return -1; }
    b->p = np;
    b->cap = cap;
    return 0;
}

static inline void ssx_buf_put(ssx_buf *b, uint8_t c) {
    if (b->len == b->cap && ssx_buf_reserve(b, 1)) return;
    b->p[b->len++] = c;
}

static inline void ssx_buf_write(ssx_buf *b, const uint8_t *p, int64_t n) {
    if (ssx_buf_reserve(b, n)) return;
    memcpy(b->p + b->len, p, (size_t)n);
    b->len += n;
}

static inline void ssx_buf_varint(ssx_buf *b, uint64_t v) {
    while (v >= 0x80) { ssx_buf_put(b, (uint8_t)(v | 0x80)); v >>= 7; }
    ssx_buf_put(b, (uint8_t)v);
}

typedef struct ssx_reader {
    const uint8_t *p;
    int64_t pos, len;
    int overrun; /* a read went past the end */
} ssx_reader;

static inline uint8_t ssx_rd_byte(ssx_reader *r) {
    if (r->pos >= r->len) { r->overrun = 1; return 0; }
    return r->p[r->pos++];
}

/* Varint of at most 9 bytes (63 bits); sets overrun on malformed input. */
static inline uint64_t ssx_rd_varint(ssx_reader *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
        uint8_t c = ssx_rd_byte(r);
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    r->overrun = 1;
    return 0;
}

#endif
