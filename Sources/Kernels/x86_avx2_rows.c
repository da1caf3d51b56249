// AVX2 + FMA few-rows x·Wᵀ: the Swift SIMD16 tile (four weight rows by three rows), each 16-lane sum as two
// 8-lane halves. The halves are independent sums, so each tile runs lanes 0-7 over all of k, then lanes 8-15
// (twelve ymm sums fit the sixteen registers; both halves at once would spill), and adds them as sumLanes does.
#if defined(__x86_64__)
#include <immintrin.h>

#include "rows_paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_AVX2 __attribute__((target("avx2,fma")))

/// VectorMath's sumLanes of the 16 lanes (low, high): halves added 8, 4, 2, then lane 0 + lane 1.
static inline TARGET_AVX2 float sum_of_lanes(__m256 low, __m256 high) {
  __m256 a = _mm256_add_ps(low, high);
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}

TARGET_AVX2 void flr_rows_dot_weight_rows_avx2(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta) {
  size_t k16 = k / 16 * 16;
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *w[4] = {b + j * ldb, b + (j + 1) * ldb, b + (j + 2) * ldb, b + (j + 3) * ldb};
    for (size_t i0 = 0; i0 < m; i0 += 3) {  // rows in groups of three; a short group repeats its last row
      const float *x[3];
      for (int r = 0; r < 3; r++) x[r] = a + (i0 + r < m ? i0 + r : m - 1) * lda;
      __m256 half[2][3][4];
      for (int h = 0; h < 2; h++) {
        __m256 s[3][4];
        for (int r = 0; r < 3; r++)
          for (int q = 0; q < 4; q++) s[r][q] = _mm256_setzero_ps();
        for (size_t p = 8 * h; p < k16; p += 16) {
          __m256 xv[3];
          for (int r = 0; r < 3; r++) xv[r] = _mm256_loadu_ps(x[r] + p);
          for (int q = 0; q < 4; q++) {
            __m256 wv = _mm256_loadu_ps(w[q] + p);
            for (int r = 0; r < 3; r++) s[r][q] = _mm256_fmadd_ps(xv[r], wv, s[r][q]);
          }
        }
        for (int r = 0; r < 3; r++)
          for (int q = 0; q < 4; q++) half[h][r][q] = s[r][q];
      }
      for (int r = 0; r < 3 && i0 + r < m; r++)
        for (int q = 0; q < 4; q++)
          flr_rows_store(
            c + (i0 + r) * ldc + j + q, sum_of_lanes(half[0][r][q], half[1][r][q]), x[r], w[q], k16, k, alpha,
            beta);
    }
  }
  for (; j < n; j++) {  // the last n mod 4 weight rows, one at a time, each sum in the same order as above
    const float *w = b + j * ldb;
    for (size_t i = 0; i < m; i++) {
      const float *x = a + i * lda;
      __m256 low = _mm256_setzero_ps(), high = low;
      for (size_t p = 0; p < k16; p += 16) {
        low = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(w + p), low);
        high = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), _mm256_loadu_ps(w + p + 8), high);
      }
      flr_rows_store(c + i * ldc + j, sum_of_lanes(low, high), x, w, k16, k, alpha, beta);
    }
  }
}
#endif
