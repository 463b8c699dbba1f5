/* xxh64.c - xxHash64 (streaming), the checksum of a stream's original bytes. */
#include <string.h>

#include "statesmix.h"

#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t round64(uint64_t acc, uint64_t in) {
    acc += in * P2;
    return rotl(acc, 31) * P1;
}

static uint64_t merge(uint64_t h, uint64_t v) {
    h ^= round64(0, v);
    return h * P1 + P4;
}

void ssx_xxh64_init(ssx_xxh64 *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

static void stripe(ssx_xxh64 *s, const uint8_t *p) {
    for (int i = 0; i < 4; i++) s->v[i] = round64(s->v[i], rd64(p + 8 * i));
}

void ssx_xxh64_update(ssx_xxh64 *s, const uint8_t *p, int64_t n) {
    if (n <= 0) return;
    s->total += (uint64_t)n;
    if (s->used) {
        int64_t take = 32 - s->used;
        if (take > n) take = n;
        memcpy(s->buf + s->used, p, (size_t)take);
        s->used += (uint32_t)take;
        p += take;
        n -= take;
        if (s->used < 32) return;
        stripe(s, s->buf);
        s->used = 0;
    }
    for (; n >= 32; p += 32, n -= 32) stripe(s, p);
    memcpy(s->buf, p, (size_t)n);
    s->used = (uint32_t)n;
}

uint64_t ssx_xxh64_digest(const ssx_xxh64 *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = merge(h, s->v[i]);
    } else {
        h = s->seed + P5;
    }
    h += s->total;
    const uint8_t *p = s->buf;
    uint32_t n = s->used;
    for (; n >= 8; p += 8, n -= 8) h = rotl(h ^ round64(0, rd64(p)), 27) * P1 + P4;
    if (n >= 4) {
        h = rotl(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
        p += 4;
        n -= 4;
    }
    for (; n > 0; p++, n--) h = rotl(h ^ (uint64_t)*p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}
