/* rangecoder.h - a carry-propagating range coder with a 64-bit state.
 *
 * The coding window is 56 bits and the range is kept at or above 2^48, so a
 * frequency total of up to 2^31 still leaves range/total >= 2^17: truncating
 * that quotient costs under 2^-17 bits a symbol.  Bytes leave the top of the
 * window; a carry into bytes already emitted is resolved through `cache` and
 * a count of pending 0xFF bytes.  The decoder consumes exactly the bytes the
 * encoder wrote, which lets it detect truncation and trailing garbage.
 */
#ifndef SSX_RANGECODER_H
#define SSX_RANGECODER_H

#include "buf.h"

#define RC_TOP (1ULL << 56)
#define RC_BOT (1ULL << 48)

typedef struct rc_enc {
    uint64_t low, range, pending;
    uint8_t cache;
    ssx_buf *out;
} rc_enc;

static inline void rc_enc_init(rc_enc *e, ssx_buf *out) {
    e->low = 0;
    e->range = RC_TOP - 1;
    e->pending = 1;
    e->cache = 0;
    e->out = out;
}

static inline void rc_shift_low(rc_enc *e) {
    if ((e->low & (RC_TOP - 1)) < (0xFFULL << 48) || e->low >= RC_TOP) {
        uint8_t carry = (uint8_t)(e->low >> 56);
        uint8_t c = e->cache;
        do {
            ssx_buf_put(e->out, (uint8_t)(c + carry));
            c = 0xFF;
        } while (--e->pending);
        e->cache = (uint8_t)(e->low >> 48);
    }
    e->pending++;
    e->low = (e->low & (RC_BOT - 1)) << 8;
}

/* Code the interval [cum, cum+freq) of total (total < 2^32). */
static inline void rc_encode(rc_enc *e, uint64_t cum, uint64_t freq, uint64_t total) {
    uint64_t r = e->range / total;
    e->low += r * cum;
    e->range = r * freq;
    while (e->range < RC_BOT) {
        e->range <<= 8;
        rc_shift_low(e);
    }
}

static inline void rc_enc_finish(rc_enc *e) {
    for (int i = 0; i < 8; i++) rc_shift_low(e);
}

typedef struct rc_dec {
    uint64_t code, range, r;
    ssx_reader *in;
    int bad; /* a target fell outside every interval: the data is corrupt */
} rc_dec;

static inline void rc_dec_init(rc_dec *d, ssx_reader *in) {
    d->code = 0;
    d->range = RC_TOP - 1;
    d->in = in;
    d->bad = 0;
    for (int i = 0; i < 8; i++) d->code = (d->code << 8) | ssx_rd_byte(in);
}

/* First half of a decode: the target cumulative count, or total when the
 * data cannot come from a valid stream. */
static inline uint64_t rc_decode_target(rc_dec *d, uint64_t total) {
    d->r = d->range / total;
    uint64_t v = d->code / d->r;
    return v < total ? v : total;
}

static inline void rc_decode_update(rc_dec *d, uint64_t cum, uint64_t freq) {
    d->code -= d->r * cum;
    d->range = d->r * freq;
    while (d->range < RC_BOT) {
        d->code = (d->code << 8) | ssx_rd_byte(d->in);
        d->range <<= 8;
    }
}

/* A binary decision with P(1) = p / 2^16 (0 < p < 2^16): 1 is the interval
 * [0, p), 0 the interval [p, 2^16). */
static inline void rc_encode_bit(rc_enc *e, int bit, uint32_t p) {
    rc_encode(e, bit ? 0 : p, bit ? p : 65536 - p, 65536);
}

static inline int rc_decode_bit(rc_dec *d, uint32_t p) {
    uint64_t v = rc_decode_target(d, 65536);
    d->bad |= v >= 65536;
    int bit = v < p;
    rc_decode_update(d, bit ? 0 : p, bit ? p : 65536 - p);
    return bit;
}

#endif
