// AVX-512 few-rows x·Wᵀ: the Swift SIMD16 tile (four weight rows by three rows, twelve running sums) with each
// 16-lane sum in one zmm register (AVX512F only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "rows_paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx2,fma")))
#define FLR_ROWS_PREFETCH 6144  // floats

/// Lanes 8-15 (AVX512F; _mm512_extractf32x8_ps would need AVX512DQ).
static inline TARGET_512 __m256 high_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/// VectorMath's sumLanes: halves added 8, 4, 2, then lane 0 + lane 1.
static inline TARGET_512 float sum_of_lanes(__m512 v) {
  __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), high_half(v));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}

TARGET_512 void flr_rows_dot_weight_rows_avx512(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta) {
  size_t k16 = k / 16 * 16;
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *w[4] = {b + j * ldb, b + (j + 1) * ldb, b + (j + 2) * ldb, b + (j + 3) * ldb};
    for (size_t i0 = 0; i0 < m; i0 += 3) {  // rows in groups of three; a short group repeats its last row
      const float *x[3];
      for (int r = 0; r < 3; r++) x[r] = a + (i0 + r < m ? i0 + r : m - 1) * lda;
      __m512 s[3][4];
      for (int r = 0; r < 3; r++)
        for (int q = 0; q < 4; q++) s[r][q] = _mm512_setzero_ps();
      for (size_t p = 0; p < k16; p += 16) {
        __m512 xv[3], wv[4];
        for (int r = 0; r < 3; r++) xv[r] = _mm512_loadu_ps(x[r] + p);
        for (int q = 0; q < 4; q++) {
          // The weight rows stream from memory once; three rows' multiply-adds per weight line leave the core
          // fewer lines in flight than one row's, so each stream is prefetched 24 KB ahead (`scripts/bench gemm`:
          // "x51289x768 few-rows path" against lm_head's sgemv).
          _mm_prefetch((const char *)(w[q] + p + FLR_ROWS_PREFETCH), _MM_HINT_T0);
          wv[q] = _mm512_loadu_ps(w[q] + p);
        }
        for (int r = 0; r < 3; r++)
          for (int q = 0; q < 4; q++) s[r][q] = _mm512_fmadd_ps(xv[r], wv[q], s[r][q]);
      }
      for (int r = 0; r < 3 && i0 + r < m; r++)
        for (int q = 0; q < 4; q++)
          flr_rows_store(c + (i0 + r) * ldc + j + q, sum_of_lanes(s[r][q]), x[r], w[q], k16, k, alpha, beta);
    }
  }
  for (; j < n; j++) {  // the last n mod 4 weight rows, one at a time, each sum in the same order as above
    const float *w = b + j * ldb;
    for (size_t i = 0; i < m; i++) {
      const float *x = a + i * lda;
      __m512 s = _mm512_setzero_ps();
      for (size_t p = 0; p < k16; p += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(x + p), _mm512_loadu_ps(w + p), s);
      flr_rows_store(c + i * ldc + j, sum_of_lanes(s), x, w, k16, k, alpha, beta);
    }
  }
}
#endif
