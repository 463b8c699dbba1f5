/* simd_math.h - the AVX2 twins of mathf.h's scalar functions. */
#ifndef SSX_SIMD_MATH_H
#define SSX_SIMD_MATH_H

#include <immintrin.h>

#include "mathf.h"

#define AVX2 __attribute__((target("avx2,fma")))

/* Lane-wise twin of ssx_expf: identical operations, identical bits. */
AVX2 static inline __m256 expf8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(SSX_EXPF_LO));
    x = _mm256_min_ps(x, _mm256_set1_ps(SSX_EXPF_HI));
    __m256 magic = _mm256_set1_ps(SSX_ROUND_MAGIC_F);
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(SSX_LOG2E_F));
    __m256 n = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-SSX_LN2_HI_F), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-SSX_LN2_LO_F), r);
    __m256 p = _mm256_set1_ps(ssx_exp_poly[0]);
    for (int k = 1; k < SSX_EXP_TERMS; k++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ssx_exp_poly[k]));
    __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

/* The same in sixteen lanes. */
AVX512 static inline __m512 expf16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(SSX_EXPF_LO));
    x = _mm512_min_ps(x, _mm512_set1_ps(SSX_EXPF_HI));
    __m512 magic = _mm512_set1_ps(SSX_ROUND_MAGIC_F);
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(SSX_LOG2E_F));
    __m512 n = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-SSX_LN2_HI_F), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-SSX_LN2_LO_F), r);
    __m512 p = _mm512_set1_ps(ssx_exp_poly[0]);
    for (int k = 1; k < SSX_EXP_TERMS; k++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ssx_exp_poly[k]));
    __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

#endif
