/* fuzz_decode.c - libFuzzer harness for the C block decoder.
 *
 * Input layout (all little-endian):
 *   byte 0..1  vocab_size = 2 + (u16 & 0x0FFF)          (2 .. 4097)
 *   byte 2     bits 0-1: components preset (0 count, 1 count|ngram,
 *              2 count|ssm, 3 count|ssm|ngram); bits 2-4: count_scale
 *              preset (includes invalid values: NaN, -1, 17);
 *              bits 5-6: chunk preset (1, 7, 32, 64); bit 7: invalid config
 *              (vocab_size 0/1/huge or a component bit outside the mask)
 *   byte 3     n1: tokens of the first block  (1 .. 64; 1 .. 16 with the SSM)
 *   byte 4     n2: tokens of the second block (0 = no second block, .. 64;
 *              .. 16 with the SSM)
 *   byte 5..6  len1: length of the first body (capped to what is left)
 *   rest       body 1 (len1 bytes), then body 2 (the remainder)
 *
 * Two blocks in sequence exercise the model state that carries over (the live
 * vocabulary, the count prior, the SSM and n-gram tables).  A decode error is
 * a normal outcome; the sanitizers and libFuzzer catch everything else.
 * The SSM costs about 1.5 ms a token under the sanitizers, a hundred times
 * the other components, so it is fuzzed by a second binary: built with
 * -DFUZZ_SSM it runs only the inputs whose configuration has the SSM, and
 * without it only those that do not (the others return at once).  The input
 * layout is the same for both (tests/test_fuzz_regressions.py replays it).
 * Build: make fuzz (clang -fsanitize=fuzzer,address,undefined, no OpenMP).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statesmix.h"

#define HDR 7
#define MAX_TOK 64
#define MAX_TOK_SSM 16

static const float SCALES[8] = {0.1f, 0.0f, 1.0f, 16.0f, 0.5f, NAN, -1.0f, 17.0f};
static const int32_t CHUNKS[4] = {1, 7, 32, 64};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HDR) return 0;
    ssx_config cfg;
    ssx_config_default(&cfg);
    cfg.vocab_size = 2 + ((data[0] | (data[1] << 8)) & 0x0FFF);
    uint8_t sel = data[2];
    static const int32_t COMP[4] = {
        SSX_USE_COUNT, SSX_USE_COUNT | SSX_USE_NGRAM, SSX_USE_COUNT | SSX_USE_SSM,
        SSX_USE_COUNT | SSX_USE_SSM | SSX_USE_NGRAM};
    cfg.components = COMP[sel & 3];
    cfg.count_scale = SCALES[(sel >> 2) & 7];
    cfg.chunk = CHUNKS[(sel >> 5) & 3];
    cfg.ngram_mem_mb = 1; /* small tables: the eviction paths run early */
    if (sel & 0x80) {
        /* invalid configurations must be refused, never crash */
        switch (data[0] & 7) {
        case 0: cfg.vocab_size = 0; break;
        case 1: cfg.vocab_size = 1; break;
        case 2: cfg.vocab_size = (1 << 22) + 1; break;
        case 3: cfg.vocab_size = -5; break;
        case 4: cfg.components |= 8; break;
        case 5: cfg.components = SSX_USE_SSM; break;
        case 6: cfg.components |= SSX_USE_NGRAM; cfg.ngram_mem_mb = 0; break;
        default: cfg.components |= SSX_USE_SSM; cfg.chunk = 65; break;
        }
    }
#ifdef FUZZ_SSM
    if (!(cfg.components & SSX_USE_SSM)) return 0;
#else
    if (cfg.components & SSX_USE_SSM) return 0;
#endif
    int ntok = (cfg.components & SSX_USE_SSM) ? MAX_TOK_SSM : MAX_TOK;
    int64_t n1 = 1 + data[3] % ntok;
    int64_t n2 = data[4] % (ntok + 1);
    size_t len1 = (size_t)(data[5] | (data[6] << 8));
    const uint8_t *body = data + HDR;
    size_t rest = size - HDR;
    if (len1 > rest) len1 = rest;

    int err = 0;
    ssx_model *m = ssx_model_new(&cfg, &err);
    if (!m) {
        if (err != SSX_ERR_PARAM && err != SSX_ERR_NOMEM) abort();
        return 0;
    }
    ssx_model_set_threads(m, 1);
    int32_t tok[MAX_TOK];
    /* the body is copied to an exact-size heap buffer so that ASan sees any
     * read past its end */
    uint8_t *b1 = (uint8_t *)malloc(len1 ? len1 : 1);
    memcpy(b1, body, len1);
    int r = ssx_decode_block(m, b1, (int64_t)len1, tok, n1);
    free(b1);
    if (r > 0) abort(); /* only SSX_OK or an error code */
    if (r == SSX_OK)
        for (int64_t i = 0; i < n1; i++)
            if (tok[i] < 0 || tok[i] >= cfg.vocab_size) abort();
    /* the second block is decoded even after a failed first one: a caller may
     * retry, so the model must stay memory-safe after an error */
    if (n2 > 0) {
        size_t len2 = rest - len1;
        uint8_t *b2 = (uint8_t *)malloc(len2 ? len2 : 1);
        memcpy(b2, body + len1, len2);
        r = ssx_decode_block(m, b2, (int64_t)len2, tok, n2);
        free(b2);
        if (r > 0) abort();
        if (r == SSX_OK)
            for (int64_t i = 0; i < n2; i++)
                if (tok[i] < 0 || tok[i] >= cfg.vocab_size) abort();
    }
    if (ssx_model_live(m) < 0 || ssx_model_live(m) > cfg.vocab_size) abort();
    ssx_model_free(m);
    return 0;
}
