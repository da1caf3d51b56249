// AVX-512 paths: bf16 x bf16 -> fp32 with vdpbf16ps (AVX512_BF16) and u8 x s8 -> s32 with vpdpbusd
// (AVX512_VNNI). Tiles of up to 8 rows x 2 panels (16 zmm accumulators); A rows are broadcast one k pair
// (bf16) or quad (int8) at a time against a panel load, the layout of a classic outer-product micro-kernel.
// Decoding (up to FEW_ROWS rows) takes tiles of 4 panels instead: four independent accumulator chains per
// row hide the dot-product latency that bounds a 1-row tile of 2 panels, and each broadcast row feeds four
// products. int8 rows are turned into u8 (+128) once per call rather than once per quad and panel pair.
// Every column's sum runs over k in the same order in either tile, so results are identical bit for bit.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,avx2,fma")))
#define TILE_ROWS 8
#define FEW_ROWS 4
#define FEW_PANELS 4

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

/// rows (<= FEW_ROWS) x 4 full panels.
static inline __attribute__((always_inline)) TARGET_512 void bf16_few_rows_tile(
  const uint16_t *a, size_t lda, const int rows, const uint16_t *w, size_t pairs, const float *bias, float *c,
  size_t ldc) {
  __m512 acc[FEW_ROWS][FEW_PANELS];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < FEW_PANELS; p++) acc[r][p] = _mm512_setzero_ps();
  const size_t stride = pairs * 2 * FLR_PANEL;
  for (size_t q = 0; q < pairs; q++) {
    __m512bh wp[FEW_PANELS];
    for (int p = 0; p < FEW_PANELS; p++) wp[p] = (__m512bh)_mm512_loadu_si512(w + p * stride + q * 2 * FLR_PANEL);
    for (int r = 0; r < rows; r++) {
      __m512bh x = (__m512bh)broadcast32(a + r * lda + 2 * q);
      for (int p = 0; p < FEW_PANELS; p++) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], x, wp[p]);
    }
  }
  for (int p = 0; p < FEW_PANELS; p++) {
    __m512 b = bias ? _mm512_loadu_ps(bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) _mm512_storeu_ps(c + r * ldc + p * FLR_PANEL, _mm512_add_ps(acc[r][p], b));
  }
}

/// rows (<= FEW_ROWS, already u8 = s8 + 128) x 4 full panels; the epilogue is int8_tile's.
static inline __attribute__((always_inline)) TARGET_512 void int8_few_rows_tile(
  const uint8_t *a, size_t lda, const float *a_scales, const int rows, const int8_t *w, size_t quads,
  const float *w_scales, const int32_t *sums, const float *bias, float *c, size_t ldc) {
  __m512i acc[FEW_ROWS][FEW_PANELS];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < FEW_PANELS; p++) acc[r][p] = _mm512_setzero_si512();
  const size_t stride = quads * 4 * FLR_PANEL;
  for (size_t q = 0; q < quads; q++) {
    __m512i wp[FEW_PANELS];
    for (int p = 0; p < FEW_PANELS; p++) wp[p] = _mm512_loadu_si512(w + p * stride + q * 4 * FLR_PANEL);
    for (int r = 0; r < rows; r++) {
      __m512i x = broadcast32(a + r * lda + 4 * q);
      for (int p = 0; p < FEW_PANELS; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, wp[p]);
    }
  }
  for (int p = 0; p < FEW_PANELS; p++) {
    __m512i offset = _mm512_slli_epi32(_mm512_loadu_si512(sums + p * FLR_PANEL), 7);
    __m512 ws = _mm512_loadu_ps(w_scales + p * FLR_PANEL);
    __m512 b = bias ? _mm512_loadu_ps(bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
      __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], offset));
      v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(a_scales[r]), ws));
      if (bias) v = _mm512_add_ps(v, b);
      _mm512_storeu_ps(c + r * ldc + p * FLR_PANEL, v);
    }
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

/// Panels [p0, p1) for m <= FEW_ROWS: groups of 4 full panels, then what is left in 2-panel tiles. Returns
/// the first panel not done.
static size_t few_rows_end(size_t n, size_t p0, size_t p1) {
  size_t full = n / FLR_PANEL < p1 ? n / FLR_PANEL : p1;  // panels with all 16 columns
  return full > p0 ? p0 + (full - p0) / FEW_PANELS * FEW_PANELS : p0;
}

/// Per row: scale = max|x| / 127, codes rint(x · (127 / max|x|)) clamped to ±127 (vcvtps2dq rounds to nearest
/// even, as rintf does), zero padded to lda. A decoding step quantizes about 50k values per row this way.
TARGET_512 void flr_int8_quantize_rows_avx512(
  const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales) {
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (size_t r = 0; r < m; r++) {
    const float *row = x + r * k;
    __m512 mx = _mm512_setzero_ps();
    for (size_t i = 0; i < k; i += 16) {
      __mmask16 mask = k - i >= 16 ? 0xffff : (__mmask16)((1u << (k - i)) - 1);
      __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, row + i));
      mx = _mm512_max_ps(v, mx);  // a NaN lane keeps the running max, as the portable loop does
    }
    float top = _mm512_reduce_max_ps(mx);
    scales[r] = top / 127;
    float inverse = top > 0 ? 127 / top : 0;
    const __m512 inv = _mm512_set1_ps(inverse);
    int8_t *dst = q + r * lda;
    for (size_t i = 0; i < k; i += 16) {
      __mmask16 mask = k - i >= 16 ? 0xffff : (__mmask16)((1u << (k - i)) - 1);
      __m512i c = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row + i), inv));
      c = _mm512_min_epi32(_mm512_max_epi32(c, lo), hi);
      _mm_mask_storeu_epi8(dst + i, mask, _mm512_cvtepi32_epi8(c));
    }
    for (size_t i = k; i < lda; i++) dst[i] = 0;
  }
}

TARGET_512 void flr_bf16_gemm_avx512(FLR_BF16_ARGS) {
  size_t pairs = (k + 1) / 2, block = flr_row_block(lda * 2, TILE_ROWS);
  if (m <= FEW_ROWS) {
    size_t end = few_rows_end(n, p0, p1);
    for (size_t p = p0; p < end; p += FEW_PANELS) {
      const uint16_t *w = packed + p * pairs * 2 * FLR_PANEL;
      const float *b = bias ? bias + p * FLR_PANEL : NULL;
      float *y = c + p * FLR_PANEL;
      switch (m) {
      case 1: bf16_few_rows_tile(a, lda, 1, w, pairs, b, y, ldc); break;
      case 2: bf16_few_rows_tile(a, lda, 2, w, pairs, b, y, ldc); break;
      case 3: bf16_few_rows_tile(a, lda, 3, w, pairs, b, y, ldc); break;
      default: bf16_few_rows_tile(a, lda, 4, w, pairs, b, y, ldc); break;
      }
    }
    p0 = end;
  }
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
  uint8_t biased[FEW_ROWS * 4096];
  if (m <= FEW_ROWS && m * lda <= sizeof biased) {
    for (size_t i = 0; i < m * lda; i++) biased[i] = (uint8_t)(a[i] ^ 0x80);
    size_t end = few_rows_end(n, p0, p1);
    for (size_t p = p0; p < end; p += FEW_PANELS) {
      const int8_t *w = packed + p * quads * 4 * FLR_PANEL;
      const float *ws = w_scales + p * FLR_PANEL, *b = bias ? bias + p * FLR_PANEL : NULL;
      const int32_t *sums = column_sums + p * FLR_PANEL;
      float *y = c + p * FLR_PANEL;
      switch (m) {
      case 1: int8_few_rows_tile(biased, lda, a_scales, 1, w, quads, ws, sums, b, y, ldc); break;
      case 2: int8_few_rows_tile(biased, lda, a_scales, 2, w, quads, ws, sums, b, y, ldc); break;
      case 3: int8_few_rows_tile(biased, lda, a_scales, 3, w, quads, ws, sums, b, y, ldc); break;
      default: int8_few_rows_tile(biased, lda, a_scales, 4, w, quads, ws, sums, b, y, ldc); break;
      }
    }
    p0 = end;
  }
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
