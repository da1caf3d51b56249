// AVX2 + FMA softmax row: each 16-lane step of VectorMath's exp16 as two 8-lane halves, as the Swift code runs
// on an x86-64-v3 build.
#if defined(__x86_64__)
#include <immintrin.h>

#include "softmax_paths.h"

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

/// max over 8 lanes halved 4, 2, then the last two as Swift.max(c[0], c[1]).
static inline TARGET_AVX2 float max_of_lanes(__m256 a) {
  __m128 b = _mm_max_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
  __m128 c = _mm_max_ps(_mm_movehl_ps(b, b), b);
  float c0 = _mm_cvtss_f32(c), c1 = _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
  return c1 >= c0 ? c1 : c0;
}

static inline TARGET_AVX2 float sum_of_lanes(__m256 a) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}

// _mm256_max_ps(b, a) is b > a ? b : a, VectorMath's maxLanes(a, b).
TARGET_AVX2 void flr_softmax_row_avx2(float *out, const float *x, size_t n) {
  size_t whole = n / 16 * 16;
  __m256 low = _mm256_set1_ps(-INFINITY), high = low;
  for (size_t i = 0; i < whole; i += 16) {
    low = _mm256_max_ps(_mm256_loadu_ps(x + i), low);
    high = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), high);
  }
  float m = max_of_lanes(_mm256_max_ps(high, low));
  for (size_t i = whole; i < n; i++) m = x[i] >= m ? x[i] : m;
  if (m == -INFINITY) {
    memset(out, 0, n * sizeof(float));
    return;
  }
  __m256 vm = _mm256_set1_ps(m);
  __m256 sum_low = _mm256_setzero_ps(), sum_high = sum_low;
  for (size_t i = 0; i < whole; i += 16) {
    __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    __m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm));
    _mm256_storeu_ps(out + i, e0);
    _mm256_storeu_ps(out + i + 8, e1);
    sum_low = _mm256_add_ps(sum_low, e0);
    sum_high = _mm256_add_ps(sum_high, e1);
  }
  float sum = sum_of_lanes(_mm256_add_ps(sum_low, sum_high));
  for (size_t i = whole; i < n; i++) {
    float e = flr_exp1(x[i] - m);
    out[i] = e;
    sum += e;
  }
  __m256 inverse = _mm256_set1_ps(1 / sum);
  for (size_t i = 0; i < whole; i += 16) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(out + i), inverse));
    _mm256_storeu_ps(out + i + 8, _mm256_mul_ps(_mm256_loadu_ps(out + i + 8), inverse));
  }
  for (size_t i = whole; i < n; i++) out[i] *= 1 / sum;
}
#endif
