// log-softmax rows: the dispatcher (AVX-512, else portable; LogSoftmax.swift keeps AVX2 on its own SIMD16 loops) and
// the portable path (16 scalar lanes, so its max and sums are the vector paths').
#include "flr_kernels.h"
#include "flr_log_softmax.h"
#include "log_softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_log_softmax_row(float *row, size_t n) {
#if defined(__x86_64__)
  if (flr_kernels_active() == FLR_PATH_AVX512) {
    flr_log_softmax_row_avx512(row, n);
    return;
  }
#endif
  flr_log_softmax_row_portable(row, n);
}

void flr_log_softmax_row_portable(float *row, size_t n) {
  if (n == 0) return;
  size_t whole = n / 16 * 16;
  float lanes[16];
  for (int l = 0; l < 16; l++) lanes[l] = -INFINITY;
  for (size_t i = 0; i < whole; i += 16)
    for (int l = 0; l < 16; l++)
      if (row[i + l] > lanes[l]) lanes[l] = row[i + l];
  float m = flr_log_softmax_max(lanes, row, whole, n);
  if (!isfinite(m)) return;
  for (int l = 0; l < 16; l++) lanes[l] = 0;
  for (size_t i = 0; i < whole; i += 16)
    for (int l = 0; l < 16; l++) lanes[l] += flr_exp_nonpositive1(row[i + l] - m);
  float log_sum = flr_log_softmax_log_sum(lanes, row, whole, n, m);
  for (size_t i = 0; i < n; i++) row[i] = (row[i] - m) - log_sum;
}
