/* ssm.c - the SSM of either width (ssm_width.h) behind ssm.h. */
#include <stdlib.h>

#include "ssm.h"
#include "ssm_width.h"

struct ssx_ssm {
    int wide;
    union { ssx_ssm32_model *n; ssx_ssm64_model *w; } p; /* p.w when wide */
};

/* The call f(args) on the model of this width. */
#define ON(s, f, ...) \
    ((s)->wide ? ssx_ssm64_##f((s)->p.w, __VA_ARGS__) : ssx_ssm32_##f((s)->p.n, __VA_ARGS__))

ssx_ssm *ssx_ssm_new(int wide, int tree_bits, uint32_t seed, int chunk, float lr,
                     float label_smooth, int steps) {
    ssx_ssm *s = (ssx_ssm *)calloc(1, sizeof *s);
    if (!s) return NULL;
    s->wide = wide != 0;
    if (s->wide) s->p.w = ssx_ssm64_new(tree_bits, seed, chunk, lr, label_smooth, steps);
    else s->p.n = ssx_ssm32_new(tree_bits, seed, chunk, lr, label_smooth, steps);
    if (s->wide ? !s->p.w : !s->p.n) {
        free(s);
        return NULL;
    }
    return s;
}

void ssx_ssm_free(ssx_ssm *s) {
    if (!s) return;
    if (s->wide) ssx_ssm64_free(s->p.w);
    else ssx_ssm32_free(s->p.n);
    free(s);
}

uint64_t ssx_ssm_memory(int wide, int tree_bits, int32_t cap) {
    return sizeof(ssx_ssm) + (wide ? ssx_ssm64_memory(tree_bits, cap) : ssx_ssm32_memory(tree_bits, cap));
}

void ssx_ssm_set_threads(ssx_ssm *s, int threads) { ON(s, set_threads, threads); }
double ssx_ssm_node_logit(ssx_ssm *s, uint32_t node) { return ON(s, node_logit, node); }
void ssx_ssm_node_taken(ssx_ssm *s, uint32_t node, int bit) { ON(s, node_taken, node, bit); }
int ssx_ssm_reserve(ssx_ssm *s, int32_t cap) { return ON(s, reserve, cap); }
void ssx_ssm_add_row(ssx_ssm *s, int32_t c) { ON(s, add_row, c); }

const float *ssx_ssm_predict(ssx_ssm *s, int32_t ve, double *entropy, const int32_t *ahead,
                             int64_t nahead) {
    return ON(s, predict, ve, entropy, ahead, nahead);
}

void ssx_ssm_observe(ssx_ssm *s, int32_t c, int32_t ve) { ON(s, observe, c, ve); }

int64_t ssx_ssm_group(ssx_ssm *s, int which, int grad, float *buf, int64_t n, int set,
                      int32_t ve) {
    return ON(s, group, which, grad, buf, n, set, ve);
}

void ssx_ssm_state(ssx_ssm *s, float *h, float *conv, int set) { ON(s, state, h, conv, set); }

double ssx_ssm_chunk_grads(ssx_ssm *s, const int32_t *in, const int32_t *tgt, int T,
                           int32_t ve, float *logits) {
    return ON(s, chunk_grads, in, tgt, T, ve, logits);
}

void ssx_ssm_train_chunk(ssx_ssm *s, const int32_t *in, const int32_t *tgt, int T,
                         int32_t ve, int steps) {
    ON(s, train_chunk, in, tgt, T, ve, steps);
}

int ssx_ssm_node_rows(ssx_ssm *s, const uint32_t *nodes, int n, int grad, float *buf, int set) {
    return ON(s, node_rows, nodes, n, grad, buf, set);
}

double ssx_ssm_tree_grads(ssx_ssm *s, const int32_t *in, const uint32_t *nodes,
                          const uint8_t *bits, const int32_t *npath, int stride, int T) {
    return ON(s, tree_grads, in, nodes, bits, npath, stride, T);
}
