/* dispatch.c - pick the kernels at run time: AVX-512, AVX2/FMA or scalar.
 * All three give identical bits; STATESMIX_SCALAR=1 forces the scalar set and
 * STATESMIX_NO_AVX512=1 stops at AVX2. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "statesmix.h"

/* The best level this CPU runs: 0 scalar, 1 AVX2 + FMA, 2 AVX-512 (F, DQ). */
static int cpu_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return 2;
    return 1;
#else
    return 0;
#endif
}

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static ssx_kernel_set sets[3];
const ssx_kernel_set *ssx_k = NULL;

static void fill(ssx_kernel_set *k, int level) {
    ssx_softmax_kernels(k, level);
    ssx_elem_kernels(k, level);
    ssx_follow_kernels(k, level);
    ssx_linear_kernels(k, level > 0);
    ssx_head_kernels32(k, level);
    ssx_head_kernels64(k, level);
}

static int available(void) {
    int level = cpu_level();
    if (level > 1 && env_on("STATESMIX_NO_AVX512")) level = 1;
    return level;
}

static void ensure(void) {
    if (ssx_k) return;
    for (int l = 0; l < 3; l++) fill(&sets[l], l);
    ssx_k = &sets[env_on("STATESMIX_SCALAR") ? 0 : available()];
}

int ssx_simd_available(void) { return available(); }

int ssx_simd_get(void) {
    ensure();
    return (int)(ssx_k - sets);
}

void ssx_simd_set(int level) {
    ensure();
    int top = available();
    ssx_k = &sets[level < 0 ? 0 : level > top ? top : level];
}

int ssx_openmp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ssx_dispatch_init(void) { ensure(); }
