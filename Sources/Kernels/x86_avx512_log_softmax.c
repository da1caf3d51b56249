// AVX-512 log-softmax row: LogSoftmax.swift's SIMD16 passes on one zmm register per 16 lanes (AVX512F only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "log_softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

#include "x86_avx512_exp.h"  // exp_core16, TARGET_512

/// LogSoftmax.expNonPositive: 0 where input < FLR_EXP_LOW (-inf included), one 2^n scale.
static inline TARGET_512 __m512 exp_nonpositive16(__m512 input) {
  __mmask16 kept = _mm512_cmp_ps_mask(input, _mm512_set1_ps(FLR_EXP_LOW), _CMP_NLT_UQ);
  __m512 x = _mm512_maskz_mov_ps(kept, input);
  __m512 shifted, p = exp_core16(x, &shifted);
  __m512i exponent = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
  __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(exponent, _mm512_set1_epi32(127)), 23));
  return _mm512_maskz_mov_ps(kept, _mm512_mul_ps(p, scale));
}

// _mm512_max_ps(x, lanes) is x > lanes ? x : lanes, the Swift loop's replace(with: x, where: x .> lanes).
TARGET_512 void flr_log_softmax_row_avx512(float *row, size_t n) {
  if (n == 0) return;
  size_t whole = n / 16 * 16;
  float lanes[16];
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (size_t i = 0; i < whole; i += 16) vmax = _mm512_max_ps(_mm512_loadu_ps(row + i), vmax);
  _mm512_storeu_ps(lanes, vmax);
  float m = flr_log_softmax_max(lanes, row, whole, n);
  if (!isfinite(m)) return;
  __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (size_t i = 0; i < whole; i += 16)
    acc = _mm512_add_ps(acc, exp_nonpositive16(_mm512_sub_ps(_mm512_loadu_ps(row + i), vm)));
  _mm512_storeu_ps(lanes, acc);
  float log_sum = flr_log_softmax_log_sum(lanes, row, whole, n, m);
  __m512 vlog_sum = _mm512_set1_ps(log_sum);
  for (size_t i = 0; i < whole; i += 16)
    _mm512_storeu_ps(row + i, _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(row + i), vm), vlog_sum));
  for (size_t i = whole; i < n; i++) row[i] = (row[i] - m) - log_sum;
}
#endif
