// The per-path attention step kernels behind flr_attention_step_shared / _gathered.
#ifndef FLR_ATTENTION_STEP_PATHS_H
#define FLR_ATTENTION_STEP_PATHS_H

#include <stddef.h>
#include <stdint.h>

/// A bf16 value as fp32 (exact).
static inline float flr_widen_bf16(uint16_t h) {
  union {
    uint32_t bits;
    float value;
  } u = {(uint32_t)h << 16};
  return u.value;
}

#define FLR_ATTENTION_STEP_DECLARE(path)                                                                          \
  void flr_attention_step_shared_##path(                                                                          \
    float *out, size_t out_stride, const float *q, size_t q_stride, size_t queries, const void *keys_t,          \
    const void *v, size_t v_stride, int bf16, size_t key_length, size_t head_dim, float scale, float *scores);   \
  void flr_attention_step_gathered_##path(                                                                        \
    float *out, const float *q, const float *k, const float *v, const ptrdiff_t *row_offsets, size_t key_length, \
    size_t head_dim, float scale, float *scores);

FLR_ATTENTION_STEP_DECLARE(portable)
#if defined(__x86_64__)
FLR_ATTENTION_STEP_DECLARE(avx2)
FLR_ATTENTION_STEP_DECLARE(avx512)
#endif

#endif
