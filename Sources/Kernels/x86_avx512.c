// AVX-512 bf16 path: bf16 x bf16 -> fp32 with vdpbf16ps (AVX512_BF16); the int8 path is x86_avx512_int8.c. A tile
// is up to 12 rows x 2 panels (24 zmm accumulators: every weight vector loaded once feeds 12 rows, so 4 images x
// 3 beams of decoding share each pass over the weight), 2 to 10 rows x 1 panel (beams, a few images: the weights
// read as one stream, the rows' sums independent chains), or 1 row x 4 panels (greedy: four independent chains
// hide the dot-product latency); A rows are broadcast one k pair at a time against the panel loads, the layout of
// a classic outer-product micro-kernel. While a tile of several rows multiplies it prefetches the next tile's
// panels (the dot products would otherwise leave too few loads in flight to stream the weights at the read
// bandwidth). Every column's sum runs over k in the same order in every tile, so results are identical bit for
// bit.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "row_cases.h"
#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,avx2,fma")))
#define TILE_ROWS 12  // rows of a tile of 2 panels
#define STREAM_ROWS 10  // at most this many rows (from 2): tiles of one panel

static inline TARGET_512 __m512i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/// c [rows, panels x 16] = a · the panels (panel p at w + p · stride) (+ bias); the last panel has `cols` columns
/// (the others 16).
static inline __attribute__((always_inline)) TARGET_512 void bf16_tile(
  const uint16_t *a, size_t lda, const int rows, const int panels, const uint16_t *w, size_t pairs,
  const float *bias, float *c, size_t ldc, int cols) {
  __m512 acc[TILE_ROWS][4];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < panels; p++) acc[r][p] = _mm512_setzero_ps();
  const size_t stride = pairs * 2 * FLR_PANEL;
  for (size_t q = 0; q < pairs; q++) {
    __m512bh wp[4];
    for (int p = 0; p < panels; p++) {
      // The next tile's panels (contiguous after these) into L2, a line per panel and pair; one row is left to
      // the hardware prefetcher.
      if (rows > 1) _mm_prefetch((const char *)(w + panels * stride) + (q * panels + p) * 64, _MM_HINT_T1);
      wp[p] = (__m512bh)_mm512_loadu_si512(w + p * stride + q * 2 * FLR_PANEL);
    }
#pragma GCC unroll 12  // (the largest tiles are not unrolled by default; their accumulators must stay in registers)
    for (int r = 0; r < rows; r++) {
      __m512bh x = (__m512bh)broadcast32(a + r * lda + 2 * q);
#pragma GCC unroll 4
      for (int p = 0; p < panels; p++) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], x, wp[p]);
    }
  }
  for (int p = 0; p < panels; p++) {
    __mmask16 mask = p == panels - 1 ? (__mmask16)((1u << cols) - 1) : 0xffff;
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * FLR_PANEL) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
      __m512 v = _mm512_add_ps(acc[r][p], b);
      if (mask == 0xffff) _mm512_storeu_ps(c + r * ldc + p * FLR_PANEL, v);  // (masked stores are slow on Zen)
      else _mm512_mask_storeu_ps(c + r * ldc + p * FLR_PANEL, mask, v);
    }
  }
}

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

TARGET_512 void flr_bf16_gemm_avx512(FLR_BF16_ARGS) {
  size_t pairs = (k + 1) / 2, block = flr_row_block(lda * 2, TILE_ROWS);
  const size_t group = m == 1 ? 4 : m <= STREAM_ROWS ? 1 : 2;  // panels a tile
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m;
    for (size_t p = p0; p < p1; p += group) {
      // A whole group of panels, or what is left of the range one panel at a time.
      size_t panels = p1 - p < group ? 1 : group, end = p1 - p < group ? p1 : p + group;
      for (size_t pp = p; pp < end; pp += panels) {
        const uint16_t *w = packed + pp * pairs * 2 * FLR_PANEL;
        const float *b = bias ? bias + pp * FLR_PANEL : NULL;
        int cols = panel_columns(n, pp + panels - 1);
        for (size_t i = i0; i < i1; i += TILE_ROWS) {
          int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
          const uint16_t *x = a + i * lda;
          float *y = c + i * ldc + pp * FLR_PANEL;
#define BF16_CALL(R)                                                                                           \
  if (panels == 4 && (R) == 1) bf16_tile(x, lda, R, 4, w, pairs, b, y, ldc, cols);                     \
  else if (panels == 2) bf16_tile(x, lda, R, 2, w, pairs, b, y, ldc, cols);                                    \
  else bf16_tile(x, lda, R, 1, w, pairs, b, y, ldc, cols)
          FLR_ROW_CASES(12, rows, BF16_CALL)
#undef BF16_CALL
        }
      }
    }
  }
}
#endif
