/* ssm_width.h - the SSM compiled once per model width (ssm_body.h in ssm32.c
 * and ssm64.c), behind the one interface of ssm.h (ssm.c). */
#ifndef SSX_SSM_WIDTH_H
#define SSX_SSM_WIDTH_H

#include <stdint.h>

#define SSX_SSM_DECLARE(P)                                                                  \
    typedef struct P##_model P##_model;                                                     \
    P##_model *P##_new(int tree_bits, uint32_t seed, int chunk, float lr,                   \
                       float label_smooth, int steps);                                      \
    void P##_free(P##_model *s);                                                            \
    uint64_t P##_memory(int tree_bits, int32_t cap);                                        \
    void P##_set_threads(P##_model *s, int threads);                                        \
    double P##_node_logit(P##_model *s, uint32_t node);                                     \
    void P##_node_taken(P##_model *s, uint32_t node, int bit);                              \
    int P##_node_rows(P##_model *s, const uint32_t *nodes, int n, int grad, float *buf,     \
                      int set);                                                             \
    double P##_tree_grads(P##_model *s, const int32_t *in, const uint32_t *nodes,           \
                          const uint8_t *bits, const int32_t *npath, int stride, int T);    \
    int P##_reserve(P##_model *s, int32_t cap);                                             \
    void P##_add_row(P##_model *s, int32_t c);                                              \
    const float *P##_predict(P##_model *s, int32_t ve, double *entropy, const int32_t *ahead, \
                             int64_t nahead);                                               \
    void P##_observe(P##_model *s, int32_t c, int32_t ve);                                  \
    int64_t P##_group(P##_model *s, int which, int grad, float *buf, int64_t n, int set,    \
                      int32_t ve);                                                          \
    void P##_state(P##_model *s, float *h, float *conv, int set);                           \
    double P##_chunk_grads(P##_model *s, const int32_t *in, const int32_t *tgt, int T,      \
                           int32_t ve, float *logits);                                      \
    void P##_train_chunk(P##_model *s, const int32_t *in, const int32_t *tgt, int T,        \
                         int32_t ve, int steps);

SSX_SSM_DECLARE(ssx_ssm32)
SSX_SSM_DECLARE(ssx_ssm64)

#endif
