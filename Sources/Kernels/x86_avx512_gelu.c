// AVX-512 GELU forward and backward: VectorMath's erf16 and exp16 on one zmm register per 16 lanes (AVX512F only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "gelu_paths.h"

#pragma STDC FP_CONTRACT OFF

#include "x86_avx512_exp.h"

// _mm512_min_ps(4, x) is 4 < x ? 4 : x, erf16's replacing(with: 4, where: x .> 4) (a NaN x passes; max alike).
static inline TARGET_512 __m512 erf16(__m512 input) {
  __m512 x = _mm512_min_ps(_mm512_set1_ps(4), input);
  x = _mm512_max_ps(_mm512_set1_ps(-4), x);
  __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(FLR_ERF_P0);
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P1));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P2));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P3));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P4));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P5));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(FLR_ERF_P6));
  p = _mm512_mul_ps(p, x);
  __m512 q = _mm512_set1_ps(FLR_ERF_Q0);
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(FLR_ERF_Q1));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(FLR_ERF_Q2));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(FLR_ERF_Q3));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(FLR_ERF_Q4));
  return _mm512_div_ps(p, q);
}

TARGET_512 void flr_gelu_forward_avx512(float *out, const float *x, size_t n) {
  size_t whole = n / 16 * 16;
  __m512 one = _mm512_set1_ps(1), half = _mm512_set1_ps(0.5f), scale = _mm512_set1_ps(FLR_INV_SQRT2);
  for (size_t i = 0; i < whole; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    __m512 e = erf16(_mm512_mul_ps(v, scale));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
  }
  for (size_t i = whole; i < n; i++) out[i] = flr_gelu1(x[i]);
}

TARGET_512 void flr_gelu_backward_avx512(float *dinp, const float *dout, const float *x, size_t n, int accumulate) {
  size_t whole = n / 16 * 16;
  __m512 one = _mm512_set1_ps(1), half = _mm512_set1_ps(0.5f), minus_half = _mm512_set1_ps(-0.5f);
  __m512 scale = _mm512_set1_ps(FLR_INV_SQRT2), density = _mm512_set1_ps(FLR_INV_SQRT2PI);
  for (size_t i = 0; i < whole; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, erf16(_mm512_mul_ps(v, scale))));
    __m512 pdf = _mm512_mul_ps(exp16(_mm512_mul_ps(_mm512_mul_ps(minus_half, v), v)), density);
    __m512 base = accumulate ? _mm512_loadu_ps(dinp + i) : _mm512_setzero_ps();
    _mm512_storeu_ps(dinp + i, _mm512_fmadd_ps(_mm512_loadu_ps(dout + i), _mm512_fmadd_ps(v, pdf, cdf), base));
  }
  for (size_t i = whole; i < n; i++) dinp[i] = flr_gelu_grad1(accumulate ? dinp[i] : 0, dout[i], x[i]);
}
#endif
