/* fpenv.h - a fixed floating-point environment for the model.
 *
 * The model's numbers decay (Adam moments of idle rows, gradients carried
 * back through the SSM recurrence) into the subnormal range, where x86 cores
 * slow down by two orders of magnitude.  While the core computes, MXCSR is set
 * to one fixed value on every thread: round to nearest, all exceptions masked,
 * flush-to-zero and denormals-are-zero.  These are exact, documented IEEE
 * variants implemented identically by the SSE and AVX instructions of every
 * x86-64 CPU, so both kernel paths still agree bit for bit, and the caller's
 * setting is restored on return.
 */
#ifndef SSX_FPENV_H
#define SSX_FPENV_H

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define SSX_MXCSR 0x9FC0u /* FTZ | DAZ | all exceptions masked | nearest */
typedef unsigned int ssx_fpenv;
static inline ssx_fpenv ssx_fp_enter(void) {
    unsigned int old = _mm_getcsr();
    if (old != SSX_MXCSR) _mm_setcsr(SSX_MXCSR);
    return old;
}
static inline void ssx_fp_leave(ssx_fpenv old) {
    if (old != SSX_MXCSR) _mm_setcsr(old);
}
#else
typedef int ssx_fpenv;
static inline ssx_fpenv ssx_fp_enter(void) { return 0; }
static inline void ssx_fp_leave(ssx_fpenv old) { (void)old; }
#endif

#endif
