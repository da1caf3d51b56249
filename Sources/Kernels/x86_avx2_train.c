// AVX2 + FMA path of the accumulating bf16 product (flr_kernels_train.h): bf16 widened to fp32 in registers,
// as flr_bf16_gemm_avx2 does, at every row count (a row's sums never depend on the other rows).
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "flr_kernels.h"
#include "flr_kernels_train.h"
#include "paths.h"
#include "paths_train.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TILE_ROWS 4

static inline TARGET_AVX2 __m256i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

static inline __attribute__((always_inline)) TARGET_AVX2 void accumulate_tile(
  const uint16_t *a, size_t lda, const int rows, const uint16_t *w, size_t pairs, float *c, size_t ldc, int cols) {
  __m256 acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
  for (size_t q = 0; q < pairs; q++) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(w + q * 2 * FLR_PANEL));
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(w + q * 2 * FLR_PANEL + FLR_PANEL));
    __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, high));
    __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), o1 = _mm256_castsi256_ps(_mm256_and_si256(v1, high));
    for (int r = 0; r < rows; r++) {
      __m256i x = broadcast32(a + r * lda + 2 * q);
      __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16)), xo = _mm256_castsi256_ps(_mm256_and_si256(x, high));
      acc[r][0] = _mm256_fmadd_ps(xe, e0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xe, e1, acc[r][1]);
      acc[r][0] = _mm256_fmadd_ps(xo, o0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xo, o1, acc[r][1]);
    }
  }
  float tmp[FLR_PANEL];
  for (int r = 0; r < rows; r++) {
    _mm256_storeu_ps(tmp, acc[r][0]);
    _mm256_storeu_ps(tmp + 8, acc[r][1]);
    float *y = c + r * ldc;
    for (int j = 0; j < cols; j++) y[j] += tmp[j];
  }
}

#define ROWS_CASES(CALL)                                                                                       \
  switch (rows) {                                                                                              \
  case 1: CALL(1); break;                                                                                      \
  case 2: CALL(2); break;                                                                                      \
  case 3: CALL(3); break;                                                                                      \
  default: CALL(4); break;                                                                                     \
  }

TARGET_AVX2 void flr_bf16_gemm_accumulate_avx2(FLR_BF16_ACCUMULATE_ARGS) {
  if (m >= FLR_AVX2_WIDENED_ROWS && flr_bf16_gemm_widened_avx2(a, lda, m, packed, n, k, NULL, 1, c, ldc, p0, p1))
    return;
  size_t pairs = (k + 1) / 2, block = flr_row_block(lda * 2, TILE_ROWS);
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m;
    for (size_t p = p0; p < p1; p++) {
      const uint16_t *w = packed + p * pairs * 2 * FLR_PANEL;
      size_t left = n - p * FLR_PANEL;
      int cols = left < FLR_PANEL ? (int)left : FLR_PANEL;
      for (size_t i = i0; i < i1; i += TILE_ROWS) {
        int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
#define ACCUMULATE_CALL(R) accumulate_tile(a + i * lda, lda, R, w, pairs, c + i * ldc + p * FLR_PANEL, ldc, cols)
        ROWS_CASES(ACCUMULATE_CALL)
#undef ACCUMULATE_CALL
      }
    }
  }
}
#endif
