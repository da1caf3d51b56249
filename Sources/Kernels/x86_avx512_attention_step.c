// AVX-512 attention step: each 16-lane vector in one zmm register (AVX512F only).
#if defined(__x86_64__)
#include <immintrin.h>

#include "attention_step_paths.h"
#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET __attribute__((target("avx512f,avx2,fma")))
typedef __m512 V16;

static inline TARGET V16 v16_zero(void) { return _mm512_setzero_ps(); }
static inline TARGET V16 v16_set1(float x) { return _mm512_set1_ps(x); }
static inline TARGET V16 v16_load(const float *p) { return _mm512_loadu_ps(p); }
static inline TARGET V16 v16_load_bf16(const uint16_t *p) {
  __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
static inline TARGET void v16_store(float *p, V16 x) { _mm512_storeu_ps(p, x); }
static inline TARGET V16 v16_fma(V16 a, V16 b, V16 c) { return _mm512_fmadd_ps(a, b, c); }
static inline TARGET V16 v16_mul(V16 a, V16 b) { return _mm512_mul_ps(a, b); }
static inline TARGET float v16_sum_lanes(V16 v) {
  __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), high);
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}
#define SOFTMAX_ROW flr_softmax_row_avx512
#define QUERIES_PER_VALUE_PASS 4  // 16 zmm sums
#define PATH avx512

#include "attention_step_body.h"
#endif
