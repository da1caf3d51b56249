// The per-path entry points behind flr_kernels_train.h (one definition each, in the file of its instruction
// set).
#ifndef FLR_PATHS_TRAIN_H
#define FLR_PATHS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#define FLR_BF16_ACCUMULATE_ARGS                                                                               \
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, float *c, size_t ldc,  \
    size_t p0, size_t p1
#define FLR_BF16_TRANSPOSE_ARGS                                                                                \
  const uint16_t *packed, size_t n, size_t k, size_t p0, size_t p1, uint16_t *out
#define FLR_INT8_TRANSPOSE_ARGS                                                                                \
  const int8_t *packed, const float *scales, size_t n, size_t k, size_t p0, size_t p1, uint16_t *out
#define FLR_BF16_ROWS_ARGS const float *src, size_t m, size_t k, size_t lds, uint16_t *dst, size_t ldd

void flr_bf16_gemm_accumulate_portable(FLR_BF16_ACCUMULATE_ARGS);
void flr_bf16_pack_transposed_portable(FLR_BF16_TRANSPOSE_ARGS);
void flr_int8_pack_transposed_bf16_portable(FLR_INT8_TRANSPOSE_ARGS);
void flr_bf16_from_f32_rows_portable(FLR_BF16_ROWS_ARGS);
#if defined(__x86_64__)
void flr_bf16_gemm_accumulate_avx2(FLR_BF16_ACCUMULATE_ARGS);
void flr_bf16_gemm_accumulate_avx512(FLR_BF16_ACCUMULATE_ARGS);
void flr_bf16_pack_transposed_avx512(FLR_BF16_TRANSPOSE_ARGS);
void flr_int8_pack_transposed_bf16_avx512(FLR_INT8_TRANSPOSE_ARGS);
void flr_bf16_from_f32_rows_avx512(FLR_BF16_ROWS_ARGS);
#endif

/// fp32 -> bf16 bits, nearest even; NaN stays a quiet NaN (as flr_bf16_from_f32).
static inline uint16_t flr_bf16_bits(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

#endif
