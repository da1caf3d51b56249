// AVX-512 int8 path: u8 x s8 -> s32 with vpdpbusd (AVX512_VNNI). The activation rows (s8 codes) are turned
// into u8 (+128) once per block of rows, into a buffer of the calling thread's own; the epilogue subtracts
// 128 · Σ w. Up to 10 rows (greedy, beams, a few images) a tile is those rows x 1 panel with two or four
// accumulators a row over alternate quads, so the weights are read as one stream; from 11 rows, 12 rows x 2
// panels (24 zmm accumulators: every weight vector loaded once feeds 12 rows, 4 images x 3 beams of decoding
// included). While a tile multiplies, it prefetches the next tile's panels: with several rows the dot products
// would otherwise leave too few loads in flight to stream the weights at the read bandwidth. Integer sums are
// exact, so every tile shape, and every path, gives the same bits.
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "row_cases.h"
#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,avx2,fma")))
#define TILE_ROWS 12       // rows of a tile of 2 panels
#define STREAM_ROWS 10     // at most this many rows: tiles of one panel (more spill registers)
#define BLOCK_BYTES 49152  // u8 rows converted at a time (L1-sized), at least TILE_ROWS rows

static inline TARGET_512 __m512i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/// c [rows, panels x 16] = a (u8 rows) · the panels (panel p at w + p · stride); the last panel has `cols`
/// columns (the others 16).
static inline __attribute__((always_inline)) TARGET_512 void int8_tile(
  const uint8_t *a, size_t lda, const float *a_scales, const int rows, const int panels, const int8_t *w,
  size_t quads, const float *w_scales, const int32_t *sums, const float *bias, float *c, size_t ldc, int cols) {
  __m512i acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < panels; p++) acc[r][p] = _mm512_setzero_si512();
  const size_t stride = quads * 4 * FLR_PANEL;
  for (size_t q = 0; q < quads; q++) {
    __m512i wp[2];
    for (int p = 0; p < panels; p++) {
      const int8_t *src = w + p * stride + q * 4 * FLR_PANEL;
      // The next tile's panels (contiguous after these), into L2 a line per panel and quad: it then starts
      // on cached data.
      _mm_prefetch((const char *)w + panels * stride + (q * panels + p) * 64, _MM_HINT_T1);
      wp[p] = _mm512_loadu_si512(src);
    }
#pragma GCC unroll 12  // (the largest tiles are not unrolled by default; their accumulators must stay in registers)
    for (int r = 0; r < rows; r++) {
      __m512i x = broadcast32(a + r * lda + 4 * q);
#pragma GCC unroll 2
      for (int p = 0; p < panels; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, wp[p]);
    }
  }
  for (int p = 0; p < panels; p++) {
    __mmask16 mask = p == panels - 1 ? (__mmask16)((1u << cols) - 1) : 0xffff;
    // Σ (qa + 128)·qw - 128·Σ qw = Σ qa·qw, exactly.
    __m512i offset = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, sums + p * FLR_PANEL), 7);
    __m512 ws = _mm512_maskz_loadu_ps(mask, w_scales + p * FLR_PANEL);
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
      __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], offset));
      v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(a_scales[r]), ws));
      if (bias) v = _mm512_add_ps(v, b);
      if (mask == 0xffff) _mm512_storeu_ps(c + r * ldc + p * FLR_PANEL, v);  // (masked stores are slow on Zen)
      else _mm512_mask_storeu_ps(c + r * ldc + p * FLR_PANEL, mask, v);
    }
  }
}

/// Up to STREAM_ROWS rows x one panel (greedy and beam decoding): `phases` accumulators a row over alternate
/// quads (integer sums, so the order does not matter) hide the dot-product latency, and the next panel,
/// contiguous, is prefetched, so the weights are read as one stream whatever the rows.
static inline __attribute__((always_inline)) TARGET_512 void int8_stream_tile(
  const uint8_t *a, size_t lda, const float *a_scales, const int rows, const int phases, const int8_t *w,
  size_t quads, const float *w_scales, const int32_t *sums, const float *bias, float *c, size_t ldc, int cols) {
  __m512i acc[STREAM_ROWS][4];
  for (int r = 0; r < rows; r++)
    for (int h = 0; h < phases; h++) acc[r][h] = _mm512_setzero_si512();
  const size_t stride = quads * 4 * FLR_PANEL;
  size_t q = 0;
  for (; q + (size_t)phases <= quads; q += (size_t)phases) {
    const int8_t *src = w + q * 4 * FLR_PANEL;
    for (int h = 0; h < phases; h++) _mm_prefetch((const char *)src + stride + h * 64, _MM_HINT_T1);
    for (int h = 0; h < phases; h++) {
      __m512i wq = _mm512_loadu_si512(src + h * 64);
#pragma GCC unroll 10
      for (int r = 0; r < rows; r++)
        acc[r][h] = _mm512_dpbusd_epi32(acc[r][h], broadcast32(a + r * lda + 4 * (q + (size_t)h)), wq);
    }
  }
  for (; q < quads; q++) {
    __m512i wq = _mm512_loadu_si512(w + q * 4 * FLR_PANEL);
    for (int r = 0; r < rows; r++) acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], broadcast32(a + r * lda + 4 * q), wq);
  }
  __mmask16 mask = (__mmask16)((1u << cols) - 1);
  __m512i offset = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, sums), 7);
  __m512 ws = _mm512_maskz_loadu_ps(mask, w_scales);
  __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) {
    __m512i sum = acc[r][0];
    for (int h = 1; h < phases; h++) sum = _mm512_add_epi32(sum, acc[r][h]);
    __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, offset));
    v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(a_scales[r]), ws));
    if (bias) v = _mm512_add_ps(v, b);
    if (cols == FLR_PANEL) _mm512_storeu_ps(c + r * ldc, v);
    else _mm512_mask_storeu_ps(c + r * ldc, mask, v);
  }
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

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

TARGET_512 void flr_int8_gemm_avx512(FLR_INT8_ARGS) {
  size_t quads = (k + 3) / 4;
  // Rows converted at a time: all of them for decoding, else an L1's worth in whole tiles.
  size_t block = BLOCK_BYTES / (lda ? lda : 1) / TILE_ROWS * TILE_ROWS;
  if (block < TILE_ROWS) block = TILE_ROWS;
  if (block > m) block = m;
  uint8_t *u = flr_thread_scratch(block * lda);  // the rows made u8 (or |x|) once per block
  if (!u) {
    flr_int8_gemm_portable(a, lda, a_scales, m, packed, w_scales, column_sums, n, k, bias, c, ldc, p0, p1);
    return;
  }
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m, bytes = (i1 - i0) * lda;
    for (size_t i = 0; i < bytes; i += 64) {
      __mmask64 mask = bytes - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (bytes - i)) - 1);
      _mm512_mask_storeu_epi8(u + i, mask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + i0 * lda + i), flip));
    }
    if (m <= STREAM_ROWS) {
      for (size_t p = p0; p < p1; p++) {
        const int8_t *w = packed + p * quads * 4 * FLR_PANEL;
        const float *ws = w_scales + p * FLR_PANEL, *b = bias ? bias + p * FLR_PANEL : NULL;
        const int32_t *sums = column_sums + p * FLR_PANEL;
        float *y = c + p * FLR_PANEL;
        int rows = (int)m, cols = panel_columns(n, p);
#define STREAM_CALL(R) int8_stream_tile(u, lda, a_scales, R, (R) == 1 ? 4 : 2, w, quads, ws, sums, b, y, ldc, cols)
        FLR_ROW_CASES(10, rows, STREAM_CALL)
#undef STREAM_CALL
      }
      continue;
    }
    for (size_t p = p0; p < p1; p += 2) {
      int panels = p1 - p < 2 ? 1 : 2;  // two panels, or the range's last one alone
      const int8_t *w = packed + p * quads * 4 * FLR_PANEL;
      const float *ws = w_scales + p * FLR_PANEL, *b = bias ? bias + p * FLR_PANEL : NULL;
      const int32_t *sums = column_sums + p * FLR_PANEL;
      int cols = panel_columns(n, p + (size_t)panels - 1);
      for (size_t i = i0; i < i1; i += TILE_ROWS) {
        int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
        const uint8_t *x = u + (i - i0) * lda;
        float *y = c + i * ldc + p * FLR_PANEL;
#define INT8_CALL(R)                                                                                           \
  if (panels == 2) int8_tile(x, lda, a_scales + i, R, 2, w, quads, ws, sums, b, y, ldc, cols);                 \
  else int8_tile(x, lda, a_scales + i, R, 1, w, quads, ws, sums, b, y, ldc, cols)
        FLR_ROW_CASES(12, rows, INT8_CALL)
#undef INT8_CALL
      }
    }
  }
}
#endif
