// bf16 weights: conversion, packing into 16-column panels of k pairs, and the portable product. Panel p
// holds columns [16p, 16p + 16); its k pair q is 32 values: column j's (w[2q], w[2q + 1]) at 2j, 2j + 1 (the
// operand order of vdpbf16ps). Products accumulate in fp32; every bf16 x bf16 product is exact in fp32.
#include <string.h>

#include "flr_kernels.h"
#include "flr_kernels_train.h"
#include "paths.h"
#include "paths_train.h"

#pragma STDC FP_CONTRACT OFF

static inline uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

void flr_bf16_from_f32(const float *src, uint16_t *dst, size_t count) {
  for (size_t i = 0; i < count; i++) dst[i] = to_bf16(src[i]);
}

void flr_bf16_to_f32(const uint16_t *src, float *dst, size_t count) {
  for (size_t i = 0; i < count; i++) dst[i] = from_bf16(src[i]);
}

size_t flr_bf16_packed_count(size_t n, size_t k) {
  return (n + FLR_PANEL - 1) / FLR_PANEL * ((k + 1) / 2) * 2 * FLR_PANEL;
}

void flr_bf16_pack(const float *w, size_t n, size_t k, uint16_t *packed) {
  size_t pairs = (k + 1) / 2, panels = (n + FLR_PANEL - 1) / FLR_PANEL;
  memset(packed, 0, flr_bf16_packed_count(n, k) * sizeof(uint16_t));
  for (size_t p = 0; p < panels; p++)
    for (size_t j = 0; j < FLR_PANEL && p * FLR_PANEL + j < n; j++) {
      const float *row = w + (p * FLR_PANEL + j) * k;
      uint16_t *dst = packed + p * pairs * 2 * FLR_PANEL + 2 * j;
      for (size_t i = 0; i < k; i++) dst[(i / 2) * 2 * FLR_PANEL + (i & 1)] = to_bf16(row[i]);
    }
}

void flr_bf16_unpack_rows(const uint16_t *packed, size_t n, size_t k, size_t n0, size_t n1, float *out) {
  (void)n;
  size_t pairs = (k + 1) / 2;
  for (size_t r = n0; r < n1; r++) {
    const uint16_t *src = packed + (r / FLR_PANEL) * pairs * 2 * FLR_PANEL + 2 * (r % FLR_PANEL);
    float *dst = out + (r - n0) * k;
    for (size_t i = 0; i < k; i++) dst[i] = from_bf16(src[(i / 2) * 2 * FLR_PANEL + (i & 1)]);
  }
}

// c = sums (+ bias), or c += sums when `accumulate` (the frozen base's input gradient in training).
static void bf16_product_portable(
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, const float *bias,
  int accumulate, float *c, size_t ldc, size_t p0, size_t p1) {
  size_t pairs = (k + 1) / 2;
  for (size_t p = p0; p < p1; p++) {
    const uint16_t *panel = packed + p * pairs * 2 * FLR_PANEL;
    size_t cols = n - p * FLR_PANEL < FLR_PANEL ? n - p * FLR_PANEL : FLR_PANEL;
    for (size_t r = 0; r < m; r++) {
      float acc[FLR_PANEL] = {0};
      const uint16_t *x = a + r * lda;
      for (size_t q = 0; q < pairs; q++) {
        float x0 = from_bf16(x[2 * q]), x1 = from_bf16(x[2 * q + 1]);
        const uint16_t *w = panel + q * 2 * FLR_PANEL;
        for (size_t j = 0; j < FLR_PANEL; j++) {
          acc[j] += x0 * from_bf16(w[2 * j]);
          acc[j] += x1 * from_bf16(w[2 * j + 1]);
        }
      }
      float *y = c + r * ldc + p * FLR_PANEL;
      if (accumulate)
        for (size_t j = 0; j < cols; j++) y[j] += acc[j];
      else
        for (size_t j = 0; j < cols; j++) y[j] = bias ? acc[j] + bias[p * FLR_PANEL + j] : acc[j];
    }
  }
}

void flr_bf16_gemm_portable(FLR_BF16_ARGS) { bf16_product_portable(a, lda, m, packed, n, k, bias, 0, c, ldc, p0, p1); }

void flr_bf16_gemm_accumulate_portable(FLR_BF16_ACCUMULATE_ARGS) {
  bf16_product_portable(a, lda, m, packed, n, k, NULL, 1, c, ldc, p0, p1);
}

void flr_bf16_gemm(FLR_BF16_ARGS) {
  switch (flr_kernels_active()) {
#if defined(__x86_64__)
  case FLR_PATH_AVX512: flr_bf16_gemm_avx512(a, lda, m, packed, n, k, bias, c, ldc, p0, p1); return;
  case FLR_PATH_AVX2: flr_bf16_gemm_avx2(a, lda, m, packed, n, k, bias, c, ldc, p0, p1); return;
#endif
  default: flr_bf16_gemm_portable(a, lda, m, packed, n, k, bias, c, ldc, p0, p1);
  }
}
