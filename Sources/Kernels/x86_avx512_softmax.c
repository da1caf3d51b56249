// AVX-512 softmax row: VectorMath's exp16 on one zmm register per 16 lanes (AVX512F only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

#include "x86_avx512_exp.h"

/// Lanes 8-15 (AVX512F; _mm512_extractf32x8_ps would need AVX512DQ).
static inline TARGET_512 __m256 high_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/// max over 16 lanes halved 8, 4, 2, then the last two as Swift.max(c[0], c[1]).
static inline TARGET_512 float max_of_lanes(__m512 v) {
  __m256 a = _mm256_max_ps(high_half(v), _mm512_castps512_ps256(v));
  __m128 b = _mm_max_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
  __m128 c = _mm_max_ps(_mm_movehl_ps(b, b), b);
  float c0 = _mm_cvtss_f32(c), c1 = _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
  return c1 >= c0 ? c1 : c0;
}

static inline TARGET_512 float sum_of_lanes(__m512 v) {
  __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), high_half(v));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}

// _mm512_max_ps(b, a) is b > a ? b : a, VectorMath's maxLanes(a, b).
TARGET_512 void flr_softmax_row_avx512(float *out, const float *x, size_t n) {
  size_t whole = n / 16 * 16;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (size_t i = 0; i < whole; i += 16) vmax = _mm512_max_ps(_mm512_loadu_ps(x + i), vmax);
  float m = max_of_lanes(vmax);
  for (size_t i = whole; i < n; i++) m = x[i] >= m ? x[i] : m;
  if (m == -INFINITY) {
    memset(out, 0, n * sizeof(float));
    return;
  }
  __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (size_t i = 0; i < whole; i += 16) {
    __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  float sum = sum_of_lanes(acc);
  for (size_t i = whole; i < n; i++) {
    float e = flr_exp1(x[i] - m);
    out[i] = e;
    sum += e;
  }
  __m512 inverse = _mm512_set1_ps(1 / sum);
  for (size_t i = 0; i < whole; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(out + i), inverse));
  for (size_t i = whole; i < n; i++) out[i] *= 1 / sum;
}
#endif
