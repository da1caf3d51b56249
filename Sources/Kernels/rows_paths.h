// The per-path row kernels behind flr_rows_dot_weight_rows and the scalar store every path shares.
#ifndef FLR_ROWS_PATHS_H
#define FLR_ROWS_PATHS_H

#include <stddef.h>

#pragma STDC FP_CONTRACT OFF

void flr_rows_dot_weight_rows_portable(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta);
#if defined(__x86_64__)
void flr_rows_dot_weight_rows_avx2(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta);
void flr_rows_dot_weight_rows_avx512(
  const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t m, size_t n, size_t k,
  float alpha, float beta);
#endif

/// c = alpha · (lanes sum + the tail a[k16..<k]·w[k16..<k] added in order) (+ beta · c), unfused.
static inline void flr_rows_store(
  float *c, float lanes_sum, const float *a, const float *w, size_t k16, size_t k, float alpha, float beta) {
  float d = lanes_sum;
  for (size_t p = k16; p < k; p++) d += a[p] * w[p];
  *c = beta == 0 ? alpha * d : alpha * d + beta * *c;
}

#endif
