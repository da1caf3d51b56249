// AVX2 + FMA bf16 products of many rows: a block of activation rows is widened to fp32 once, then each weight
// panel a K-block at a time into an L1-resident buffer shared by every row of the block, so the inner loop is
// fp32 FMA on 6 rows x 16 columns (12 accumulators) with no widening in it. Each sum runs over k in order
// from +0, one FMA a term, as flr_bf16_gemm_avx2's few-rows tiles do (K-block partials go through fp32
// memory, exactly): a row gets the same bits whatever rows share its block and whichever kernel takes it.
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TILE_ROWS 6
#define K_BLOCK 256  // k values of a widened panel block: 16 KiB of fp32, in L1 beside a tile's rows
// Rows widened at a time: about 512 KiB of fp32 (an L2's share), at least 24 rows so that a widened weight
// block serves several tiles even for long rows (k = 4096).
#define BLOCK_BYTES (512 * 1024)
#define MIN_BLOCK_ROWS 24
#define MAX_BLOCK_ROWS 96

// x [rows, kk] fp32 from a [rows, lda] bf16.
static TARGET_AVX2 void widen_rows(const uint16_t *a, size_t lda, size_t rows, size_t kk, float *x) {
  for (size_t r = 0; r < rows; r++) {
    const uint16_t *src = a + r * lda;
    float *dst = x + r * kk;
    size_t i = 0;
    for (; i + 8 <= kk; i += 8) {
      __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
      _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < kk; i++) {
      uint32_t u = (uint32_t)src[i] << 16;
      __builtin_memcpy(dst + i, &u, 4);
    }
  }
}

// w [count, 16] fp32: k values [2 q0, 2 q0 + count) of a packed panel (pair q: column j's two values at 2j).
static inline TARGET_AVX2 void widen_panel(const uint16_t *panel, size_t q0, size_t count, float *w) {
  const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
  for (size_t q = 0; q < count / 2; q++) {
    const uint16_t *src = panel + (q0 + q) * 2 * FLR_PANEL;
    __m256i v0 = _mm256_loadu_si256((const __m256i *)src), v1 = _mm256_loadu_si256((const __m256i *)(src + 16));
    float *even = w + 2 * q * FLR_PANEL, *odd = even + FLR_PANEL;
    _mm256_store_ps(even, _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)));
    _mm256_store_ps(even + 8, _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)));
    _mm256_store_ps(odd, _mm256_castsi256_ps(_mm256_and_si256(v0, high)));
    _mm256_store_ps(odd + 8, _mm256_castsi256_ps(_mm256_and_si256(v1, high)));
  }
}

// sums [rows, 16] (+)= x [rows, ldx] · w [count, 16], starting from +0 when `first`.
static inline __attribute__((always_inline)) TARGET_AVX2 void fma_tile(
  const float *x, size_t ldx, const int rows, const float *w, size_t count, float *sums, int first) {
  __m256 acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++) {
    acc[r][0] = first ? _mm256_setzero_ps() : _mm256_load_ps(sums + r * FLR_PANEL);
    acc[r][1] = first ? _mm256_setzero_ps() : _mm256_load_ps(sums + r * FLR_PANEL + 8);
  }
  for (size_t i = 0; i < count; i++) {
    __m256 w0 = _mm256_load_ps(w + i * FLR_PANEL), w1 = _mm256_load_ps(w + i * FLR_PANEL + 8);
    for (int r = 0; r < rows; r++) {
      __m256 xr = _mm256_broadcast_ss(x + r * ldx + i);
      acc[r][0] = _mm256_fmadd_ps(xr, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xr, w1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; r++) {
    _mm256_store_ps(sums + r * FLR_PANEL, acc[r][0]);
    _mm256_store_ps(sums + r * FLR_PANEL + 8, acc[r][1]);
  }
}

static TARGET_AVX2 void fma_tile_rows(
  const float *x, size_t ldx, int rows, const float *w, size_t count, float *sums, int first) {
  switch (rows) {
  case 1: fma_tile(x, ldx, 1, w, count, sums, first); break;
  case 2: fma_tile(x, ldx, 2, w, count, sums, first); break;
  case 3: fma_tile(x, ldx, 3, w, count, sums, first); break;
  case 4: fma_tile(x, ldx, 4, w, count, sums, first); break;
  case 5: fma_tile(x, ldx, 5, w, count, sums, first); break;
  default: fma_tile(x, ldx, 6, w, count, sums, first); break;
  }
}

// sums [rows, 16] = x [rows, kk] · panel's columns, a K-block of the panel widened at a time into w. The rows
// are cut into tiles of as even sizes as 6 allows (32 rows: 6, 6, 5, 5, 5, 5 rather than a tail of 2).
static __attribute__((noinline)) TARGET_AVX2 void panel_sums(
  const float *x, size_t rows, size_t kk, const uint16_t *panel, float *w, float *sums) {
  size_t tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
  for (size_t k0 = 0; k0 < kk; k0 += K_BLOCK) {
    size_t count = kk - k0 < K_BLOCK ? kk - k0 : K_BLOCK;
    widen_panel(panel, k0 / 2, count, w);
    for (size_t t = 0; t < tiles; t++) {
      size_t i = rows * t / tiles, tile = rows * (t + 1) / tiles - i;
      fma_tile_rows(x + i * kk + k0, kk, (int)tile, w, count, sums + i * FLR_PANEL, k0 == 0);
    }
  }
}

// c [rows, cols] = sums (+ bias), or += sums.
static __attribute__((noinline)) void store_sums(
  const float *sums, size_t rows, size_t cols, const float *bias, int accumulate, float *c, size_t ldc) {
  for (size_t r = 0; r < rows; r++) {
    const float *s = sums + r * FLR_PANEL;
    float *y = c + r * ldc;
    if (accumulate)
      for (size_t j = 0; j < cols; j++) y[j] += s[j];
    else if (bias)
      for (size_t j = 0; j < cols; j++) y[j] = s[j] + bias[j];
    else
      for (size_t j = 0; j < cols; j++) y[j] = s[j];
  }
}

TARGET_AVX2 int flr_bf16_gemm_widened_avx2(FLR_BF16_WIDENED_ARGS) {
  size_t pairs = (k + 1) / 2, kk = 2 * pairs;
  size_t most = BLOCK_BYTES / (kk * sizeof(float));
  most = most < MIN_BLOCK_ROWS ? MIN_BLOCK_ROWS : most > MAX_BLOCK_ROWS ? MAX_BLOCK_ROWS : most;
  size_t blocks = (m + most - 1) / most;
  float *x = flr_thread_scratch(most * kk * sizeof(float));  // the widened rows
  if (!x) return 0;
  float w[K_BLOCK * FLR_PANEL] __attribute__((aligned(64)));
  float sums[MAX_BLOCK_ROWS * FLR_PANEL] __attribute__((aligned(64)));
  for (size_t b = 0; b < blocks; b++) {
    size_t i0 = m * b / blocks, rows = m * (b + 1) / blocks - i0;
    widen_rows(a + i0 * lda, lda, rows, kk, x);
    for (size_t p = p0; p < p1; p++) {
      panel_sums(x, rows, kk, packed + p * pairs * 2 * FLR_PANEL, w, sums);
      size_t left = n - p * FLR_PANEL, cols = left < FLR_PANEL ? left : FLR_PANEL;
      store_sums(
        sums, rows, cols, bias ? bias + p * FLR_PANEL : NULL, accumulate, c + i0 * ldc + p * FLR_PANEL, ldc);
    }
  }
  return 1;
}
#endif
