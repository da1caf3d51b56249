// The per-path kernel entry points behind flr_bf16_gemm / flr_int8_gemm (one definition each, in the file
// of its instruction set).
#ifndef FLR_PATHS_H
#define FLR_PATHS_H

#include <stddef.h>
#include <stdint.h>

#define FLR_BF16_ARGS                                                                                          \
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, const float *bias,     \
    float *c, size_t ldc, size_t p0, size_t p1
#define FLR_INT8_ARGS                                                                                          \
  const int8_t *a, size_t lda, const float *a_scales, size_t m, const int8_t *packed, const float *w_scales,  \
    const int32_t *column_sums, size_t n, size_t k, const float *bias, float *c, size_t ldc, size_t p0, size_t p1

#define FLR_BF16_WIDENED_ARGS                                                                                  \
  const uint16_t *a, size_t lda, size_t m, const uint16_t *packed, size_t n, size_t k, const float *bias,     \
    int accumulate, float *c, size_t ldc, size_t p0, size_t p1
/// Rows from which the AVX2 bf16 products widen blocks to fp32 once (flr_bf16_gemm_widened_avx2); fewer rows
/// (decoding, 4 images x 3 beams included) widen in registers, reading the weight once (faster up to about 36
/// rows on Zen 5).
#define FLR_AVX2_WIDENED_ROWS 32

void flr_int8_quantize_rows_portable(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales);
void flr_bf16_gemm_portable(FLR_BF16_ARGS);
void flr_int8_gemm_portable(FLR_INT8_ARGS);
#if defined(__x86_64__)
void flr_bf16_gemm_avx2(FLR_BF16_ARGS);
void flr_int8_gemm_avx2(FLR_INT8_ARGS);
/// flr_bf16_gemm_avx2 for many rows (the same sums in the same order, so the same bits): c = sums (+ bias), or
/// c += sums when `accumulate` (flr_bf16_gemm_accumulate_avx2). 0 when its buffer could not be allocated.
int flr_bf16_gemm_widened_avx2(FLR_BF16_WIDENED_ARGS);
void flr_bf16_gemm_avx512(FLR_BF16_ARGS);
void flr_int8_gemm_avx512(FLR_INT8_ARGS);
/// flr_int8_quantize_rows_portable with the same results bit for bit (the same fp32 product, rounded to nearest even).
void flr_int8_quantize_rows_avx512(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales);
void flr_int8_quantize_rows_avx2(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales);
#endif

/// The calling thread's scratch of at least `bytes` (64-byte aligned), kept for its next call so a product
/// allocates nothing; NULL when it cannot be allocated. One per thread: a kernel holds it only within its call.
void *flr_thread_scratch(size_t bytes);

/// Rows of A kept in cache while every panel passes over them: about 128 KiB of A.
static inline size_t flr_row_block(size_t row_bytes, size_t multiple) {
  size_t rows = (128 * 1024) / (row_bytes ? row_bytes : 1);
  rows = rows / multiple * multiple;
  return rows < multiple ? multiple : rows;
}

#endif
