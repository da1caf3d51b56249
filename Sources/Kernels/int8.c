// int8 weights: symmetric per-output-row quantization, packing into 16-column panels of k quads, and the
// portable product. Panel p's k quad q is 64 values: column j's w[4q..4q+3] at 4j..4j+3 (the operand order of
// vpdpbusd). Integer sums are exact, so every path gives the same int32 sums; the fp32 epilogue is written
// the same way on every path (sum · (a_scale · w_scale), then + bias, no fused multiply-add), so all paths
// agree bit for bit.
#include <math.h>
#include <string.h>

#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

size_t flr_int8_packed_count(size_t n, size_t k) {
  return (n + FLR_PANEL - 1) / FLR_PANEL * ((k + 3) / 4) * 4 * FLR_PANEL;
}

static inline int8_t quantize(float x, float inverse) {
  float q = rintf(x * inverse);
  return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
}

static float absmax(const float *x, size_t count) {
  float m = 0;
  for (size_t i = 0; i < count; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
  return m;
}

void flr_int8_pack(const float *w, size_t n, size_t k, int8_t *packed, float *scales, int32_t *column_sums) {
  size_t quads = (k + 3) / 4;
  memset(packed, 0, flr_int8_packed_count(n, k));
  for (size_t r = 0; r < n; r++) {
    const float *row = w + r * k;
    float m = absmax(row, k);
    scales[r] = m / 127;
    float inverse = m > 0 ? 127 / m : 0;
    int8_t *dst = packed + (r / FLR_PANEL) * quads * 4 * FLR_PANEL + 4 * (r % FLR_PANEL);
    int32_t sum = 0;
    for (size_t i = 0; i < k; i++) {
      int8_t q = quantize(row[i], inverse);
      dst[(i / 4) * 4 * FLR_PANEL + (i & 3)] = q;
      sum += q;
    }
    column_sums[r] = sum;
  }
}

void flr_int8_unpack_rows(
  const int8_t *packed, const float *scales, size_t n, size_t k, size_t n0, size_t n1, float *out) {
  (void)n;
  size_t quads = (k + 3) / 4;
  for (size_t r = n0; r < n1; r++) {
    const int8_t *src = packed + (r / FLR_PANEL) * quads * 4 * FLR_PANEL + 4 * (r % FLR_PANEL);
    float *dst = out + (r - n0) * k;
    for (size_t i = 0; i < k; i++) dst[i] = (float)src[(i / 4) * 4 * FLR_PANEL + (i & 3)] * scales[r];
  }
}

void flr_int8_quantize_rows_portable(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales) {
  for (size_t r = 0; r < m; r++) {
    const float *row = x + r * k;
    float mx = absmax(row, k);
    scales[r] = mx / 127;
    float inverse = mx > 0 ? 127 / mx : 0;
    int8_t *dst = q + r * lda;
    for (size_t i = 0; i < k; i++) dst[i] = quantize(row[i], inverse);
    for (size_t i = k; i < lda; i++) dst[i] = 0;
  }
}

void flr_int8_quantize_rows(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512: flr_int8_quantize_rows_avx512(x, m, k, q, lda, scales); return;
  case FLR_PATH_AVX2: flr_int8_quantize_rows_avx2(x, m, k, q, lda, scales); return;
  }
#endif
  flr_int8_quantize_rows_portable(x, m, k, q, lda, scales);
}

void flr_int8_gemm_portable(FLR_INT8_ARGS) {
  (void)column_sums;
  size_t quads = (k + 3) / 4;
  for (size_t p = p0; p < p1; p++) {
    const int8_t *panel = packed + p * quads * 4 * FLR_PANEL;
    size_t cols = n - p * FLR_PANEL < FLR_PANEL ? n - p * FLR_PANEL : FLR_PANEL;
    for (size_t r = 0; r < m; r++) {
      int32_t acc[FLR_PANEL] = {0};
      const int8_t *x = a + r * lda;
      for (size_t q = 0; q < quads; q++) {
        const int8_t *w = panel + q * 4 * FLR_PANEL;
        for (size_t j = 0; j < FLR_PANEL; j++)
          for (size_t t = 0; t < 4; t++) acc[j] += (int32_t)x[4 * q + t] * w[4 * j + t];
      }
      float *y = c + r * ldc + p * FLR_PANEL;
      for (size_t j = 0; j < cols; j++) {
        float scale = a_scales[r] * w_scales[p * FLR_PANEL + j];
        float v = (float)acc[j] * scale;
        y[j] = bias ? v + bias[p * FLR_PANEL + j] : v;
      }
    }
  }
}

void flr_int8_gemm(FLR_INT8_ARGS) {
  switch (flr_kernels_active()) {
#if defined(__x86_64__)
  case FLR_PATH_AVX512:
    flr_int8_gemm_avx512(a, lda, a_scales, m, packed, w_scales, column_sums, n, k, bias, c, ldc, p0, p1);
    return;
  case FLR_PATH_AVX2:
    flr_int8_gemm_avx2(a, lda, a_scales, m, packed, w_scales, column_sums, n, k, bias, c, ldc, p0, p1);
    return;
#endif
  default: flr_int8_gemm_portable(a, lda, a_scales, m, packed, w_scales, column_sums, n, k, bias, c, ldc, p0, p1);
  }
}
