/* dispatch.c - pick the AVX2 or the scalar kernels at run time. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "statesmix.h"

static int cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static ssx_kernel_set scalar_set, avx2_set;
const ssx_kernel_set *ssx_k = NULL;

static void fill(ssx_kernel_set *k, int avx2) {
    ssx_softmax_kernels(k, avx2);
    ssx_elem_kernels(k, avx2);
    ssx_linear_kernels(k, avx2);
    ssx_head_kernels(k, avx2);
}

static void ensure(void) {
    if (ssx_k) return;
    fill(&scalar_set, 0);
    fill(&avx2_set, 1);
    const char *env = getenv("STATESMIX_SCALAR");
    int scalar = (env && *env && strcmp(env, "0") != 0) || !cpu_has_avx2();
    ssx_k = scalar ? &scalar_set : &avx2_set;
}

int ssx_simd_available(void) { return cpu_has_avx2(); }

int ssx_simd_get(void) {
    ensure();
    return ssx_k == &avx2_set;
}

void ssx_simd_set(int on) {
    ensure();
    ssx_k = (on && cpu_has_avx2()) ? &avx2_set : &scalar_set;
}

int ssx_openmp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ssx_dispatch_init(void) { ensure(); }
