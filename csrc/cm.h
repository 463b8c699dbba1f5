/* cm.h - binary context mixing over the bytes of the text (cm.c).
 *
 * Predicts the decisions of a token's walk through the tree (tree.h): the
 * bits of the text's bytes and whether a token ends.  Many contexts of the
 * preceding bytes each keep an adaptive probability per decision; a gated
 * linear mixer in the logistic domain combines them with the token model's
 * own probability of the decision, and adaptive maps refine the result.
 * Integer arithmetic throughout, so every machine computes the same bits.
 */
#ifndef SSX_CM_H
#define SSX_CM_H

#include <stdint.h>

typedef struct ssx_cm ssx_cm;

/* Probabilities are 16-bit: P(1) = p / 65536, 0 < p < 65536. */
#define SSX_CM_PBITS 16

/* bits: log2 of the slots of each context's table (SSX_CM_MIN_BITS ..
 * SSX_CM_MAX_BITS); history: bytes of text to keep for the match model. */
#define SSX_CM_MIN_BITS 10
#define SSX_CM_MAX_BITS 26
/* version: 1, 2 (SSX_CM_V2), 3 (SSX_CM_V3: also contexts of the last
 * tokens) or 4 (SSX_CM_V4: also matches that survive a changed byte); the
 * older ones stay as streams made with them need.  ssm: one more
 * input, the SSM's log odds of each decision (ssx_cm_ssm), with weights
 * chosen by it. */
ssx_cm *ssx_cm_new(int bits, int version, int ssm);
void ssx_cm_free(ssx_cm *x);
/* The bytes a mixer of these table bits allocates. */
uint64_t ssx_cm_memory(int bits, int version);
/* The next byte of the text is known. */
void ssx_cm_push(ssx_cm *x, uint8_t byte);
/* P(1) of the next decision: c0 is the byte's bits so far behind a leading 1
 * (1..255) for a bit, or 0 for "the token ends here"; d is how many bytes of
 * the current token are decided; st is the token model's log odds of 1
 * (natural log; may be infinite). */
int ssx_cm_predict(ssx_cm *x, int c0, int d, double st);
/* With the SSM's input: its log odds of 1 for the next decision (natural
 * log), before ssx_cm_predict. */
void ssx_cm_ssm(ssx_cm *x, double z);
/* A token ends: the global id g of the token whose bytes were just pushed. */
void ssx_cm_token(ssx_cm *x, uint32_t g);
/* Learn the outcome of the decision just predicted. */
void ssx_cm_update(ssx_cm *x, int bit);

#endif
