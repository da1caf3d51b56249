// Attention step: the dispatcher and the portable path (16 scalar lanes, so its sums round as the vector paths'
// do).
#include <math.h>

#include "attention_step_paths.h"
#include "flr_attention_step.h"
#include "flr_kernels.h"
#include "softmax_paths.h"

#pragma STDC FP_CONTRACT OFF

void flr_attention_step_shared(
  float *out, size_t out_stride, const float *q, size_t q_stride, size_t queries, const void *keys_t, const void *v,
  size_t v_stride, int bf16, size_t key_length, size_t head_dim, float scale, float *scores) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512:
    flr_attention_step_shared_avx512(
      out, out_stride, q, q_stride, queries, keys_t, v, v_stride, bf16, key_length, head_dim, scale, scores);
    return;
  case FLR_PATH_AVX2:
    flr_attention_step_shared_avx2(
      out, out_stride, q, q_stride, queries, keys_t, v, v_stride, bf16, key_length, head_dim, scale, scores);
    return;
  default: break;
  }
#endif
  flr_attention_step_shared_portable(
    out, out_stride, q, q_stride, queries, keys_t, v, v_stride, bf16, key_length, head_dim, scale, scores);
}

void flr_attention_step_gathered(
  float *out, const float *q, const float *k, const float *v, const ptrdiff_t *row_offsets, size_t key_length,
  size_t head_dim, float scale, float *scores) {
#if defined(__x86_64__)
  switch (flr_kernels_active()) {
  case FLR_PATH_AVX512:
    flr_attention_step_gathered_avx512(out, q, k, v, row_offsets, key_length, head_dim, scale, scores);
    return;
  case FLR_PATH_AVX2:
    flr_attention_step_gathered_avx2(out, q, k, v, row_offsets, key_length, head_dim, scale, scores);
    return;
  default: break;
  }
#endif
  flr_attention_step_gathered_portable(out, q, k, v, row_offsets, key_length, head_dim, scale, scores);
}

#define TARGET
typedef struct {
  float lane[16];
} V16;

static inline V16 v16_zero(void) { return (V16){{0}}; }
static inline V16 v16_set1(float x) {
  V16 v;
  for (int l = 0; l < 16; l++) v.lane[l] = x;
  return v;
}
static inline V16 v16_load(const float *p) {
  V16 v;
  for (int l = 0; l < 16; l++) v.lane[l] = p[l];
  return v;
}
static inline V16 v16_load_bf16(const uint16_t *p) {
  V16 v;
  for (int l = 0; l < 16; l++) v.lane[l] = flr_widen_bf16(p[l]);
  return v;
}
static inline void v16_store(float *p, V16 x) {
  for (int l = 0; l < 16; l++) p[l] = x.lane[l];
}
static inline V16 v16_fma(V16 a, V16 b, V16 c) {
  for (int l = 0; l < 16; l++) c.lane[l] = fmaf(a.lane[l], b.lane[l], c.lane[l]);
  return c;
}
static inline V16 v16_mul(V16 a, V16 b) {
  for (int l = 0; l < 16; l++) a.lane[l] *= b.lane[l];
  return a;
}
static inline float v16_sum_lanes(V16 v) {
  for (int width = 8; width >= 2; width /= 2)
    for (int l = 0; l < width; l++) v.lane[l] += v.lane[l + width];
  return v.lane[0] + v.lane[1];
}
#define SOFTMAX_ROW flr_softmax_row_portable
#define QUERIES_PER_VALUE_PASS 1
#define PATH portable

#include "attention_step_body.h"
