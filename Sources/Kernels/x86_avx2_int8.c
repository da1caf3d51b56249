// AVX2 int8 path for CPUs without AVX512_VNNI: vpmaddubsw on |x| and sign(w, x), which never saturates since
// both are in [-127, 127] (as llama.cpp's Q8_0 does), widened to int32 with vpmaddwd. |x| is taken once per
// block of rows, into a buffer of the calling thread's own. A tile is up to 4 rows x 1 panel (8 ymm
// accumulators; a panel stays in L1 for the next 4 rows); while it multiplies it prefetches the next panel
// (without it a decoding step streams its weights well below the read bandwidth, even for one row). Integer sums are exact and the epilogue
// is int8.c's, so every path gives the same bits. The per-row quantization of the activations is here too.
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "row_cases.h"
#include "flr_kernels.h"
#include "paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TILE_ROWS 4
#define BLOCK_BYTES 49152  // |x| rows taken at a time (L1-sized), at least TILE_ROWS rows

static inline TARGET_AVX2 __m256i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/// Per row: scale = max|x| / 127, codes rint(x · (127 / max|x|)) clamped to ±127 (vcvtps2dq rounds to nearest
/// even, as rintf does), zero padded to lda: flr_int8_quantize_rows_portable's results bit for bit.
TARGET_AVX2 void flr_int8_quantize_rows_avx2(const float *x, size_t m, size_t k, int8_t *q, size_t lda, float *scales) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undoes packs' lane interleave
  for (size_t r = 0; r < m; r++) {
    const float *row = x + r * k;
    __m256 mx = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= k; i += 8) mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(row + i), magnitude), mx);
    float lanes[8], top = 0;
    _mm256_storeu_ps(lanes, mx);
    for (int j = 0; j < 8; j++) top = lanes[j] > top ? lanes[j] : top;
    for (; i < k; i++) top = fabsf(row[i]) > top ? fabsf(row[i]) : top;  // a NaN keeps the running max
    scales[r] = top / 127;
    float inverse = top > 0 ? 127 / top : 0;
    const __m256 inv = _mm256_set1_ps(inverse);
    int8_t *dst = q + r * lda;
    for (i = 0; i + 32 <= k; i += 32) {
      __m256i c[4];
      for (int j = 0; j < 4; j++) {
        c[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + i + 8 * j), inv));
        c[j] = _mm256_min_epi32(_mm256_max_epi32(c[j], lo), hi);
      }
      __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
      _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permutevar8x32_epi32(bytes, order));
    }
    for (; i < k; i++) {
      float v = rintf(row[i] * inverse);
      dst[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    for (i = k; i < lda; i++) dst[i] = 0;
  }
}

/// c [rows, 16] = x · the panel at w, from the s8 rows `x` and their |x|; the panel has `cols` columns.
static inline __attribute__((always_inline)) TARGET_AVX2 void int8_tile(
  const int8_t *x, const uint8_t *ax, size_t lda, const float *a_scales, const int rows, const int8_t *w,
  size_t quads, const float *w_scales, const float *bias, float *c, size_t ldc, int cols) {
  __m256i acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  const size_t stride = quads * 4 * FLR_PANEL;
  for (size_t q = 0; q < quads; q++) {
    _mm_prefetch((const char *)w + stride + q * 64, _MM_HINT_T1);  // the next panel (contiguous), into L2
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + q * 4 * FLR_PANEL));
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + q * 4 * FLR_PANEL + 32));
    for (int r = 0; r < rows; r++) {
      __m256i s = broadcast32(x + r * lda + 4 * q), u = broadcast32(ax + r * lda + 4 * q);
      __m256i p0 = _mm256_maddubs_epi16(u, _mm256_sign_epi8(w0, s));
      __m256i p1 = _mm256_maddubs_epi16(u, _mm256_sign_epi8(w1, s));
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
    }
  }
  for (int h = 0; h < 2; h++) {
    // int8.c's epilogue: sum · (a_scale · w_scale), then + bias, each rounded to fp32.
    int left = cols - 8 * h;
    if (left <= 0) continue;
    // (vmaskmovps is slow on Zen: a whole half is loaded and stored plainly)
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 ws = left >= 8 ? _mm256_loadu_ps(w_scales + 8 * h) : _mm256_maskload_ps(w_scales + 8 * h, mask);
    __m256 b = !bias ? _mm256_setzero_ps() : left >= 8 ? _mm256_loadu_ps(bias + 8 * h) : _mm256_maskload_ps(bias + 8 * h, mask);
    for (int r = 0; r < rows; r++) {
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][h]), _mm256_mul_ps(_mm256_set1_ps(a_scales[r]), ws));
      if (bias) v = _mm256_add_ps(v, b);
      if (left >= 8) _mm256_storeu_ps(c + r * ldc + 8 * h, v);
      else _mm256_maskstore_ps(c + r * ldc + 8 * h, mask, v);
    }
  }
}

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

TARGET_AVX2 void flr_int8_gemm_avx2(FLR_INT8_ARGS) {
  (void)column_sums;
  size_t quads = (k + 3) / 4;
  size_t block = BLOCK_BYTES / (lda ? lda : 1) / TILE_ROWS * TILE_ROWS;
  if (block < TILE_ROWS) block = TILE_ROWS;
  if (block > m) block = m;
  uint8_t *u = flr_thread_scratch(block * lda);  // the rows made u8 (or |x|) once per block
  if (!u) {
    flr_int8_gemm_portable(a, lda, a_scales, m, packed, w_scales, column_sums, n, k, bias, c, ldc, p0, p1);
    return;
  }
  for (size_t i0 = 0; i0 < m; i0 += block) {
    size_t i1 = i0 + block < m ? i0 + block : m, bytes = (i1 - i0) * lda, i = 0;
    for (; i + 32 <= bytes; i += 32)
      _mm256_storeu_si256(
        (__m256i *)(u + i), _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(a + i0 * lda + i))));
    for (; i < bytes; i++) u[i] = (uint8_t)abs(a[i0 * lda + i]);
    for (size_t p = p0; p < p1; p++) {
      const int8_t *w = packed + p * quads * 4 * FLR_PANEL;
      const float *ws = w_scales + p * FLR_PANEL, *b = bias ? bias + p * FLR_PANEL : NULL;
      int cols = panel_columns(n, p);
      for (size_t r0 = i0; r0 < i1; r0 += TILE_ROWS) {
        int rows = (int)(i1 - r0 < TILE_ROWS ? i1 - r0 : TILE_ROWS);
        const int8_t *x = a + r0 * lda;
        const uint8_t *ax = u + (r0 - i0) * lda;
        float *y = c + r0 * ldc + p * FLR_PANEL;
#define INT8_CALL(R) int8_tile(x, ax, lda, a_scales + r0, R, w, quads, ws, b, y, ldc, cols)
        FLR_ROW_CASES(4, rows, INT8_CALL)
#undef INT8_CALL
      }
    }
  }
}
#endif
