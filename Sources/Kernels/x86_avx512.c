// AVX-512 paths: bf16 x bf16 -> fp32 with vdpbf16ps (AVX512_BF16) and u8 x s8 -> s32 with vpdpbusd
// (AVX512_VNNI). Tiles of up to 8 rows x 2 panels (16 zmm accumulators); A rows are broadcast one k pair
// (bf16) or quad (int8) at a time against a panel load, the layout of a classic outer-product micro-kernel.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,avx2,fma")))
#define TILE_ROWS 8

static inline TARGET_512 __m512i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

static inline __attribute__((always_inline)) TARGET_512 void bf16_tile(
  const uint16_t *a, size_t lda, const int rows, const int panels, const uint16_t *w, size_t pairs,
  const float *bias, float *c, size_t ldc, int cols0, int cols1) {
  __m512 acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < panels; p++) acc[r][p] = _mm512_setzero_ps();
  const size_t stride = pairs * 2 * FLR_PANEL;
  for (size_t q = 0; q < pairs; q++) {
    __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + q * 2 * FLR_PANEL);
    __m512bh w1 = panels > 1 ? (__m512bh)_mm512_loadu_si512(w + stride + q * 2 * FLR_PANEL) : w0;
    for (int r = 0; r < rows; r++) {
      __m512bh x = (__m512bh)broadcast32(a + r * lda + 2 * q);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
      if (panels > 1) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
    }
  }
  for (int p = 0; p < panels; p++) {
    int cols = p == 0 ? cols0 : cols1;
    __mmask16 mask = (__mmask16)((1u << cols) - 1);
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++)
      _mm512_mask_storeu_ps(c + r * ldc + p * FLR_PANEL, mask, _mm512_add_ps(acc[r][p], b));
  }
}

static inline __attribute__((always_inline)) TARGET_512 void int8_tile(
  const int8_t *a, size_t lda, const float *a_scales, const int rows, const int panels, const int8_t *w,
  size_t quads, const float *w_scales, const int32_t *sums, const float *bias, float *c, size_t ldc, int cols0,
  int cols1) {
  __m512i acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < panels; p++) acc[r][p] = _mm512_setzero_si512();
  const size_t stride = quads * 4 * FLR_PANEL;
  const __m512i flip = _mm512_set1_epi8((char)0x80);  // s8 -> u8 + 128
  for (size_t q = 0; q < quads; q++) {
    __m512i w0 = _mm512_loadu_si512(w + q * 4 * FLR_PANEL);
    __m512i w1 = panels > 1 ? _mm512_loadu_si512(w + stride + q * 4 * FLR_PANEL) : w0;
    for (int r = 0; r < rows; r++) {
      __m512i x = _mm512_xor_si512(broadcast32(a + r * lda + 4 * q), flip);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);
      if (panels > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w1);
    }
  }
  for (int p = 0; p < panels; p++) {
    int cols = p == 0 ? cols0 : cols1;
    __mmask16 mask = (__mmask16)((1u << cols) - 1);
    // Σ (qa + 128)·qw - 128·Σ qw = Σ qa·qw, exactly.
    __m512i offset = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, sums + p * FLR_PANEL), 7);
    __m512 ws = _mm512_maskz_loadu_ps(mask, w_scales + p * FLR_PANEL);
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
      __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], offset));
      v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(a_scales[r]), ws));
      if (bias) v = _mm512_add_ps(v, b);
      _mm512_mask_storeu_ps(c + r * ldc + p * FLR_PANEL, mask, v);
    }
  }
}

#define ROWS_CASES(CALL)                                                                                       \
  switch (rows) {                                                                                              \
  case 1: CALL(1); break;                                                                                      \
  case 2: CALL(2); break;                                                                                      \
  case 3: CALL(3); break;                                                                                      \
  case 4: CALL(4); break;                                                                                      \
  case 5: CALL(5); break;                                                                                      \
  case 6: CALL(6); break;                                                                                      \
  case 7: CALL(7); break;                                                                                      \
  default: CALL(8); break;                                                                                     \
  }

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

TARGET_512 void flr_bf16_gemm_avx512(FLR_BF16_ARGS) {
  size_t pairs = (k + 1) / 2, block = flr_row_block(lda * 2, TILE_ROWS);
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m;
    for (size_t p = p0; p < p1; p += 2) {
      const uint16_t *w = packed + p * pairs * 2 * FLR_PANEL;
      int cols0 = panel_columns(n, p), cols1 = p + 1 < p1 ? panel_columns(n, p + 1) : 0;
      for (size_t i = i0; i < i1; i += TILE_ROWS) {
        int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
        const uint16_t *x = a + i * lda;
        float *y = c + i * ldc + p * FLR_PANEL;
        const float *b = bias ? bias + p * FLR_PANEL : NULL;
#define BF16_CALL(R)                                                                                           \
  if (cols1) bf16_tile(x, lda, R, 2, w, pairs, b, y, ldc, cols0, cols1);                                       \
  else bf16_tile(x, lda, R, 1, w, pairs, b, y, ldc, cols0, 0)
        ROWS_CASES(BF16_CALL)
#undef BF16_CALL
      }
    }
  }
}

TARGET_512 void flr_int8_gemm_avx512(FLR_INT8_ARGS) {
  size_t quads = (k + 3) / 4, block = flr_row_block(lda, TILE_ROWS);
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m;
    for (size_t p = p0; p < p1; p += 2) {
      const int8_t *w = packed + p * quads * 4 * FLR_PANEL;
      int cols0 = panel_columns(n, p), cols1 = p + 1 < p1 ? panel_columns(n, p + 1) : 0;
      const float *ws = w_scales + p * FLR_PANEL;
      const int32_t *sums = column_sums + p * FLR_PANEL;
      for (size_t i = i0; i < i1; i += TILE_ROWS) {
        int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
        const int8_t *x = a + i * lda;
        float *y = c + i * ldc + p * FLR_PANEL;
        const float *b = bias ? bias + p * FLR_PANEL : NULL;
#define INT8_CALL(R)                                                                                           \
  if (cols1) int8_tile(x, lda, a_scales + i, R, 2, w, quads, ws, sums, b, y, ldc, cols0, cols1);               \
  else int8_tile(x, lda, a_scales + i, R, 1, w, quads, ws, sums, b, y, ldc, cols0, 0)
        ROWS_CASES(INT8_CALL)
#undef INT8_CALL
      }
    }
  }
}
#endif
