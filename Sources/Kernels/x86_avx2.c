// AVX2 + FMA bf16 path for CPUs without AVX-512 (Zen 2/3, Haswell on; the int8 path is x86_avx2_int8.c): bf16
// weights widened to fp32 in registers (a shift or a mask per pair) and multiplied with FMA. Tiles of up to 4
// rows x 1 panel (two ymm halves): 8 accumulators within AVX2's 16 registers. bf16 products of many rows go to
// x86_avx2_widened.c, which sums in the same order. The frozen base's input gradient in training takes the same
// bf16 product, adding into c.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "row_cases.h"
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

// c = sums (+ bias), or c += sums when `accumulate` (the frozen base's input gradient in training).
static inline __attribute__((always_inline)) TARGET_AVX2 void bf16_tile(
  const uint16_t *a, size_t lda, const int rows, const uint16_t *w, size_t pairs, const float *bias,
  int accumulate, float *c, size_t ldc, int cols) {
  __m256 acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
  for (size_t q = 0; q < pairs; q++) {
    _mm_prefetch((const char *)(w + (pairs + q) * 2 * FLR_PANEL), _MM_HINT_T1);  // the next panel, into L2
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(w + q * 2 * FLR_PANEL));
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(w + q * 2 * FLR_PANEL + FLR_PANEL));
    // even k: the low bf16 of each 32-bit pair; odd k: the high one
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
    if (accumulate)
      for (int j = 0; j < cols; j++) y[j] += tmp[j];
    else
      for (int j = 0; j < cols; j++) y[j] = bias ? tmp[j] + bias[j] : tmp[j];
  }
}

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

static TARGET_AVX2 void bf16_product(
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, const float *bias,
  int accumulate, float *c, size_t ldc, size_t p0, size_t p1) {
  if (m >= FLR_AVX2_WIDENED_ROWS
      && flr_bf16_gemm_widened_avx2(a, lda, m, packed, n, k, bias, accumulate, c, ldc, p0, p1))
    return;
  size_t pairs = (k + 1) / 2, block = flr_row_block(lda * 2, TILE_ROWS);
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m;
    for (size_t p = p0; p < p1; p++) {
      const uint16_t *w = packed + p * pairs * 2 * FLR_PANEL;
      int cols = panel_columns(n, p);
      for (size_t i = i0; i < i1; i += TILE_ROWS) {
        int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
        const float *b = bias ? bias + p * FLR_PANEL : NULL;
#define BF16_CALL(R) bf16_tile(a + i * lda, lda, R, w, pairs, b, accumulate, c + i * ldc + p * FLR_PANEL, ldc, cols)
        FLR_ROW_CASES(4, rows, BF16_CALL)
#undef BF16_CALL
      }
    }
  }
}

TARGET_AVX2 void flr_bf16_gemm_avx2(FLR_BF16_ARGS) { bf16_product(a, lda, m, packed, n, k, bias, 0, c, ldc, p0, p1); }

TARGET_AVX2 void flr_bf16_gemm_accumulate_avx2(FLR_BF16_ACCUMULATE_ARGS) {
  bf16_product(a, lda, m, packed, n, k, NULL, 1, c, ldc, p0, p1);
}

#endif
