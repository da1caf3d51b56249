// AVX2 attention step: each 16-lane vector as two ymm halves (lanes 0-7, 8-15).
#if defined(__x86_64__)
#include <immintrin.h>

#include "attention_step_paths.h"
#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

#define TARGET __attribute__((target("avx2,fma")))
typedef struct {
  __m256 low, high;
} V16;

static inline TARGET V16 v16_zero(void) { return (V16){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline TARGET V16 v16_set1(float x) { return (V16){_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
static inline TARGET V16 v16_load(const float *p) { return (V16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
static inline TARGET __m256 widen8(const uint16_t *p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
static inline TARGET V16 v16_load_bf16(const uint16_t *p) { return (V16){widen8(p), widen8(p + 8)}; }
static inline TARGET void v16_store(float *p, V16 x) {
  _mm256_storeu_ps(p, x.low);
  _mm256_storeu_ps(p + 8, x.high);
}
static inline TARGET V16 v16_fma(V16 a, V16 b, V16 c) {
  return (V16){_mm256_fmadd_ps(a.low, b.low, c.low), _mm256_fmadd_ps(a.high, b.high, c.high)};
}
static inline TARGET V16 v16_mul(V16 a, V16 b) {
  return (V16){_mm256_mul_ps(a.low, b.low), _mm256_mul_ps(a.high, b.high)};
}
static inline TARGET float v16_sum_lanes(V16 v) {
  __m256 a = _mm256_add_ps(v.low, v.high);
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}
#define SOFTMAX_ROW flr_softmax_row_avx2
#define QUERIES_PER_VALUE_PASS 1  // a query's four sums are already 8 of the 16 ymm registers
#define PATH avx2

#include "attention_step_body.h"
#endif
