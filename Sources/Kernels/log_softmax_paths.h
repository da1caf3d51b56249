// The per-path log-softmax rows behind flr_log_softmax_row, and the scalar lane of their e^x for x <= 0.
#ifndef FLR_LOG_SOFTMAX_PATHS_H
#define FLR_LOG_SOFTMAX_PATHS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "softmax_paths.h"  // the FLR_EXP_* constants, flr_bits_float

void flr_log_softmax_row_portable(float *row, size_t n);
#if defined(__x86_64__)
void flr_log_softmax_row_avx512(float *row, size_t n);
#endif

/// One lane of LogSoftmax.swift's expNonPositive, operation for operation: 0 below FLR_EXP_LOW, one 2^n scale.
static inline float flr_exp_nonpositive1(float input) {
  int underflow = input < FLR_EXP_LOW;
  float x = underflow ? 0 : input;
  float shifted, p = flr_exp_core1(x, &shifted);
  uint32_t bits;
  memcpy(&bits, &shifted, 4);
  float scale = flr_bits_float((int32_t)((bits - 0x4B400000u + 127u) << 23));
  float y = p * scale;
  return underflow ? 0 : y;
}

/// The scalar steps every path shares: the max of 16 lanes in order then the tail, and the tail's sum.
static inline float flr_log_softmax_max(const float lanes[16], const float *row, size_t whole, size_t n) {
  float m = -INFINITY;
  for (int l = 0; l < 16; l++)
    if (lanes[l] > m) m = lanes[l];
  for (size_t i = whole; i < n; i++)
    if (row[i] > m) m = row[i];
  return m;
}

static inline float flr_log_softmax_log_sum(const float lanes[16], const float *row, size_t whole, size_t n, float m) {
  float sum = 0;
  for (int l = 0; l < 16; l++) sum += lanes[l];
  for (size_t i = whole; i < n; i++) sum += expf(row[i] - m);
  return logf(sum);
}

#endif
