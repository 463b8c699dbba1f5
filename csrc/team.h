/* team.h - the calling thread's share of n items inside an OpenMP team
 * (everything when not in one): contiguous, in thread order. */
#ifndef SSX_TEAM_H
#define SSX_TEAM_H

#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static inline void ssx_share(int n, int *lo, int *hi) {
#ifdef _OPENMP
    int nt = omp_get_num_threads(), me = omp_get_thread_num();
#else
    int nt = 1, me = 0;
#endif
    *lo = (int)((int64_t)n * me / nt);
    *hi = (int)((int64_t)n * (me + 1) / nt);
}

#endif
