// Few-rows x·Wᵀ: the dispatcher and the portable path (16 scalar lanes, so its sums round as the vector paths' do).
#include <math.h>

#include "flr_kernels.h"
#include "flr_rows.h"
#include "rows_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_rows_dot_weight_rows(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512: flr_rows_dot_weight_rows_avx512(a, lda, b, ldb, c, ldc, m, n, k, alpha, beta); return;
  case FLR_PATH_AVX2: flr_rows_dot_weight_rows_avx2(a, lda, b, ldb, c, ldc, m, n, k, alpha, beta); return;
  default: break;
  }
#endif
  flr_rows_dot_weight_rows_portable(a, lda, b, ldb, c, ldc, m, n, k, alpha, beta);
}

/// One dot product as 16 lanes of fused multiply-adds, halved 8, 4, 2, then lane 0 + lane 1.
static float lanes_dot(const float *x, const float *w, size_t k16) {
  float lanes[16] = {0};
  for (size_t p = 0; p < k16; p += 16)
    for (int l = 0; l < 16; l++) lanes[l] = fmaf(x[p + l], w[p + l], lanes[l]);
  for (int width = 8; width >= 2; width /= 2)
    for (int l = 0; l < width; l++) lanes[l] += lanes[l + width];
  return lanes[0] + lanes[1];
}

void flr_rows_dot_weight_rows_portable(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta) {
  size_t k16 = k / 16 * 16;
  for (size_t j = 0; j < n; j++)
    for (size_t i = 0; i < m; i++) {
      const float *x = a + i * lda, *w = b + j * ldb;
      flr_rows_store(c + i * ldc + j, lanes_dot(x, w, k16), x, w, k16, k, alpha, beta);
    }
}
