// AVX-512 paths of flr_kernels_train.h: the accumulating bf16 product (vdpbf16ps, tiles of 8 rows x 2 panels,
// adding into c), and the repacking of W into Wᵀ panels with shuffles: a 16 x 16 block of W is 8
// zmm (bf16: one per pair of input features) or 4 (int8: one per quad), transposed in registers.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "row_cases.h"
#include "flr_kernels.h"
#include "flr_kernels_train.h"
#include "paths.h"
#include "paths_train.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,avx2,fma")))
#define TILE_ROWS 8

static inline TARGET_512 __m512i broadcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// c [rows, 16 x panels] += a [rows, pairs x 2] · the panels' pairs (panel p at w + p · stride).
static inline __attribute__((always_inline)) TARGET_512 void accumulate_tile(
  const uint16_t *a, size_t lda, const int rows, const int panels, const uint16_t *w, size_t stride, size_t pairs,
  float *c, size_t ldc, int cols0, int cols1) {
  __m512 acc[TILE_ROWS][2];
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < panels; p++) acc[r][p] = _mm512_setzero_ps();
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
    __mmask16 mask = (__mmask16)((1u << (p == 0 ? cols0 : cols1)) - 1);
    for (int r = 0; r < rows; r++) {
      float *y = c + r * ldc + p * FLR_PANEL;
      _mm512_mask_storeu_ps(y, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), acc[r][p]));
    }
  }
}

static inline int panel_columns(size_t n, size_t p) {
  size_t left = n - p * FLR_PANEL;
  return left < FLR_PANEL ? (int)left : FLR_PANEL;
}

// Blocked for the caches: panels in groups of about 256 KiB over the whole reduction (W's output dimension,
// up to several thousand), kept in L2 while every block of about 128 KiB of rows passes over them; within a
// block, the reduction in chunks of 256 pairs, so a tile's rows (8 x 1 KiB) and its two panels' chunks
// (2 x 16 KiB) stay in L1. Each chunk adds its sums into c, which stays in L2 across the chunks.
enum { CHUNK_PAIRS = 256 };

TARGET_512 void flr_bf16_gemm_accumulate_avx512(FLR_BF16_ACCUMULATE_ARGS) {
  size_t pairs = (k + 1) / 2, stride = pairs * 2 * FLR_PANEL;
  size_t block = flr_row_block(lda * 2, TILE_ROWS), group = (256 * 1024) / (stride * 2) / 2 * 2;
  if (group < 2) group = 2;
  for (size_t g0 = p0; g0 < p1; g0 += group) {
    size_t g1 = g0 + group < p1 ? g0 + group : p1;
    for (size_t i0 = 0; i0 < m; i0 += block) {
      size_t i1 = i0 + block < m ? i0 + block : m;
      for (size_t q0 = 0; q0 < pairs; q0 += CHUNK_PAIRS) {
        size_t chunk = pairs - q0 < CHUNK_PAIRS ? pairs - q0 : CHUNK_PAIRS;
        for (size_t p = g0; p < g1; p += 2) {
          const uint16_t *w = packed + p * stride + q0 * 2 * FLR_PANEL;
          int cols0 = panel_columns(n, p), cols1 = p + 1 < g1 ? panel_columns(n, p + 1) : 0;
          for (size_t i = i0; i < i1; i += TILE_ROWS) {
            int rows = (int)(i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS);
            const uint16_t *x = a + i * lda + 2 * q0;
            float *y = c + i * ldc + p * FLR_PANEL;
#define ACCUMULATE_CALL(R)                                                                                     \
  if (cols1) accumulate_tile(x, lda, R, 2, w, stride, chunk, y, ldc, cols0, cols1);                            \
  else accumulate_tile(x, lda, R, 1, w, stride, chunk, y, ldc, cols0, 0)
            FLR_ROW_CASES(8, rows, ACCUMULATE_CALL)
#undef ACCUMULATE_CALL
          }
        }
      }
    }
  }
}

// One 16 x 16 block: W's panel sp (output features 16sp..) x Wᵀ's panel p (input features 16p.., W's pairs
// 8p..). z[m] holds W's pair 8p + m: at u16 2j + h', W[16sp + j, 16p + 2m + h']. Wᵀ's pair 8sp + t wants at
// 2c + h = 4m + 2h' + h the value W[16sp + 2t + h, 16p + 2m + h']: once the middle two u16 of every four are
// swapped, that is qword t of z[m] moved to qword m of z[t], an 8 x 8 transpose of qwords.
static inline TARGET_512 void transpose_qwords(__m512i z[8]) {
  const __m512i lo1 = _mm512_setr_epi64(0, 8, 2, 10, 4, 12, 6, 14), hi1 = _mm512_setr_epi64(1, 9, 3, 11, 5, 13, 7, 15);
  const __m512i lo2 = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi2 = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  const __m512i lo4 = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11), hi4 = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  const __m512i lo[3] = {lo1, lo2, lo4}, hi[3] = {hi1, hi2, hi4};
  for (int s = 0; s < 3; s++) {
    int b = 1 << s;
    for (int r = 0; r < 8; r++) {
      if (r & b) continue;
      __m512i x = _mm512_permutex2var_epi64(z[r], lo[s], z[r | b]);
      __m512i y = _mm512_permutex2var_epi64(z[r], hi[s], z[r | b]);
      z[r] = x;
      z[r | b] = y;
    }
  }
}

TARGET_512 void flr_bf16_pack_transposed_avx512(FLR_BF16_TRANSPOSE_ARGS) {
  size_t pairs_n = (n + 1) / 2, pairs_k = (k + 1) / 2, panels_n = (n + FLR_PANEL - 1) / FLR_PANEL;
  const __m512i swap_middle =
    _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15));
  for (size_t p = p0; p < p1; p++) {
    uint16_t *panel = out + (p - p0) * pairs_n * 2 * FLR_PANEL;
    for (size_t sp = 0; sp < panels_n; sp++) {
      const uint16_t *src = packed + sp * pairs_k * 2 * FLR_PANEL;
      __m512i z[8];
      for (int m = 0; m < 8; m++) {
        size_t pair = 8 * p + m;
        z[m] = pair < pairs_k ? _mm512_shuffle_epi8(_mm512_loadu_si512(src + pair * 2 * FLR_PANEL), swap_middle)
                              : _mm512_setzero_si512();
      }
      transpose_qwords(z);
      for (int t = 0; t < 8 && 8 * sp + t < pairs_n; t++)
        _mm512_storeu_si512(panel + (8 * sp + t) * 2 * FLR_PANEL, z[t]);
    }
  }
}

// 16 int8 codes of one row of W times its scale, rounded to bf16 (nearest even; the values are finite).
static inline TARGET_512 __m256i row_to_bf16(__m128i codes, float scale) {
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)), _mm512_set1_ps(scale));
  __m512i u = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  u = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16));
}

// y[m] holds W's quad 4p + m: at byte 4j + t, code(16sp + j, 16p + 4m + t). Transposing dwords within each
// 128-bit lane gives lane L of rows[x] = row 4L + x's 16 codes (input features 16p..16p + 15) in order.
TARGET_512 void flr_int8_pack_transposed_bf16_avx512(FLR_INT8_TRANSPOSE_ARGS) {
  size_t pairs_n = (n + 1) / 2, quads_k = (k + 3) / 4, panels_n = (n + FLR_PANEL - 1) / FLR_PANEL;
  __m512i interleave_index;  // u16 2c + h <- row h's c
  {
    uint16_t index[32];
    for (int c = 0; c < 16; c++) index[2 * c] = (uint16_t)c, index[2 * c + 1] = (uint16_t)(32 + c);
    interleave_index = _mm512_loadu_si512(index);
  }
  for (size_t p = p0; p < p1; p++) {
    uint16_t *panel = out + (p - p0) * pairs_n * 2 * FLR_PANEL;
    for (size_t sp = 0; sp < panels_n; sp++) {
      const int8_t *src = packed + sp * quads_k * 4 * FLR_PANEL;
      __m512i y[4];
      for (int m = 0; m < 4; m++) {
        size_t quad = 4 * p + m;
        y[m] = quad < quads_k ? _mm512_loadu_si512(src + quad * 4 * FLR_PANEL) : _mm512_setzero_si512();
      }
      __m512i t0 = _mm512_unpacklo_epi32(y[0], y[1]), t1 = _mm512_unpackhi_epi32(y[0], y[1]);
      __m512i t2 = _mm512_unpacklo_epi32(y[2], y[3]), t3 = _mm512_unpackhi_epi32(y[2], y[3]);
      __m512i rows[4] = {
        _mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
        _mm512_unpackhi_epi64(t1, t3)};
      int8_t codes[4][64];
      for (int x = 0; x < 4; x++) _mm512_storeu_si512(codes[x], rows[x]);
      __m256i h[16];
      for (int j = 0; j < 16; j++) {
        size_t row = sp * FLR_PANEL + j;
        // Rows past n are zero codes in the packing; their scale is not stored.
        h[j] = row_to_bf16(_mm_loadu_si128((const __m128i *)(codes[j % 4] + 16 * (j / 4))), row < n ? scales[row] : 0);
      }
      for (int t = 0; t < 8 && 8 * sp + t < pairs_n; t++) {
        __m512i pair = _mm512_permutex2var_epi16(
          _mm512_zextsi256_si512(h[2 * t]), interleave_index, _mm512_zextsi256_si512(h[2 * t + 1]));
        _mm512_storeu_si512(panel + (8 * sp + t) * 2 * FLR_PANEL, pair);
      }
    }
  }
}

TARGET_512 void flr_bf16_from_f32_rows_avx512(FLR_BF16_ROWS_ARGS) {
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
  for (size_t r = 0; r < m; r++) {
    const float *x = src + r * lds;
    uint16_t *y = dst + r * ldd;
    for (size_t i = 0; i < k; i += 16) {
      __mmask16 mask = k - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - i)) - 1);
      __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
      __m512i u = _mm512_castps_si512(v), high = _mm512_srli_epi32(u, 16);
      __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(high, one))), 16);
      rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_or_si512(high, quiet));
      _mm256_mask_storeu_epi16(y + i, mask, _mm512_cvtepi32_epi16(rounded));
    }
    for (size_t i = k; i < ldd; i++) y[i] = 0;
  }
}
#endif
