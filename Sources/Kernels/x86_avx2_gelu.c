// AVX2 + FMA GELU forward and backward: VectorMath's erf16 and exp16 as two 8-lane halves, as the Swift code runs
// on an x86-64-v3 build.
#if defined(__x86_64__)
#include <immintrin.h>

#include "gelu_paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_AVX2 __attribute__((target("avx2,fma")))

static inline TARGET_AVX2 __m256 exp8(__m256 input) {
  __m256 underflow = _mm256_cmp_ps(input, _mm256_set1_ps(FLR_EXP_LOW), _CMP_LT_OQ);
  __m256 high = _mm256_set1_ps(FLR_EXP_HIGH);
  __m256 x = _mm256_blendv_ps(input, high, _mm256_cmp_ps(input, high, _CMP_GT_OQ));
  x = _mm256_andnot_ps(underflow, x);
  __m256 magic = _mm256_set1_ps(FLR_EXP_MAGIC);
  __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(FLR_EXP_LOG2E), magic);
  __m256 k = _mm256_sub_ps(shifted, magic);
  __m256 r = _mm256_fmadd_ps(k, _mm256_set1_ps(FLR_EXP_LN2_HIGH), x);
  r = _mm256_fmadd_ps(k, _mm256_set1_ps(FLR_EXP_LN2_LOW), r);
  __m256 p = _mm256_set1_ps(FLR_EXP_P0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FLR_EXP_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FLR_EXP_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FLR_EXP_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FLR_EXP_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(FLR_EXP_P5));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1)));
  __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
  __m256i half = _mm256_srai_epi32(ni, 1);
  __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  return _mm256_andnot_ps(underflow, y);
}

// _mm256_min_ps(4, x) is 4 < x ? 4 : x, erf16's replacing(with: 4, where: x .> 4) (a NaN x passes; max alike).
static inline TARGET_AVX2 __m256 erf8(__m256 input) {
  __m256 x = _mm256_min_ps(_mm256_set1_ps(4), input);
  x = _mm256_max_ps(_mm256_set1_ps(-4), x);
  __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(FLR_ERF_P0);
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P1));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P2));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P3));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P4));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P5));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(FLR_ERF_P6));
  p = _mm256_mul_ps(p, x);
  __m256 q = _mm256_set1_ps(FLR_ERF_Q0);
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(FLR_ERF_Q1));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(FLR_ERF_Q2));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(FLR_ERF_Q3));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(FLR_ERF_Q4));
  return _mm256_div_ps(p, q);
}

TARGET_AVX2 void flr_gelu_forward_avx2(float *out, const float *x, size_t n) {
  size_t whole = n / 16 * 16;  // SIMD16 blocks, run 8 lanes at a time
  __m256 one = _mm256_set1_ps(1), half = _mm256_set1_ps(0.5f), scale = _mm256_set1_ps(FLR_INV_SQRT2);
  for (size_t i = 0; i < whole; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 e = erf8(_mm256_mul_ps(v, scale));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
  }
  for (size_t i = whole; i < n; i++) out[i] = flr_gelu1(x[i]);
}

TARGET_AVX2 void flr_gelu_backward_avx2(float *dinp, const float *dout, const float *x, size_t n, int accumulate) {
  size_t whole = n / 16 * 16;  // SIMD16 blocks, run 8 lanes at a time
  __m256 one = _mm256_set1_ps(1), half = _mm256_set1_ps(0.5f), minus_half = _mm256_set1_ps(-0.5f);
  __m256 scale = _mm256_set1_ps(FLR_INV_SQRT2), density = _mm256_set1_ps(FLR_INV_SQRT2PI);
  for (size_t i = 0; i < whole; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf8(_mm256_mul_ps(v, scale))));
    __m256 pdf = _mm256_mul_ps(exp8(_mm256_mul_ps(_mm256_mul_ps(minus_half, v), v)), density);
    __m256 base = accumulate ? _mm256_loadu_ps(dinp + i) : _mm256_setzero_ps();
    _mm256_storeu_ps(dinp + i, _mm256_fmadd_ps(_mm256_loadu_ps(dout + i), _mm256_fmadd_ps(v, pdf, cdf), base));
  }
  for (size_t i = whole; i < n; i++) dinp[i] = flr_gelu_grad1(accumulate ? dinp[i] : 0, dout[i], x[i]);
}
#endif
