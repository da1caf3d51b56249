// Attention of one decoding step (one new position per sequence) for one head, on the run-time dispatched kernel
// paths. Every path gives the same bits as the others: each score is Σ_c q_c·k_c by fused multiply-adds in
// increasing c, then times scale; flr_softmax_row; each output Σ_p probs_p·v_p by fused multiply-adds in
// increasing p (16 lanes of channels at a time, a head size's tail added unfused).
#ifndef FLR_ATTENTION_STEP_H
#define FLR_ATTENTION_STEP_H

#include <stddef.h>
#include <stdint.h>

/// Cross-attention: `queries` rows that share one image's keys and values (the beams of that image) read each
/// key once for all of them.
///   q [queries, ·] at stride q_stride, this head's head_dim channels at q; out likewise (out_stride)
///   keys_t [head_dim, padded]: this head's keys transposed, padded = key_length rounded up to 16, zero beyond
///   v [key_length, ·] at stride v_stride, this head's channels at v
///   bf16: keys_t and v hold bf16 values (uint16_t), widened to fp32 (exactly) as they are read; else float
///   scores: scratch for queries · padded floats
void flr_attention_step_shared(
  float *out, size_t out_stride, const float *q, size_t q_stride, size_t queries, const void *keys_t, const void *v,
  size_t v_stride, int bf16, size_t key_length, size_t head_dim, float scale, float *scores);

/// Self-attention of one sequence whose cached keys/values sit at scattered rows (beams share a cache): key p at
/// k + row_offsets[p], its value at v + row_offsets[p] (this head's channels); q, out: this head's channels.
/// Each score is the 16-lane dot product (lanes halved 8, 4, 2, 1, the tail added in order) times scale.
/// scores: scratch for key_length floats.
void flr_attention_step_gathered(
  float *out, const float *q, const float *k, const float *v, const ptrdiff_t *row_offsets, size_t key_length,
  size_t head_dim, float scale, float *scores);

#endif
