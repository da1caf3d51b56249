// The frozen base's input gradient in training (flr_kernels_train.h): Wᵀ packed a tile of panels at a time
// from the bf16 or int8 weight, and activation rows to bf16. The accumulating product shares the forward's
// kernels (bf16.c and the path files).
#include "flr_kernels.h"
#include "flr_kernels_train.h"
#include "paths.h"
#include "paths_train.h"

#pragma STDC FP_CONTRACT OFF

size_t flr_bf16_transposed_panel_count(size_t n) { return (n + 1) / 2 * 2 * FLR_PANEL; }

// Wᵀ panel p, pair q, column c, half h is W[2q + h, 16p + c]; W[j, i] sits in W's panel j / 16, pair i / 2.
void flr_bf16_pack_transposed_portable(FLR_BF16_TRANSPOSE_ARGS) {
  size_t pairs_n = (n + 1) / 2, pairs_k = (k + 1) / 2;
  for (size_t p = p0; p < p1; p++) {
    uint16_t *panel = out + (p - p0) * pairs_n * 2 * FLR_PANEL;
    for (size_t q = 0; q < pairs_n; q++)
      for (size_t c = 0; c < FLR_PANEL; c++)
        for (size_t h = 0; h < 2; h++) {
          size_t j = 2 * q + h, i = p * FLR_PANEL + c;
          uint16_t v = 0;
          if (j < n && i < k)
            v = packed[(j / FLR_PANEL) * pairs_k * 2 * FLR_PANEL + (i / 2) * 2 * FLR_PANEL + 2 * (j % FLR_PANEL)
              + (i & 1)];
          panel[q * 2 * FLR_PANEL + 2 * c + h] = v;
        }
  }
}

void flr_int8_pack_transposed_bf16_portable(FLR_INT8_TRANSPOSE_ARGS) {
  size_t pairs_n = (n + 1) / 2, quads_k = (k + 3) / 4;
  for (size_t p = p0; p < p1; p++) {
    uint16_t *panel = out + (p - p0) * pairs_n * 2 * FLR_PANEL;
    for (size_t q = 0; q < pairs_n; q++)
      for (size_t c = 0; c < FLR_PANEL; c++)
        for (size_t h = 0; h < 2; h++) {
          size_t j = 2 * q + h, i = p * FLR_PANEL + c;
          uint16_t v = 0;
          if (j < n && i < k) {
            int8_t code = packed[(j / FLR_PANEL) * quads_k * 4 * FLR_PANEL + (i / 4) * 4 * FLR_PANEL
              + 4 * (j % FLR_PANEL) + (i & 3)];
            v = flr_bf16_bits((float)code * scales[j]);
          }
          panel[q * 2 * FLR_PANEL + 2 * c + h] = v;
        }
  }
}

void flr_bf16_from_f32_rows_portable(FLR_BF16_ROWS_ARGS) {
  for (size_t r = 0; r < m; r++) {
    const float *x = src + r * lds;
    uint16_t *y = dst + r * ldd;
    for (size_t i = 0; i < k; i++) y[i] = flr_bf16_bits(x[i]);
    for (size_t i = k; i < ldd; i++) y[i] = 0;
  }
}

void flr_bf16_gemm_accumulate(FLR_BF16_ACCUMULATE_ARGS) {
  switch (flr_kernels_active()) {
#if defined(__x86_64__)
  case FLR_PATH_AVX512: flr_bf16_gemm_accumulate_avx512(a, lda, m, packed, n, k, c, ldc, p0, p1); return;
  case FLR_PATH_AVX2: flr_bf16_gemm_accumulate_avx2(a, lda, m, packed, n, k, c, ldc, p0, p1); return;
#endif
  default: flr_bf16_gemm_accumulate_portable(a, lda, m, packed, n, k, c, ldc, p0, p1);
  }
}

// Repacking and conversion are data movement: AVX-512 shuffles on that path, plain C on the others.
void flr_bf16_pack_transposed(FLR_BF16_TRANSPOSE_ARGS) {
#if defined(__x86_64__)
  if (flr_kernels_active() == FLR_PATH_AVX512) {
    flr_bf16_pack_transposed_avx512(packed, n, k, p0, p1, out);
    return;
  }
#endif
  flr_bf16_pack_transposed_portable(packed, n, k, p0, p1, out);
}

void flr_int8_pack_transposed_bf16(FLR_INT8_TRANSPOSE_ARGS) {
#if defined(__x86_64__)
  if (flr_kernels_active() == FLR_PATH_AVX512) {
    flr_int8_pack_transposed_bf16_avx512(packed, scales, n, k, p0, p1, out);
    return;
  }
#endif
  flr_int8_pack_transposed_bf16_portable(packed, scales, n, k, p0, p1, out);
}

void flr_bf16_from_f32_rows(FLR_BF16_ROWS_ARGS) {
#if defined(__x86_64__)
  if (flr_kernels_active() == FLR_PATH_AVX512) {
    flr_bf16_from_f32_rows_avx512(src, m, k, lds, dst, ldd);
    return;
  }
#endif
  flr_bf16_from_f32_rows_portable(src, m, k, lds, dst, ldd);
}
