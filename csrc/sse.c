/* sse.c - secondary estimation of the most probable token.
 *
 * The mixture's probability p of its top candidate goes through a learned map,
 * one per small context: a piecewise-linear function of stretch(p) =
 * log(p / (1 - p)) on 33 knots, trained on whether the top candidate was the
 * token coded.  The top token's odds are scaled to match its output; the
 * other tokens keep their ratios.
 */
#include <stdlib.h>

#include "mathf.h"
#include "sse.h"

#define KNOTS 33
#define SPAN 8.0 /* knots cover stretch in [-SPAN, SPAN] */

struct ssx_sse {
    double t[SSX_SSE_CTX][KNOTS]; /* stretch domain */
    int ctx, k;
    double w, st, out;
};

#define RATE 0.16 /* step of a knot per unit of error */

ssx_sse *ssx_sse_new(void) {
    ssx_sse *s = (ssx_sse *)calloc(1, sizeof *s);
    if (!s) return NULL;
    for (int c = 0; c < SSX_SSE_CTX; c++)
        for (int k = 0; k < KNOTS; k++) s->t[c][k] = -SPAN + 2.0 * SPAN * k / (KNOTS - 1);
    return s;
}

void ssx_sse_free(ssx_sse *s) { free(s); }

uint64_t ssx_sse_memory(void) { return sizeof(ssx_sse); }

static double squash(double x) { return 1.0 / (1.0 + ssx_exp(-x)); }

double ssx_sse_refine(ssx_sse *s, double et, double sum, int ctx) {
    double rest = sum - et;
    if (!(rest > 1e-30 * et)) rest = 1e-30 * et;
    double st = ssx_log(et / rest);
    double x = (st + SPAN) * (KNOTS - 1) / (2.0 * SPAN);
    if (x < 0.0) x = 0.0;
    if (x > KNOTS - 1.000001) x = KNOTS - 1.000001;
    int k = (int)x;
    double w = x - k;
    const double *t = s->t[ctx];
    double out = t[k] * (1.0 - w) + t[k + 1] * w;
    s->ctx = ctx;
    s->k = k;
    s->w = w;
    s->st = st;
    s->out = out;
    double d = out - st;
    return ssx_exp(d < -12.0 ? -12.0 : d > 12.0 ? 12.0 : d); /* odds ratio */
}

void ssx_sse_update(ssx_sse *s, int hit) {
    double err = (hit ? 1.0 : 0.0) - squash(s->out);
    double *t = s->t[s->ctx];
    t[s->k] += RATE * err * (1.0 - s->w);
    t[s->k + 1] += RATE * err * s->w;
}
