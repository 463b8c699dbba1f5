/* sse.h - adaptive refinement of the top candidate's probability (sse.c). */
#ifndef SSX_SSE_H
#define SSX_SSE_H

#include <stdint.h>

typedef struct ssx_sse ssx_sse;

ssx_sse *ssx_sse_new(void);
void ssx_sse_free(ssx_sse *s);
uint64_t ssx_sse_memory(void);
/* The top token has probability et / sum; ctx < SSX_SSE_CTX.  Returns the
 * factor its et is to be multiplied by. */
#define SSX_SSE_CTX 64
double ssx_sse_refine(ssx_sse *s, double et, double sum, int ctx);
/* Learn whether the top token was the one coded. */
void ssx_sse_update(ssx_sse *s, int hit);

#endif
